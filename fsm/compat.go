package fsm

import (
	"context"
	"crypto"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/tlsm/tlsm/flights"
)

// X509KeyPair parses a certificate chain and its private key from PEM,
// as crypto/tls's X509KeyPair does (LoadX509KeyPair, which reads files,
// is in packages tls and dtls).
func X509KeyPair(certPEM, keyPEM []byte) (Certificate, error) {
	std, err := gotls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return Certificate{}, err
	}
	c, err := CertificateFromTLS(&std)
	if err != nil {
		return Certificate{}, err
	}
	return *c, nil
}

// CertificateFromTLS converts a crypto/tls Certificate. Its private key
// must be a crypto.Signer (every key crypto/tls loads is); OCSP staples
// and SCTs are dropped, as tlsm does not send them. The chain and leaf
// are shared, not copied.
func CertificateFromTLS(c *gotls.Certificate) (*Certificate, error) {
	if c == nil {
		return nil, nil
	}
	signer, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("tls: private key of type %T is not a crypto.Signer", c.PrivateKey)
	}
	var schemes []uint16
	for _, s := range c.SupportedSignatureAlgorithms {
		schemes = append(schemes, uint16(s))
	}
	return &Certificate{Certificate: c.Certificate, PrivateKey: signer, Leaf: c.Leaf, SupportedSignatureAlgorithms: schemes}, nil
}

// GetCertificateFromTLS adapts a crypto/tls GetCertificate callback (such
// as golang.org/x/crypto/acme/autocert's Manager.GetCertificate) to
// Config.GetCertificate: it is handed ToTLS of tlsm's ClientHelloInfo and
// its certificate is converted with CertificateFromTLS.
func GetCertificateFromTLS(get func(*gotls.ClientHelloInfo) (*gotls.Certificate, error)) func(*ClientHelloInfo) (*Certificate, error) {
	return func(hello *ClientHelloInfo) (*Certificate, error) {
		c, err := get(hello.ToTLS())
		if err != nil || c == nil {
			return nil, err
		}
		return CertificateFromTLS(c)
	}
}

// ClientHelloInfo is what GetCertificate and GetConfigForClient learn of
// a ClientHello, as crypto/tls's of the same name. Versions are protocol
// versions (VersionTLS12 for DTLS 1.2 too).
type ClientHelloInfo struct {
	CipherSuites      []uint16
	ServerName        string
	SupportedCurves   []CurveID
	SupportedPoints   []uint8
	SignatureSchemes  []uint16
	SupportedProtos   []string
	SupportedVersions []uint16
	// Conn is the connection the hello came on, when an adapter (tls,
	// dtls) runs the Conn; nil for an fsm.Conn driven by hand.
	Conn net.Conn

	ctx context.Context
}

// Context is the handshake's context: HandshakeContext's in the
// adapters, context.Background otherwise.
func (h *ClientHelloInfo) Context() context.Context {
	if h.ctx == nil {
		return context.Background()
	}
	return h.ctx
}

// ToTLS returns the same hello as crypto/tls's ClientHelloInfo, for
// callbacks written against crypto/tls. Its Context is h's; its
// SupportsCertificate method, which needs crypto/tls's private state,
// must not be relied on.
func (h *ClientHelloInfo) ToTLS() *gotls.ClientHelloInfo {
	std := &gotls.ClientHelloInfo{
		CipherSuites: h.CipherSuites, ServerName: h.ServerName, SupportedPoints: h.SupportedPoints,
		SupportedProtos: h.SupportedProtos, SupportedVersions: h.SupportedVersions, Conn: h.Conn,
	}
	for _, id := range h.SupportedCurves {
		std.SupportedCurves = append(std.SupportedCurves, gotls.CurveID(id))
	}
	for _, s := range h.SignatureSchemes {
		std.SignatureSchemes = append(std.SignatureSchemes, gotls.SignatureScheme(s))
	}
	return std
}

// helloInfo describes ch for the Config's callbacks.
func (c *Conn) helloInfo(ch *flights.ClientHello) *ClientHelloInfo {
	h := &ClientHelloInfo{
		CipherSuites: ch.CipherSuites, ServerName: ch.ServerName, SupportedPoints: ch.ECPointFormats,
		SignatureSchemes: ch.SignatureAlgorithms, SupportedProtos: ch.ALPN,
	}
	if c.hooks != nil {
		h.Conn, h.ctx = c.hooks.netConn, c.hooks.ctx
	}
	for _, g := range ch.SupportedGroups {
		h.SupportedCurves = append(h.SupportedCurves, CurveID(g))
	}
	wire := ch.SupportedVersions
	if len(wire) == 0 {
		wire = []uint16{ch.Version}
	}
	for _, w := range wire {
		if v := c.transport.protocolVersion(w); v != 0 {
			h.SupportedVersions = append(h.SupportedVersions, v)
		}
	}
	return h
}

// CertificateRequestInfo is what GetClientCertificate learns of the
// server's request, as crypto/tls's of the same name.
type CertificateRequestInfo struct {
	// AcceptableCAs are the DER distinguished names of the CAs the server
	// accepts; empty when it named none.
	AcceptableCAs [][]byte
	// SignatureSchemes are those the server accepts.
	SignatureSchemes []uint16
	// Version is the negotiated protocol version.
	Version uint16

	ctx context.Context
}

// Context is the handshake's context, as in ClientHelloInfo.
func (r *CertificateRequestInfo) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// errNoClientCertificate is what a nil GetClientCertificate result means:
// crypto/tls requires a certificate, possibly empty, and so does tlsm.
var errNoClientCertificate = errors.New("tls: GetClientCertificate returned no certificate")

// adapterHooks is what an adapter tells its Conn about the world around it,
// for the callbacks: the net.Conn and the handshake's context.
type adapterHooks struct {
	netConn net.Conn
	ctx     context.Context
}

// SetCallbackContext gives the Config's callbacks (GetCertificate,
// GetConfigForClient, GetClientCertificate) the net.Conn this Conn runs on
// and the handshake's context, as crypto/tls's ClientHelloInfo carries;
// the adapters call it. Either may be nil. Without such a callback in the
// Config it keeps nothing.
func (c *Conn) SetCallbackContext(ctx context.Context, nc net.Conn) {
	if c.cfg.GetCertificate == nil && c.cfg.GetConfigForClient == nil && c.cfg.GetClientCertificate == nil {
		return
	}
	c.hooks = &adapterHooks{netConn: nc, ctx: ctx}
}

// ToTLS returns cs as crypto/tls's ConnectionState, for code written
// against crypto/tls (net/http's Request.TLS, x/net/http2). Versions are
// the wire versions crypto/tls names. Its ExportKeyingMaterial method
// needs crypto/tls's private state and always fails: use the Conn's.
func (cs ConnectionState) ToTLS() gotls.ConnectionState {
	return gotls.ConnectionState{
		Version: cs.Version, HandshakeComplete: cs.HandshakeComplete, DidResume: cs.DidResume,
		CipherSuite: cs.CipherSuite, CurveID: gotls.CurveID(cs.CurveID),
		NegotiatedProtocol: cs.NegotiatedProtocol,
		ServerName:         cs.ServerName, PeerCertificates: cs.PeerCertificates, VerifiedChains: cs.VerifiedChains,
		TLSUnique: cs.TLSUnique, HelloRetryRequest: cs.HelloRetryRequest,
	}
}
