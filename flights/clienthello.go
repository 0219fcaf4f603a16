package flights

import "golang.org/x/crypto/cryptobyte"

// ClientHello is the client's first flight message (RFC 8446 §4.1.2). The
// fields cover the extensions this library understands; an extension is
// omitted from the encoding when its field is zero, empty or false.
type ClientHello struct {
	Version                 uint16
	Random                  []byte // exactly 32 bytes
	SessionID               []byte // 0 to 32 bytes
	CipherSuites            []uint16
	CompressionMethods      []byte
	ServerName              string
	SupportedGroups         []uint16
	SignatureAlgorithms     []uint16
	SignatureAlgorithmsCert []uint16
	SupportedVersions       []uint16
	KeyShares               []KeyShare
	ALPN                    []string
	PSKModes                []uint8
	Cookie                  []byte
	EarlyData               bool
	// SecureRenegotiationSupported sends renegotiation_info; its content is
	// SecureRenegotiation, which is empty on an initial handshake.
	SecureRenegotiationSupported bool
	SecureRenegotiation          []byte
	ExtendedMasterSecret         bool
	// TicketSupported sends session_ticket; its content is SessionTicket.
	TicketSupported bool
	SessionTicket   []byte
	// PSKIdentities and PSKBinders make up the pre_shared_key extension,
	// which is always encoded last. It is sent when PSKIdentities is not
	// empty.
	PSKIdentities  []PSKIdentity
	PSKBinders     [][]byte
	ECPointFormats []uint8
	// SRTPProfiles and SRTPMKI are use_srtp (RFC 5764), present when
	// SRTPProfiles is not empty.
	SRTPProfiles  []uint16
	SRTPMKI       []byte
	StatusRequest bool
	// ConnectionIDSupported sends connection_id (RFC 9146 §3), whose
	// content is ConnectionID: the CID, 0 to 255 bytes, the sender asks
	// its peer to put in the records it sends (empty asks for none).
	ConnectionIDSupported bool
	ConnectionID          []byte
	// RRC sends rrc (RFC 9853): the return routability check, offered
	// with connection_id.
	RRC bool
	// DTLS selects the DTLS layout (RFC 6347 §4.2.1), in which the cookie
	// vector DTLSCookie follows the session id. UnmarshalDTLS sets it.
	DTLS bool
	// DTLSCookie is the cookie of a HelloVerifyRequest echoed back, 0 to
	// 255 bytes. It is encoded only when DTLS is set.
	DTLSCookie []byte
	// Extensions lists the extension types in wire order. Unmarshal fills
	// it, including types it does not interpret; Append ignores it.
	Extensions []uint16
}

// Append appends the complete ClientHello message to b.
func (m *ClientHello) Append(b []byte) []byte {
	return appendMessage(b, TypeClientHello, m.marshalBody)
}

// AppendChecked is Append for a hello that carries values from the peer
// (a HelloRetryRequest's cookie): it fails, instead of panicking, when one
// makes a vector too long for its length prefix.
func (m *ClientHello) AppendChecked(b []byte) ([]byte, error) {
	return appendMessageChecked(b, TypeClientHello, m.marshalBody)
}

// KeySharesListed reports whether each key share is of a group that
// SupportedGroups lists and of a group no other share has, as RFC 8446
// §4.2.8 requires of a client; if not, it returns the group of the first
// share that breaks the rule. It takes time linear in the lengths of the
// two lists, which the peer chooses.
func (m *ClientHello) KeySharesListed() (bad uint16, ok bool) {
	var groups uint16Set
	for _, g := range m.SupportedGroups {
		groups.add(g)
	}
	// A share takes its group out of the set: a second share of that
	// group finds it gone, as does a share of a group never listed.
	for _, ks := range m.KeyShares {
		if !groups.take(ks.Group) {
			return ks.Group, false
		}
	}
	return 0, true
}

// BindersLen returns how many bytes at the end of the encoded message the
// PSK binders list occupies, its 2-byte length prefix included, or 0 when
// no PSK is offered. The value depends on the lengths of PSKBinders, so
// callers fill them with placeholders of the final size before hashing the
// truncated message.
func (m *ClientHello) BindersLen() int {
	if len(m.PSKIdentities) == 0 {
		return 0
	}
	b := newBuilder(nil)
	m.addBinders(b)
	return len(b.mustBytes())
}

