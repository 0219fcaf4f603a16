package fsm

import (
	"bytes"
	"crypto/x509"
	"errors"

	"github.com/tlsm/tlsm/cipher"
)

// ConnectionState describes a connection, as crypto/tls's does.
type ConnectionState struct {
	Version           uint16
	HandshakeComplete bool
	DidResume         bool
	CipherSuite       uint16
	// CurveID is the group of the last handshake's key exchange; a TLS
	// 1.2 resumption, which has none, reports the group of the handshake
	// that made the session.
	CurveID            CurveID
	NegotiatedProtocol string
	ServerName         string
	PeerCertificates   []*x509.Certificate
	VerifiedChains     [][]*x509.Certificate
	// TLSUnique is the tls-unique channel binding (RFC 5929): the first
	// Finished verify_data of the last TLS 1.2 handshake (the client's in
	// a full handshake, the server's in a resumption). TLS 1.3 defines
	// none (RFC 8446 §C.5): it is nil there; use an exporter.
	TLSUnique []byte
	// HelloRetryRequest is set when the last handshake had one (TLS 1.3).
	HelloRetryRequest bool
	// Handshakes counts the handshakes completed on this connection.
	Handshakes int
	// SRTPProtectionProfile is the DTLS-SRTP profile negotiated, or 0.
	SRTPProtectionProfile uint16
	// ConnectionID is the DTLS Connection ID (RFC 9146) the peer puts in
	// the records it sends us, PeerConnectionID the one we put in ours;
	// empty for none. ConnectionIDNegotiated is set when both hellos
	// carried the extension.
	ConnectionID           []byte
	PeerConnectionID       []byte
	ConnectionIDNegotiated bool
	// ReturnRoutabilityCheck is set when both hellos carried rrc (RFC
	// 9853): PathChallenge checks a new address of the peer.
	ReturnRoutabilityCheck bool
}

// ConnectionState returns the connection's negotiated parameters.
func (c *Conn) ConnectionState() ConnectionState {
	cs := ConnectionState{
		Version:                c.transport.wireVersion(c.version),
		HandshakeComplete:      c.handshakes > 0,
		DidResume:              c.resumed,
		HelloRetryRequest:      c.retried,
		CurveID:                c.group,
		NegotiatedProtocol:     c.alpn,
		ServerName:             c.serverName,
		PeerCertificates:       c.peerCerts,
		VerifiedChains:         c.chains,
		Handshakes:             c.handshakes,
		SRTPProtectionProfile:  c.srtpProfile,
		ReturnRoutabilityCheck: c.path != nil,
	}
	cs.ConnectionID, cs.PeerConnectionID, cs.ConnectionIDNegotiated = c.layer.connectionIDs()
	if c.isClient {
		cs.ServerName = c.cfg.ServerName
	}
	if c.suite != nil {
		cs.CipherSuite = c.suite.ID
	}
	if c.version == VersionTLS12 && c.handshakes > 0 {
		cs.TLSUnique = c.tlsUnique(c.resumed)
	}
	return cs
}

// tlsUnique is the tls-unique channel binding (RFC 5929) of the last TLS
// 1.2 handshake: the first Finished's verify_data, the server's when the
// handshake resumed.
func (c *Conn) tlsUnique(resumed bool) []byte {
	if resumed {
		return bytes.Clone(c.reneg.serverVerify)
	}
	return bytes.Clone(c.reneg.clientVerify)
}

// ExportKeyingMaterial returns length bytes of keying material (RFC 5705,
// RFC 8446 §7.5) for label and context; a nil context means none, which
// TLS 1.3 does not tell from an empty one. Any label works, the empty one
// too, up to the 249 bytes a TLS 1.3 HkdfLabel takes, and TLS 1.3 gives
// at most 255 hash lengths (and 65535 bytes); beyond those, before the
// handshake completes and while a renegotiation runs, it returns an
// error. On TLS 1.2 it needs extended master secret (RFC 7627), as
// crypto/tls does: without it the output is not bound to the connection,
// and the call fails.
// DTLS-SRTP keys use the label "EXTRACTOR-dtls_srtp" and no context.
func (c *Conn) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if !c.HandshakeComplete() {
		return nil, ErrHandshakeIncomplete
	}
	if c.hs != nil {
		// A renegotiation runs: the keys change under the caller.
		return nil, errors.New("tls: no exporter in the middle of a renegotiation")
	}
	if length < 0 || len(context) > 0xffff {
		return nil, errors.New("tls: exporter length or context out of range")
	}
	if c.version == VersionTLS12 {
		if !c.tls12.ems {
			return nil, errors.New("tls: exporters need extended master secret on TLS 1.2")
		}
		return cipher.ExportKeyingMaterial12(c.suite.Hash, c.tls12.master, c.random[:], c.tls12.serverRandom[:], label, context, context != nil, length), nil
	}
	if len(label) > maxExporterLabel || length > min(255*c.suite.Hash.Size(), 0xffff) {
		return nil, errors.New("tls: exporter label or length too long for TLS 1.3")
	}
	return c.transport.Labels.ExportKeyingMaterial(c.suite.Hash, c.tls13.exporter, label, context, length), nil
}

// maxExporterLabel is the longest exporter label TLS 1.3 takes: an
// HkdfLabel's label, "tls13 " and the label, is at most 255 bytes.
const maxExporterLabel = 255 - len("tls13 ")
