package cipher

import (
	"crypto"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestScheduleRFC8448 checks the key schedule against the "Simple 1-RTT
// Handshake" trace of RFC 8448 §3.
func TestScheduleRFC8448(t *testing.T) {
	s := TLS13Labels.NewSchedule(crypto.SHA256, nil)
	require.Equal(t, unhex(t, "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"), s.Secret())
	s.ToHandshake(unhex(t, "8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d"))
	require.Equal(t, unhex(t, "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac"), s.Secret())
	th := unhex(t, "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8")
	require.Equal(t, unhex(t, "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"), s.Derive(LabelClientHandshake, th))
	require.Equal(t, unhex(t, "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"), s.Derive(LabelServerHandshake, th))
	key, iv := TLS13Labels.trafficKeys(SuiteByID(TLS_AES_128_GCM_SHA256), s.Derive(LabelServerHandshake, th))
	require.Equal(t, unhex(t, "3fce516009c21727d0f2e4e86ee403bc"), key)
	require.Equal(t, unhex(t, "5d313eb2671276ee13000b30"), iv)
	s.ToMaster()
	require.Equal(t, unhex(t, "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919"), s.Secret())
}

func TestNonceFromSequence(t *testing.T) {
	suite := SuiteByID(TLS_AES_128_GCM_SHA256)
	key := make([]byte, 16)
	iv := unhex(t, "000102030405060708090a0b")
	st, err := newState(suite, key, iv)
	require.NoError(t, err)
	n, err := st.nextNonce()
	require.NoError(t, err)
	require.Equal(t, iv, n)
	n, err = st.nextNonce()
	require.NoError(t, err)
	require.Equal(t, unhex(t, "000102030405060708090a0a"), n)
	st.seq = ^uint64(0)
	_, err = st.Seal(nil, nil, []byte("x"))
	require.ErrorIs(t, err, ErrSequenceExhausted)
}

func TestSealOpenAllSuites(t *testing.T) {
	for _, id := range TLS13Suites() {
		s := SuiteByID(id)
		secret := make([]byte, s.Hash.Size())
		w, err := TLS13Labels.NewTrafficState(s, secret)
		require.NoError(t, err)
		r, err := TLS13Labels.NewTrafficState(s, secret)
		require.NoError(t, err)
		for i := 0; i < 3; i++ {
			ct, err := w.Seal(nil, []byte("ad"), []byte("hello"))
			require.NoError(t, err)
			pt, err := r.Open(ct[:0], []byte("ad"), ct)
			require.NoError(t, err, s.Name)
			require.Equal(t, "hello", string(pt))
		}
		ct, _ := w.Seal(nil, nil, []byte("x"))
		ct[0] ^= 1
		_, err = r.Open(nil, nil, ct)
		require.ErrorIs(t, err, errOpen)
	}
}

// TestOpenFailureKeepsSequence: a record that fails authentication does
// not consume a sequence number, so the next genuine one still opens.
func TestOpenFailureKeepsSequence(t *testing.T) {
	s := SuiteByID(TLS_AES_128_GCM_SHA256)
	w, err := newState(s, make([]byte, 16), make([]byte, nonceLen))
	require.NoError(t, err)
	r, err := newState(s, make([]byte, 16), make([]byte, nonceLen))
	require.NoError(t, err)
	_, err = r.Open(nil, nil, make([]byte, 40))
	require.ErrorIs(t, err, errOpen)
	require.Zero(t, r.Seq())
	sealed, err := w.Seal(nil, nil, []byte("first"))
	require.NoError(t, err)
	pt, err := r.Open(nil, nil, sealed)
	require.NoError(t, err)
	require.Equal(t, "first", string(pt))
	require.Equal(t, uint64(1), r.Seq())
}
