package main

import (
	"crypto"
	"fmt"
	"io"
	"slices"

	"github.com/tlsm/tlsm/fsm"
)

// fsmConfig maps one connection's options onto an fsm.Config. Sessions,
// ticket keys and the clock are shared by the connections of a test.
func (s *shim) fsmConfig(o *options, st *connState) (*fsm.Config, error) {
	cfg := &fsm.Config{
		MTU:               o.mtu,
		RetransmitTimeout: retransmitTimeout(o),
		MaxRetransmits:    maxRetransmits,
		// BoringSSL's DTLS servers send no HelloVerifyRequest, and the
		// runner's retransmission tests count flights as they do.
		InsecureSkipHelloVerify: true,
		SessionTicketsDisabled:  o.noTicket,
		SessionTicketKeys:       s.ticketKeys,
		ClientSessionCache:      s.clientCache,
		ServerSessionCache:      s.serverCache,
		Renegotiation:           renegotiation(o),
		ServerName:              o.hostName,
		// The runner's certificates are judged by the verify callback
		// alone, as in BoringSSL's shim.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: st.verify,
	}
	if o.reverifyOnResume {
		// The verify callback runs again on a resumption, as
		// Config.VerifyConnection does after every handshake.
		cfg.VerifyConnection = func(cs fsm.ConnectionState) error {
			if !cs.DidResume {
				return nil
			}
			if err := st.verify(nil, nil); err != nil {
				// BoringSSL's custom verify callback fails a
				// resumption with certificate_unknown.
				return fmt.Errorf("%w (%w)", err, fsm.AlertCertificateUnknown)
			}
			return nil
		}
	}
	if err := setLists(cfg, o); err != nil {
		return nil, err
	}
	var err error
	if cfg.Certificates, err = certificates(o, st); err != nil {
		return nil, err
	}
	if o.server {
		return cfg, serverConfig(cfg, o, st)
	}
	return cfg, s.clientConfig(cfg, o)
}

// certificates loads the credentials in the order BoringSSL tries them:
// those -new-x509-credential added, then the default one. Each key notes
// in st when it signs, so that the shim can tell which was selected.
func certificates(o *options, st *connState) ([]fsm.Certificate, error) {
	var certs []fsm.Certificate
	add := func(c *credential, number int) error {
		if c.certFile == "" && c.keyFile == "" {
			return nil
		}
		cert, err := loadCertificate(c.certFile, c.keyFile)
		if err != nil {
			return err
		}
		for _, id := range c.signingPrefs {
			cert.SupportedSignatureAlgorithms = append(cert.SupportedSignatureAlgorithms, uint16(id))
		}
		cert.PrivateKey = &credentialSigner{Signer: cert.PrivateKey, number: number, st: st}
		certs = append(certs, cert)
		return nil
	}
	for i := range o.credentials {
		if err := add(&o.credentials[i], i); err != nil {
			return nil, err
		}
	}
	return certs, add(&o.defaultCredential, -1)
}

// credentialSigner signs with a credential's key and notes its number.
type credentialSigner struct {
	crypto.Signer
	number int
	st     *connState
}

func (s *credentialSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.st.signedWith, s.st.signed = s.number, true
	return s.Signer.Sign(rand, digest, opts)
}

// resumptionServerName is the name in the runner's certificates.
const resumptionServerName = "test"

// setLists sets the versions, groups, suites and SRTP profiles.
func setLists(cfg *fsm.Config, o *options) error {
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = versions(o); err != nil {
		return err
	}
	if cfg.CurvePreferences, err = curvePreferences(o.curves); err != nil {
		return err
	}
	if cfg.CipherSuites, err = cipherSuites(o.cipher); err != nil {
		return err
	}
	cfg.SRTPProtectionProfiles, err = srtpProfiles(o.srtpProfiles)
	return err
}

// clientConfig sets what only a client uses: the ALPN protocols it
// offers, and the server name its sessions are kept by.
func (s *shim) clientConfig(cfg *fsm.Config, o *options) error {
	if cfg.ServerName == "" && s.cfg.initial.resumeCount > 0 {
		// A tlsm client keeps sessions by server name, and keeps none
		// without one: name the runner's certificates to resume.
		cfg.ServerName = resumptionServerName
	}
	var err error
	cfg.NextProtos, err = alpnList(o.advertiseALPN)
	return err
}

// renegotiation maps the renegotiation flags; BoringSSL refuses every
// renegotiation by default.
func renegotiation(o *options) fsm.RenegotiationSupport {
	switch {
	case o.renegotiateFreely:
		return fsm.RenegotiateFreely
	case o.renegotiateOnce:
		return fsm.RenegotiateOnce
	}
	return fsm.RenegotiateNever
}

// serverConfig sets what only a server uses: client authentication, the
// ALPN protocol to select, and checks on the ClientHello.
func serverConfig(cfg *fsm.Config, o *options, st *connState) error {
	switch {
	case o.verifyPeer:
		cfg.ClientAuth = fsm.RequestClientCert
	case o.requireAnyClientCert:
		cfg.ClientAuth = fsm.RequireAnyClientCert
	}
	if o.selectALPN != "" && !o.declineALPN {
		cfg.NextProtos = []string{o.selectALPN}
	}
	if len(o.expectPeerVerifyPref) == 0 && o.expectAdvertisedALPN == "" {
		return nil
	}
	cfg.GetCertificate = func(hi *fsm.ClientHelloInfo) (*fsm.Certificate, error) {
		st.checkClientHello(hi)
		return nil, nil // the Config's Certificates
	}
	return nil
}

// checkClientHello compares what the client offered with what the flags
// expect.
func (st *connState) checkClientHello(hi *fsm.ClientHelloInfo) {
	o := st.opts
	if want := o.expectPeerVerifyPref; len(want) > 0 {
		var got []int
		for _, s := range hi.SignatureSchemes {
			got = append(got, int(s))
		}
		if !slices.Equal(got, want) {
			st.errs = append(st.errs, fmt.Errorf("peer signature algorithms %v, expected %v", got, want))
		}
	}
	if want := o.expectAdvertisedALPN; want != "" {
		var got []byte
		for _, p := range hi.SupportedProtos {
			got = append(append(got, byte(len(p))), p...)
		}
		if string(got) != want {
			st.errs = append(st.errs, fmt.Errorf("client offered ALPN %q, expected %q", got, want))
		}
	}
}
