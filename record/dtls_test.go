package record

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
)

func TestDTLSHeader(t *testing.T) {
	hdr := AppendDTLSHeader([]byte("x"), TypeHandshake, VersionDTLS12, 0x0102, 0x030405060708, 0x090a)
	require.Equal(t, []byte{'x', 22, 0xfe, 0xfd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, hdr)
	require.Len(t, hdr[1:], DTLSHeaderLen)

	for _, c := range []struct {
		typ     ContentType
		version uint16
		epoch   uint16
		seq     uint64
		payload []byte
	}{
		{TypeChangeCipherSpec, VersionDTLS10, 0, 0, []byte{1}},
		{TypeAlert, VersionDTLS12, 1, 1, []byte{2, 40}},
		{TypeHandshake, VersionDTLS12, 0xffff, MaxSeq48, []byte("hello")},
		{TypeApplicationData, VersionDTLS13, 0x8000, 1 << 32, nil},
		{TypeApplicationData, VersionDTLS12, 7, 0xabcdef, bytes.Repeat([]byte{3}, MaxCiphertext12)},
	} {
		wire := AppendDTLSPlain(nil, c.typ, c.version, c.epoch, c.seq, c.payload)
		rec, rest, err := ParseDTLSRecord(wire)
		require.NoError(t, err)
		require.Empty(t, rest)
		require.Equal(t, c.typ, rec.Type)
		require.Equal(t, c.version, rec.Version)
		require.Equal(t, c.epoch, rec.Epoch)
		require.Equal(t, c.seq, rec.Seq)
		require.Equal(t, wire[:DTLSHeaderLen], rec.Header)
		require.Equal(t, len(c.payload), len(rec.Payload))
		require.True(t, bytes.Equal(c.payload, rec.Payload))
		require.Equal(t, DTLSHeaderLen, cap(rec.Header))
		require.Equal(t, len(c.payload), cap(rec.Payload), "appending to the payload must not run into the next record")
	}
	// Only the low 48 bits of the sequence number are written.
	require.Equal(t, AppendDTLSHeader(nil, TypeAlert, VersionDTLS12, 1, 5, 0), AppendDTLSHeader(nil, TypeAlert, VersionDTLS12, 1, 1<<48|5, 0))
}

func TestParseDTLSDatagram(t *testing.T) {
	var dgram []byte
	dgram = AppendDTLSPlain(dgram, TypeHandshake, VersionDTLS10, 0, 3, []byte("client hello"))
	dgram = AppendDTLSPlain(dgram, TypeChangeCipherSpec, VersionDTLS12, 0, 4, []byte{1})
	dgram = AppendDTLSPlain(dgram, TypeHandshake, VersionDTLS12, 1, 0, nil)
	dgram = AppendDTLSPlain(dgram, TypeApplicationData, VersionDTLS12, 1, 1, []byte("data"))
	var got []DTLSRecord
	for rest := dgram; len(rest) > 0; {
		var rec DTLSRecord
		var err error
		rec, rest, err = ParseDTLSRecord(rest)
		require.NoError(t, err)
		got = append(got, rec)
	}
	require.Len(t, got, 4)
	require.Equal(t, "client hello", string(got[0].Payload))
	require.Equal(t, VersionDTLS10, got[0].Version)
	require.Equal(t, uint64(3), got[0].Seq)
	require.Equal(t, TypeChangeCipherSpec, got[1].Type)
	require.Empty(t, got[2].Payload)
	require.Equal(t, uint16(1), got[2].Epoch)
	require.Equal(t, "data", string(got[3].Payload))
	require.Equal(t, uint64(1), got[3].Seq)
}

func TestParseDTLSErrors(t *testing.T) {
	good := AppendDTLSPlain(nil, TypeHandshake, VersionDTLS12, 0, 0, []byte("abc"))
	overlong := AppendDTLSHeader(nil, TypeApplicationData, VersionDTLS12, 1, 0, MaxCiphertext12+1)
	overlong = append(overlong, make([]byte, MaxCiphertext12+1)...)
	unknown := bytes.Clone(good)
	unknown[0] = 24 // heartbeat: not ours
	for name, dgram := range map[string][]byte{
		"empty":             nil,
		"one byte":          {22},
		"header cut short":  good[:DTLSHeaderLen-1],
		"payload cut short": good[:len(good)-1],
		"header only":       good[:DTLSHeaderLen],
		"unknown type":      unknown,
		"type zero":         append([]byte{0}, good[1:]...),
		"over 2^14+2048":    overlong,
	} {
		_, rest, err := ParseDTLSRecord(dgram)
		require.ErrorIs(t, err, AlertDecodeError, name)
		require.Equal(t, AlertDecodeError, err, name)
		require.Nil(t, rest, name)
	}

	// A good record followed by a bad one: the first parses, the rest fails.
	dgram := append(bytes.Clone(good), good[:len(good)-1]...)
	rec, rest, err := ParseDTLSRecord(dgram)
	require.NoError(t, err)
	require.Equal(t, "abc", string(rec.Payload))
	_, _, err = ParseDTLSRecord(rest)
	require.Equal(t, AlertDecodeError, err)

	// Exactly 2^14+2048 is allowed.
	max := AppendDTLSPlain(nil, TypeApplicationData, VersionDTLS12, 1, 0, make([]byte, MaxCiphertext12))
	_, rest, err = ParseDTLSRecord(max)
	require.NoError(t, err)
	require.Empty(t, rest)
}

// sealedDTLS is one record SealDTLS12 produced, with the payload it carries.
type sealedDTLS struct {
	epoch   uint16
	seq     uint64
	payload []byte
	wire    []byte
}

func TestSealOpenDTLS12(t *testing.T) {
	type es struct {
		epoch uint16
		seq   uint64
	}
	points := []es{{1, 0}, {1, 1}, {1, 2}, {2, 0}, {1, 1 << 40}, {0x0100, 0x123456789a}, {0xffff, MaxSeq48}, {0, 5}}
	for _, id := range cipher.TLS12Suites() {
		s := cipher.SuiteByID(id)
		t.Run(s.Name, func(t *testing.T) {
			w, r := testStates12(t, id)
			var sent []sealedDTLS
			var dgram []byte
			for i, p := range points {
				payload := bytes.Repeat([]byte{byte(i)}, i*37)
				prefix := len(dgram)
				var err error
				dgram, err = SealDTLS12(dgram, w, TypeApplicationData, VersionDTLS12, p.epoch, p.seq, payload)
				require.NoError(t, err)
				wire := dgram[prefix:]
				require.Len(t, wire, DTLSHeaderLen+s.ExplicitNonceLen+len(payload)+16)
				require.Equal(t, AppendDTLSHeader(nil, TypeApplicationData, VersionDTLS12, p.epoch, p.seq, len(wire)-DTLSHeaderLen), wire[:DTLSHeaderLen])
				if s.ExplicitNonceLen > 0 {
					require.Equal(t, uint64(p.epoch)<<48|p.seq, binary.BigEndian.Uint64(wire[DTLSHeaderLen:]), "explicit nonce is epoch || seq")
				}
				sent = append(sent, sealedDTLS{p.epoch, p.seq, payload, bytes.Clone(wire)})
			}
			require.Zero(t, w.Seq())

			// All records in one datagram, opened in place in order.
			for i, rest := 0, dgram; len(rest) > 0; i++ {
				var rec DTLSRecord
				var err error
				rec, rest, err = ParseDTLSRecord(rest)
				require.NoError(t, err)
				require.Equal(t, sent[i].epoch, rec.Epoch)
				require.Equal(t, sent[i].seq, rec.Seq)
				pt, err := OpenDTLS12(r, rec)
				require.NoError(t, err)
				require.Equal(t, len(sent[i].payload), len(pt))
				require.True(t, bytes.Equal(sent[i].payload, pt))
			}

			// Out of order, one record per datagram.
			for _, i := range []int{5, 0, 7, 2, 6, 1, 4, 3} {
				rec, _, err := ParseDTLSRecord(bytes.Clone(sent[i].wire))
				require.NoError(t, err)
				pt, err := OpenDTLS12(r, rec)
				require.NoError(t, err)
				require.True(t, bytes.Equal(sent[i].payload, pt))
			}
			require.Zero(t, r.Seq())

			// Other content types and versions enter the additional data.
			wire, err := SealDTLS12(nil, w, TypeHandshake, VersionDTLS10, 0, 9, []byte("finished"))
			require.NoError(t, err)
			rec, _, err := ParseDTLSRecord(wire)
			require.NoError(t, err)
			pt, err := OpenDTLS12(r, rec)
			require.NoError(t, err)
			require.Equal(t, "finished", string(pt))
		})
	}
}

func TestOpenDTLS12Errors(t *testing.T) {
	for _, id := range cipher.TLS12Suites() {
		s := cipher.SuiteByID(id)
		t.Run(s.Name, func(t *testing.T) {
			w, r := testStates12(t, id)
			wire, err := SealDTLS12(nil, w, TypeApplicationData, VersionDTLS12, 3, 0x0102030405, []byte("secret"))
			require.NoError(t, err)

			// Every byte of the fragment and every authenticated header
			// field (type, version, epoch, sequence number) is covered.
			for i := range wire {
				if i == 11 || i == 12 {
					continue // the length: a different record altogether
				}
				bad := bytes.Clone(wire)
				bad[i] ^= 0x04
				rec := DTLSRecord{
					Type:    ContentType(bad[0]),
					Version: binary.BigEndian.Uint16(bad[1:3]),
					Epoch:   binary.BigEndian.Uint16(bad[3:5]),
					Seq:     uint64(binary.BigEndian.Uint16(bad[5:7]))<<32 | uint64(binary.BigEndian.Uint32(bad[7:11])),
					Header:  bad[:DTLSHeaderLen],
					Payload: bad[DTLSHeaderLen:],
				}
				_, err := OpenDTLS12(r, rec)
				require.ErrorIs(t, err, AlertBadRecordMAC, "byte %d", i)
			}
			// The untouched record still opens: failures cost nothing.
			rec, _, err := ParseDTLSRecord(bytes.Clone(wire))
			require.NoError(t, err)
			_, err = OpenDTLS12(r, rec)
			require.NoError(t, err)

			// A sequence number beyond 48 bits cannot come from the wire.
			rec, _, err = ParseDTLSRecord(bytes.Clone(wire))
			require.NoError(t, err)
			rec.Seq |= 1 << 48
			_, err = OpenDTLS12(r, rec)
			require.ErrorIs(t, err, AlertBadRecordMAC)

			// Shorter than explicit nonce and tag, down to empty.
			for _, n := range []int{0, 1, s.ExplicitNonceLen, s.ExplicitNonceLen + 15} {
				rec, _, err := ParseDTLSRecord(AppendDTLSPlain(nil, TypeApplicationData, VersionDTLS12, 1, 0, make([]byte, n)))
				require.NoError(t, err)
				_, err = OpenDTLS12(r, rec)
				require.ErrorIs(t, err, AlertBadRecordMAC, "length %d", n)
			}

			// A fragment over 2^14+2048.
			_, err = OpenDTLS12(r, DTLSRecord{Type: TypeApplicationData, Version: VersionDTLS12, Epoch: 1, Payload: make([]byte, MaxCiphertext12+1)})
			require.ErrorIs(t, err, AlertRecordOverflow)

			// A correctly protected plaintext over 2^14.
			frag, err := w.SealAt(nil, 1<<48|7, uint8(TypeApplicationData), VersionDTLS12, make([]byte, MaxPlaintext+1))
			require.NoError(t, err)
			rec, _, err = ParseDTLSRecord(append(AppendDTLSHeader(nil, TypeApplicationData, VersionDTLS12, 1, 7, len(frag)), frag...))
			require.NoError(t, err)
			_, err = OpenDTLS12(r, rec)
			require.ErrorIs(t, err, AlertRecordOverflow)

			// Sealing more than 2^14 bytes, or past the 48-bit sequence, is
			// refused.
			out, err := SealDTLS12([]byte("x"), w, TypeApplicationData, VersionDTLS12, 1, 0, make([]byte, MaxPlaintext+1))
			require.ErrorIs(t, err, AlertInternalError)
			require.Equal(t, "x", string(out))
			out, err = SealDTLS12([]byte("x"), w, TypeApplicationData, VersionDTLS12, 1, MaxSeq48+1, nil)
			require.ErrorIs(t, err, AlertInternalError)
			require.Equal(t, "x", string(out))
		})
	}
}

func TestRecordPathDTLS12Allocs(t *testing.T) {
	for _, id := range cipher.TLS12Suites() {
		w, r := testStates12(t, id)
		payload := make([]byte, MaxPlaintext)
		buf := make([]byte, 0, DTLSHeaderLen+8+MaxPlaintext+16)
		seq := uint64(0)
		allocs := testing.AllocsPerRun(100, func() {
			seq++
			wire, err := SealDTLS12(buf[:0], w, TypeApplicationData, VersionDTLS12, 1, seq, payload)
			if err != nil {
				t.Fatal(err)
			}
			if &wire[0] != &buf[:1][0] {
				t.Fatal("SealDTLS12 moved the buffer")
			}
			rec, rest, err := ParseDTLSRecord(wire)
			if err != nil || len(rest) != 0 {
				t.Fatal(err, len(rest))
			}
			if _, err := OpenDTLS12(r, rec); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, cipher.SuiteName(id))
	}
}

func BenchmarkSealOpenDTLS12_1200(b *testing.B) {
	for _, id := range cipher.TLS12Suites() {
		b.Run(cipher.SuiteName(id), func(b *testing.B) {
			w, r := testStates12(b, id)
			payload := make([]byte, 1200)
			buf := make([]byte, 0, DTLSHeaderLen+8+1200+16)
			seq := uint64(0)
			b.SetBytes(1200)
			b.ReportAllocs()
			for b.Loop() {
				seq++
				wire, _ := SealDTLS12(buf[:0], w, TypeApplicationData, VersionDTLS12, 1, seq, payload)
				rec, _, _ := ParseDTLSRecord(wire)
				if _, err := OpenDTLS12(r, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSealOpenDTLS12CID: records in the Connection ID format round-trip
// for every suite, with the CID after the sequence number and the real
// type inside; padding is removed, a CID of the wrong length or value
// fails, and the record path allocates nothing.
func TestSealOpenDTLS12CID(t *testing.T) {
	cid := []byte{9, 8, 7, 6, 5}
	for _, id := range cipher.TLS12Suites() {
		w, r := testStates12(t, id)
		s := cipher.SuiteByID(id)
		wire, err := SealDTLS12CID([]byte("x"), w, TypeHandshake, VersionDTLS12, 1, 42, cid, []byte("hello"))
		require.NoError(t, err)
		wire = wire[1:]
		require.Len(t, wire, DTLSHeaderLen+len(cid)+s.ExplicitNonceLen+len("hello")+1+16)
		require.Equal(t, byte(TypeConnectionID), wire[0])
		require.Equal(t, cid, wire[11:16])
		got, ok := ConnectionIDOf(wire, len(cid))
		require.True(t, ok)
		require.Equal(t, cid, got)

		_, _, err = ParseDTLSRecord(wire)
		require.Equal(t, AlertDecodeError, err, "no CID was asked for")
		_, _, err = ParseDTLSRecordCID(wire, len(wire))
		require.Equal(t, AlertDecodeError, err, "a CID longer than the record")
		short, _, err := ParseDTLSRecordCID(bytes.Clone(wire), len(cid)-1)
		if err == nil {
			_, _, err = OpenDTLS12CID(r, short)
			require.Equal(t, AlertBadRecordMAC, err, "a CID one byte short")
		}

		rec, rest, err := ParseDTLSRecordCID(wire, len(cid))
		require.NoError(t, err)
		require.Empty(t, rest)
		require.Equal(t, cid, rec.CID)
		require.Equal(t, uint16(1), rec.Epoch)
		require.Equal(t, uint64(42), rec.Seq)
		typ, pt, err := OpenDTLS12CID(r, rec)
		require.NoError(t, err)
		require.Equal(t, TypeHandshake, typ)
		require.Equal(t, "hello", string(pt))

		// Padding, as a peer may add, and an inner plaintext of zeros.
		for inner, want := range map[string]error{"data\x17\x00\x00\x00": nil, "\x00\x00\x00": AlertUnexpectedMessage} {
			n := s.ExplicitNonceLen + len(inner) + 16
			hdr := append(AppendDTLSHeader(nil, TypeConnectionID, VersionDTLS12, 1, 43, n)[:11], cid...)
			hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
			sealed, err := w.SealCID(hdr, 1<<48|43, uint8(TypeConnectionID), VersionDTLS12, cid, []byte(inner))
			require.NoError(t, err)
			rec, _, err := ParseDTLSRecordCID(sealed, len(cid))
			require.NoError(t, err)
			typ, pt, err := OpenDTLS12CID(r, rec)
			require.Equal(t, want, err)
			if want == nil {
				require.Equal(t, TypeApplicationData, typ)
				require.Equal(t, "data", string(pt))
			}
		}

		payload := make([]byte, MaxPlaintext)
		buf := make([]byte, 0, DTLSHeaderLen+len(cid)+8+MaxPlaintext+1+16)
		seq := uint64(100)
		allocs := testing.AllocsPerRun(50, func() {
			seq++
			wire, _ := SealDTLS12CID(buf[:0], w, TypeApplicationData, VersionDTLS12, 1, seq, cid, payload)
			rec, _, _ := ParseDTLSRecordCID(wire, len(cid))
			if _, _, err := OpenDTLS12CID(r, rec); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, s.Name)
	}
}
