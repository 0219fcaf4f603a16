package cipher

import (
	"crypto"
	"crypto/hmac"
	"encoding/binary"
	"errors"
)

// TLS 1.2 cipher suite code points. Only ECDHE suites with an AEAD are
// supported.
const (
	TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256       uint16 = 0xc02b
	TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256         uint16 = 0xc02f
	TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384       uint16 = 0xc02c
	TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384         uint16 = 0xc030
	TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 uint16 = 0xcca9
	TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256   uint16 = 0xcca8
)

// TLS12Suites returns the TLS 1.2 suites in default preference order:
// AES-128-GCM, then AES-256-GCM, then ChaCha20-Poly1305, with the ECDSA
// suite of each ahead of the RSA one.
func TLS12Suites() []uint16 {
	return []uint16{
		TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// Lengths of TLS 1.2 secrets.
const (
	// MasterSecretLen12 is the length of a TLS 1.2 master secret.
	MasterSecretLen12 = 48
	// VerifyDataLen12 is the length of TLS 1.2 Finished verify_data.
	VerifyDataLen12 = 12
)

// Labels of the TLS 1.2 PRF (RFC 5246, RFC 7627).
const (
	LabelMasterSecret         = "master secret"
	LabelExtendedMasterSecret = "extended master secret"
	LabelKeyExpansion         = "key expansion"
	LabelClientFinished       = "client finished"
	LabelServerFinished       = "server finished"
)

// prf12 is the TLS 1.2 pseudorandom function PRF(secret, label, seed) of
// RFC 5246 §5: P_hash(secret, label || seed) with HMAC over h, cut to
// length bytes. h is the suite's Hash. For SHA-256 and SHA-384, the
// hashes of every TLS 1.2 suite here, the HMACs run on stack buffers
// (see mac).
func prf12(h crypto.Hash, secret []byte, label string, seed []byte, length int) []byte {
	if h != crypto.SHA256 && h != crypto.SHA384 {
		return prf12HMAC(h, secret, label, seed, length)
	}
	var labelSeedBuf [128]byte // TLS labels and seeds fit; longer ones move to the heap
	labelSeed := append(append(labelSeedBuf[:0], label...), seed...)
	m := newMAC(h, secret)
	var aBuf [64]byte
	a := m.sum(aBuf[:0], labelSeed, nil) // A(1)
	out := make([]byte, 0, length+h.Size())
	for len(out) < length {
		out = m.sum(out, a, labelSeed) // HMAC(secret, A(i) || label || seed)
		if len(out) >= length {
			break // A(i+1) would go unused
		}
		a = m.sum(aBuf[:0], a, nil) // A(i+1); sum reads a before it writes
	}
	return out[:length:length]
}

// prf12HMAC is prf12 on crypto/hmac, for any hash.
func prf12HMAC(h crypto.Hash, secret []byte, label string, seed []byte, length int) []byte {
	labelSeed := make([]byte, 0, len(label)+len(seed))
	labelSeed = append(labelSeed, label...)
	labelSeed = append(labelSeed, seed...)

	mac := hmac.New(h.New, secret)
	mac.Write(labelSeed)
	a := mac.Sum(nil) // A(1)
	out := make([]byte, 0, length+h.Size())
	for len(out) < length {
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		out = mac.Sum(out) // HMAC(secret, A(i) || label || seed)
		if len(out) >= length {
			break
		}
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0]) // A(i+1)
	}
	return out[:length:length]
}

// concat returns a || b in a new slice.
func concat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// MasterSecret12 derives the TLS 1.2 master secret from the pre-master
// secret and the hello randoms (RFC 5246 §8.1).
func MasterSecret12(h crypto.Hash, preMaster, clientRandom, serverRandom []byte) []byte {
	return prf12(h, preMaster, LabelMasterSecret, concat(clientRandom, serverRandom), MasterSecretLen12)
}

