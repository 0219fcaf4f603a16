package cipher

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPRF12Vector checks prf12 against the widely published TLS 1.2 PRF
// (SHA-256) test vector.
func TestPRF12Vector(t *testing.T) {
	secret := unhex(t, "9bbe436ba940f017b17652849a71db35")
	seed := unhex(t, "a0ba9f936cda311827a6f796ffd5198c")
	want := unhex(t, "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"+
		"6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"+
		"4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"+
		"87347b66")
	require.Equal(t, want, prf12(crypto.SHA256, secret, "test label", seed, 100))
	// Shorter outputs are prefixes of longer ones.
	for _, n := range []int{0, 1, 31, 32, 33, 64} {
		require.Equal(t, want[:n], prf12(crypto.SHA256, secret, "test label", seed, n))
	}
}

func TestSuites12(t *testing.T) {
	want := []struct {
		id          uint16
		name        string
		hash        crypto.Hash
		key, iv, ex int
		ecdsa       bool
	}{
		{0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", crypto.SHA256, 16, 4, 8, true},
		{0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", crypto.SHA256, 16, 4, 8, false},
		{0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", crypto.SHA384, 32, 4, 8, true},
		{0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", crypto.SHA384, 32, 4, 8, false},
		{0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", crypto.SHA256, 32, 12, 0, true},
		{0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", crypto.SHA256, 32, 12, 0, false},
	}
	ids := TLS12Suites()
	require.Len(t, ids, len(want))
	for i, w := range want {
		require.Equal(t, w.id, ids[i], "preference order")
		s := SuiteByID(w.id)
		require.NotNil(t, s)
		require.Equal(t, w.name, s.Name)
		require.Equal(t, w.name, SuiteName(w.id))
		require.Equal(t, w.hash, s.Hash)
		require.Equal(t, w.key, s.KeyLen)
		require.Equal(t, w.iv, s.FixedIVLen)
		require.Equal(t, w.ex, s.ExplicitNonceLen)
		require.Equal(t, w.ecdsa, s.ECDSA)
		require.False(t, s.TLS13)
	}
	for _, id := range TLS13Suites() {
		s := SuiteByID(id)
		require.True(t, s.TLS13)
		require.Zero(t, s.FixedIVLen)
		require.Zero(t, s.ExplicitNonceLen)
	}
	require.Equal(t, "0xc009", SuiteName(0xc009))
}

func TestDerivations12(t *testing.T) {
	pm := bytes.Repeat([]byte{1}, 32)
	cr := bytes.Repeat([]byte{2}, 32)
	sr := bytes.Repeat([]byte{3}, 32)
	h := crypto.SHA384

	ms := MasterSecret12(h, pm, cr, sr)
	require.Equal(t, prf12(h, pm, "master secret", append(append([]byte{}, cr...), sr...), 48), ms)
	sessionHash := bytes.Repeat([]byte{4}, 48)
	ems := ExtendedMasterSecret12(h, pm, sessionHash)
	require.Equal(t, prf12(h, pm, "extended master secret", sessionHash, 48), ems)
	require.NotEqual(t, ms, ems)

	require.Equal(t, prf12(h, ms, "server finished", sessionHash, 12), VerifyData12(h, ms, LabelServerFinished, sessionHash))

	s := SuiteByID(TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
	kb := prf12(h, ms, "key expansion", append(append([]byte{}, sr...), cr...), 2*32+2*4)
	ck, sk, civ, siv := KeyBlock12(s, ms, cr, sr)
	require.Equal(t, kb[:32], ck)
	require.Equal(t, kb[32:64], sk)
	require.Equal(t, kb[64:68], civ)
	require.Equal(t, kb[68:72], siv)
	_ = append(ck, 0xff) // must not run into serverKey
	require.Equal(t, kb[32:64], sk)

	// No context, empty context and a context are three different seeds.
	none := ExportKeyingMaterial12(h, ms, cr, sr, "EXPERIMENTAL x", nil, false, 20)
	empty := ExportKeyingMaterial12(h, ms, cr, sr, "EXPERIMENTAL x", nil, true, 20)
	ctx := ExportKeyingMaterial12(h, ms, cr, sr, "EXPERIMENTAL x", []byte("ab"), true, 20)
	seed := append(append([]byte{}, cr...), sr...)
	require.Equal(t, prf12(h, ms, "EXPERIMENTAL x", seed, 20), none)
	require.Equal(t, prf12(h, ms, "EXPERIMENTAL x", append(seed, 0, 0), 20), empty)
	require.Equal(t, prf12(h, ms, "EXPERIMENTAL x", append(seed, 0, 2, 'a', 'b'), 20), ctx)
	require.Panics(t, func() {
		ExportKeyingMaterial12(h, ms, cr, sr, "x", make([]byte, 1<<16), true, 20)
	})
}

func TestNewState12Errors(t *testing.T) {
	gcm := SuiteByID(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
	_, err := NewState12(gcm, make([]byte, 16), make([]byte, 4))
	require.NoError(t, err)
	_, err = NewState12(gcm, make([]byte, 32), make([]byte, 4))
	require.Error(t, err, "AES-256 key for an AES-128 suite")
	_, err = NewState12(gcm, make([]byte, 16), make([]byte, 12))
	require.Error(t, err)
	_, err = NewState12(SuiteByID(TLS_AES_128_GCM_SHA256), make([]byte, 16), make([]byte, 4))
	require.Error(t, err)
}

func ad12(seq uint64, typ uint8, version uint16, n int) []byte {
	ad := binary.BigEndian.AppendUint64(nil, seq)
	ad = append(ad, typ)
	ad = binary.BigEndian.AppendUint16(ad, version)
	return binary.BigEndian.AppendUint16(ad, uint16(n))
}

// TestNonce12 checks the nonce and additional data layouts against the
// suite's AEAD used directly.
func TestNonce12(t *testing.T) {
	// AES-GCM: fixed IV || explicit, explicit = big-endian sequence.
	gcm := SuiteByID(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
	key := unhex(t, "000102030405060708090a0b0c0d0e0f")
	fixed := unhex(t, "a0a1a2a3")
	w, err := NewState12(gcm, key, fixed)
	require.NoError(t, err)
	require.Equal(t, 8, w.ExplicitNonceLen())
	aead, err := gcm.NewAEAD(key)
	require.NoError(t, err)
	for seq := uint64(0); seq < 3; seq++ {
		out, err := w.Seal12([]byte("hdr"), 23, 0x0303, []byte("hello"))
		require.NoError(t, err)
		require.Equal(t, "hdr", string(out[:3]))
		explicit := binary.BigEndian.AppendUint64(nil, seq)
		require.Equal(t, explicit, out[3:11])
		nonce := append(append([]byte{}, fixed...), explicit...)
		pt, err := aead.Open(nil, nonce, out[11:], ad12(seq, 23, 0x0303, 5))
		require.NoError(t, err)
		require.Equal(t, "hello", string(pt))
	}

	// A peer may pick any explicit nonce; Open12 uses the one it sent while
	// the additional data still carries our sequence number.
	r, err := NewState12(gcm, key, fixed)
	require.NoError(t, err)
	explicit := unhex(t, "f0e1d2c3b4a59687")
	frag := aead.Seal(append([]byte{}, explicit...), append(append([]byte{}, fixed...), explicit...), []byte("odd"), ad12(0, 22, 0x0303, 3))
	pt, err := r.Open12(nil, 22, 0x0303, frag)
	require.NoError(t, err)
	require.Equal(t, "odd", string(pt))
	require.Equal(t, uint64(1), r.Seq())

	// ChaCha20-Poly1305: IV XOR padded sequence, nothing explicit.
	cc := SuiteByID(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
	key = bytes.Repeat([]byte{9}, 32)
	iv := unhex(t, "000102030405060708090a0b")
	w, err = NewState12(cc, key, iv)
	require.NoError(t, err)
	require.Zero(t, w.ExplicitNonceLen())
	aead, err = cc.NewAEAD(key)
	require.NoError(t, err)
	_, _ = w.Seal12(nil, 23, 0x0303, nil)
	out, err := w.Seal12(nil, 21, 0x0303, []byte{1, 0})
	require.NoError(t, err)
	require.Len(t, out, 2+16)
	pt, err = aead.Open(nil, unhex(t, "000102030405060708090a0a"), out, ad12(1, 21, 0x0303, 2))
	require.NoError(t, err)
	require.Equal(t, []byte{1, 0}, pt)
}

func TestSealOpen12AllSuites(t *testing.T) {
	for _, id := range TLS12Suites() {
		s := SuiteByID(id)
		key := bytes.Repeat([]byte{5}, s.KeyLen)
		iv := bytes.Repeat([]byte{6}, s.FixedIVLen)
		w, err := NewState12(s, key, iv)
		require.NoError(t, err)
		r, err := NewState12(s, key, iv)
		require.NoError(t, err)
		for i := 0; i < 3; i++ {
			frag, err := w.Seal12(nil, 23, 0x0303, []byte("hello"))
			require.NoError(t, err)
			require.Len(t, frag, s.ExplicitNonceLen+5+16)
			pt, err := r.Open12(frag[s.ExplicitNonceLen:s.ExplicitNonceLen], 23, 0x0303, frag)
			require.NoError(t, err, s.Name)
			require.Equal(t, "hello", string(pt))
		}
		// Wrong type in the additional data.
		frag, _ := w.Seal12(nil, 23, 0x0303, []byte("x"))
		_, err = r.Open12(nil, 22, 0x0303, frag)
		require.ErrorIs(t, err, errOpen)
		// Too short for explicit nonce and tag.
		_, err = r.Open12(nil, 23, 0x0303, make([]byte, s.ExplicitNonceLen+15))
		require.ErrorIs(t, err, errOpen)
		// Exhausted sequence.
		w.seq = ^uint64(0)
		_, err = w.Seal12(nil, 23, 0x0303, nil)
		require.ErrorIs(t, err, ErrSequenceExhausted)
	}
}

func TestSealOpen12Allocs(t *testing.T) {
	for _, id := range TLS12Suites() {
		s := SuiteByID(id)
		w, err := NewState12(s, make([]byte, s.KeyLen), make([]byte, s.FixedIVLen))
		require.NoError(t, err)
		r, err := NewState12(s, make([]byte, s.KeyLen), make([]byte, s.FixedIVLen))
		require.NoError(t, err)
		buf := make([]byte, 0, 8+1024+16)
		payload := make([]byte, 1024)
		allocs := testing.AllocsPerRun(50, func() {
			frag, err := w.Seal12(buf[:0], 23, 0x0303, payload)
			if err != nil {
				t.Fatal(err)
			}
			ex := s.ExplicitNonceLen
			if _, err := r.Open12(frag[ex:ex], 23, 0x0303, frag); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, s.Name)
	}
}

// TestPRF12MatchesHMAC checks the stack-buffer PRF against the one on
// crypto/hmac for both hashes, secrets around the block sizes, long seeds
// and outputs of several blocks.
func TestPRF12MatchesHMAC(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		for _, secretLen := range []int{0, 1, 32, 48, 64, 65, 128, 129, 200} {
			for _, seedLen := range []int{0, 32, 64, 150} {
				for _, n := range []int{1, 12, 48, 100, 136} {
					secret := bytes.Repeat([]byte{byte(secretLen)}, secretLen)
					seed := bytes.Repeat([]byte{byte(seedLen + 1)}, seedLen)
					want := prf12HMAC(h, secret, "key expansion", seed, n)
					require.Equal(t, want, prf12(h, secret, "key expansion", seed, n), "%v secret %d seed %d out %d", h, secretLen, seedLen, n)
				}
			}
		}
	}
}

// BenchmarkPRF12 is the TLS 1.2 PRF with SHA-256 for the outputs a
// handshake asks of it: a master secret, the key block of AES-128-GCM,
// the verify_data of a Finished.
func BenchmarkPRF12(b *testing.B) {
	secret, seed := make([]byte, 48), make([]byte, 64)
	for _, n := range []int{48, 40, 12} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				prf12(crypto.SHA256, secret, "key expansion", seed, n)
			}
		})
	}
}
