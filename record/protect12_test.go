package record

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
)

func testStates12(t testing.TB, id uint16) (w, r *cipher.State) {
	s := cipher.SuiteByID(id)
	key := bytes.Repeat([]byte{7}, s.KeyLen)
	iv := bytes.Repeat([]byte{8}, s.FixedIVLen)
	w, err := cipher.NewState12(s, key, iv)
	require.NoError(t, err)
	r, err = cipher.NewState12(s, key, iv)
	require.NoError(t, err)
	return w, r
}

// read12 feeds wire to a StreamReader set up for TLS 1.2 and returns the
// one record it holds.
func read12(t *testing.T, wire []byte) Record {
	t.Helper()
	sr := StreamReader{MaxFragment: MaxCiphertext12}
	sr.Write(wire)
	rec, ok, err := sr.Next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Zero(t, sr.Buffered())
	return rec
}

func TestSealOpen12(t *testing.T) {
	for _, id := range cipher.TLS12Suites() {
		s := cipher.SuiteByID(id)
		t.Run(s.Name, func(t *testing.T) {
			w, r := testStates12(t, id)
			for _, n := range []int{0, 1, 100, MaxPlaintext} {
				payload := bytes.Repeat([]byte{byte(n)}, n)
				prefix := []byte("earlier bytes")
				wire, err := Seal12(prefix, w, TypeApplicationData, VersionTLS12, payload)
				require.NoError(t, err)
				require.Equal(t, "earlier bytes", string(wire[:len(prefix)]))
				wire = wire[len(prefix):]
				require.Len(t, wire, HeaderLen+s.ExplicitNonceLen+n+16)
				require.Equal(t, []byte{23, 3, 3}, wire[:3])
				require.Equal(t, len(wire)-HeaderLen, int(binary.BigEndian.Uint16(wire[3:5])))
				if s.ExplicitNonceLen > 0 {
					require.Equal(t, w.Seq()-1, binary.BigEndian.Uint64(wire[HeaderLen:]), "explicit nonce is the sequence number")
				}
				pt, err := Open12(r, read12(t, wire))
				require.NoError(t, err)
				require.Equal(t, payload, pt)
			}
			// Other content types and versions enter the additional data.
			wire, err := Seal12(nil, w, TypeHandshake, VersionTLS10, []byte("finished"))
			require.NoError(t, err)
			pt, err := Open12(r, read12(t, wire))
			require.NoError(t, err)
			require.Equal(t, "finished", string(pt))
		})
	}
}

func TestOpen12Errors(t *testing.T) {
	for _, id := range cipher.TLS12Suites() {
		s := cipher.SuiteByID(id)
		t.Run(s.Name, func(t *testing.T) {
			// Every byte of the fragment and the authenticated header
			// fields are covered.
			w, _ := testStates12(t, id)
			wire, err := Seal12(nil, w, TypeApplicationData, VersionTLS12, []byte("secret"))
			require.NoError(t, err)
			for i := range wire {
				if i == 3 || i == 4 {
					continue // the length: a different record altogether
				}
				_, r := testStates12(t, id)
				bad := bytes.Clone(wire)
				bad[i] ^= 0x40
				rec := Record{Type: ContentType(bad[0]), Version: binary.BigEndian.Uint16(bad[1:3]), Header: bad[:HeaderLen], Payload: bad[HeaderLen:]}
				_, err := Open12(r, rec)
				require.ErrorIs(t, err, AlertBadRecordMAC, "byte %d", i)
			}

			// Out of order: the sequence number is in the additional data.
			w, r := testStates12(t, id)
			_, err = Seal12(nil, w, TypeApplicationData, VersionTLS12, []byte("first"))
			require.NoError(t, err)
			wire, err = Seal12(nil, w, TypeApplicationData, VersionTLS12, []byte("second"))
			require.NoError(t, err)
			_, err = Open12(r, read12(t, wire))
			require.ErrorIs(t, err, AlertBadRecordMAC)

			// Shorter than explicit nonce and tag, down to empty.
			for _, n := range []int{0, 1, s.ExplicitNonceLen, s.ExplicitNonceLen + 15} {
				_, r := testStates12(t, id)
				wire := AppendPlain(nil, TypeApplicationData, VersionTLS12, make([]byte, n))
				_, err := Open12(r, read12(t, wire))
				require.ErrorIs(t, err, AlertBadRecordMAC, "length %d", n)
			}

			// A fragment over 2^14+2048.
			_, r = testStates12(t, id)
			_, err = Open12(r, Record{Type: TypeApplicationData, Version: VersionTLS12, Payload: make([]byte, MaxCiphertext12+1)})
			require.ErrorIs(t, err, AlertRecordOverflow)
			require.Zero(t, r.Seq(), "rejected before decryption")

			// A correctly protected plaintext over 2^14.
			w, r = testStates12(t, id)
			frag, err := w.Seal12(nil, uint8(TypeApplicationData), VersionTLS12, make([]byte, MaxPlaintext+1))
			require.NoError(t, err)
			wire = append(AppendHeader(nil, TypeApplicationData, VersionTLS12, len(frag)), frag...)
			_, err = Open12(r, read12(t, wire))
			require.ErrorIs(t, err, AlertRecordOverflow)

			// Sealing more than 2^14 bytes is refused.
			w, _ = testStates12(t, id)
			out, err := Seal12([]byte("x"), w, TypeApplicationData, VersionTLS12, make([]byte, MaxPlaintext+1))
			require.ErrorIs(t, err, AlertInternalError)
			require.Equal(t, "x", string(out))
			require.Zero(t, w.Seq())
		})
	}
}

func TestRecordPath12Allocs(t *testing.T) {
	for _, id := range cipher.TLS12Suites() {
		w, r := testStates12(t, id)
		payload := make([]byte, MaxPlaintext)
		buf := make([]byte, 0, HeaderLen+8+MaxPlaintext+16)
		sr := StreamReader{MaxFragment: MaxCiphertext12}
		sr.Write(make([]byte, 2*(MaxCiphertext12+HeaderLen)))
		sr.Reset()
		allocs := testing.AllocsPerRun(100, func() {
			wire, err := Seal12(buf[:0], w, TypeApplicationData, VersionTLS12, payload)
			if err != nil {
				t.Fatal(err)
			}
			if &wire[0] != &buf[:1][0] {
				t.Fatal("Seal12 moved the buffer")
			}
			sr.Compact()
			sr.Write(wire)
			rec, ok, err := sr.Next()
			if !ok || err != nil {
				t.Fatal(ok, err)
			}
			if _, err := Open12(r, rec); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, cipher.SuiteName(id))
	}
}

func BenchmarkSealOpen12_16K(b *testing.B) {
	for _, id := range cipher.TLS12Suites() {
		b.Run(cipher.SuiteName(id), func(b *testing.B) {
			w, r := testStates12(b, id)
			payload := make([]byte, MaxPlaintext)
			buf := make([]byte, 0, HeaderLen+8+MaxPlaintext+16)
			sr := StreamReader{MaxFragment: MaxCiphertext12}
			b.SetBytes(MaxPlaintext)
			b.ReportAllocs()
			for b.Loop() {
				wire, _ := Seal12(buf[:0], w, TypeApplicationData, VersionTLS12, payload)
				sr.Compact()
				sr.Write(wire)
				rec, _, _ := sr.Next()
				if _, err := Open12(r, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
