package flights

import "golang.org/x/crypto/cryptobyte"

// This file holds the TLS 1.2 forms of the handshake messages (RFC 5246
// §7.4) that TLS 1.3 dropped or redefined. Certificate, CertificateRequest
// and NewSessionTicket share their type code with the TLS 1.3 messages of
// the same name; the caller knows the negotiated version and picks the
// matching struct.

// curveTypeNamed is the ECCurveType value named_curve (RFC 8422 §5.4), the
// only curve type this package accepts.
const curveTypeNamed uint8 = 3

// ServerKeyExchange carries the server's ephemeral ECDHE share and its
// signature over it (RFC 8422 §5.4, RFC 5246 §7.4.3). Only signed ECDHE
// with a named curve is represented.
type ServerKeyExchange struct {
	// Curve is the named group of the ephemeral key.
	Curve uint16
	// PublicKey is the encoded ECPoint; it must not be empty.
	PublicKey []byte
	// Algorithm is the SignatureAndHashAlgorithm of Signature.
	Algorithm uint16
	// Signature covers client_random, server_random and Params(); it must
	// not be empty.
	Signature []byte
}

// addParams writes the ServerECDHParams: curve type, named curve and the
// 8-bit prefixed point.
func (m *ServerKeyExchange) addParams(b *builder) {
	b.addUint8(curveTypeNamed)
	b.addUint16(m.Curve)
	addBytes8(b, m.PublicKey)
}

// Params returns a new slice holding the encoded ServerECDHParams, the part
// of the message that the server signs after the two randoms. It panics if
// PublicKey is longer than 255 bytes.
func (m *ServerKeyExchange) Params() []byte {
	b := newBuilder(nil)
	m.addParams(b)
	return b.mustBytes()
}

// Append appends the complete ServerKeyExchange message to b.
func (m *ServerKeyExchange) Append(b []byte) []byte {
	return appendMessage(b, TypeServerKeyExchange, func(b *builder) {
		m.addParams(b)
		b.addUint16(m.Algorithm)
		addBytes16(b, m.Signature)
	})
}

// Unmarshal parses a ServerKeyExchange body (without the 4-byte header).
// A curve type other than named_curve is rejected with illegal_parameter.
// Slices in m may alias body. It returns nil or a record.Alert.
func (m *ServerKeyExchange) Unmarshal(body []byte) error {
	*m = ServerKeyExchange{}
	s := cryptobyte.String(body)
	var curveType uint8
	if !s.ReadUint8(&curveType) {
		return errDecode
	}
	if curveType != curveTypeNamed {
		return errIllegal
	}
	return okOr(s.ReadUint16(&m.Curve) &&
		readBytes8(&s, &m.PublicKey) &&
		s.ReadUint16(&m.Algorithm) &&
		readBytes16(&s, &m.Signature) &&
		s.Empty())
}

// ServerHelloDone ends the server's first flight (RFC 5246 §7.4.5). Its
// body is empty.
type ServerHelloDone struct{}

// Append appends the complete ServerHelloDone message to b.
func (m *ServerHelloDone) Append(b []byte) []byte {
	return appendMessage(b, TypeServerHelloDone, func(*builder) {})
}

// Unmarshal checks that a ServerHelloDone body is empty. It returns nil or
// a record.Alert.
func (m *ServerHelloDone) Unmarshal(body []byte) error {
	return okOr(len(body) == 0)
}

// HelloRequest asks the client to start a new handshake (RFC 5246
// §7.4.1.1). Its body is empty.
type HelloRequest struct{}

// Append appends the complete HelloRequest message to b.
func (m *HelloRequest) Append(b []byte) []byte {
	return appendMessage(b, TypeHelloRequest, func(*builder) {})
}

// Unmarshal checks that a HelloRequest body is empty. It returns nil or a
// record.Alert.
func (m *HelloRequest) Unmarshal(body []byte) error {
	return okOr(len(body) == 0)
}

// ClientKeyExchange carries the client's ephemeral ECDHE share (RFC 8422
// §5.7). Other key exchange methods are not represented.
type ClientKeyExchange struct {
	// PublicKey is the encoded ECPoint; it must not be empty.
	PublicKey []byte
}

// Append appends the complete ClientKeyExchange message to b.
func (m *ClientKeyExchange) Append(b []byte) []byte {
	return appendMessage(b, TypeClientKeyExchange, func(b *builder) {
		addBytes8(b, m.PublicKey)
	})
}