func (m *ClientHello) marshalBody(b *builder) {
	addHelloHead(b, m.Version, m.Random, m.SessionID)
	if m.DTLS {
		addBytes8(b, m.DTLSCookie)
	}
	addList16(b, m.CipherSuites)
	addBytes8(b, m.CompressionMethods)
	b.addPrefixed16(func(b *builder) {
		m.addLegacyExtensions(b)
		m.addModernExtensions(b)
		m.addPSK(b)
	})
}

// addLegacyExtensions writes the extensions that predate TLS 1.3.
func (m *ClientHello) addLegacyExtensions(b *builder) {
	if m.ServerName != "" {
		addExtension(b, ExtServerName, func(b *builder) {
			b.addPrefixed16(func(b *builder) {
				b.addUint8(0) // host_name
				addBytes16(b, []byte(m.ServerName))
			})
		})
	}
	if m.StatusRequest {
		addExtension(b, ExtStatusRequest, func(b *builder) {
			b.addUint8(1)      // ocsp
			addBytes16(b, nil) // no responder ids
			addBytes16(b, nil) // no request extensions
		})
	}
	addListExtension(b, ExtSupportedGroups, m.SupportedGroups)
	if len(m.ECPointFormats) > 0 {
		addExtension(b, ExtECPointFormats, func(b *builder) { addBytes8(b, m.ECPointFormats) })
	}
	addListExtension(b, ExtSignatureAlgorithms, m.SignatureAlgorithms)
	if len(m.ALPN) > 0 {
		addExtension(b, ExtALPN, func(b *builder) { addALPN(b, m.ALPN...) })
	}
	if m.ExtendedMasterSecret {
		addEmptyExtension(b, ExtExtendedMasterSecret)
	}
	if len(m.SRTPProfiles) > 0 {
		addExtension(b, ExtUseSRTP, func(b *builder) { addSRTP(b, m.SRTPProfiles, m.SRTPMKI) })
	}
	if m.TicketSupported || len(m.SessionTicket) > 0 {
		addExtension(b, ExtSessionTicket, func(b *builder) { b.addBytes(m.SessionTicket) })
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

// Offers reports whether Append writes extension ext: a server may answer
// only those (RFC 8446 §4.2, RFC 5246 §7.4.1.4).
func (m *ClientHello) Offers(ext uint16) bool {
	switch ext {
	case ExtServerName:
		return m.ServerName != ""
	case ExtStatusRequest:
		return m.StatusRequest
	case ExtSupportedGroups:
		return len(m.SupportedGroups) > 0
	case ExtECPointFormats:
		return len(m.ECPointFormats) > 0
	case ExtSignatureAlgorithms:
		return len(m.SignatureAlgorithms) > 0
	case ExtALPN:
		return len(m.ALPN) > 0
	case ExtExtendedMasterSecret:
		return m.ExtendedMasterSecret
	case ExtUseSRTP:
		return len(m.SRTPProfiles) > 0
	case ExtSessionTicket:
		return m.TicketSupported || len(m.SessionTicket) > 0
	case ExtRenegotiationInfo:
		return m.SecureRenegotiationSupported || len(m.SecureRenegotiation) > 0
	case ExtConnectionID:
		return m.ConnectionIDSupported
	case ExtRRC:
		return m.RRC
	}
	return m.offersModern(ext)
}

// offersModern is Offers for the extensions TLS 1.3 added.
func (m *ClientHello) offersModern(ext uint16) bool {
	switch ext {
	case ExtEarlyData:
		return m.EarlyData
	case ExtSupportedVersions:
		return len(m.SupportedVersions) > 0
	case ExtCookie:
		return len(m.Cookie) > 0
	case ExtPSKModes:
		return len(m.PSKModes) > 0
	case ExtSignatureAlgorithmsCert:
		return len(m.SignatureAlgorithmsCert) > 0
	case ExtKeyShare:
		return len(m.KeyShares) > 0
	case ExtPreSharedKey:
		return len(m.PSKIdentities) > 0
	}
	return false
}

// addModernExtensions writes the TLS 1.3 extensions other than
// pre_shared_key.
func (m *ClientHello) addModernExtensions(b *builder) {
	if m.EarlyData {
		addEmptyExtension(b, ExtEarlyData)
	}
	if len(m.SupportedVersions) > 0 {
		addExtension(b, ExtSupportedVersions, func(b *builder) {
			b.addPrefixed8(func(b *builder) { addUint16s(b, m.SupportedVersions) })
		})
	}
	if len(m.Cookie) > 0 {
		addExtension(b, ExtCookie, func(b *builder) { addBytes16(b, m.Cookie) })
	}
	if len(m.PSKModes) > 0 {
		addExtension(b, ExtPSKModes, func(b *builder) { addBytes8(b, m.PSKModes) })
	}
	addListExtension(b, ExtSignatureAlgorithmsCert, m.SignatureAlgorithmsCert)
	if len(m.KeyShares) > 0 {
		addExtension(b, ExtKeyShare, func(b *builder) {
			b.addPrefixed16(func(b *builder) {
				for _, ks := range m.KeyShares {
					b.addUint16(ks.Group)
					addBytes16(b, ks.Data)
				}
			})
		})
	}
}

// addPSK writes the pre_shared_key extension, which must come last.
func (m *ClientHello) addPSK(b *builder) {
	if len(m.PSKIdentities) == 0 {
		return
	}
	addExtension(b, ExtPreSharedKey, func(b *builder) {
		b.addPrefixed16(func(b *builder) {
			for _, id := range m.PSKIdentities {
				addBytes16(b, id.Identity)
				b.addUint32(id.ObfuscatedTicketAge)
			}
		})
		m.addBinders(b)
	})
}

// addBinders writes the 16-bit prefixed list of PSK binders.
func (m *ClientHello) addBinders(b *builder) {
	b.addPrefixed16(func(b *builder) {
		for _, binder := range m.PSKBinders {
			addBytes8(b, binder)
		}
	})
}

// Unmarshal parses a ClientHello body (without the 4-byte header). Slices
// in m may alias body. It returns nil or a record.Alert.
func (m *ClientHello) Unmarshal(body []byte) error {
	return m.unmarshal(body, false)
}

// UnmarshalDTLS parses a DTLS ClientHello body (without the handshake
// header), which carries a cookie vector after the session id (RFC 6347
// §4.2.1). It sets DTLS; DTLSCookie is empty, not nil, when the cookie is.
// Slices in m may alias body. It returns nil or a record.Alert.
func (m *ClientHello) UnmarshalDTLS(body []byte) error {
	return m.unmarshal(body, true)
}

func (m *ClientHello) unmarshal(body []byte, dtls bool) error {
	*m = ClientHello{DTLS: dtls}
	s := cryptobyte.String(body)
	if !readHelloHead(&s, &m.Version, &m.Random, &m.SessionID) ||
		dtls && !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.DTLSCookie)) ||
		!readList16(&s, &m.CipherSuites) ||
		!readBytes8(&s, &m.CompressionMethods) {
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

func (m *ClientHello) parseExtension(typ uint16, d *cryptobyte.String, last bool) error {
	switch typ {
	case ExtPreSharedKey:
		return m.parsePSK(d, last)
	case ExtServerName:
		return m.parseServerName(d)
	case ExtStatusRequest:
		return okOr(m.parseStatusRequest(d))
	case ExtSupportedGroups:
		return okOr(readList16(d, &m.SupportedGroups))
	case ExtECPointFormats:
		return okOr(readBytes8(d, &m.ECPointFormats))
	case ExtSignatureAlgorithms:
		return okOr(readList16(d, &m.SignatureAlgorithms))
	case ExtSignatureAlgorithmsCert:
		return okOr(readList16(d, &m.SignatureAlgorithmsCert))
	case ExtALPN:
		return okOr(readALPN(d, &m.ALPN))
	case ExtUseSRTP:
		return okOr(readSRTP(d, &m.SRTPProfiles, &m.SRTPMKI))
	case ExtConnectionID:
		m.ConnectionIDSupported = true
		return okOr(d.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.ConnectionID)))
	case ExtRRC:
		m.RRC = true
		return nil
	}
	return m.parseModernExtension(typ, d)
}

