package cipher

import (
	"crypto/aes"
	gocipher "crypto/cipher"
	"encoding/binary"
	"errors"
	"math/bits"
)

// RecordNumberKey protects the record numbers of DTLS 1.3 records (RFC
// 9147 §4.2.3): the sequence number bytes of a record header are XORed
// with a mask computed from the first 16 bytes of the record's
// ciphertext, with AES-ECB for the AES-GCM suites and the ChaCha20 block
// function for ChaCha20-Poly1305, under a key of their own ("sn").
//
// Like a State, a RecordNumberKey serves one direction and one goroutine.
type RecordNumberKey struct {
	block  gocipher.Block // AES suites
	chacha [8]uint32      // ChaCha20-Poly1305: the key as words
	// mask is where the AES mask is computed: the block cipher's output
	// would escape to the heap from the stack.
	mask [16]byte
}

// RecordNumberSample is how many bytes of ciphertext the mask is computed
// from; a shorter record cannot be protected (RFC 9147 §4.2.3).
const RecordNumberSample = 16

var errShortSample = errors.New("cipher: record shorter than the record number sample")

// NewRecordNumberKey derives the sn_key of a DTLS 1.3 traffic secret.
func (l Labels) NewRecordNumberKey(s *Suite, secret []byte) (*RecordNumberKey, error) {
	var buf [64]byte
	key := l.appendExpandLabel(buf[:0], s.Hash, secret, "sn", nil, s.KeyLen)
	k := &RecordNumberKey{}
	if s.chacha {
		for i := range k.chacha {
			k.chacha[i] = binary.LittleEndian.Uint32(key[4*i:])
		}
		return k, nil
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	k.block = block
	return k, nil
}

// Apply XORs seq (the 1 or 2 record number bytes of a header) with the
// mask of the record whose ciphertext starts with sample; applied twice
// it restores them. It fails when sample is shorter than
// RecordNumberSample.
func (k *RecordNumberKey) Apply(seq, sample []byte) error {
	if len(sample) < RecordNumberSample {
		return errShortSample
	}
	if k.block != nil {
		k.block.Encrypt(k.mask[:], sample[:16])
	} else {
		k.mask = k.chachaMask(sample)
	}
	for i := range seq {
		seq[i] ^= k.mask[i]
	}
	return nil
}

// chachaMask is the first 16 bytes of the ChaCha20 block (RFC 8439 §2.3)
// whose counter is sample[0:4] and nonce sample[4:16], little-endian.
func (k *RecordNumberKey) chachaMask(sample []byte) [16]byte {
	var in [16]uint32
	in[0], in[1], in[2], in[3] = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	copy(in[4:12], k.chacha[:])
	for i := range 4 {
		in[12+i] = binary.LittleEndian.Uint32(sample[4*i:])
	}
	x := in
	for range 10 {
		quarterRound(&x, 0, 4, 8, 12)
		quarterRound(&x, 1, 5, 9, 13)
		quarterRound(&x, 2, 6, 10, 14)
		quarterRound(&x, 3, 7, 11, 15)
		quarterRound(&x, 0, 5, 10, 15)
		quarterRound(&x, 1, 6, 11, 12)
		quarterRound(&x, 2, 7, 8, 13)
		quarterRound(&x, 3, 4, 9, 14)
	}
	var mask [16]byte
	for i := range 4 {
		binary.LittleEndian.PutUint32(mask[4*i:], x[i]+in[i])
	}
	return mask
}

// quarterRound is ChaCha's quarter round (RFC 8439 §2.1) on words a, b,
// c and d of x.
func quarterRound(x *[16]uint32, a, b, c, d int) {
	x[a] += x[b]
	x[d] = bits.RotateLeft32(x[d]^x[a], 16)
	x[c] += x[d]
	x[b] = bits.RotateLeft32(x[b]^x[c], 12)
	x[a] += x[b]
	x[d] = bits.RotateLeft32(x[d]^x[a], 8)
	x[c] += x[d]
	x[b] = bits.RotateLeft32(x[b]^x[c], 7)
}

// SealSeq encrypts plaintext as the record numbered seq, with additional
// data ad, appending to dst: the nonce of a DTLS 1.3 record, whose
// number travels with it (RFC 9147 §4), is the IV XOR that number.
func (st *State) SealSeq(dst []byte, seq uint64, ad, plaintext []byte) []byte {
	st.setNonce(seq)
	return st.aead.Seal(dst, st.nonce[:], plaintext, ad)
}

// OpenSeq decrypts the record numbered seq, as SealSeq sealed it.
func (st *State) OpenSeq(dst []byte, seq uint64, ad, ciphertext []byte) ([]byte, error) {
	st.setNonce(seq)
	out, err := st.aead.Open(dst, st.nonce[:], ciphertext, ad)
	if err != nil {
		return nil, errOpen
	}
	return out, nil
}
