package hsassembly

import (
	"bytes"
	"testing"
)

func fragment(typ byte, seq uint16, msg []byte, off, n int) []byte {
	l, o := len(msg), off
	h := []byte{typ, byte(l >> 16), byte(l >> 8), byte(l), byte(seq >> 8), byte(seq), byte(o >> 16), byte(o >> 8), byte(o), byte(n >> 16), byte(n >> 8), byte(n)}
	return append(h, msg[off:off+n]...)
}

func TestAssembler(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789"), 30)
	var a Assembler
	// Out of order, overlapping, duplicated; a fragment of another type
	// under the same message_seq and a lying one are ignored.
	steps := [][]byte{
		fragment(1, 0, msg, 200, 100),
		fragment(2, 0, msg, 0, 100),
		fragment(1, 0, msg, 0, 150),
		append(fragment(1, 0, msg, 150, 60)[:HeaderLen], 1, 2), // shorter than it says
		fragment(1, 0, msg, 0, 150),
	}
	for i, f := range steps {
		if _, _, ok := a.Add(f); ok {
			t.Fatalf("step %d: whole too early", i)
		}
	}
	typ, body, ok := a.Add(fragment(1, 0, msg, 140, 70))
	if !ok || typ != 1 || !bytes.Equal(body, msg) {
		t.Fatalf("got %d %q %v", typ, body, ok)
	}
	if _, _, ok := a.Add(fragment(1, 0, msg, 0, len(msg))); ok {
		t.Fatal("a message reported twice")
	}
	if _, _, ok := a.Add(fragment(1, 1, msg, 0, len(msg))); !ok {
		t.Fatal("the next message_seq not assembled")
	}
}
