package record

import (
	"encoding/binary"
	"slices"

	"github.com/tlsm/tlsm/cipher"
)

// DTLSHeaderLen is the length of a DTLS 1.0/1.2 record header (RFC 6347
// §4.1): type(1) version(2) epoch(2) sequence_number(6) length(2).
const DTLSHeaderLen = 13

// DTLS version values that appear on the wire, the ones' complement of the
// TLS version they are based on.
const (
	VersionDTLS10 uint16 = 0xfeff
	VersionDTLS12 uint16 = 0xfefd
	VersionDTLS13 uint16 = 0xfefc
)

// MaxSeq48 is the largest DTLS record sequence number; an epoch must not
// send more records than it can number (RFC 6347 §4.1).
const MaxSeq48 = 1<<48 - 1

// DTLSRecord is one DTLS 1.0/1.2 record as read from a datagram. Header and
// Payload alias the datagram, and Payload may be decrypted in place.
type DTLSRecord struct {
	Type    ContentType
	Version uint16
	// Epoch counts the cipher state changes of the sending side.
	Epoch uint16
	// Seq is the 48-bit sequence number of the record within its epoch.
	Seq uint64
	// CID is the Connection ID of a TypeConnectionID record (RFC 9146),
	// nil for the other types.
	CID []byte
	// Header is the header as received: DTLSHeaderLen bytes, and the CID.
	Header  []byte
	Payload []byte
}

// ParseDTLSRecord reads the first record of a datagram, which may carry
// several (RFC 6347 §4.1.1); rest holds the bytes after it. An error is
// always AlertDecodeError and means the datagram is malformed from here on,
// so its remainder must be dropped: a header cut short (including an empty
// datagram), a length running past the end of the datagram, an unknown
// content type (TypeConnectionID among them: see ParseDTLSRecordCID), or a
// length over MaxCiphertext12. The version is returned as read, for the
// caller to judge.
func ParseDTLSRecord(datagram []byte) (rec DTLSRecord, rest []byte, err error) {
	return ParseDTLSRecordCID(datagram, 0)
}

// ParseDTLSRecordCID is ParseDTLSRecord for a receiver that has asked its
// peer for Connection IDs of cidLen bytes (RFC 9146), which a
// TypeConnectionID record carries after its sequence number; with a
// cidLen of 0 such a record is malformed, as the length of its CID is
// unknown.
func ParseDTLSRecordCID(datagram []byte, cidLen int) (rec DTLSRecord, rest []byte, err error) {
	if len(datagram) < DTLSHeaderLen {
		return DTLSRecord{}, nil, AlertDecodeError
	}
	typ := ContentType(datagram[0])
	hdr := DTLSHeaderLen
	switch typ {
	case TypeChangeCipherSpec, TypeAlert, TypeHandshake, TypeApplicationData, TypeReturnRoutabilityCheck:
	case TypeConnectionID:
		if cidLen <= 0 || len(datagram) < DTLSHeaderLen+cidLen {
			return DTLSRecord{}, nil, AlertDecodeError
		}
		hdr += cidLen
	default:
		return DTLSRecord{}, nil, AlertDecodeError
	}
	n := int(binary.BigEndian.Uint16(datagram[hdr-2 : hdr]))
	if n > MaxCiphertext12 || len(datagram)-hdr < n {
		return DTLSRecord{}, nil, AlertDecodeError
	}
	end := hdr + n
	rec = DTLSRecord{
		Type:    typ,
		Version: binary.BigEndian.Uint16(datagram[1:3]),
		Epoch:   binary.BigEndian.Uint16(datagram[3:5]),
		Seq:     uint64(binary.BigEndian.Uint16(datagram[5:7]))<<32 | uint64(binary.BigEndian.Uint32(datagram[7:11])),
		Header:  datagram[:hdr:hdr],
		Payload: datagram[hdr:end:end],
	}
	if typ == TypeConnectionID {
		rec.CID = datagram[11 : 11+cidLen : 11+cidLen]
	}
	return rec, datagram[end:], nil
}

// ConnectionIDOf returns the Connection ID of the first record of a
// datagram when it carries one of cidLen bytes: a DTLS 1.2
// TypeConnectionID record, or a DTLS 1.3 unified header with its C bit;
// a demultiplexer routes the datagram by it.
func ConnectionIDOf(datagram []byte, cidLen int) ([]byte, bool) {
	switch {
	case cidLen <= 0 || len(datagram) == 0:
		return nil, false
	case IsDTLS13Ciphertext(datagram[0]) && datagram[0]&unifiedCID != 0 && len(datagram) > 1+cidLen:
		return datagram[1 : 1+cidLen], true
	case len(datagram) < DTLSHeaderLen+cidLen || ContentType(datagram[0]) != TypeConnectionID:
		return nil, false
	}
	return datagram[11 : 11+cidLen], true
}

// AppendDTLSHeader appends a DTLS 1.0/1.2 record header for a fragment of
// length n. Only the low 48 bits of seq are written; it should not exceed
// MaxSeq48.
func AppendDTLSHeader(dst []byte, typ ContentType, version, epoch uint16, seq uint64, n int) []byte {
	dst = append(dst, byte(typ))
	dst = binary.BigEndian.AppendUint16(dst, version)
	dst = binary.BigEndian.AppendUint16(dst, epoch)
	dst = binary.BigEndian.AppendUint16(dst, uint16(seq>>32))
	dst = binary.BigEndian.AppendUint32(dst, uint32(seq))
	return binary.BigEndian.AppendUint16(dst, uint16(n))
}

// AppendDTLSPlain appends an unprotected DTLS record carrying payload, which
// must not exceed MaxPlaintext.
func AppendDTLSPlain(dst []byte, typ ContentType, version, epoch uint16, seq uint64, payload []byte) []byte {
	dst = AppendDTLSHeader(dst, typ, version, epoch, seq, len(payload))
	return append(dst, payload...)
}

