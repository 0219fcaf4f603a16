package flights

import "golang.org/x/crypto/cryptobyte"

// CertificateRequest asks the client for a certificate, in its TLS 1.3 form
// (RFC 8446 §4.3.2).
type CertificateRequest struct {
	Context                 []byte
	SignatureAlgorithms     []uint16
	SignatureAlgorithmsCert []uint16
	// CertificateAuthorities holds DER-encoded distinguished names.
	CertificateAuthorities [][]byte
}

// Append appends the complete CertificateRequest message to b.
func (m *CertificateRequest) Append(b []byte) []byte {
	return appendMessage(b, TypeCertificateRequest, func(b *builder) {
		addBytes8(b, m.Context)
		b.addPrefixed16(m.addExtensions)
	})
}

func (m *CertificateRequest) addExtensions(b *builder) {
	addListExtension(b, ExtSignatureAlgorithms, m.SignatureAlgorithms)
	addListExtension(b, ExtSignatureAlgorithmsCert, m.SignatureAlgorithmsCert)
	if len(m.CertificateAuthorities) == 0 {
		return
	}
	addExtension(b, ExtCertificateAuthorities, func(b *builder) {
		b.addPrefixed16(func(b *builder) {
			for _, dn := range m.CertificateAuthorities {
				addBytes16(b, dn)
			}
		})
	})
}

// Unmarshal parses a CertificateRequest body (without the 4-byte header).
// Slices in m may alias body. A request without signature_algorithms is
// rejected with missing_extension. It returns nil or a record.Alert.
func (m *CertificateRequest) Unmarshal(body []byte) error {
	*m = CertificateRequest{}
	s := cryptobyte.String(body)
	if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.Context)) {
		return errDecode
	}
	w := extWalker{}
	for w.readBlock(&s); w.next(); {
		w.parsed(m.parseExtension(w.typ, &w.data, w.last()))
	}
	if w.err != nil {
		return w.err
	}
	if len(m.SignatureAlgorithms) == 0 {
		return errMissing
	}
	return nil
}

func (m *CertificateRequest) parseExtension(typ uint16, d *cryptobyte.String, _ bool) error {
	switch typ {
	case ExtSignatureAlgorithms:
		return okOr(readList16(d, &m.SignatureAlgorithms))
	case ExtSignatureAlgorithmsCert:
		return okOr(readList16(d, &m.SignatureAlgorithmsCert))
	case ExtCertificateAuthorities:
		return okOr(m.parseAuthorities(d))
	default:
		skip(d)
	}
	return nil
}

func (m *CertificateRequest) parseAuthorities(d *cryptobyte.String) bool {
	var list cryptobyte.String
	if !d.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return false
	}
	for !list.Empty() {
		var dn []byte
		if !readBytes16(&list, &dn) {
			return false
		}
		m.CertificateAuthorities = append(m.CertificateAuthorities, dn)
	}
	return true
}

// CertificateEntry is one certificate of a chain with its per-entry
// extensions.
type CertificateEntry struct {
	// Data is the DER-encoded certificate.
	Data []byte
	// OCSPStaple is an OCSP response from a status_request extension.
	OCSPStaple []byte
	// SCTs are serialized signed certificate timestamps.
	SCTs [][]byte
	// Extensions lists the entry's extension types in wire order.
	// Unmarshal fills it, including types it does not interpret; Append
	// ignores it.
	Extensions []uint16
}

// Certificate carries a certificate chain, in its TLS 1.3 form (RFC 8446
// §4.4.2).
type Certificate struct {
	Context []byte
	Entries []CertificateEntry
}

// Append appends the complete Certificate message to b.
func (m *Certificate) Append(b []byte) []byte {
	return appendMessage(b, TypeCertificate, func(b *builder) {
		addBytes8(b, m.Context)
		b.addPrefixed24(func(b *builder) {
			for i := range m.Entries {
				m.Entries[i].add(b)
			}
		})
	})
}

func (e *CertificateEntry) add(b *builder) {
	addBytes24(b, e.Data)
	b.addPrefixed16(func(b *builder) {
		if len(e.OCSPStaple) > 0 {
			addExtension(b, ExtStatusRequest, func(b *builder) {
				b.addUint8(1) // ocsp
				addBytes24(b, e.OCSPStaple)
			})
		}
		if len(e.SCTs) > 0 {
			addExtension(b, ExtSCT, func(b *builder) {
				b.addPrefixed16(func(b *builder) {
					for _, sct := range e.SCTs {
						addBytes16(b, sct)
					}
				})
			})
		}
	})
}

// Unmarshal parses a Certificate body (without the 4-byte header). Slices
// in m may alias body. It returns nil or a record.Alert.
func (m *Certificate) Unmarshal(body []byte) error {
	*m = Certificate{}
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.Context)) ||
		!s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return errDecode
	}
	for !list.Empty() {
		var e CertificateEntry
		if err := e.parse(&list); err != nil {
			return err
		}
		m.Entries = append(m.Entries, e)
	}
	return nil
}

func (e *CertificateEntry) parse(s *cryptobyte.String) error {
	var exts cryptobyte.String
	if !readBytes24(s, &e.Data) || !s.ReadUint16LengthPrefixed(&exts) {
		return errDecode
	}
	w := extWalker{exts: exts, rec: &e.Extensions}
	for w.next() {
		w.parsed(e.parseExtension(w.typ, &w.data, w.last()))
	}
	return w.err
}

func (e *CertificateEntry) parseExtension(typ uint16, d *cryptobyte.String, _ bool) error {
	switch typ {
	case ExtStatusRequest:
		var statusType uint8
		return okOr(d.ReadUint8(&statusType) && statusType == 1 && readBytes24(d, &e.OCSPStaple))
	case ExtSCT:
		return okOr(e.parseSCTs(d))
	default:
		skip(d)
	}
	return nil
}

func (e *CertificateEntry) parseSCTs(d *cryptobyte.String) bool {
	var list cryptobyte.String
	if !d.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return false
	}
	for !list.Empty() {
		var sct []byte
		if !readBytes16(&list, &sct) {
			return false
		}
		e.SCTs = append(e.SCTs, sct)
	}
	return true
}
