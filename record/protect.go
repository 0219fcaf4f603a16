package record

import (
	"slices"

	"github.com/tlsm/tlsm/cipher"
)

// Seal13 appends a TLS 1.3 protected record to dst: the outer header
// (application_data, 0x0303) and AEAD(payload || typ || zero padding).
// payload must not exceed MaxPlaintext. It allocates only when dst lacks
// capacity.
func Seal13(dst []byte, st *cipher.State, typ ContentType, payload []byte, padding int) ([]byte, error) {
	inner := len(payload) + 1 + padding
	n := inner + st.Overhead()
	start := len(dst)
	dst = slices.Grow(dst, HeaderLen+n)
	dst = AppendHeader(dst, TypeApplicationData, VersionTLS12, n)
	hdr := start
	body := len(dst)
	dst = append(dst, payload...)
	dst = append(dst, byte(typ))
	for i := 0; i < padding; i++ {
		dst = append(dst, 0)
	}
	out, err := st.Seal(dst[body:body], dst[hdr:body], dst[body:])
	if err != nil {
		return dst[:start], err
	}
	return dst[:body+len(out)], nil
}

// Open13 removes TLS 1.3 protection from rec in place and returns the inner
// content type and plaintext. A record that fails authentication is
// AlertBadRecordMAC; an inner plaintext over 2^14+1 bytes is
// AlertRecordOverflow; one with no non-zero type byte is
// AlertUnexpectedMessage.
func Open13(st *cipher.State, rec Record) (ContentType, []byte, error) {
	if rec.Type != TypeApplicationData {
		return 0, nil, AlertUnexpectedMessage
	}
	if len(rec.Payload) > MaxCiphertext13 {
		return 0, nil, AlertRecordOverflow
	}
	pt, err := st.Open(rec.Payload[:0], rec.Header, rec.Payload)
	if err != nil {
		if err == cipher.ErrSequenceExhausted {
			return 0, nil, AlertInternalError
		}
		return 0, nil, AlertBadRecordMAC
	}
	return innerPlaintext(pt)
}
