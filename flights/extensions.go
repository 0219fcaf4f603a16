package flights

import "golang.org/x/crypto/cryptobyte"

// EncryptedExtensions carries the server's extensions that need no
// cleartext (RFC 8446 §4.3.1).
type EncryptedExtensions struct {
	ALPN string
	// ServerNameAck is an empty server_name extension acknowledging SNI.
	ServerNameAck   bool
	SupportedGroups []uint16
	EarlyData       bool
	// SRTPProfiles and SRTPMKI are use_srtp (RFC 5764), which a DTLS 1.3
	// server answers here.
	SRTPProfiles []uint16
	SRTPMKI      []byte
	// Extensions lists the extension types in wire order. Unmarshal fills
	// it, including types it does not interpret; Append ignores it.
	Extensions []uint16
}

// Append appends the complete EncryptedExtensions message to b.
func (m *EncryptedExtensions) Append(b []byte) []byte {
	return appendMessage(b, TypeEncryptedExtensions, func(b *builder) {
		b.addPrefixed16(m.addExtensions)
	})
}

func (m *EncryptedExtensions) addExtensions(b *builder) {
	if m.ServerNameAck {
		addEmptyExtension(b, ExtServerName)
	}
	addListExtension(b, ExtSupportedGroups, m.SupportedGroups)
	if m.ALPN != "" {
		addExtension(b, ExtALPN, func(b *builder) { addALPN(b, m.ALPN) })
	}
	if m.EarlyData {
		addEmptyExtension(b, ExtEarlyData)
	}
	if len(m.SRTPProfiles) > 0 {
		addExtension(b, ExtUseSRTP, func(b *builder) { addSRTP(b, m.SRTPProfiles, m.SRTPMKI) })
	}
}

// Unmarshal parses an EncryptedExtensions body (without the 4-byte
// header). It returns nil or a record.Alert.
func (m *EncryptedExtensions) Unmarshal(body []byte) error {
	*m = EncryptedExtensions{}
	s := cryptobyte.String(body)
	w := extWalker{rec: &m.Extensions}
	for w.readBlock(&s); w.next(); {
		w.parsed(m.parseExtension(w.typ, &w.data, w.last()))
	}
	return w.err
}

func (m *EncryptedExtensions) parseExtension(typ uint16, d *cryptobyte.String, _ bool) error {
	switch typ {
	case ExtServerName:
		m.ServerNameAck = true // the body must be empty
	case ExtSupportedGroups:
		return okOr(readList16(d, &m.SupportedGroups))
	case ExtALPN:
		return okOr(readSingleALPN(d, &m.ALPN))
	case ExtEarlyData:
		m.EarlyData = true
	case ExtUseSRTP:
		return okOr(readSRTP(d, &m.SRTPProfiles, &m.SRTPMKI) && len(m.SRTPProfiles) == 1)
	default:
		skip(d)
	}
	return nil
}
