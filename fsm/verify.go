package fsm

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// parseCertificates parses the peer's chain through the Config's
// certificate cache; a bad certificate is bad_certificate.
func (c *Conn) parseCertificates(entries []flights.CertificateEntry) ([]*x509.Certificate, error) {
	cache := c.cfg.certificates()
	certs := make([]*x509.Certificate, len(entries))
	for i, e := range entries {
		cert, err := cache.Parse(e.Data)
		if err != nil {
			return nil, alertf(record.AlertBadCertificate, "parsing certificate %d: %v", i, err)
		}
		certs[i] = cert
	}
	if len(schemesFor13(certs[0].PublicKey)) == 0 {
		return nil, alertf(record.AlertUnsupportedCertificate, "unsupported key type %T", certs[0].PublicKey)
	}
	return certs, nil
}

// verifyChain checks certs against roots at the connection's time, for the
// given name (server) or for client authentication (name empty).
func (c *Conn) verifyChain(certs []*x509.Certificate, roots *x509.CertPool, name string, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	var cache *CertificateCache
	if verificationRepeatable(roots, c.wallTime()) {
		cache = c.cfg.certificates()
		if chains := cache.verifiedChains(certs, roots, name, usage, c.wallTime()); chains != nil {
			return chains, nil
		}
	}
	chains, err := verifyLeaf(certs, roots, c.wallTime(), name, usage)
	if err != nil {
		return nil, &protocolError{alert: certificateAlert(err), msg: "failed to verify certificate: " + err.Error(),
			cause: &CertificateVerificationError{UnverifiedCertificates: certs, Err: err}}
	}
	if cache != nil {
		cache.rememberVerified(certs, roots, name, usage, chains)
	}
	return chains, nil
}

// verifyLeaf runs x509's verification of certs[0] with the rest as
// intermediates. A peer that sends its root too (a self-issued
// certificate) would have x509 check the leaf's signature twice, under
// the root and under the same certificate as an intermediate: such
// certificates are left out of a first attempt, which succeeds when the
// root is trusted, and only an unknown authority brings them back.
func verifyLeaf(certs []*x509.Certificate, roots *x509.CertPool, now time.Time, name string, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	opts := x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		DNSName:     name,
		KeyUsages:   []x509.ExtKeyUsage{usage},
	}
	intermediates := func(selfIssued bool) *x509.CertPool {
		pool := x509.NewCertPool()
		for _, cert := range certs[1:] {
			if selfIssued || !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
				pool.AddCert(cert)
			}
		}
		return pool
	}
	sentSelfIssued := slices.ContainsFunc(certs[1:], func(cert *x509.Certificate) bool {
		return bytes.Equal(cert.RawIssuer, cert.RawSubject)
	})
	if sentSelfIssued {
		opts.Intermediates = intermediates(false)
		chains, err := certs[0].Verify(opts)
		if !errors.As(err, new(x509.UnknownAuthorityError)) {
			return chains, err
		}
	}
	opts.Intermediates = intermediates(true)
	return certs[0].Verify(opts)
}

// platformVerifier is true where x509 hands verification against the
// system roots to the operating system, whose answer may change with its
// settings.
const platformVerifier = runtime.GOOS == "darwin" || runtime.GOOS == "ios" || runtime.GOOS == "windows"

// verificationRepeatable reports whether a verification against roots at
// now depends only on what the CertificateCache keys it by: not when x509
// would read the clock (no time given) or ask the operating system.
func verificationRepeatable(roots *x509.CertPool, now time.Time) bool {
	return !now.IsZero() && (roots != nil || !platformVerifier)
}

// certificateAlert maps a verification failure to its alert.
func certificateAlert(err error) Alert {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return record.AlertUnknownCA
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return record.AlertCertificateExpired
	}
	return record.AlertBadCertificate
}

// runVerifyCallback calls Config.VerifyPeerCertificate.
func (c *Conn) runVerifyCallback(entries []flights.CertificateEntry, chains [][]*x509.Certificate) error {
	if c.cfg.VerifyPeerCertificate == nil {
		return nil
	}
	raw := make([][]byte, len(entries))
	for i, e := range entries {
		raw[i] = bytes.Clone(e.Data)
	}
	if err := c.cfg.VerifyPeerCertificate(raw, chains); err != nil {
		return callbackError("VerifyPeerCertificate", err)
	}
	return nil
}

// keyLog writes one NSS key log line.
func (c *Conn) keyLog(label string, secret []byte) {
	if w := c.cfg.KeyLogWriter; w != nil {
		writeKeyLog(w, label, c.random[:], secret)
	}
}

func writeKeyLog(w io.Writer, label string, random, secret []byte) {
	fmt.Fprintf(w, "%s %x %x\n", label, random, secret)
}

// acceptPeerCertificates parses the peer's chain, verifies it when verify
// is set (against roots, for name, with usage), runs the callback, and
// records the peer's certificates and key.
func (c *Conn) acceptPeerCertificates(entries []flights.CertificateEntry, roots *x509.CertPool, name string, usage x509.ExtKeyUsage, verify bool) error {
	certs, err := c.parseCertificates(entries)
	if err != nil {
		return err
	}
	if ku := certs[0].KeyUsage; ku != 0 && ku&x509.KeyUsageDigitalSignature == 0 {
		// The peer signs with this key (every key exchange tlsm has is
		// ECDHE or TLS 1.3), which a keyUsage extension must allow.
		return alertf(record.AlertIllegalParameter, "peer certificate's keyUsage does not allow digitalSignature")
	}
	var chains [][]*x509.Certificate
	if verify {
		if chains, err = c.verifyChain(certs, roots, name, usage); err != nil {
			return err
		}
	}
	if err := c.runVerifyCallback(entries, chains); err != nil {
		return err
	}
	c.peerCerts, c.chains = certs, chains
	c.hs.peerKey = certs[0].PublicKey
	return nil
}

// serverChain and clientChain are the verification parameters of the
// server's certificate (checked by a client) and of a client's.
func (c *Conn) serverChain() (*x509.CertPool, string, x509.ExtKeyUsage, bool) {
	return c.cfg.RootCAs, c.cfg.ServerName, x509.ExtKeyUsageServerAuth, !c.cfg.InsecureSkipVerify
}

func (c *Conn) clientChain() (*x509.CertPool, string, x509.ExtKeyUsage, bool) {
	auth := c.cfg.ClientAuth
	return c.cfg.ClientCAs, "", x509.ExtKeyUsageClientAuth, auth == VerifyClientCertIfGiven || auth == RequireAndVerifyClientCert
}