// ExtendedMasterSecret12 derives the master secret of RFC 7627 §4 from the
// pre-master secret and the session hash, the transcript hash from the
// ClientHello up to and including the ClientKeyExchange.
func ExtendedMasterSecret12(h crypto.Hash, preMaster, sessionHash []byte) []byte {
	return prf12(h, preMaster, LabelExtendedMasterSecret, sessionHash, MasterSecretLen12)
}

// KeyBlock12 expands the master secret into the record keys of a TLS 1.2
// suite (RFC 5246 §6.3). AEAD suites have no MAC keys; the IVs are the
// FixedIVLen implicit nonce parts. s must be a TLS 1.2 suite. The four
// results do not share capacity, so appending to one never alters another.
func KeyBlock12(s *Suite, master, clientRandom, serverRandom []byte) (clientKey, serverKey, clientIV, serverIV []byte) {
	k, v := s.KeyLen, s.FixedIVLen
	b := prf12(s.Hash, master, LabelKeyExpansion, concat(serverRandom, clientRandom), 2*k+2*v)
	clientKey = b[0:k:k]
	serverKey = b[k : 2*k : 2*k]
	clientIV = b[2*k : 2*k+v : 2*k+v]
	serverIV = b[2*k+v : 2*k+2*v : 2*k+2*v]
	return clientKey, serverKey, clientIV, serverIV
}

// VerifyData12 computes the verify_data of a TLS 1.2 Finished message
// (RFC 5246 §7.4.9): label is LabelClientFinished or LabelServerFinished,
// transcriptHash the hash of the handshake messages before that Finished.
func VerifyData12(h crypto.Hash, master []byte, label string, transcriptHash []byte) []byte {
	return prf12(h, master, label, transcriptHash, VerifyDataLen12)
}

// ExportKeyingMaterial12 is the TLS 1.2 exporter of RFC 5705 §4. The seed is
// client_random || server_random, followed by the uint16 length of context
// and context itself when hasContext is set (an empty context then differs
// from none). context must be shorter than 2^16 bytes; a longer one panics.
// The caller is responsible for refusing labels reserved by RFC 5705 and
// for not exporting from a session without the extended master secret.
func ExportKeyingMaterial12(h crypto.Hash, master, clientRandom, serverRandom []byte, label string, context []byte, hasContext bool, length int) []byte {
	seed := make([]byte, 0, len(clientRandom)+len(serverRandom)+2+len(context))
	seed = append(seed, clientRandom...)
	seed = append(seed, serverRandom...)
	if hasContext {
		if len(context) > 0xffff {
			panic("cipher: exporter context longer than 65535 bytes")
		}
		seed = binary.BigEndian.AppendUint16(seed, uint16(len(context)))
		seed = append(seed, context...)
	}
	return prf12(h, master, label, seed, length)
}

// ad12Len is the length of the TLS 1.2 additional data: seq_num(8) ||
// type(1) || version(2) || length(2).
const ad12Len = 13

// NewState12 returns a TLS 1.2 protection state with sequence 0 for one
// direction's key and fixed IV from KeyBlock12.
//
// For AES-GCM (RFC 5288) the nonce is fixedIV(4) || explicit(8), and the
// explicit part that Seal12 sends is the 8-byte big-endian sequence number.
// For ChaCha20-Poly1305 (RFC 7905) the nonce is fixedIV(12) XOR the padded
// sequence number, as in TLS 1.3, and records carry no explicit part.
func NewState12(s *Suite, key, fixedIV []byte) (*State, error) {
	if s.TLS13 || s.FixedIVLen+s.ExplicitNonceLen != nonceLen {
		return nil, errors.New("cipher: not a TLS 1.2 suite")
	}
	if len(key) != s.KeyLen {
		return nil, errors.New("cipher: bad key length")
	}
	if len(fixedIV) != s.FixedIVLen {
		return nil, errors.New("cipher: bad IV length")
	}
	aead, err := s.NewAEAD(key)
	if err != nil {
		return nil, err
	}
	// With the explicit part of the IV left zero, IV XOR seq is exactly
	// fixedIV || seq, so nextNonce serves both nonce constructions.
	st := &State{aead: aead, explicitLen: s.ExplicitNonceLen}
	copy(st.iv[:], fixedIV)
	return st, nil
}