// SealDTLS12 appends a DTLS 1.2 AEAD-protected record to dst: the header,
// the explicit nonce if the suite has one, and the ciphertext of payload.
// The nonce and additional data are those of TLS 1.2 with the sequence
// number epoch || seq (RFC 6347 §4.1.2.1), through cipher.State.SealAt;
// the state's own counter is not used. st must come from
// cipher.NewState12, and the caller must never reuse an (epoch, seq) pair
// under one key. A payload over MaxPlaintext or a seq over MaxSeq48 is
// refused with AlertInternalError. It allocates only when dst lacks
// capacity.
func SealDTLS12(dst []byte, st *cipher.State, typ ContentType, version, epoch uint16, seq uint64, payload []byte) ([]byte, error) {
	if len(payload) > MaxPlaintext || seq > MaxSeq48 {
		return dst, AlertInternalError
	}
	exp := st.ExplicitNonceLen()
	n := exp + len(payload) + st.Overhead()
	start := len(dst)
	dst = slices.Grow(dst, DTLSHeaderLen+n)
	dst = AppendDTLSHeader(dst, typ, version, epoch, seq, n)
	body := len(dst)
	// Leave room for the explicit nonce and seal the payload in place.
	dst = append(dst[:body+exp], payload...)
	out, err := st.SealAt(dst[:body], uint64(epoch)<<48|seq, uint8(typ), version, dst[body+exp:])
	if err != nil {
		return dst[:start], AlertInternalError
	}
	return out, nil
}

// OpenDTLS12 removes DTLS 1.2 AEAD protection from rec in place, using the
// record's own type, version, epoch and sequence number, and returns the
// plaintext, which aliases rec.Payload. The state's counter is neither used
// nor advanced, so records may be opened in any order. A fragment over
// MaxCiphertext12 or a plaintext over MaxPlaintext is AlertRecordOverflow;
// a fragment shorter than the explicit nonce and tag, one that fails
// authentication, or a Seq over MaxSeq48 (which ParseDTLSRecord never
// yields) is AlertBadRecordMAC. Unlike in TLS, such records are to be
// dropped silently (RFC 6347 §4.1.2.7). Check the record against a
// ReplayWindow before opening it and Accept it after.
func OpenDTLS12(st *cipher.State, rec DTLSRecord) ([]byte, error) {
	if len(rec.Payload) > MaxCiphertext12 {
		return nil, AlertRecordOverflow
	}
	if rec.Seq > MaxSeq48 {
		return nil, AlertBadRecordMAC
	}
	exp := min(st.ExplicitNonceLen(), len(rec.Payload))
	pt, err := st.OpenAt(rec.Payload[exp:exp], uint64(rec.Epoch)<<48|rec.Seq, uint8(rec.Type), rec.Version, rec.Payload)
	if err != nil {
		return nil, AlertBadRecordMAC
	}
	if len(pt) > MaxPlaintext {
		return nil, AlertRecordOverflow
	}
	return pt, nil
}

// SealDTLS12CID appends a DTLS 1.2 record in the Connection ID format
// (RFC 9146 §4): a header of type TypeConnectionID carrying cid after the
// sequence number, and the AEAD ciphertext of the inner plaintext,
// payload followed by typ (tlsm adds no padding). The rules of SealDTLS12
// apply; cid must be 1 to 255 bytes.
func SealDTLS12CID(dst []byte, st *cipher.State, typ ContentType, version, epoch uint16, seq uint64, cid, payload []byte) ([]byte, error) {
	if len(payload) > MaxPlaintext || seq > MaxSeq48 || len(cid) == 0 || len(cid) > 255 {
		return dst, AlertInternalError
	}
	exp := st.ExplicitNonceLen()
	n := exp + len(payload) + 1 + st.Overhead()
	start := len(dst)
	dst = slices.Grow(dst, DTLSHeaderLen+len(cid)+n)
	dst = AppendDTLSHeader(dst, TypeConnectionID, version, epoch, seq, n)
	dst = append(dst[:len(dst)-2], cid...) // the length follows the CID
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	body := len(dst)
	dst = append(append(dst[:body+exp], payload...), byte(typ))
	out, err := st.SealCID(dst[:body], uint64(epoch)<<48|seq, uint8(TypeConnectionID), version, cid, dst[body+exp:])
	if err != nil {
		return dst[:start], AlertInternalError
	}
	return out, nil
}

// OpenDTLS12CID removes the protection of a TypeConnectionID record in
// place and returns its real type and content, which alias rec.Payload:
// the inner plaintext without its padding of zeros. Errors are those of
// OpenDTLS12, and AlertUnexpectedMessage for an inner plaintext of zeros
// only, which has no type (RFC 9146 §4).
func OpenDTLS12CID(st *cipher.State, rec DTLSRecord) (ContentType, []byte, error) {
	if len(rec.Payload) > MaxCiphertext12 {
		return 0, nil, AlertRecordOverflow
	}
	if rec.Seq > MaxSeq48 || rec.Type != TypeConnectionID {
		return 0, nil, AlertBadRecordMAC
	}
	exp := min(st.ExplicitNonceLen(), len(rec.Payload))
	pt, err := st.OpenCID(rec.Payload[exp:exp], uint64(rec.Epoch)<<48|rec.Seq, uint8(rec.Type), rec.Version, rec.CID, rec.Payload)
	if err != nil {
		return 0, nil, AlertBadRecordMAC
	}
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, AlertUnexpectedMessage
	}
	if i > MaxPlaintext {
		return 0, nil, AlertRecordOverflow
	}
	return ContentType(pt[i]), pt[:i], nil
}
