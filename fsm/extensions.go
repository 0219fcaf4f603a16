package fsm

import (
	"slices"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// Which extensions a server may answer with, and where (RFC 8446 §4.2,
// RFC 5246 §7.4.1.4): only those the client offered, except the cookie
// of a HelloRetryRequest, and only in the messages that carry them.
// Anything else is an unsupported_extension.
var (
	serverHello13Extensions = []uint16{flights.ExtSupportedVersions, flights.ExtKeyShare, flights.ExtPreSharedKey, flights.ExtConnectionID, flights.ExtRRC}
	helloRetryExtensions    = []uint16{flights.ExtSupportedVersions, flights.ExtKeyShare, flights.ExtCookie}
	// tls13OnlyExtensions never answer a TLS 1.2 ClientHello.
	tls13OnlyExtensions = []uint16{
		flights.ExtKeyShare, flights.ExtPreSharedKey, flights.ExtEarlyData, flights.ExtCookie, flights.ExtPSKModes,
		flights.ExtCertificateAuthorities, flights.ExtSignatureAlgorithmsCert, flights.ExtSupportedVersions,
	}
	// certEntryExtensions are those a TLS 1.3 CertificateEntry may carry.
	certEntryExtensions = []uint16{flights.ExtStatusRequest, flights.ExtSCT}
)

// checkAnswered refuses an extension in a server's message that the
// client did not offer (unsolicited is the cookie of a
// HelloRetryRequest, which needs no offer), or that the message may not
// carry: allowed lists those it may, nil meaning any.
func (c *Conn) checkAnswered(what string, exts, allowed []uint16, unsolicited uint16) error {
	for _, ext := range exts {
		offered := c.hs.hello.Offers(ext) || ext == unsolicited && unsolicited != 0
		if !offered || allowed != nil && !slices.Contains(allowed, ext) {
			return alertf(record.AlertUnsupportedExtension, "extension %d in %s", ext, what)
		}
	}
	return nil
}

// checkAnswered12 applies checkAnswered to a TLS 1.2 ServerHello, which
// may answer any extension the client offered but those of TLS 1.3.
func (c *Conn) checkAnswered12(sh *flights.ServerHello) error {
	for _, ext := range sh.Extensions {
		if slices.Contains(tls13OnlyExtensions, ext) {
			return alertf(record.AlertUnsupportedExtension, "TLS 1.3 extension %d in a TLS 1.2 ServerHello", ext)
		}
	}
	return c.checkAnswered("a ServerHello", sh.Extensions, nil, 0)
}

// checkEntryExtensions refuses a CertificateEntry extension the peer was
// not asked for: a client asks by offering it, a server (whose
// CertificateRequest asks for none) never does.
func (c *Conn) checkEntryExtensions(entries []flights.CertificateEntry) error {
	for i := range entries {
		for _, ext := range entries[i].Extensions {
			if !c.isClient || !c.hs.hello.Offers(ext) || !slices.Contains(certEntryExtensions, ext) {
				return alertf(record.AlertUnsupportedExtension, "extension %d in a CertificateEntry", ext)
			}
		}
	}
	return nil
}
