package flights

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// TestBuilderMatchesCryptobyte builds the same nested structure with
// builder and with cryptobyte.Builder and compares the bytes.
func TestBuilderMatchesCryptobyte(t *testing.T) {
	payload := bytes.Repeat([]byte{0xab}, 300)
	ours := newBuilder([]byte{0xff})
	ours.addUint8(1)
	ours.addUint16(0x0203)
	ours.addUint24(0x040506)
	ours.addUint32(0x0708090a)
	ours.addUint64(0x0b0c0d0e0f101112)
	ours.addPrefixed24(func(b *builder) {
		b.addPrefixed16(func(b *builder) {
			b.addPrefixed8(func(b *builder) { b.addBytes([]byte("nested")) })
			b.addBytes(payload)
		})
		b.addPrefixed8(func(*builder) {})
	})
	theirs := cryptobyte.NewBuilder([]byte{0xff})
	theirs.AddUint8(1)
	theirs.AddUint16(0x0203)
	theirs.AddUint24(0x040506)
	theirs.AddUint32(0x0708090a)
	theirs.AddUint64(0x0b0c0d0e0f101112)
	theirs.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("nested")) })
			b.AddBytes(payload)
		})
		b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {})
	})
	if got, want := ours.mustBytes(), theirs.BytesOrPanic(); !bytes.Equal(got, want) {
		t.Fatalf("builder wrote\n%x\ncryptobyte wrote\n%x", got, want)
	}
}

func TestBuilderLengthOverflow(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(*builder, func(*builder))
		max  int
	}{
		{"8", (*builder).addPrefixed8, 1<<8 - 1},
		{"16", (*builder).addPrefixed16, 1<<16 - 1},
	} {
		fits := newBuilder(nil)
		tc.add(fits, func(b *builder) { b.addBytes(make([]byte, tc.max)) })
		if _, err := fits.bytes(); err != nil {
			t.Fatalf("%s-bit prefix, %d bytes: %v", tc.name, tc.max, err)
		}
		over := newBuilder(nil)
		tc.add(over, func(b *builder) { b.addBytes(make([]byte, tc.max+1)) })
		over.addUint8(7) // ignored after the error
		if _, err := over.bytes(); !errors.Is(err, errLengthOverflow) {
			t.Fatalf("%s-bit prefix, %d bytes: err = %v, want overflow", tc.name, tc.max+1, err)
		}
	}
}

func TestBuilderFirstErrorSticks(t *testing.T) {
	b := newBuilder(nil)
	b.setError(errRandomLen)
	b.setError(errSessionIDLen)
	b.addPrefixed16(func(*builder) { t.Fatal("fill ran after an error") })
	if _, err := b.bytes(); err != errRandomLen {
		t.Fatalf("err = %v, want the first one", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("mustBytes did not panic on an error")
		}
	}()
	b.mustBytes()
}
