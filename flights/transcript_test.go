package flights

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTranscriptBuffersUntilSetHash(t *testing.T) {
	a, b := sampleClientHello().Append(nil), sampleServerHello().Append(nil)
	var tr Transcript
	require.Zero(t, tr.Hash())
	tr.Write(a)
	tr.SetHash(crypto.SHA256)
	tr.SetHash(crypto.SHA256) // repeating the same choice is harmless
	require.Equal(t, crypto.SHA256, tr.Hash())
	tr.Write(b)

	want := sha256.Sum256(cat(a, b))
	require.Equal(t, want[:], tr.Sum(nil))
	require.Equal(t, want[:], tr.Sum(nil), "Sum leaves the state alone")
	require.Equal(t, cat([]byte("x"), want[:]), tr.Sum([]byte("x")))
	require.Panics(t, func() { tr.SetHash(crypto.SHA384) })

	tr.Reset()
	require.Zero(t, tr.Hash())
	require.Panics(t, func() { tr.Sum(nil) })
}

func TestTranscriptHelloRetry(t *testing.T) {
	ch1 := sampleClientHello().Append(nil)
	hrr := sampleHelloRetryRequest().Append(nil)
	ch2 := sampleClientHello().Append(nil)

	var tr Transcript
	tr.Write(ch1)
	tr.SetHash(crypto.SHA384)
	tr.HelloRetry()
	tr.Write(hrr)
	tr.Write(ch2)

	inner := sha512.Sum384(ch1)
	synthetic := cat([]byte{byte(TypeMessageHash), 0, 0, 48}, inner[:])
	want := sha512.Sum384(cat(synthetic, hrr, ch2))
	require.Equal(t, want[:], tr.Sum(nil))

	var fresh Transcript
	require.Panics(t, fresh.HelloRetry)
}

func TestTranscriptSumWith(t *testing.T) {
	var tr Transcript
	tr.Write([]byte("one"))
	before := tr.SumWith(crypto.SHA256, []byte("two"))
	want := sha256.Sum256([]byte("onetwo"))
	require.Equal(t, want[:], before)
	tr.SetHash(crypto.SHA256)
	require.Equal(t, want[:], tr.SumWith(crypto.SHA256, []byte("two")))
	only := sha256.Sum256([]byte("one"))
	require.Equal(t, only[:], tr.Sum(nil), "SumWith leaves the state alone")
}

func TestTranscriptDigest(t *testing.T) {
	var tr Transcript
	tr.Write([]byte("first message"))
	tr.SetHash(crypto.SHA256)
	require.Equal(t, tr.Sum(nil), tr.Digest())
	first := bytes.Clone(tr.Digest())
	tr.Write([]byte("second message"))
	require.Equal(t, tr.Sum(nil), tr.Digest())
	require.NotEqual(t, first, tr.Digest())
	allocs := testing.AllocsPerRun(10, func() { tr.Digest() })
	require.Zero(t, allocs, "Digest uses the Transcript's own buffer")
}

// TestTranscriptDropDTLSFields: a DTLS 1.3 transcript, fed DTLS messages
// before and after the hash is chosen, hashes them as their TLS forms.
func TestTranscriptDropDTLSFields(t *testing.T) {
	msgs := [][]byte{{1, 0, 0, 3, 'a', 'b', 'c'}, {2, 0, 0, 0}, {8, 0, 0, 2, 'x', 'y'}}
	var want, got Transcript
	want.SetHash(crypto.SHA256)
	for i, m := range msgs {
		want.Write(m)
		dtls := ToDTLS(nil, m, uint16(i))
		if i == 1 {
			got.DropDTLSFields()
			got.SetHash(crypto.SHA256)
		}
		got.Write(dtls)
	}
	if !bytes.Equal(got.Digest(), want.Digest()) {
		t.Fatal("the DTLS messages were hashed with their DTLS fields")
	}
}
