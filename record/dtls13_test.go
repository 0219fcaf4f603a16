package record

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tlsm/tlsm/cipher"
)

// dtls13Keys returns a write and a read state and their record number
// keys for suite, from one secret.
func dtls13Keys(t testing.TB, suite uint16) (w, r *cipher.State, wsn, rsn *cipher.RecordNumberKey) {
	t.Helper()
	s := cipher.SuiteByID(suite)
	secret := bytes.Repeat([]byte{0x42}, s.Hash.Size())
	var err error
	if w, err = cipher.DTLS13Labels.NewTrafficState(s, secret); err != nil {
		t.Fatal(err)
	}
	r, _ = cipher.DTLS13Labels.NewTrafficState(s, secret)
	wsn, _ = cipher.DTLS13Labels.NewRecordNumberKey(s, secret)
	rsn, _ = cipher.DTLS13Labels.NewRecordNumberKey(s, secret)
	return w, r, wsn, rsn
}

// TestDTLS13RoundTrip: every header form (connection ID or not, 8- or
// 16-bit record number, length or not) seals and opens, in every suite;
// the record number travels protected and is reconstructed; several
// records share a datagram when they carry lengths.
func TestDTLS13RoundTrip(t *testing.T) {
	for _, suite := range cipher.TLS13Suites() {
		for _, cid := range [][]byte{nil, {1, 2, 3, 4}} {
			for _, seqLen := range []int{1, 2} {
				for _, withLength := range []bool{true, false} {
					name := fmt.Sprintf("%s/cid%d/seq%d/len%v", cipher.SuiteName(suite), len(cid), 8*seqLen, withLength)
					t.Run(name, func(t *testing.T) {
						w, r, wsn, rsn := dtls13Keys(t, suite)
						const epoch, seq = 3, 0x1234_5678
						var dg []byte
						var err error
						if withLength {
							dg, err = sealDTLS13(dg, w, wsn, TypeHandshake, epoch, seq-1, cid, []byte("first"), seqLen, true)
							if err != nil {
								t.Fatal(err)
							}
						}
						dg, err = sealDTLS13(dg, w, wsn, TypeApplicationData, epoch, seq, cid, []byte("second"), seqLen, withLength)
						if err != nil {
							t.Fatal(err)
						}
						var got []string
						for len(dg) > 0 {
							rec, rest, err := ParseDTLS13Record(dg, len(cid))
							if err != nil {
								t.Fatal(err)
							}
							if rec.EpochBits != epoch&3 || !bytes.Equal(rec.CID, cid) {
								t.Fatalf("epoch bits %d CID %x", rec.EpochBits, rec.CID)
							}
							low, bits, err := rec.RecordNumber(rsn)
							if err != nil {
								t.Fatal(err)
							}
							full := ReconstructSeq(seq, low, bits)
							typ, content, err := OpenDTLS13(r, &rec, full)
							if err != nil {
								t.Fatalf("open record %d: %v", full, err)
							}
							got = append(got, fmt.Sprintf("%d:%d:%s", full, typ, content))
							dg = rest
						}
						want := []string{fmt.Sprintf("%d:23:second", seq)}
						if withLength {
							want = append([]string{fmt.Sprintf("%d:22:first", seq-1)}, want...)
						}
						if fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("got %v, want %v", got, want)
						}
					})
				}
			}
		}
	}
}

// TestDTLS13Tampering: a record whose header (epoch bits, flags, CID,
// record number) or ciphertext changed does not open, nor one opened
// under another record number.
func TestDTLS13Tampering(t *testing.T) {
	w, r, wsn, rsn := dtls13Keys(t, cipher.TLS_AES_128_GCM_SHA256)
	cid := []byte{9, 9}
	sealed, err := SealDTLS13(nil, w, wsn, TypeApplicationData, 2, 77, cid, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80} {
			dg := bytes.Clone(sealed)
			dg[i] ^= flip
			rec, _, err := ParseDTLS13Record(dg, len(cid))
			if err != nil {
				continue // no longer a record: dropped
			}
			low, bits, err := rec.RecordNumber(rsn)
			if err != nil {
				continue
			}
			if _, _, err := OpenDTLS13(r, &rec, ReconstructSeq(77, low, bits)); err == nil {
				t.Fatalf("byte %d ^ %#x: opened", i, flip)
			}
		}
	}
	rec, _, _ := ParseDTLS13Record(bytes.Clone(sealed), len(cid))
	if _, _, err := OpenDTLS13(r, &rec, 77); err == nil {
		t.Fatal("opened with its record number still protected")
	}
	rec.RecordNumber(rsn)
	if _, _, err := OpenDTLS13(r, &rec, 77+1<<16); err == nil {
		t.Fatal("opened under another record number with the same low bits")
	}
}

