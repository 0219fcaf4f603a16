package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tlsm/tlsm/fsm"
)

// checkHandshake checks the connection against the flags' expectations,
// after the handshake as BoringSSL's shim does.
func (s *shim) checkHandshake(c *conn, o *options, resume bool, st *connState, serverPuts int) error {
	cs := c.core.ConnectionState()
	checks := []func() error{
		func() error { return errors.Join(st.errs...) },
		func() error { return checkVersion(cs, o) },
		func() error { return checkResumed(cs, o, resume) },
		func() error { return checkNegotiated(cs, o) },
		func() error { return checkPeerCertificates(cs, o) },
		func() error { return s.checkVerifyResult(cs, o, st) },
		func() error { return checkHelloRetry(c, o) },
		func() error { return checkSelectedCredential(o, st) },
		func() error { return s.checkSessionID(o, resume, serverPuts) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkSelectedCredential checks which credential signed, as BoringSSL's
// shim does after every handshake: -1, the default, when none of those
// -new-x509-credential added did.
func checkSelectedCredential(o *options, st *connState) error {
	want, got := -1, -1
	if o.expectCredentialSet {
		want = o.expectCredential
	}
	if st.signed {
		got = st.signedWith
	}
	if got != want {
		return fmt.Errorf("credential %d was used, expected %d", got, want)
	}
	return nil
}

func checkVersion(cs fsm.ConnectionState, o *options) error {
	if o.expectVersion == 0 {
		return nil
	}
	want := map[int]uint16{wireTLS12: fsm.VersionTLS12, wireTLS13: fsm.VersionTLS13, wireDTLS12: fsm.VersionTLS12}[o.expectVersion]
	if cs.Version != want {
		return fmt.Errorf("version %s, expected %#04x", fsm.VersionName(cs.Version), o.expectVersion)
	}
	return nil
}

func checkResumed(cs fsm.ConnectionState, o *options, resume bool) error {
	if want := resume && !o.expectSessionMiss; cs.DidResume != want {
		return fmt.Errorf("session resumed: %v, expected %v", cs.DidResume, want)
	}
	return nil
}

// checkNegotiated checks the ALPN protocol, server name, suite and group.
func checkNegotiated(cs fsm.ConnectionState, o *options) error {
	wantALPN := o.expectALPN
	if o.server {
		wantALPN = o.selectALPN
		if o.declineALPN {
			wantALPN = ""
		}
	}
	switch {
	case cs.NegotiatedProtocol != wantALPN:
		return fmt.Errorf("ALPN protocol %q, expected %q", cs.NegotiatedProtocol, wantALPN)
	case o.expectServerName != "" && cs.ServerName != o.expectServerName:
		return fmt.Errorf("server name %q, expected %q", cs.ServerName, o.expectServerName)
	case o.expectCipher != 0 && int(cs.CipherSuite) != o.expectCipher:
		return fmt.Errorf("cipher suite %#04x, expected %#04x", cs.CipherSuite, o.expectCipher)
	case o.expectCurveID != 0 && int(cs.CurveID) != o.expectCurveID:
		return fmt.Errorf("key exchange group %d, expected %d", cs.CurveID, o.expectCurveID)
	}
	return nil
}

// checkPeerCertificates checks that a server always, and a client when
// it must, presented certificates, and which when a file names them.
func checkPeerCertificates(cs fsm.ConnectionState, o *options) error {
	if (!o.server || o.requireAnyClientCert) && len(cs.PeerCertificates) == 0 {
		return errors.New("no peer certificate")
	}
	if o.expectPeerCertFile == "" {
		return nil
	}
	want, err := readCertificates(o.expectPeerCertFile)
	if err != nil {
		return err
	}
	if len(want) != len(cs.PeerCertificates) {
		return fmt.Errorf("peer sent %d certificates, expected %d", len(cs.PeerCertificates), len(want))
	}
	for i, cert := range cs.PeerCertificates {
		if !bytes.Equal(cert.Raw, want[i].Raw) {
			return fmt.Errorf("peer certificate %d differs from the expected one", i)
		}
	}
	return nil
}

// checkVerifyResult checks -expect-verify-result: the connection's
// verification result, or on a resumption the session's.
func (s *shim) checkVerifyResult(cs fsm.ConnectionState, o *options, st *connState) error {
	if st.verified || !cs.DidResume {
		s.verifyFailed = st.verifyFailed
	}
	if o.expectVerifyResult && s.verifyFailed != o.verifyFail {
		return fmt.Errorf("verification failed: %v, expected %v", s.verifyFailed, o.verifyFail)
	}
	return nil
}

func checkHelloRetry(c *conn, o *options) error {
	switch {
	case o.expectHRR && !c.sawHelloRetry:
		return errors.New("no HelloRetryRequest, expected one")
	case o.expectNoHRR && c.sawHelloRetry:
		return errors.New("HelloRetryRequest, expected none")
	}
	return nil
}

// checkSessionID checks whether a server's first connection cached its
// session by ID.
func (s *shim) checkSessionID(o *options, resume bool, before int) error {
	if resume || !o.server {
		return nil
	}
	cached := s.serverCache.count() > before
	switch {
	case o.expectSessionID && !cached:
		return errors.New("no session cached by ID, expected one")
	case o.expectNoSessionID && cached:
		return errors.New("session cached by ID, expected none")
	}
	return nil
}
