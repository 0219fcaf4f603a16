package flights

import (
	"bytes"
	"testing"
)

// TestACKRoundTrip: an ACK encodes as RFC 9147 §7 lays it out and parses
// back; bodies of a wrong length are refused.
func TestACKRoundTrip(t *testing.T) {
	m := ACK{Records: []RecordNumber{{Epoch: 2, Seq: 0}, {Epoch: 2, Seq: 1}, {Epoch: 3, Seq: 1 << 40}}}
	wire := m.Append(nil)
	want := []byte{0, 48,
		0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 0}
	if !bytes.Equal(wire, want) {
		t.Fatalf("wire %x, want %x", wire, want)
	}
	var got ACK
	if err := got.Unmarshal(wire); err != nil || len(got.Records) != 3 || got.Records[2] != m.Records[2] {
		t.Fatalf("Unmarshal: %v, %v", got.Records, err)
	}
	if err := got.Unmarshal([]byte{0, 0}); err != nil || len(got.Records) != 0 {
		t.Fatalf("an empty ACK: %v, %v", got.Records, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 15}, {0, 16, 1}, append([]byte{0, 17}, make([]byte, 17)...), append(bytes.Clone(wire), 0)} {
		if err := got.Unmarshal(bad); err == nil {
			t.Errorf("%x: parsed", bad)
		}
	}
	many := ACK{Records: make([]RecordNumber, MaxACKRecords+10)}
	if n := len(many.Append(nil)); n != 2+16*MaxACKRecords {
		t.Fatalf("an ACK of too many records is %d bytes", n)
	}
}