// parseModernExtension handles the flag extensions and those TLS 1.3 added.
func (m *ClientHello) parseModernExtension(typ uint16, d *cryptobyte.String) error {
	switch typ {
	case ExtExtendedMasterSecret:
		m.ExtendedMasterSecret = true
	case ExtEarlyData:
		m.EarlyData = true
	case ExtSessionTicket:
		m.TicketSupported = true
		m.SessionTicket = *d
		skip(d)
	case ExtRenegotiationInfo:
		m.SecureRenegotiationSupported = true
		return okOr(d.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.SecureRenegotiation)))
	case ExtSupportedVersions:
		var v cryptobyte.String
		return okOr(d.ReadUint8LengthPrefixed(&v) && readUint16s(v, &m.SupportedVersions))
	case ExtCookie:
		return okOr(readBytes16(d, &m.Cookie))
	case ExtPSKModes:
		return okOr(readBytes8(d, &m.PSKModes))
	case ExtKeyShare:
		return okOr(m.parseKeyShares(d))
	default:
		skip(d)
	}
	return nil
}

// parseServerName reads a ServerNameList and keeps its host_name entry.
func (m *ClientHello) parseServerName(d *cryptobyte.String) error {
	var list cryptobyte.String
	if !d.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return errDecode
	}
	for !list.Empty() {
		var nameType uint8
		var name []byte
		if !list.ReadUint8(&nameType) || !readBytes16(&list, &name) {
			return errDecode
		}
		if nameType != 0 {
			continue
		}
		if m.ServerName != "" {
			return errIllegal // two host names
		}
		m.ServerName = string(name)
	}
	return nil
}