// ExplicitNonceLen returns the length of the nonce part that Seal12 writes
// ahead of each ciphertext and Open12 reads from it: 8 for a TLS 1.2
// AES-GCM state, otherwise 0.
func (st *State) ExplicitNonceLen() int { return st.explicitLen }

// setAD12 fills st.ad with seq_num || typ || version || length.
func (st *State) setAD12(seq uint64, typ uint8, version uint16, n int) {
	binary.BigEndian.PutUint64(st.ad[0:8], seq)
	st.ad[8] = typ
	binary.BigEndian.PutUint16(st.ad[9:11], version)
	binary.BigEndian.PutUint16(st.ad[11:13], uint16(n))
}

// Seal12 protects one TLS 1.2 record fragment (RFC 5246 §6.2.3.3): it
// appends the explicit nonce, if the state has one, and the AEAD
// ciphertext of plaintext to dst. The additional data is seq_num || typ ||
// version || len(plaintext). To encrypt in place, plaintext may start
// exactly ExplicitNonceLen bytes past len(dst) in dst's backing array;
// otherwise it must not overlap dst's spare capacity.
func (st *State) Seal12(dst []byte, typ uint8, version uint16, plaintext []byte) ([]byte, error) {
	if st.seq == ^uint64(0) {
		return dst, ErrSequenceExhausted
	}
	seq := st.seq
	st.seq++
	return st.seal12(dst, seq, typ, version, plaintext), nil
}

// Open12 authenticates and decrypts one TLS 1.2 record fragment (explicit
// nonce, if any, then AEAD ciphertext), appending the plaintext to dst; typ
// and version come from the record header. The explicit nonce is taken
// from the fragment as sent, whatever the peer chose. To decrypt in place,
// dst may be fragment[ExplicitNonceLen():][:0]. A fragment too short to hold
// the explicit nonce and tag, or one that fails authentication, is errOpen.
// Each call consumes a sequence number, whether or not it succeeds.
func (st *State) Open12(dst []byte, typ uint8, version uint16, fragment []byte) ([]byte, error) {
	if st.seq == ^uint64(0) {
		return nil, ErrSequenceExhausted
	}
	seq := st.seq
	st.seq++
	return st.open12(dst, seq, typ, version, fragment)
}

// SealAt is Seal12 with the sequence number given rather than taken from the
// state, for DTLS 1.2 (RFC 6347 §4.1.2.1), where seq is epoch(16) ||
// sequence_number(48) as in the record header. The AES-GCM explicit nonce
// written is seq; the ChaCha20-Poly1305 nonce is the IV XOR seq; the
// additional data is seq || typ || version || len(plaintext). The state's
// own sequence number is neither used nor advanced, and never sealing two
// records under one seq is the caller's duty. The same overlap rules as for
// Seal12 apply. A plaintext longer than 65535 bytes, whose length the
// additional data cannot carry, is refused with errTooLong.
func (st *State) SealAt(dst []byte, seq uint64, typ uint8, version uint16, plaintext []byte) ([]byte, error) {
	if len(plaintext) > 0xffff {
		return dst, errTooLong
	}
	return st.seal12(dst, seq, typ, version, plaintext), nil
}

// OpenAt is Open12 with the sequence number given rather than taken from
// the state, for DTLS 1.2, whose records may arrive out of order: seq is
// the record's epoch(16) || sequence_number(48). The state's own sequence
// number is neither used nor advanced, so records may be opened in any
// order and a failed one costs nothing. The explicit nonce, if any, is
// read from the fragment as sent. Errors and in-place use are as for
// Open12.
func (st *State) OpenAt(dst []byte, seq uint64, typ uint8, version uint16, fragment []byte) ([]byte, error) {
	return st.open12(dst, seq, typ, version, fragment)
}

