package record

import (
	"slices"

	"github.com/tlsm/tlsm/cipher"
)

// Seal12 appends a TLS 1.2 AEAD-protected record to dst: the header (typ,
// version, fragment length), the explicit nonce if the suite has one, and
// the ciphertext of payload, authenticated with the additional data
// seq_num || typ || version || len(payload) (RFC 5246 §6.2.3.3). st must
// come from cipher.NewState12. A payload over MaxPlaintext is refused with
// AlertInternalError. It allocates only when dst lacks capacity.
func Seal12(dst []byte, st *cipher.State, typ ContentType, version uint16, payload []byte) ([]byte, error) {
	if len(payload) > MaxPlaintext {
		return dst, AlertInternalError
	}
	exp := st.ExplicitNonceLen()
	n := exp + len(payload) + st.Overhead()
	start := len(dst)
	dst = slices.Grow(dst, HeaderLen+n)
	dst = AppendHeader(dst, typ, version, n)
	body := len(dst)
	// Leave room for the explicit nonce and seal the payload in place.
	dst = append(dst[:body+exp], payload...)
	out, err := st.Seal12(dst[:body], uint8(typ), version, dst[body+exp:])
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// Open12 removes TLS 1.2 AEAD protection from rec in place and returns the
// plaintext, which aliases rec.Payload. The record's type and version enter
// the additional data as read. A fragment over MaxCiphertext12 or a
// plaintext over MaxPlaintext is AlertRecordOverflow; a fragment shorter
// than the explicit nonce and tag, or one that fails authentication, is
// AlertBadRecordMAC. A StreamReader feeding it should set MaxFragment to
// MaxCiphertext12.
func Open12(st *cipher.State, rec Record) ([]byte, error) {
	if len(rec.Payload) > MaxCiphertext12 {
		return nil, AlertRecordOverflow
	}
	exp := min(st.ExplicitNonceLen(), len(rec.Payload))
	pt, err := st.Open12(rec.Payload[exp:exp], uint8(rec.Type), rec.Version, rec.Payload)
	if err != nil {
		if err == cipher.ErrSequenceExhausted {
			return nil, AlertInternalError
		}
		return nil, AlertBadRecordMAC
	}
	if len(pt) > MaxPlaintext {
		return nil, AlertRecordOverflow
	}
	return pt, nil
}
