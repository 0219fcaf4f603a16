package record

// The seeds in testdata/fuzz are records of real conversations, recorded
// by the fsm package's TestFuzzCorpus, which also regenerates them.

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/tlsm/tlsm/cipher"
)

// FuzzStreamReader writes data to a StreamReader in the pieces splits
// gives (each byte one piece's length, modulo 64 and at least 1; what is
// left goes last), reading every record after each write, with MaxFragment
// set to maxFragment. Every record must be the next bytes of data, in the
// reader's framing, and stay so until Compact; an error must be the Alert
// the next header calls for; and records must be read as soon as they are
// whole. A piece's top bit asks for a Compact before it; its next bit lends
// it (WriteInPlace): a copy of the piece is wiped after Detach, and the
// records read from it are checked before.
func FuzzStreamReader(f *testing.F) {
	hello := AppendPlain(nil, TypeHandshake, VersionTLS10, []byte{1, 0, 0, 2, 3, 3})
	f.Add(uint16(0), []byte{}, []byte{})
	f.Add(uint16(0), []byte{1, 1, 1, 0x81}, hello)
	f.Add(uint16(4), []byte{3}, append(hello, AppendPlain(nil, TypeAlert, VersionTLS12, []byte{2, 10})...))
	f.Add(uint16(0), []byte{}, []byte{24, 3, 3, 0, 0})
	f.Add(uint16(0), []byte{}, []byte{23, 3, 3, 0x48, 0x01})
	f.Add(uint16(0), []byte{0x43, 0x41, 0x7f, 0x40}, append(hello, hello...))
	f.Fuzz(func(t *testing.T, maxFragment uint16, splits, data []byte) {
		limit := int(maxFragment)
		if limit == 0 {
			limit = MaxCiphertext13
		}
		r := StreamReader{MaxFragment: int(maxFragment)}
		// off is where the next record starts in data; held are the
		// records returned since the last Compact, with their offsets.
		written, off := 0, 0
		type readRecord struct {
			rec Record
			at  int
		}
		var held []readRecord
		for written < len(data) {
			n := len(data) - written
			lend := false
			if len(splits) > 0 {
				lend = splits[0]&0x40 != 0
				n = min(n, max(1, int(splits[0]&0x3f)))
				if splits[0]&0x80 != 0 {
					for _, h := range held {
						checkStreamRecord(t, data, h.at, h.rec)
					}
					r.Compact()
					held = held[:0]
				}
				splits = splits[1:]
			}
			piece := data[written : written+n]
			if lend {
				piece = bytes.Clone(piece)
				r.WriteInPlace(piece)
			} else {
				r.Write(piece)
			}
			written += n
			for {
				if got, want := r.Buffered(), written-off; got != want {
					t.Fatalf("Buffered() = %d, want %d", got, want)
				}
				rec, ok, err := r.Next()
				if err != nil {
					if ok {
						t.Fatalf("Next returned a record and %v", err)
					}
					checkStreamError(t, data[off:written], limit, err)
					return
				}
				if !ok {
					// Incomplete: no header yet, or a record cut short.
					b := data[off:written]
					if len(b) >= HeaderLen && len(b) >= HeaderLen+int(binary.BigEndian.Uint16(b[3:5])) {
						t.Fatalf("a whole record at %d is not returned", off)
					}
					break
				}
				checkStreamRecord(t, data, off, rec)
				if len(rec.Payload) > limit {
					t.Fatalf("record of %d bytes over the limit %d", len(rec.Payload), limit)
				}
				held = append(held, readRecord{rec, off})
				off += HeaderLen + len(rec.Payload)
			}
			if lend {
				for _, h := range held {
					checkStreamRecord(t, data, h.at, h.rec)
				}
				held = held[:0] // those read from the piece die with it
				r.Detach()
				clear(piece)
			}
		}
		for _, h := range held {
			checkStreamRecord(t, data, h.at, h.rec)
		}
		r.Reset()
		if r.Buffered() != 0 {
			t.Fatalf("Buffered() = %d after Reset", r.Buffered())
		}
	})
}