// TestParseDTLS13Errors: what cannot be a unified header is refused.
func TestParseDTLS13Errors(t *testing.T) {
	for name, tc := range map[string]struct {
		dg     []byte
		cidLen int
	}{
		"empty":              {nil, 0},
		"a DTLSPlaintext":    {[]byte{22, 0xfe, 0xfd, 0, 0}, 0},
		"CID not negotiated": {[]byte{0x3c, 1, 2, 3, 0, 1, 0}, 0},
		"CID cut short":      {[]byte{0x3c, 1}, 4},
		"record number cut":  {[]byte{0x28}, 0},
		"length cut":         {[]byte{0x2c, 0, 1, 0}, 0},
		"length past end":    {[]byte{0x2c, 0, 1, 0, 9, 1, 2}, 0},
		"length over limit":  {append([]byte{0x2c, 0, 1, 0x41, 0x01}, make([]byte, 0x4101)...), 0},
	} {
		if _, _, err := ParseDTLS13Record(tc.dg, tc.cidLen); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// A record shorter than the record number sample cannot be unmasked.
	_, _, _, rsn := dtls13Keys(t, cipher.TLS_AES_128_GCM_SHA256)
	rec, _, err := ParseDTLS13Record([]byte{0x2c, 0, 1, 0, 15, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rec.RecordNumber(rsn); err == nil {
		t.Fatal("a 15-byte record gave a record number")
	}
}

// TestReconstructSeq: the number closest to the next expected one.
func TestReconstructSeq(t *testing.T) {
	for _, tc := range []struct {
		next, low uint64
		bits      int
		want      uint64
	}{
		{0, 0, 8, 0},
		{0, 5, 8, 5},
		{0x100, 0xff, 8, 0xff},
		{0x1ff, 0x02, 8, 0x202},
		{0x12345, 0x2345, 16, 0x12345},
		{0x12345, 0x2340, 16, 0x12340},
		{0x1fff0, 0x0001, 16, 0x20001},
		{0x20001, 0xfff0, 16, 0x1fff0},
		{3, 0xff, 8, 0xff},
		{MaxSeq48, 0x00, 8, MaxSeq48 &^ 0xff},
	} {
		if got := ReconstructSeq(tc.next, tc.low, tc.bits); got != tc.want {
			t.Errorf("ReconstructSeq(%#x, %#x, %d) = %#x, want %#x", tc.next, tc.low, tc.bits, got, tc.want)
		}
	}
}

// TestDTLS13RecordAllocs: sealing and opening a record allocates nothing.
func TestDTLS13RecordAllocs(t *testing.T) {
	for _, suite := range cipher.TLS13Suites() {
		w, r, wsn, rsn := dtls13Keys(t, suite)
		buf := make([]byte, 0, 2048)
		payload := make([]byte, 1200)
		var seq uint64
		n := testing.AllocsPerRun(100, func() {
			dg, _ := SealDTLS13(buf[:0], w, wsn, TypeApplicationData, 3, seq, nil, payload)
			rec, _, _ := ParseDTLS13Record(dg, 0)
			low, bits, _ := rec.RecordNumber(rsn)
			if _, _, err := OpenDTLS13(r, &rec, ReconstructSeq(seq, low, bits)); err != nil {
				t.Fatal(err)
			}
			seq++
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per record", cipher.SuiteName(suite), n)
		}
	}
}

// BenchmarkSealOpenDTLS13_1200 seals and opens 1,200-byte DTLS 1.3 records.
func BenchmarkSealOpenDTLS13_1200(b *testing.B) {
	w, r, wsn, rsn := dtls13Keys(b, cipher.TLS_AES_128_GCM_SHA256)
	buf := make([]byte, 0, 2048)
	payload := make([]byte, 1200)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		dg, _ := SealDTLS13(buf[:0], w, wsn, TypeApplicationData, 3, seq, nil, payload)
		rec, _, _ := ParseDTLS13Record(dg, 0)
		low, bits, _ := rec.RecordNumber(rsn)
		if _, _, err := OpenDTLS13(r, &rec, ReconstructSeq(seq, low, bits)); err != nil {
			b.Fatal(err)
		}
		seq++
	}
}
