package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/fsm"
)

// Version wire values the runner passes.
const (
	wireTLS10  = 0x0301
	wireTLS11  = 0x0302
	wireTLS12  = 0x0303
	wireTLS13  = 0x0304
	wireDTLS10 = 0xfeff
	wireDTLS12 = 0xfefd
	wireDTLS13 = 0xfefc
)

// maxRetransmits is BoringSSL's bound on DTLS retransmissions, which the
// runner's timeout schedule is written for: twelve timeouts are answered,
// the thirteenth ends the handshake.
const maxRetransmits = 12

// versions maps the runner's version flags onto tlsm's range. BoringSSL
// enables TLS 1.0 to 1.3 by default; tlsm only 1.2 and 1.3, so a range
// that leaves tlsm nothing asks for what tlsm does not implement.
func versions(o *options) (lo, hi uint16, err error) {
	ranks := []int{wireTLS10, wireTLS11, wireTLS12, wireTLS13}
	if o.dtls {
		ranks = []int{wireDTLS10, wireDTLS12, wireDTLS13}
	}
	rank := func(v int) int { return slices.Index(ranks, v) }
	minRank, maxRank := 0, rank(wireTLS13)
	if o.dtls {
		maxRank = rank(wireDTLS12) // DTLS 1.3 is not in this runner
	}
	if o.minVersion != 0 {
		minRank = rank(o.minVersion)
	}
	if o.maxVersion != 0 {
		maxRank = rank(o.maxVersion)
	}
	if minRank < 0 || maxRank < 0 {
		return 0, 0, fmt.Errorf("unknown version in -min-version %d / -max-version %d", o.minVersion, o.maxVersion)
	}
	var enabled []uint16
	for r := minRank; r <= maxRank; r++ {
		switch v := ranks[r]; {
		case (v == wireTLS12 || v == wireDTLS12) && !o.noTLS12:
			enabled = append(enabled, fsm.VersionTLS12)
		case v == wireTLS13 && !o.noTLS13:
			enabled = append(enabled, fsm.VersionTLS13)
		}
	}
	if len(enabled) == 0 {
		return 0, 0, unimplemented("-min-version/-max-version", "only versions tlsm does not implement are enabled")
	}
	return enabled[0], enabled[len(enabled)-1], nil
}

// curvePreferences maps -curves onto the groups tlsm implements.
func curvePreferences(ids []int) ([]fsm.CurveID, error) {
	var out []fsm.CurveID
	for _, id := range ids {
		switch c := fsm.CurveID(id); c {
		case fsm.X25519, fsm.CurveP256, fsm.CurveP384:
			out = append(out, c)
		default:
			return nil, unimplemented("-curves", "groups other than X25519, P-256 and P-384 (here P-224, P-521, X25519Kyber768) are not implemented")
		}
	}
	return out, nil
}

// cipherSuites maps a -cipher list of TLS 1.2 suite names onto tlsm's
// suites. Like BoringSSL, it leaves the TLS 1.3 suites as they are. Names
// of suites tlsm lacks are dropped; BoringSSL's cipher-string language
// (ALL, !X, [a|b] groups of equal preference) is not supported.
func cipherSuites(s string) ([]uint16, error) {
	if s == "" {
		return nil, nil
	}
	known := map[string]uint16{}
	for _, id := range cipher.TLS12Suites() {
		known[cipher.SuiteName(id)] = id
	}
	out := cipher.TLS13Suites()
	n := len(out)
	for _, name := range strings.Split(s, ":") {
		if !strings.HasPrefix(name, "TLS_") || strings.ContainsAny(name, "[]|!+") {
			return nil, unimplemented("-cipher", "BoringSSL's cipher string language (ALL, 3DES, [a|b] groups of equal preference): tlsm takes a list of suites")
		}
		if id, ok := known[name]; ok {
			out = append(out, id)
		}
	}
	if len(out) == n {
		return nil, unimplemented("-cipher", "a list of suites tlsm does not implement (RSA key exchange, CBC)")
	}
	return out, nil
}

