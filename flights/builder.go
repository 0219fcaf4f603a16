package flights

import (
	"errors"
	"fmt"
)

// builder appends big-endian integers and length-prefixed blocks to a byte
// slice. A length prefix is reserved before its block is written and filled
// in afterwards, in place, so nesting costs no allocation.
//
// The first error (a block too long for its prefix, or one set by a
// caller) sticks: later calls do nothing and bytes reports it.
type builder struct {
	buf []byte
	err error
}

// errLengthOverflow reports a block too long for its length prefix.
var errLengthOverflow = errors.New("flights: block too long for its length prefix")

// newBuilder returns a builder that appends to b.
func newBuilder(b []byte) *builder { return &builder{buf: b} }

// setError records err unless an error is already recorded.
func (b *builder) setError(err error) {
	if b.err == nil {
		b.err = err
	}
}

// bytes returns the built bytes, or the first error.
func (b *builder) bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.buf, nil
}

// mustBytes returns the built bytes and panics on an error: every caller
// builds from values it has checked, so an error is a programming error.
func (b *builder) mustBytes() []byte {
	out, err := b.bytes()
	if err != nil {
		panic(fmt.Sprintf("flights: building a message: %v", err))
	}
	return out
}

func (b *builder) addUint8(v uint8) {
	if b.err == nil {
		b.buf = append(b.buf, v)
	}
}

func (b *builder) addUint16(v uint16) {
	if b.err == nil {
		b.buf = append(b.buf, byte(v>>8), byte(v))
	}
}

func (b *builder) addUint24(v uint32) {
	if b.err == nil {
		b.buf = append(b.buf, byte(v>>16), byte(v>>8), byte(v))
	}
}

func (b *builder) addUint32(v uint32) {
	if b.err == nil {
		b.buf = append(b.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

func (b *builder) addUint64(v uint64) {
	b.addUint32(uint32(v >> 32))
	b.addUint32(uint32(v))
}

func (b *builder) addBytes(v []byte) {
	if b.err == nil {
		b.buf = append(b.buf, v...)
	}
}

// addPrefixed8, addPrefixed16 and addPrefixed24 write the block that fill
// writes behind a length prefix of one, two or three bytes.
func (b *builder) addPrefixed8(fill func(*builder))  { b.addPrefixed(1, fill) }
func (b *builder) addPrefixed16(fill func(*builder)) { b.addPrefixed(2, fill) }
func (b *builder) addPrefixed24(fill func(*builder)) { b.addPrefixed(3, fill) }

// addPrefixed reserves a prefix of size bytes, lets fill write the block
// and then writes the block's length into the prefix.
func (b *builder) addPrefixed(size int, fill func(*builder)) {
	if b.err != nil {
		return
	}
	at := len(b.buf)
	b.buf = append(b.buf, make([]byte, size)...)
	fill(b)
	if b.err != nil {
		return
	}
	n := len(b.buf) - at - size
	if n >= 1<<(8*size) {
		b.setError(errLengthOverflow)
		return
	}
	for i := range size {
		b.buf[at+i] = byte(n >> (8 * (size - 1 - i)))
	}
}
