package flights

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"
)

// HelloRetryRequestRandom is the Random value that marks a ServerHello as a
// HelloRetryRequest (RFC 8446 §4.1.3): the SHA-256 of "HelloRetryRequest".
var HelloRetryRequestRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11,
	0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
	0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// ServerHello is the server's answer to a ClientHello (RFC 8446 §4.1.3). It
// also represents a HelloRetryRequest, whose Random is
// HelloRetryRequestRandom. An extension is omitted from the encoding when
// its field is zero, empty or false.
type ServerHello struct {
	Version           uint16
	Random            []byte // exactly 32 bytes
	SessionID         []byte // 0 to 32 bytes
	CipherSuite       uint16
	CompressionMethod uint8
	// SupportedVersion is the selected version, 0 when the extension is
	// absent.
	SupportedVersion uint16
	// KeyShare is the server's key_share entry in a ServerHello.
	KeyShare KeyShare
	// SelectedGroup is the group a HelloRetryRequest asks for.
	SelectedGroup uint16
	Cookie        []byte
	// HasSelectedPSK reports a pre_shared_key extension selecting the
	// identity at index SelectedPSK.
	HasSelectedPSK bool
	SelectedPSK    uint16
	ALPN           string
	// SecureRenegotiationSupported sends renegotiation_info; its content is
	// SecureRenegotiation.
	SecureRenegotiationSupported bool
	SecureRenegotiation          []byte
	ExtendedMasterSecret         bool
	TicketSupported              bool
	ECPointFormats               []uint8
	// SRTPProfiles holds the one profile chosen in use_srtp (RFC 5764).
	SRTPProfiles []uint16
	SRTPMKI      []byte
	// ConnectionIDSupported sends connection_id (RFC 9146 §3) with
	// ConnectionID, the CID the server asks the client to use (0 to 255
	// bytes; empty asks for none).
	ConnectionIDSupported bool
	ConnectionID          []byte
	// RRC sends rrc (RFC 9853), accepting the return routability check.
	RRC bool
	// Extensions lists the extension types in wire order. Unmarshal fills
	// it, including types it does not interpret; Append ignores it.
	Extensions []uint16
}

// IsHelloRetryRequest reports whether m is a HelloRetryRequest.
func (m *ServerHello) IsHelloRetryRequest() bool {
	return bytes.Equal(m.Random, HelloRetryRequestRandom[:])
}

// Append appends the complete ServerHello message to b.
func (m *ServerHello) Append(b []byte) []byte {
	return appendMessage(b, TypeServerHello, m.marshalBody)
}

func (m *ServerHello) marshalBody(b *builder) {
	addHelloHead(b, m.Version, m.Random, m.SessionID)
	b.addUint16(m.CipherSuite)
	b.addUint8(m.CompressionMethod)
	b.addPrefixed16(func(b *builder) {
		m.addModernExtensions(b)
		m.addLegacyExtensions(b)
	})
}

// addModernExtensions writes the TLS 1.3 extensions.
func (m *ServerHello) addModernExtensions(b *builder) {
	if m.SupportedVersion != 0 {
		addExtension(b, ExtSupportedVersions, func(b *builder) { b.addUint16(m.SupportedVersion) })
	}
	m.addKeyShare(b)
	if len(m.Cookie) > 0 {
		addExtension(b, ExtCookie, func(b *builder) { addBytes16(b, m.Cookie) })
	}
	if m.HasSelectedPSK {
		addExtension(b, ExtPreSharedKey, func(b *builder) { b.addUint16(m.SelectedPSK) })
	}
}

// addKeyShare writes key_share: a bare group in a HelloRetryRequest, a
// KeyShareEntry otherwise.
func (m *ServerHello) addKeyShare(b *builder) {
	if m.IsHelloRetryRequest() {
		if m.SelectedGroup != 0 {
			addExtension(b, ExtKeyShare, func(b *builder) { b.addUint16(m.SelectedGroup) })
		}
		return
	}
	if m.KeyShare.Group != 0 || len(m.KeyShare.Data) > 0 {
		addExtension(b, ExtKeyShare, func(b *builder) {
			b.addUint16(m.KeyShare.Group)
			addBytes16(b, m.KeyShare.Data)
		})
	}
}

