package record

import (
	"encoding/binary"

	"github.com/tlsm/tlsm/cipher"
)

// The flags of the first byte of a DTLS 1.3 unified header (RFC 9147 §4):
// 001CSLEE. Records of epoch 0 are DTLSPlaintext, as in DTLS 1.2.
const (
	unifiedFixed    = 0x20 // the three high bits, 001
	unifiedFixedMsk = 0xe0
	unifiedCID      = 0x10 // a connection ID follows
	unifiedSeq16    = 0x08 // the record number is 16 bits (else 8)
	unifiedLength   = 0x04 // a length follows (else the record fills the datagram)
	unifiedEpoch    = 0x03 // the low two bits of the epoch
)

// MaxDTLS13Header is the longest unified header: the first byte, a
// 255-byte connection ID, a 16-bit record number and a length.
const MaxDTLS13Header = 1 + 255 + 2 + 2

// IsDTLS13Ciphertext reports whether a record starting with b is a DTLS
// 1.3 DTLSCiphertext (its first byte 001xxxxx), not a DTLSPlaintext or a
// DTLS 1.2 record, whose first byte is a content type.
func IsDTLS13Ciphertext(b byte) bool { return b&unifiedFixedMsk == unifiedFixed }

// DTLS13Record is one DTLSCiphertext as read from a datagram. Header and
// Ciphertext alias the datagram; the record number in Header stays
// protected until OpenDTLS13.
type DTLS13Record struct {
	// Header is the unified header as received.
	Header []byte
	// EpochBits are the low two bits of the record's epoch.
	EpochBits uint8
	// CID is the connection ID, nil when the header carries none.
	CID []byte
	// Ciphertext is the encrypted DTLSInnerPlaintext.
	Ciphertext []byte

	seqOff, seqLen int  // where the record number lies in Header
	unmasked       bool // RecordNumber has unprotected it, in place
}

// ParseDTLS13Record reads the DTLSCiphertext at the start of datagram,
// whose connection ID, when its header says it has one, is cidLen bytes
// long; rest holds the bytes after it. An error (AlertDecodeError) means
// the rest of the datagram is to be dropped: a header cut short, a
// connection ID of unknown length, a length running past the datagram or
// over MaxCiphertext13, or a first byte that is not a unified header.
func ParseDTLS13Record(datagram []byte, cidLen int) (rec DTLS13Record, rest []byte, err error) {
	if len(datagram) == 0 || !IsDTLS13Ciphertext(datagram[0]) {
		return DTLS13Record{}, nil, AlertDecodeError
	}
	flags := datagram[0]
	off := 1
	if flags&unifiedCID != 0 {
		if cidLen == 0 || len(datagram) < off+cidLen {
			return DTLS13Record{}, nil, AlertDecodeError
		}
		rec.CID = datagram[off : off+cidLen]
		off += cidLen
	}
	rec.seqOff, rec.seqLen = off, 1
	if flags&unifiedSeq16 != 0 {
		rec.seqLen = 2
	}
	off += rec.seqLen
	n := len(datagram) - off
	if flags&unifiedLength != 0 {
		if len(datagram) < off+2 {
			return DTLS13Record{}, nil, AlertDecodeError
		}
		n = int(binary.BigEndian.Uint16(datagram[off:]))
		off += 2
	}
	if n < 0 || len(datagram) < off+n || n > MaxCiphertext13 {
		return DTLS13Record{}, nil, AlertDecodeError
	}
	rec.Header = datagram[:off]
	rec.EpochBits = flags & unifiedEpoch
	rec.Ciphertext = datagram[off : off+n]
	return rec, datagram[off+n:], nil
}

// RecordNumber unprotects the record number with sn, in place in
// Header (which becomes the additional data OpenDTLS13 authenticates),
// and returns its low bits and how many they are (8 or 16). It fails (the
// record is to be dropped) when the ciphertext is too short to sample.
func (r *DTLS13Record) RecordNumber(sn *cipher.RecordNumberKey) (low uint64, bits int, err error) {
	seq := r.Header[r.seqOff : r.seqOff+r.seqLen]
	if !r.unmasked {
		if sn.Apply(seq, r.Ciphertext) != nil {
			return 0, 0, AlertBadRecordMAC
		}
		r.unmasked = true
	}
	if r.seqLen == 1 {
		return uint64(seq[0]), 8, nil
	}
	return uint64(binary.BigEndian.Uint16(seq)), 16, nil
}

