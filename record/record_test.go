package record

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
)

func testStates(t testing.TB) (w, r *cipher.State) {
	s := cipher.SuiteByID(cipher.TLS_AES_128_GCM_SHA256)
	secret := bytes.Repeat([]byte{7}, 32)
	w, err := cipher.TLS13Labels.NewTrafficState(s, secret)
	require.NoError(t, err)
	r, err = cipher.TLS13Labels.NewTrafficState(s, secret)
	require.NoError(t, err)
	return w, r
}

func TestStreamByteAtATime(t *testing.T) {
	var wire []byte
	wire = AppendPlain(wire, TypeHandshake, VersionTLS12, []byte("hello"))
	wire = AppendPlain(wire, TypeAlert, VersionTLS12, []byte{1, 0})
	wire = AppendPlain(wire, TypeApplicationData, VersionTLS12, bytes.Repeat([]byte{9}, 300))
	var r StreamReader
	var got []Record
	for i := range wire {
		r.Write(wire[i : i+1])
		for {
			rec, ok, err := r.Next()
			require.NoError(t, err)
			if !ok {
				break
			}
			rec.Payload = append([]byte(nil), rec.Payload...)
			got = append(got, rec)
		}
	}
	require.Len(t, got, 3)
	require.Equal(t, "hello", string(got[0].Payload))
	require.Equal(t, TypeAlert, got[1].Type)
	require.Len(t, got[2].Payload, 300)
	require.Equal(t, 0, r.Buffered())
}

func TestStreamLimits(t *testing.T) {
	var r StreamReader
	r.Write(AppendHeader(nil, TypeApplicationData, VersionTLS12, MaxCiphertext13+1))
	_, _, err := r.Next()
	require.ErrorIs(t, err, AlertRecordOverflow)

	var r2 StreamReader
	r2.Write([]byte{99, 3, 3, 0, 1, 0})
	_, _, err = r2.Next()
	require.ErrorIs(t, err, AlertUnexpectedMessage)
}

func TestSealOpen13(t *testing.T) {
	w, r := testStates(t)
	for _, pad := range []int{0, 1, 100} {
		wire, err := Seal13(nil, w, TypeHandshake, []byte("message"), pad)
		require.NoError(t, err)
		var sr StreamReader
		sr.Write(wire)
		rec, ok, err := sr.Next()
		require.True(t, ok)
		require.NoError(t, err)
		typ, pt, err := Open13(r, rec)
		require.NoError(t, err)
		require.Equal(t, TypeHandshake, typ)
		require.Equal(t, "message", string(pt))
	}
}

func TestOpen13Errors(t *testing.T) {
	w, r := testStates(t)
	wire, err := Seal13(nil, w, TypeApplicationData, []byte("x"), 0)
	require.NoError(t, err)
	wire[len(wire)-1] ^= 0x80
	var sr StreamReader
	sr.Write(wire)
	rec, _, _ := sr.Next()
	_, _, err = Open13(r, rec)
	require.ErrorIs(t, err, AlertBadRecordMAC)

	// All-zero inner plaintext: no content type.
	w, r = testStates(t)
	body, err := w.Seal(nil, AppendHeader(nil, TypeApplicationData, VersionTLS12, 4+16), []byte{0, 0, 0, 0})
	require.NoError(t, err)
	wire = append(AppendHeader(nil, TypeApplicationData, VersionTLS12, len(body)), body...)
	sr.Reset()
	sr.Write(wire)
	rec, _, _ = sr.Next()
	_, _, err = Open13(r, rec)
	require.ErrorIs(t, err, AlertUnexpectedMessage)

	// Inner plaintext over 2^14+1.
	w, r = testStates(t)
	big := make([]byte, MaxPlaintext+2)
	big[len(big)-1] = byte(TypeApplicationData)
	body, err = w.Seal(nil, AppendHeader(nil, TypeApplicationData, VersionTLS12, len(big)+16), big)
	require.NoError(t, err)
	wire = append(AppendHeader(nil, TypeApplicationData, VersionTLS12, len(body)), body...)
	sr.Reset()
	sr.Write(wire)
	rec, _, _ = sr.Next()
	_, _, err = Open13(r, rec)
	require.ErrorIs(t, err, AlertRecordOverflow)
}