// addLegacyExtensions writes the extensions that predate TLS 1.3.
func (m *ServerHello) addLegacyExtensions(b *builder) {
	if m.ALPN != "" {
		addExtension(b, ExtALPN, func(b *builder) { addALPN(b, m.ALPN) })
	}
	if m.ExtendedMasterSecret {
		addEmptyExtension(b, ExtExtendedMasterSecret)
	}
	if len(m.SRTPProfiles) > 0 {
		addExtension(b, ExtUseSRTP, func(b *builder) { addSRTP(b, m.SRTPProfiles, m.SRTPMKI) })
	}
	if m.TicketSupported {
		addEmptyExtension(b, ExtSessionTicket)
	}
	if len(m.ECPointFormats) > 0 {
		addExtension(b, ExtECPointFormats, func(b *builder) { addBytes8(b, m.ECPointFormats) })
	}
	if m.SecureRenegotiationSupported || len(m.SecureRenegotiation) > 0 {
		addExtension(b, ExtRenegotiationInfo, func(b *builder) { addBytes8(b, m.SecureRenegotiation) })
	}
	if m.ConnectionIDSupported {
		addExtension(b, ExtConnectionID, func(b *builder) { addBytes8(b, m.ConnectionID) })
	}
	if m.RRC {
		addEmptyExtension(b, ExtRRC)
	}
}

// Unmarshal parses a ServerHello or HelloRetryRequest body (without the
// 4-byte header). Slices in m may alias body. It returns nil or a
// record.Alert.
func (m *ServerHello) Unmarshal(body []byte) error {
	*m = ServerHello{}
	s := cryptobyte.String(body)
	if !readHelloHead(&s, &m.Version, &m.Random, &m.SessionID) ||
		!s.ReadUint16(&m.CipherSuite) ||
		!s.ReadUint8(&m.CompressionMethod) {
		return errDecode
	}
	if s.Empty() {
		return nil // a hello without extensions is legal before TLS 1.3
	}
	w := extWalker{rec: &m.Extensions}
	for w.readBlock(&s); w.next(); {
		w.parsed(m.parseExtension(w.typ, &w.data, w.last()))
	}
	return w.err
}

func (m *ServerHello) parseExtension(typ uint16, d *cryptobyte.String, _ bool) error {
	switch typ {
	case ExtSupportedVersions:
		return okOr(d.ReadUint16(&m.SupportedVersion))
	case ExtKeyShare:
		return okOr(m.parseKeyShare(d))
	case ExtCookie:
		return okOr(readBytes16(d, &m.Cookie))
	case ExtPreSharedKey:
		m.HasSelectedPSK = true
		return okOr(d.ReadUint16(&m.SelectedPSK))
	case ExtALPN:
		return okOr(readSingleALPN(d, &m.ALPN))
	}
	return m.parseLegacyExtension(typ, d)
}

// parseLegacyExtension handles the extensions that predate TLS 1.3.
func (m *ServerHello) parseLegacyExtension(typ uint16, d *cryptobyte.String) error {
	switch typ {
	case ExtExtendedMasterSecret:
		m.ExtendedMasterSecret = true
	case ExtSessionTicket:
		m.TicketSupported = true
	case ExtECPointFormats:
		return okOr(readBytes8(d, &m.ECPointFormats))
	case ExtUseSRTP:
		return okOr(readSRTP(d, &m.SRTPProfiles, &m.SRTPMKI) && len(m.SRTPProfiles) == 1)
	case ExtRenegotiationInfo:
		m.SecureRenegotiationSupported = true
		return okOr(d.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.SecureRenegotiation)))
	case ExtConnectionID:
		m.ConnectionIDSupported = true
		return okOr(d.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.ConnectionID)))
	case ExtRRC:
		m.RRC = true
	default:
		skip(d)
	}
	return nil
}

// parseKeyShare reads key_share in the form the Random calls for.
func (m *ServerHello) parseKeyShare(d *cryptobyte.String) bool {
	if m.IsHelloRetryRequest() {
		return d.ReadUint16(&m.SelectedGroup)
	}
	return d.ReadUint16(&m.KeyShare.Group) && readBytes16(d, &m.KeyShare.Data)
}