// Unmarshal parses a ClientKeyExchange body (without the 4-byte header).
// PublicKey may alias body. It returns nil or a record.Alert.
func (m *ClientKeyExchange) Unmarshal(body []byte) error {
	*m = ClientKeyExchange{}
	s := cryptobyte.String(body)
	return okOr(readBytes8(&s, &m.PublicKey) && s.Empty())
}

// CertificateRequest12 asks the client for a certificate, in its TLS 1.2
// form (RFC 5246 §7.4.4).
type CertificateRequest12 struct {
	// CertificateTypes lists ClientCertificateType values; it must not be
	// empty.
	CertificateTypes []byte
	// SignatureAlgorithms lists SignatureAndHashAlgorithm values; it must
	// not be empty.
	SignatureAlgorithms []uint16
	// CertificateAuthorities holds DER-encoded distinguished names, each
	// non-empty. The list may be empty.
	CertificateAuthorities [][]byte
}

// Append appends the complete CertificateRequest message to b.
func (m *CertificateRequest12) Append(b []byte) []byte {
	return appendMessage(b, TypeCertificateRequest, func(b *builder) {
		addBytes8(b, m.CertificateTypes)
		addList16(b, m.SignatureAlgorithms)
		b.addPrefixed16(func(b *builder) {
			for _, dn := range m.CertificateAuthorities {
				addBytes16(b, dn)
			}
		})
	})
}

// Unmarshal parses a TLS 1.2 CertificateRequest body (without the 4-byte
// header). Slices in m may alias body. It returns nil or a record.Alert.
func (m *CertificateRequest12) Unmarshal(body []byte) error {
	*m = CertificateRequest12{}
	s := cryptobyte.String(body)
	var cas cryptobyte.String
	return okOr(readBytes8(&s, &m.CertificateTypes) &&
		readList16(&s, &m.SignatureAlgorithms) &&
		s.ReadUint16LengthPrefixed(&cas) && s.Empty() &&
		readVectors(cas, &m.CertificateAuthorities, readBytes16))
}

// Certificate12 carries a certificate chain, in its TLS 1.2 form (RFC 5246
// §7.4.2). A client without a suitable certificate sends an empty list.
type Certificate12 struct {
	// Certificates holds the DER-encoded certificates, leaf first, each
	// non-empty.
	Certificates [][]byte
}

// Append appends the complete Certificate message to b.
func (m *Certificate12) Append(b []byte) []byte {
	return appendMessage(b, TypeCertificate, func(b *builder) {
		b.addPrefixed24(func(b *builder) {
			for _, c := range m.Certificates {
				addBytes24(b, c)
			}
		})
	})
}

// Unmarshal parses a TLS 1.2 Certificate body (without the 4-byte header).
// Slices in m may alias body. It returns nil or a record.Alert.
func (m *Certificate12) Unmarshal(body []byte) error {
	*m = Certificate12{}
	s := cryptobyte.String(body)
	var list cryptobyte.String
	return okOr(s.ReadUint24LengthPrefixed(&list) && s.Empty() &&
		readVectors(list, &m.Certificates, readBytes24))
}

// NewSessionTicket12 delivers a session ticket, in its TLS 1.2 form (RFC
// 5077 §3.3).
type NewSessionTicket12 struct {
	// LifetimeHint is the advised ticket lifetime in seconds; 0 means
	// unspecified.
	LifetimeHint uint32
	// Ticket is the opaque ticket. It may be empty: a server that decides
	// not to renew a ticket it accepted sends an empty one.
	Ticket []byte
}

// Append appends the complete NewSessionTicket message to b.
func (m *NewSessionTicket12) Append(b []byte) []byte {
	return appendMessage(b, TypeNewSessionTicket, func(b *builder) {
		b.addUint32(m.LifetimeHint)
		addBytes16(b, m.Ticket)
	})
}

// Unmarshal parses a TLS 1.2 NewSessionTicket body (without the 4-byte
// header). Ticket may alias body. It returns nil or a record.Alert.
func (m *NewSessionTicket12) Unmarshal(body []byte) error {
	*m = NewSessionTicket12{}
	s := cryptobyte.String(body)
	return okOr(s.ReadUint32(&m.LifetimeHint) &&
		s.ReadUint16LengthPrefixed((*cryptobyte.String)(&m.Ticket)) &&
		s.Empty())
}

// readVectors parses all of list as a sequence of vectors that read takes
// one at a time, appending each to out. An empty list yields no vectors.
func readVectors(list cryptobyte.String, out *[][]byte, read func(*cryptobyte.String, *[]byte) bool) bool {
	for !list.Empty() {
		var v []byte
		if !read(&list, &v) {
			return false
		}
		*out = append(*out, v)
	}
	return true
}