// parseStatusRequest reads a CertificateStatusRequest. Only the ocsp type
// sets StatusRequest; other types are ignored.
func (m *ClientHello) parseStatusRequest(d *cryptobyte.String) bool {
	var statusType uint8
	if !d.ReadUint8(&statusType) {
		return false
	}
	if statusType != 1 {
		skip(d)
		return true
	}
	var ids, exts cryptobyte.String
	m.StatusRequest = true
	return d.ReadUint16LengthPrefixed(&ids) && d.ReadUint16LengthPrefixed(&exts)
}

// parseKeyShares reads the client_shares list, which may be empty. The
// entries are counted first, so that thousands of them are one
// allocation, not a slice grown and copied a dozen times.
func (m *ClientHello) parseKeyShares(d *cryptobyte.String) bool {
	var list cryptobyte.String
	if !d.ReadUint16LengthPrefixed(&list) {
		return false
	}
	n, ok := countKeyShares(list)
	if !ok || n == 0 {
		return ok
	}
	m.KeyShares = make([]KeyShare, n)
	for i := range m.KeyShares {
		ks := &m.KeyShares[i]
		list.ReadUint16(&ks.Group)
		readBytes16(&list, &ks.Data)
	}
	return true
}

// countKeyShares counts the entries of a client_shares list, reporting
// false when it is malformed.
func countKeyShares(list cryptobyte.String) (int, bool) {
	n := 0
	for ; !list.Empty(); n++ {
		var group uint16
		var data []byte
		if !list.ReadUint16(&group) || !readBytes16(&list, &data) {
			return 0, false
		}
	}
	return n, true
}

// parsePSK reads the pre_shared_key extension, which must be the last one
// and must carry one binder per identity.
func (m *ClientHello) parsePSK(d *cryptobyte.String, last bool) error {
	if !last {
		return errIllegal
	}
	if !m.parseIdentities(d) || !m.parseBinders(d) {
		return errDecode
	}
	if len(m.PSKIdentities) != len(m.PSKBinders) {
		return errIllegal
	}
	return nil
}

func (m *ClientHello) parseIdentities(d *cryptobyte.String) bool {
	var list cryptobyte.String
	if !d.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return false
	}
	for !list.Empty() {
		var id PSKIdentity
		if !readBytes16(&list, &id.Identity) || !list.ReadUint32(&id.ObfuscatedTicketAge) {
			return false
		}
		m.PSKIdentities = append(m.PSKIdentities, id)
	}
	return true
}

func (m *ClientHello) parseBinders(d *cryptobyte.String) bool {
	var list cryptobyte.String
	if !d.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return false
	}
	for !list.Empty() {
		var binder []byte
		if !list.ReadUint8LengthPrefixed((*cryptobyte.String)(&binder)) || len(binder) < 32 {
			return false
		}
		m.PSKBinders = append(m.PSKBinders, binder)
	}
	return true
}