// alpnList decodes a protocol list in its wire format (length-prefixed
// names), as -advertise-alpn gives it.
func alpnList(wire string) ([]string, error) {
	var out []string
	for len(wire) > 0 {
		n := int(wire[0])
		if n == 0 || 1+n > len(wire) {
			return nil, fmt.Errorf("bad ALPN list %q", wire)
		}
		out = append(out, wire[1:1+n])
		wire = wire[1+n:]
	}
	return out, nil
}

// srtpProfiles maps OpenSSL's DTLS-SRTP profile names onto IDs.
func srtpProfiles(s string) ([]uint16, error) {
	if s == "" {
		return nil, nil
	}
	ids := map[string]uint16{
		"SRTP_AES128_CM_SHA1_80": fsm.SRTP_AES128_CM_HMAC_SHA1_80,
		"SRTP_AES128_CM_SHA1_32": fsm.SRTP_AES128_CM_HMAC_SHA1_32,
		"SRTP_AEAD_AES_128_GCM":  fsm.SRTP_AEAD_AES_128_GCM,
		"SRTP_AEAD_AES_256_GCM":  fsm.SRTP_AEAD_AES_256_GCM,
	}
	var out []uint16
	for _, name := range strings.Split(s, ":") {
		id, ok := ids[name]
		if !ok {
			return nil, unimplemented("-srtp-profiles", "profile "+name)
		}
		out = append(out, id)
	}
	return out, nil
}

// loadCertificate reads the runner's PEM chain and PKCS #8 key.
func loadCertificate(certFile, keyFile string) (fsm.Certificate, error) {
	var cert fsm.Certificate
	certs, err := readCertificates(certFile)
	if err != nil {
		return cert, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return cert, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return cert, fmt.Errorf("no PEM block in %s", keyFile)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return cert, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return cert, fmt.Errorf("key %T cannot sign", key)
	}
	for _, c := range certs {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	cert.PrivateKey = signer
	return cert, nil
}

// readCertificates parses every certificate of a PEM file.
func readCertificates(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no certificate in %s", file)
	}
	return out, nil
}

// errVerifyFailed is what the shim's verify callback returns for
// -verify-fail.
var errVerifyFailed = errors.New("certificate rejected by the verify callback (-verify-fail)")

// checkEarlyData accepts -enable-early-data only on a server whose
// resumptions must decline 0-RTT: tlsm declines every attempt, so it
// behaves as a server with early data enabled that the test expects to
// refuse it. A test that wants 0-RTT accepted, or advertised in tickets,
// asks for what tlsm does not implement.
func checkEarlyData(c *config) error {
	enabled := c.initial.enableEarlyData || c.resume.enableEarlyData
	if enabled && c.initial.server && !c.resume.expectRejectEarlyData {
		return unimplemented("-enable-early-data", noEarlyData+" (a server that may accept it)")
	}
	return nil
}

// checkUnsupported refuses combinations of flags tlsm cannot honour.
func checkUnsupported(o *options) error {
	switch {
	case !o.server && o.enableEarlyData:
		return unimplemented("-enable-early-data", noEarlyData+" (client)")
	case !o.server && o.expectRejectEarlyData:
		return unimplemented("-expect-reject-early-data", noEarlyData+" (client)")
	case !o.server && len(o.expectPeerVerifyPref) > 0:
		return unimplemented("-expect-peer-verify-pref", "the signature algorithms of a CertificateRequest: no API shows them to a client")
	}
	return nil
}

// retransmitTimeout is the first DTLS retransmission timeout.
func retransmitTimeout(o *options) time.Duration {
	if o.initialTimeoutMS > 0 {
		return time.Duration(o.initialTimeoutMS) * time.Millisecond
	}
	return time.Second
}
