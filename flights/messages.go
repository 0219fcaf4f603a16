package flights

import "golang.org/x/crypto/cryptobyte"

// CertificateVerify proves possession of the certificate's private key
// (RFC 8446 §4.4.3).
type CertificateVerify struct {
	Algorithm uint16
	Signature []byte
}

// Append appends the complete CertificateVerify message to b.
func (m *CertificateVerify) Append(b []byte) []byte {
	return appendMessage(b, TypeCertificateVerify, func(b *builder) {
		b.addUint16(m.Algorithm)
		addBytes16(b, m.Signature)
	})
}

// Unmarshal parses a CertificateVerify body (without the 4-byte header).
// Signature may alias body. It returns nil or a record.Alert.
func (m *CertificateVerify) Unmarshal(body []byte) error {
	*m = CertificateVerify{}
	s := cryptobyte.String(body)
	return okOr(s.ReadUint16(&m.Algorithm) &&
		s.ReadUint16LengthPrefixed((*cryptobyte.String)(&m.Signature)) &&
		s.Empty())
}

// Finished carries the handshake MAC (RFC 8446 §4.4.4).
type Finished struct {
	VerifyData []byte
}

// Append appends the complete Finished message to b.
func (m *Finished) Append(b []byte) []byte {
	return appendMessage(b, TypeFinished, func(b *builder) {
		b.addBytes(m.VerifyData)
	})
}

// Unmarshal parses a Finished body (without the 4-byte header); the whole
// body is the verify data, which must not be empty and aliases body. The
// caller checks its length against the hash. It returns nil or a
// record.Alert.
func (m *Finished) Unmarshal(body []byte) error {
	m.VerifyData = body
	return okOr(len(body) > 0)
}

// NewSessionTicket delivers a resumption ticket, in its TLS 1.3 form
// (RFC 8446 §4.6.1).
type NewSessionTicket struct {
	Lifetime uint32
	AgeAdd   uint32
	Nonce    []byte
	Ticket   []byte
	// MaxEarlyData is the early_data extension's value; 0 omits it.
	MaxEarlyData uint32
}

// Append appends the complete NewSessionTicket message to b.
func (m *NewSessionTicket) Append(b []byte) []byte {
	return appendMessage(b, TypeNewSessionTicket, func(b *builder) {
		b.addUint32(m.Lifetime)
		b.addUint32(m.AgeAdd)
		addBytes8(b, m.Nonce)
		addBytes16(b, m.Ticket)
		b.addPrefixed16(func(b *builder) {
			if m.MaxEarlyData != 0 {
				addExtension(b, ExtEarlyData, func(b *builder) { b.addUint32(m.MaxEarlyData) })
			}
		})
	})
}

// Unmarshal parses a NewSessionTicket body (without the 4-byte header).
// Slices in m may alias body. It returns nil or a record.Alert.
func (m *NewSessionTicket) Unmarshal(body []byte) error {
	*m = NewSessionTicket{}
	s := cryptobyte.String(body)
	if !s.ReadUint32(&m.Lifetime) || !s.ReadUint32(&m.AgeAdd) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.Nonce)) ||
		!readBytes16(&s, &m.Ticket) {
		return errDecode
	}
	w := extWalker{}
	for w.readBlock(&s); w.next(); {
		w.parsed(m.parseExtension(w.typ, &w.data, w.last()))
	}
	return w.err
}

func (m *NewSessionTicket) parseExtension(typ uint16, d *cryptobyte.String, _ bool) error {
	if typ == ExtEarlyData {
		return okOr(d.ReadUint32(&m.MaxEarlyData))
	}
	skip(d)
	return nil
}

// KeyUpdate asks the peer to update its sending keys when RequestUpdate is
// 1 (RFC 8446 §4.6.3).
type KeyUpdate struct {
	RequestUpdate uint8
}

// Append appends the complete KeyUpdate message to b.
func (m *KeyUpdate) Append(b []byte) []byte {
	return appendMessage(b, TypeKeyUpdate, func(b *builder) {
		b.addUint8(m.RequestUpdate)
	})
}

// Unmarshal parses a KeyUpdate body (without the 4-byte header). Any byte
// value is accepted; the caller rejects values other than 0 and 1. It
// returns nil or a record.Alert.
func (m *KeyUpdate) Unmarshal(body []byte) error {
	s := cryptobyte.String(body)
	return okOr(s.ReadUint8(&m.RequestUpdate) && s.Empty())
}

// EndOfEarlyData marks the end of the client's 0-RTT data (RFC 8446
// §4.5). Its body is empty.
type EndOfEarlyData struct{}

// Append appends the complete EndOfEarlyData message to b.
func (m *EndOfEarlyData) Append(b []byte) []byte {
	return appendMessage(b, TypeEndOfEarlyData, func(*builder) {})
}

// Unmarshal checks that an EndOfEarlyData body is empty. It returns nil or
// a record.Alert.
func (m *EndOfEarlyData) Unmarshal(body []byte) error {
	return okOr(len(body) == 0)
}