// seal12 is Seal12 and SealAt under the sequence number seq.
func (st *State) seal12(dst []byte, seq uint64, typ uint8, version uint16, plaintext []byte) []byte {
	st.setNonce(seq)
	st.setAD12(seq, typ, version, len(plaintext))
	dst = append(dst, st.nonce[nonceLen-st.explicitLen:]...)
	return st.aead.Seal(dst, st.nonce[:], plaintext, st.ad[:])
}

// open12 is Open12 and OpenAt under the sequence number seq.
func (st *State) open12(dst []byte, seq uint64, typ uint8, version uint16, fragment []byte) ([]byte, error) {
	n := len(fragment) - st.explicitLen - st.aead.Overhead()
	if n < 0 {
		return nil, errOpen
	}
	st.setNonce(seq)
	copy(st.nonce[nonceLen-st.explicitLen:], fragment[:st.explicitLen])
	st.setAD12(seq, typ, version, n)
	out, err := st.aead.Open(dst, st.nonce[:], fragment[st.explicitLen:], st.ad[:])
	if err != nil {
		return nil, errOpen
	}
	return out, nil
}

// cidADLen is the length of the DTLS 1.2 Connection ID additional data
// without the CID (RFC 9146 §5): seq_num_placeholder(8) || tls12_cid(1) ||
// cid_length(1) || tls12_cid(1) || version(2) || epoch(2) ||
// sequence_number(6) || length(2).
const cidADLen = 23

// SealCID protects a DTLS 1.2 record in the Connection ID format (RFC
// 9146 §5): as SealAt, with the additional data of that format, built
// from typ (tls12_cid), version, seq (epoch || sequence_number), cid and
// the length of plaintext, the serialized DTLSInnerPlaintext. The state
// keeps a buffer for it, so sealing allocates only when dst lacks room.
func (st *State) SealCID(dst []byte, seq uint64, typ uint8, version uint16, cid, plaintext []byte) ([]byte, error) {
	if len(plaintext) > 0xffff || len(cid) > 0xff {
		return dst, errTooLong
	}
	st.setNonce(seq)
	ad := st.cidAdditionalData(seq, typ, version, cid, len(plaintext))
	dst = append(dst, st.nonce[nonceLen-st.explicitLen:]...)
	return st.aead.Seal(dst, st.nonce[:], plaintext, ad), nil
}

// OpenCID is OpenAt for a record in the Connection ID format (RFC 9146
// §5), whose additional data SealCID describes.
func (st *State) OpenCID(dst []byte, seq uint64, typ uint8, version uint16, cid, fragment []byte) ([]byte, error) {
	n := len(fragment) - st.explicitLen - st.aead.Overhead()
	if n < 0 || len(cid) > 0xff {
		return nil, errOpen
	}
	st.setNonce(seq)
	copy(st.nonce[nonceLen-st.explicitLen:], fragment[:st.explicitLen])
	ad := st.cidAdditionalData(seq, typ, version, cid, n)
	out, err := st.aead.Open(dst, st.nonce[:], fragment[st.explicitLen:], ad)
	if err != nil {
		return nil, errOpen
	}
	return out, nil
}

// cidAdditionalData builds the Connection ID additional data in the
// state's own buffer, made on first use.
func (st *State) cidAdditionalData(seq uint64, typ uint8, version uint16, cid []byte, n int) []byte {
	if st.cidAD == nil {
		st.cidAD = new([cidADLen + 255]byte)
	}
	ad := append(st.cidAD[:0], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, typ, byte(len(cid)), typ)
	ad = binary.BigEndian.AppendUint16(ad, version)
	ad = binary.BigEndian.AppendUint64(ad, seq)
	ad = append(ad, cid...)
	return binary.BigEndian.AppendUint16(ad, uint16(n))
}
