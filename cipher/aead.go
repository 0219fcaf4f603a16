package cipher

import (
	gocipher "crypto/cipher"
	"encoding/binary"
	"errors"
)

// nonceLen is the length of the per-record nonce of every supported AEAD.
const nonceLen = 12

// ErrSequenceExhausted is returned when a key has protected as many records
// as its sequence number can count; the connection must rekey or close.
var ErrSequenceExhausted = errors.New("cipher: record sequence number exhausted")

// errOpen is returned when a record fails authentication.
var errOpen = errors.New("cipher: message authentication failed")

// errTooLong is returned by SealAt for a plaintext whose length does not fit
// the 16-bit length field of the TLS 1.2 additional data.
var errTooLong = errors.New("cipher: plaintext too long for a record")

// State is one direction's record protection: an AEAD, its static IV and the
// sequence number of the next record. The nonce of each record is the IV
// XOR the sequence number (RFC 8446 §5.3); it is never random. A TLS 1.2
// state from NewState12 is used through Seal12 and Open12, or, for DTLS 1.2,
// through SealAt and OpenAt, which take the sequence number from the caller.
type State struct {
	aead  gocipher.AEAD
	iv    [nonceLen]byte
	nonce [nonceLen]byte
	seq   uint64

	// explicitLen is the length of the nonce part carried in each TLS 1.2
	// record (8 for AES-GCM); zero for TLS 1.3 and ChaCha20-Poly1305.
	explicitLen int
	// ad is scratch space for the TLS 1.2 additional data, kept here so
	// that building it per record does not allocate; cidAD is the same
	// for the DTLS 1.2 Connection ID format, made on first use (a pointer
	// keeps the State in its size class).
	ad    [ad12Len]byte
	cidAD *[cidADLen + 255]byte
}

// newState returns a protection state for key and iv with sequence 0.
func newState(s *Suite, key, iv []byte) (*State, error) {
	aead, err := s.NewAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != nonceLen {
		return nil, errors.New("cipher: bad IV length")
	}
	st := &State{aead: aead}
	copy(st.iv[:], iv)
	return st, nil
}

// NewTrafficState derives keys from a TLS 1.3 (or DTLS 1.3) traffic
// secret.
func (l Labels) NewTrafficState(s *Suite, secret []byte) (*State, error) {
	var keyBuf, ivBuf [64]byte // one block of either hash holds a key or an IV
	key := l.appendExpandLabel(keyBuf[:0], s.Hash, secret, "key", nil, s.KeyLen)
	iv := l.appendExpandLabel(ivBuf[:0], s.Hash, secret, "iv", nil, nonceLen)
	return newState(s, key, iv)
}

// Seq returns the sequence number of the next record.
func (st *State) Seq() uint64 { return st.seq }

// Overhead returns the AEAD tag length.
func (st *State) Overhead() int { return st.aead.Overhead() }

func (st *State) nextNonce() ([]byte, error) {
	if st.seq == ^uint64(0) {
		return nil, ErrSequenceExhausted
	}
	st.setNonce(st.seq)
	st.seq++
	return st.nonce[:], nil
}

// setNonce fills st.nonce with the IV XOR the padded sequence number seq,
// leaving st.seq alone.
func (st *State) setNonce(seq uint64) {
	st.nonce = st.iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		st.nonce[nonceLen-8+i] ^= s[i]
	}
}

// Seal encrypts plaintext with additional data ad, appending to dst.
func (st *State) Seal(dst, ad, plaintext []byte) ([]byte, error) {
	nonce, err := st.nextNonce()
	if err != nil {
		return dst, err
	}
	return st.aead.Seal(dst, nonce, plaintext, ad), nil
}

// Open decrypts ciphertext with additional data ad, appending to dst
// (dst may be ciphertext[:0] to decrypt in place). Only a record that
// authenticates consumes a sequence number, so a receiver may skip one
// that does not (a TLS 1.3 server skipping early data it declined).
func (st *State) Open(dst, ad, ciphertext []byte) ([]byte, error) {
	if st.seq == ^uint64(0) {
		return nil, ErrSequenceExhausted
	}
	st.setNonce(st.seq)
	out, err := st.aead.Open(dst, st.nonce[:], ciphertext, ad)
	if err != nil {
		return nil, errOpen
	}
	st.seq++
	return out, nil
}