// checkStreamRecord asserts that rec is the record at data[at:].
func checkStreamRecord(t *testing.T, data []byte, at int, rec Record) {
	t.Helper()
	n := len(rec.Payload)
	if at+HeaderLen+n > len(data) {
		t.Fatalf("record at %d of %d bytes runs past the input (%d bytes)", at, n, len(data))
	}
	b := data[at : at+HeaderLen+n]
	switch {
	case !bytes.Equal(rec.Header, b[:HeaderLen]):
		t.Fatalf("header %x, want %x", rec.Header, b[:HeaderLen])
	case !bytes.Equal(rec.Payload, b[HeaderLen:]):
		t.Fatalf("payload at %d differs from the input", at)
	case rec.Type != ContentType(b[0]) || rec.Version != binary.BigEndian.Uint16(b[1:3]):
		t.Fatalf("type %d version %#x, header %x", rec.Type, rec.Version, b[:HeaderLen])
	case int(binary.BigEndian.Uint16(b[3:5])) != n:
		t.Fatalf("payload of %d bytes, header %x", n, b[:HeaderLen])
	}
}

// checkStreamError asserts that err is the alert the header at the start
// of b calls for.
func checkStreamError(t *testing.T, b []byte, limit int, err error) {
	t.Helper()
	if _, ok := err.(Alert); !ok {
		t.Fatalf("error %v (%T) is not an Alert", err, err)
	}
	if len(b) < HeaderLen {
		t.Fatalf("%v with only %d bytes buffered", err, len(b))
	}
	var want Alert
	switch ContentType(b[0]) {
	case TypeChangeCipherSpec, TypeAlert, TypeHandshake, TypeApplicationData:
		if int(binary.BigEndian.Uint16(b[3:5])) <= limit {
			t.Fatalf("%v for a good header %x", err, b[:HeaderLen])
		}
		want = AlertRecordOverflow
	default:
		want = AlertUnexpectedMessage
	}
	if err != want {
		t.Fatalf("header %x: %v, want %v", b[:HeaderLen], err, want)
	}
}

// FuzzParseDTLSRecord parses a datagram record by record until an error
// or its end. Each record must be the next bytes of the datagram, rest what
// follows it, and AppendDTLSPlain must frame the record's fields into
// exactly those bytes again; an error must be AlertDecodeError, and only
// for a header that is short, of an unknown type, or whose length is over
// MaxCiphertext12 or past the end.
func FuzzParseDTLSRecord(f *testing.F) {
	one := AppendDTLSPlain(nil, TypeHandshake, VersionDTLS10, 0, 0, []byte{1, 0, 0, 0})
	f.Add([]byte{})
	f.Add(one)
	f.Add(append(AppendDTLSPlain(one, TypeChangeCipherSpec, VersionDTLS12, 0, 5, []byte{1}), one[:7]...))
	f.Add(AppendDTLSPlain(nil, TypeApplicationData, VersionDTLS12, 0xffff, MaxSeq48, nil))
	cidRecord := append(AppendDTLSHeader(nil, TypeConnectionID, VersionDTLS12, 1, 2, 3)[:11], 1, 2, 3, 4, 0, 3, 7, 7, 7)
	f.Add(append(cidRecord, one...))
	f.Fuzz(func(t *testing.T, datagram []byte) {
		parseAll(t, datagram, 0)
		parseAll(t, datagram, fuzzCIDLen)
	})
}

// fuzzCIDLen is the Connection ID length FuzzParseDTLSRecord also parses
// with.
const fuzzCIDLen = 4

