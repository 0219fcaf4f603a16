package fsm

import (
	"crypto/x509"
	"errors"

	"github.com/tlsm/tlsm/cipher"
)

// ConnectionState describes a connection, as crypto/tls's does.
type ConnectionState struct {
	Version            uint16
	HandshakeComplete  bool
	DidResume          bool
	CipherSuite        uint16
	NegotiatedProtocol string
	ServerName         string
	PeerCertificates   []*x509.Certificate
	VerifiedChains     [][]*x509.Certificate
	// Handshakes counts the handshakes completed on this connection.
	Handshakes int
}

// ConnectionState returns the connection's negotiated parameters.
func (c *Conn) ConnectionState() ConnectionState {
	cs := ConnectionState{
		Version:            c.transport.wireVersion(c.version),
		HandshakeComplete:  c.handshakes > 0,
		DidResume:          c.resumed,
		NegotiatedProtocol: c.alpn,
		ServerName:         c.serverName,
		PeerCertificates:   c.peerCerts,
		VerifiedChains:     c.chains,
		Handshakes:         c.handshakes,
	}
	if c.isClient {
		cs.ServerName = c.cfg.ServerName
	}
	if c.suite != nil {
		cs.CipherSuite = c.suite.ID
	}
	return cs
}

// ExportKeyingMaterial returns length bytes of keying material (RFC 8446
// §7.5, RFC 5705) for label and context.
func (c *Conn) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if c.exporter == nil {
		return nil, ErrHandshakeIncomplete
	}
	if len(label) == 0 || length < 0 {
		return nil, errors.New("tls: bad exporter arguments")
	}
	return cipher.ExportKeyingMaterial(c.suite.Hash, c.exporter, label, context, length), nil
}
