package cipher

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// dtlsSeq joins a DTLS epoch and 48-bit sequence number as they enter the
// nonce and additional data.
func dtlsSeq(epoch uint16, seq uint64) uint64 { return uint64(epoch)<<48 | seq }

// TestNonceAt checks the SealAt nonce and additional data layouts against
// the suite's AEAD used directly.
func TestNonceAt(t *testing.T) {
	seq := dtlsSeq(3, 0x0000_0102_0304_0506)

	// AES-GCM: the explicit nonce is the full epoch || sequence_number.
	gcm := SuiteByID(TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
	key := bytes.Repeat([]byte{4}, 32)
	fixed := unhex(t, "a0a1a2a3")
	st, err := NewState12(gcm, key, fixed)
	require.NoError(t, err)
	aead, err := gcm.NewAEAD(key)
	require.NoError(t, err)
	out, err := st.SealAt([]byte("hdr"), seq, 23, 0xfefd, []byte("hello"))
	require.NoError(t, err)
	require.Equal(t, "hdr", string(out[:3]))
	require.Equal(t, unhex(t, "0003010203040506"), out[3:11])
	pt, err := aead.Open(nil, unhex(t, "a0a1a2a30003010203040506"), out[11:], ad12(seq, 23, 0xfefd, 5))
	require.NoError(t, err)
	require.Equal(t, "hello", string(pt))
	require.Zero(t, st.Seq(), "SealAt leaves the counter alone")

	// ChaCha20-Poly1305: IV XOR epoch || sequence_number, nothing explicit.
	cc := SuiteByID(TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)
	key = bytes.Repeat([]byte{9}, 32)
	st, err = NewState12(cc, key, unhex(t, "000102030405060708090a0b"))
	require.NoError(t, err)
	aead, err = cc.NewAEAD(key)
	require.NoError(t, err)
	out, err = st.SealAt(nil, seq, 22, 0xfefd, []byte("hi"))
	require.NoError(t, err)
	require.Len(t, out, 2+16)
	pt, err = aead.Open(nil, unhex(t, "00010203040607050b0d0f0d"), out, ad12(seq, 22, 0xfefd, 2))
	require.NoError(t, err)
	require.Equal(t, "hi", string(pt))

	// SealAt is Seal12 with the sequence number given.
	for _, id := range TLS12Suites() {
		s := SuiteByID(id)
		a, err := NewState12(s, make([]byte, s.KeyLen), make([]byte, s.FixedIVLen))
		require.NoError(t, err)
		b, err := NewState12(s, make([]byte, s.KeyLen), make([]byte, s.FixedIVLen))
		require.NoError(t, err)
		for i := uint64(0); i < 3; i++ {
			want, err := a.Seal12(nil, 23, 0x0303, []byte("same"))
			require.NoError(t, err)
			got, err := b.SealAt(nil, i, 23, 0x0303, []byte("same"))
			require.NoError(t, err)
			require.Equal(t, want, got, s.Name)
		}
	}
}

func TestSealOpenAtAllSuites(t *testing.T) {
	seqs := []uint64{
		dtlsSeq(0, 0), dtlsSeq(0, 1), dtlsSeq(1, 0), dtlsSeq(1, 7),
		dtlsSeq(2, 1<<32), dtlsSeq(0xffff, 1<<48-1), ^uint64(0),
	}
	for _, id := range TLS12Suites() {
		s := SuiteByID(id)
		key := bytes.Repeat([]byte{5}, s.KeyLen)
		iv := bytes.Repeat([]byte{6}, s.FixedIVLen)
		w, err := NewState12(s, key, iv)
		require.NoError(t, err)
		r, err := NewState12(s, key, iv)
		require.NoError(t, err)
		frags := make([][]byte, len(seqs))
		for i, seq := range seqs {
			frags[i], err = w.SealAt(nil, seq, 23, 0xfefd, binary.BigEndian.AppendUint64(nil, seq))
			require.NoError(t, err)
			require.Len(t, frags[i], s.ExplicitNonceLen+8+16)
		}
		// Open in reverse order, each twice: the counter plays no part.
		for i := len(seqs) - 1; i >= 0; i-- {
			for range 2 {
				frag := bytes.Clone(frags[i])
				ex := s.ExplicitNonceLen
				pt, err := r.OpenAt(frag[ex:ex], seqs[i], 23, 0xfefd, frag)
				require.NoError(t, err, s.Name)
				require.Equal(t, seqs[i], binary.BigEndian.Uint64(pt))
			}
		}
		require.Zero(t, r.Seq())
		require.Zero(t, w.Seq())

		// Wrong sequence number, type or version in the additional data.
		_, err = r.OpenAt(nil, seqs[1], 23, 0xfefd, frags[0])
		require.ErrorIs(t, err, errOpen)
		_, err = r.OpenAt(nil, seqs[0], 22, 0xfefd, frags[0])
		require.ErrorIs(t, err, errOpen)
		_, err = r.OpenAt(nil, seqs[0], 23, 0xfeff, frags[0])
		require.ErrorIs(t, err, errOpen)
		// Too short for explicit nonce and tag.
		_, err = r.OpenAt(nil, 0, 23, 0xfefd, make([]byte, s.ExplicitNonceLen+15))
		require.ErrorIs(t, err, errOpen)
		// A failed open leaves the state usable.
		pt, err := r.OpenAt(nil, seqs[0], 23, 0xfefd, frags[0])
		require.NoError(t, err)
		require.Len(t, pt, 8)

		// The length field of the additional data bounds the plaintext.
		out, err := w.SealAt([]byte("x"), 0, 23, 0xfefd, make([]byte, 0x10000))
		require.ErrorIs(t, err, errTooLong)
		require.Equal(t, "x", string(out))
	}
}

func TestSealOpenAtAllocs(t *testing.T) {
	for _, id := range TLS12Suites() {
		s := SuiteByID(id)
		w, err := NewState12(s, make([]byte, s.KeyLen), make([]byte, s.FixedIVLen))
		require.NoError(t, err)
		r, err := NewState12(s, make([]byte, s.KeyLen), make([]byte, s.FixedIVLen))
		require.NoError(t, err)
		buf := make([]byte, 0, 8+1024+16)
		payload := make([]byte, 1024)
		seq := dtlsSeq(1, 0)
		allocs := testing.AllocsPerRun(50, func() {
			seq++
			frag, err := w.SealAt(buf[:0], seq, 23, 0xfefd, payload)
			if err != nil {
				t.Fatal(err)
			}
			ex := s.ExplicitNonceLen
			if _, err := r.OpenAt(frag[ex:ex], seq, 23, 0xfefd, frag); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, s.Name)
	}
}

// TestSealCID checks the Connection ID additional data (RFC 9146 §5)
// against the suite's AEAD used directly, and that OpenCID undoes SealCID
// only under the same CID, header fields and length.
func TestSealCID(t *testing.T) {
	seq := dtlsSeq(1, 0x0000_0000_0000_0007)
	gcm := SuiteByID(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
	key := bytes.Repeat([]byte{5}, 16)
	fixed := unhex(t, "b0b1b2b3")
	st, err := NewState12(gcm, key, fixed)
	require.NoError(t, err)
	aead, err := gcm.NewAEAD(key)
	require.NoError(t, err)
	cid := []byte{0xc1, 0xd2, 0xe3}
	inner := []byte("data\x17\x00\x00") // content, real type, padding
	out, err := st.SealCID(nil, seq, 25, 0xfefd, cid, inner)
	require.NoError(t, err)
	require.Equal(t, unhex(t, "0001000000000007"), out[:8], "the explicit nonce is epoch || sequence_number")
	ad := unhex(t, "ffffffffffffffff"+"19"+"03"+"19"+"fefd"+"0001000000000007"+"c1d2e3"+"0007")
	pt, err := aead.Open(nil, unhex(t, "b0b1b2b30001000000000007"), out[8:], ad)
	require.NoError(t, err)
	require.Equal(t, inner, pt)

	got, err := st.OpenCID(nil, seq, 25, 0xfefd, cid, out)
	require.NoError(t, err)
	require.Equal(t, inner, got)
	for name, open := range map[string]func() ([]byte, error){
		"cid":     func() ([]byte, error) { return st.OpenCID(nil, seq, 25, 0xfefd, []byte{0xc1, 0xd2, 0xe4}, out) },
		"cid len": func() ([]byte, error) { return st.OpenCID(nil, seq, 25, 0xfefd, cid[:2], out) },
		"seq":     func() ([]byte, error) { return st.OpenCID(nil, seq+1, 25, 0xfefd, cid, out) },
		"version": func() ([]byte, error) { return st.OpenCID(nil, seq, 25, 0xfeff, cid, out) },
		"type":    func() ([]byte, error) { return st.OpenCID(nil, seq, 23, 0xfefd, cid, out) },
		"short":   func() ([]byte, error) { return st.OpenCID(nil, seq, 25, 0xfefd, cid, out[:20]) },
	} {
		_, err := open()
		require.ErrorIs(t, err, errOpen, name)
	}
	allocs := testing.AllocsPerRun(50, func() {
		out, _ = st.SealCID(out[:0], seq, 25, 0xfefd, cid, inner)
		st.OpenCID(out[8:8], seq, 25, 0xfefd, cid, out)
	})
	require.Zero(t, allocs)
}