// parseAll reads every record of d, expecting CIDs of cidLen bytes, and
// checks what ParseDTLSRecordCID returns.
func parseAll(t *testing.T, d []byte, cidLen int) {
	for len(d) > 0 {
		rec, rest, err := ParseDTLSRecordCID(d, cidLen)
		hdr := DTLSHeaderLen
		if len(d) > 0 && ContentType(d[0]) == TypeConnectionID {
			hdr += cidLen
		}
		if err != nil {
			if err != AlertDecodeError {
				t.Fatalf("error %v, want %v", err, AlertDecodeError)
			}
			if rest != nil {
				t.Fatalf("rest of %d bytes with an error", len(rest))
			}
			if len(d) >= hdr {
				n := int(binary.BigEndian.Uint16(d[hdr-2 : hdr]))
				known := cidLen > 0 && ContentType(d[0]) == TypeConnectionID
				switch ContentType(d[0]) {
				case TypeChangeCipherSpec, TypeAlert, TypeHandshake, TypeApplicationData:
					known = true
				}
				if known && n <= MaxCiphertext12 && n <= len(d)-hdr {
					t.Fatalf("%v for a good record %x", err, d[:hdr])
				}
			}
			return
		}
		end := hdr + len(rec.Payload)
		if len(rest) >= len(d) || len(d)-len(rest) != end {
			t.Fatalf("record of %d bytes leaves %d of %d", len(rec.Payload), len(rest), len(d))
		}
		if len(rest) > 0 && &rest[0] != &d[end] {
			t.Fatalf("rest does not alias the datagram after the record")
		}
		if len(rec.Payload) > MaxCiphertext12 || rec.Seq > MaxSeq48 {
			t.Fatalf("payload of %d bytes, seq %d", len(rec.Payload), rec.Seq)
		}
		if !bytes.Equal(rec.Header, d[:hdr]) {
			t.Fatalf("header %x, want %x", rec.Header, d[:hdr])
		}
		again := AppendDTLSHeader(nil, rec.Type, rec.Version, rec.Epoch, rec.Seq, len(rec.Payload))
		if rec.Type == TypeConnectionID {
			again = binary.BigEndian.AppendUint16(append(again[:11], rec.CID...), uint16(len(rec.Payload)))
		}
		if again = append(again, rec.Payload...); !bytes.Equal(again, d[:end]) {
			t.Fatalf("re-encoded %x, want %x", again, d[:end])
		}
		d = rest
	}
}

// FuzzDTLS13Record parses a datagram of DTLS 1.3 records, with and without
// Connection IDs, and unprotects and opens each: nothing panics, each
// record is the next bytes of the datagram, and a record that opens was
// sealed by the fuzzer's own keys, so garbage never does.
func FuzzDTLS13Record(f *testing.F) {
	w, _, wsn, _ := dtls13Keys(f, cipher.TLS_AES_128_GCM_SHA256)
	good, _ := SealDTLS13(nil, w, wsn, TypeApplicationData, 3, 5, nil, []byte("hello"))
	withCID, _ := SealDTLS13(nil, w, wsn, TypeHandshake, 2, 0x10000, []byte{1, 2, 3, 4}, nil)
	short, _ := sealDTLS13(nil, w, wsn, TypeAlert, 1, 9, nil, []byte{1, 0}, 1, false)
	f.Add([]byte{})
	f.Add(good)
	f.Add(append(bytes.Clone(good), short...))
	f.Add(withCID)
	f.Add([]byte{0x2c, 0, 1, 0, 16})
	f.Fuzz(func(t *testing.T, datagram []byte) {
		for _, cidLen := range []int{0, 4} {
			_, r, _, rsn := dtls13Keys(t, cipher.TLS_AES_128_GCM_SHA256)
			d := bytes.Clone(datagram)
			for len(d) > 0 {
				rec, rest, err := ParseDTLS13Record(d, cidLen)
				if err != nil {
					if err != AlertDecodeError || rest != nil {
						t.Fatalf("error %v, rest %d", err, len(rest))
					}
					break
				}
				if len(rec.Header)+len(rec.Ciphertext)+len(rest) != len(d) || len(rec.Ciphertext) > MaxCiphertext13 {
					t.Fatalf("record of %d+%d bytes leaves %d of %d", len(rec.Header), len(rec.Ciphertext), len(rest), len(d))
				}
				wire := bytes.Clone(d[:len(d)-len(rest)])
				if low, bits, err := rec.RecordNumber(rsn); err == nil {
					_, _, err := OpenDTLS13(r, &rec, ReconstructSeq(0, low, bits))
					if err == nil && !bytes.Equal(wire, good) && !bytes.Equal(wire, withCID) && !bytes.Equal(wire, short) {
						t.Fatalf("a record the keys never sealed opened: %x", wire)
					}
				}
				d = rest
			}
		}
	})
}