func TestRecordPathAllocs(t *testing.T) {
	w, r := testStates(t)
	payload := make([]byte, MaxPlaintext)
	buf := make([]byte, 0, MaxCiphertext13+HeaderLen)
	var sr StreamReader
	sr.Write(make([]byte, 2*(MaxCiphertext13+HeaderLen)))
	sr.Reset()
	allocs := testing.AllocsPerRun(100, func() {
		wire, err := Seal13(buf[:0], w, TypeApplicationData, payload, 0)
		if err != nil {
			t.Fatal(err)
		}
		sr.Compact()
		sr.Write(wire)
		rec, ok, err := sr.Next()
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, _, err := Open13(r, rec); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func BenchmarkSealOpen16K(b *testing.B) {
	w, r := testStates(b)
	payload := make([]byte, MaxPlaintext)
	buf := make([]byte, 0, MaxCiphertext13+HeaderLen)
	var sr StreamReader
	b.SetBytes(MaxPlaintext)
	b.ReportAllocs()
	for b.Loop() {
		wire, _ := Seal13(buf[:0], w, TypeApplicationData, payload, 0)
		sr.Compact()
		sr.Write(wire)
		rec, _, _ := sr.Next()
		if _, _, err := Open13(r, rec); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStreamReaderRelease checks that Release keeps a partial record and
// drops only an empty buffer, after which reading goes on.
func TestStreamReaderRelease(t *testing.T) {
	rec := AppendPlain(nil, TypeHandshake, VersionTLS12, []byte("hello"))
	var r StreamReader
	r.Write(rec)
	r.Write(rec[:3])
	_, ok, err := r.Next()
	require.NoError(t, err)
	require.True(t, ok)
	r.Release()
	require.Equal(t, 3, r.Buffered(), "a partial record is kept")
	r.Write(rec[3:])
	got, ok, err := r.Next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "hello", string(got.Payload))
	r.Release()
	require.Nil(t, r.buf)
	r.Write(rec)
	got, ok, _ = r.Next()
	require.True(t, ok)
	require.Equal(t, "hello", string(got.Payload))
}

// TestStreamReaderInPlace checks that records are cut from lent input
// without a copy and that Detach keeps the unread rest, so the caller may
// reuse its buffer.
func TestStreamReaderInPlace(t *testing.T) {
	one := AppendPlain(nil, TypeHandshake, VersionTLS12, []byte("one"))
	two := AppendPlain(nil, TypeHandshake, VersionTLS12, []byte("two"))
	three := AppendPlain(nil, TypeHandshake, VersionTLS12, []byte("three"))
	in := append(append(append([]byte(nil), one...), two...), three[:4]...)
	var r StreamReader
	r.WriteInPlace(in)
	for i, want := range []string{"one", "two"} {
		rec, ok, err := r.Next()
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, string(rec.Payload))
		require.Same(t, &in[i*len(one)+HeaderLen], &rec.Payload[0], "read in place")
	}
	_, ok, err := r.Next()
	require.NoError(t, err)
	require.False(t, ok)
	r.Detach()
	clear(in) // the caller's buffer is its own again
	require.Equal(t, 4, r.Buffered())
	r.WriteInPlace(three[4:]) // something is buffered: copied
	rec, ok, err := r.Next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "three", string(rec.Payload))
	r.Detach()
}

// TestStreamReaderInPlaceTopUp checks that lent input which finishes a
// buffered record has only that record's missing bytes copied: the
// records after it are read where they lie.
func TestStreamReaderInPlaceTopUp(t *testing.T) {
	records := [][]byte{
		AppendPlain(nil, TypeApplicationData, VersionTLS12, []byte("first")),
		AppendPlain(nil, TypeApplicationData, VersionTLS12, []byte("second")),
		AppendPlain(nil, TypeApplicationData, VersionTLS12, []byte("third")),
	}
	stream := bytes.Join(records, nil)
	const cut = 7 // the first header and two bytes of its payload
	var r StreamReader
	r.WriteInPlace(bytes.Clone(stream[:cut]))
	_, ok, err := r.Next()
	require.NoError(t, err)
	require.False(t, ok)
	r.Detach()
	lent := bytes.Clone(stream[cut:])
	r.WriteInPlace(lent)
	at := 0
	for i, want := range []string{"first", "second", "third"} {
		got, ok, err := r.Next()
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, string(got.Payload))
		if i > 0 {
			require.Same(t, &lent[at-cut], &got.Header[0], "record %d read in place", i)
		}
		at += len(records[i])
	}
	r.Detach()
	require.Zero(t, r.Buffered())
}