// ReconstructSeq returns the full record number whose low bits are low
// (bits of them) that is closest to next, one past the highest number
// deprotected so far in the epoch (RFC 9147 §4.2.2), within 0..MaxSeq48.
func ReconstructSeq(next, low uint64, bits int) uint64 {
	window := uint64(1) << bits
	candidate := next&^(window-1) | low
	switch {
	case candidate > next && candidate-next > window/2 && candidate >= window:
		candidate -= window
	case candidate < next && next-candidate > window/2 && candidate+window <= MaxSeq48:
		candidate += window
	}
	return candidate
}

// OpenDTLS13 removes the protection of rec, whose full record number is
// seq, decrypting in place: RecordNumber gives its low bits, which seq
// must end with, and ReconstructSeq the rest. It returns the real content
// type and the content. An error means the record is to be dropped:
// AlertBadRecordMAC when it does not authenticate (or its number was not
// unprotected), AlertRecordOverflow past MaxPlaintext,
// AlertUnexpectedMessage for a DTLSInnerPlaintext of zeros only.
func OpenDTLS13(st *cipher.State, rec *DTLS13Record, seq uint64) (ContentType, []byte, error) {
	if !rec.unmasked {
		return 0, nil, AlertBadRecordMAC
	}
	// The additional data is the header with its record number in clear,
	// as RecordNumber left it.
	pt, err := st.OpenSeq(rec.Ciphertext[:0], seq, rec.Header, rec.Ciphertext)
	if err != nil {
		return 0, nil, AlertBadRecordMAC
	}
	return innerPlaintext(pt)
}

// innerPlaintext splits a TLSInnerPlaintext or DTLSInnerPlaintext into
// its content type and content, dropping the zero padding.
func innerPlaintext(pt []byte) (ContentType, []byte, error) {
	if len(pt) > MaxPlaintext+1 {
		return 0, nil, AlertRecordOverflow
	}
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, AlertUnexpectedMessage
	}
	return ContentType(pt[i]), pt[:i], nil
}

// SealDTLS13 appends payload as a DTLSCiphertext of content type typ to
// dst, numbered seq in epoch (whose low two bits the header carries),
// with the connection ID cid (none when empty), in the form tlsm sends: a
// 16-bit record number and a length. The record number is protected with
// sn. It fails for a record number past MaxSeq48.
func SealDTLS13(dst []byte, st *cipher.State, sn *cipher.RecordNumberKey, typ ContentType, epoch, seq uint64, cid, payload []byte) ([]byte, error) {
	return sealDTLS13(dst, st, sn, typ, epoch, seq, cid, payload, 2, true)
}

// DTLS13Overhead is what SealDTLS13 adds to a payload under st: the
// header with a connection ID of cidLen bytes, the content type and the
// AEAD tag.
func DTLS13Overhead(st *cipher.State, cidLen int) int { return 1 + cidLen + 2 + 2 + 1 + st.Overhead() }

// sealDTLS13 is SealDTLS13 with the record number seqLen bytes long and
// the length present or not.
func sealDTLS13(dst []byte, st *cipher.State, sn *cipher.RecordNumberKey, typ ContentType, epoch, seq uint64, cid, payload []byte, seqLen int, withLength bool) ([]byte, error) {
	if seq > MaxSeq48 {
		return dst, cipher.ErrSequenceExhausted
	}
	start := len(dst)
	flags := byte(unifiedFixed) | byte(epoch)&unifiedEpoch
	if len(cid) > 0 {
		flags |= unifiedCID
	}
	if seqLen == 2 {
		flags |= unifiedSeq16
	}
	if withLength {
		flags |= unifiedLength
	}
	dst = append(dst, flags)
	dst = append(dst, cid...)
	seqOff := len(dst)
	if seqLen == 2 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(seq))
	} else {
		dst = append(dst, byte(seq))
	}
	if withLength {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)+1+st.Overhead()))
	}
	body := len(dst)
	dst = append(dst, payload...)
	dst = append(dst, byte(typ))
	dst = st.SealSeq(dst[:body], seq, dst[start:body], dst[body:])
	if err := sn.Apply(dst[seqOff:seqOff+seqLen], dst[body:]); err != nil {
		return dst[:start], err
	}
	return dst, nil
}
