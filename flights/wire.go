package flights

import (
	"errors"
	"slices"

	"github.com/tlsm/tlsm/record"
	"golang.org/x/crypto/cryptobyte"
)

// Errors reported by the decoders.
var (
	errDecode  error = record.AlertDecodeError
	errIllegal error = record.AlertIllegalParameter
	errMissing error = record.AlertMissingExtension
)

// Errors that make Append panic.
var (
	errRandomLen    = errors.New("flights: random must be 32 bytes")
	errSessionIDLen = errors.New("flights: session id longer than 32 bytes")
)

// okOr maps a parser's success flag to nil or decode_error.
func okOr(ok bool) error {
	if ok {
		return nil
	}
	return errDecode
}

// messageSizeHint is the room appendMessage makes before building a
// message: most handshake messages fit, so they are built without regrowing.
const messageSizeHint = 256

// appendMessage appends a handshake header for typ followed by the body
// that fill writes.
func appendMessage(b []byte, typ MsgType, fill func(*builder)) []byte {
	bld := newBuilder(slices.Grow(b, messageSizeHint))
	bld.addUint8(uint8(typ))
	bld.addPrefixed24(fill)
	return bld.mustBytes()
}

// appendMessageChecked is appendMessage for a body that may hold values
// from the peer, which need not fit their length prefixes: it returns the
// error instead of panicking.
func appendMessageChecked(b []byte, typ MsgType, fill func(*builder)) ([]byte, error) {
	bld := newBuilder(slices.Grow(b, messageSizeHint))
	bld.addUint8(uint8(typ))
	bld.addPrefixed24(fill)
	return bld.bytes()
}

// addExtension writes one extension with the body that fill writes.
func addExtension(b *builder, typ uint16, fill func(*builder)) {
	b.addUint16(typ)
	b.addPrefixed16(fill)
}

// addEmptyExtension writes an extension with an empty body.
func addEmptyExtension(b *builder, typ uint16) {
	addExtension(b, typ, func(*builder) {})
}

// addUint16s writes the values without a length prefix.
func addUint16s(b *builder, list []uint16) {
	for _, v := range list {
		b.addUint16(v)
	}
}

// addList16 writes the values behind a 16-bit length prefix.
func addList16(b *builder, list []uint16) {
	b.addPrefixed16(func(b *builder) { addUint16s(b, list) })
}

// addListExtension writes an extension holding a 16-bit prefixed list of
// uint16 values, or nothing when the list is empty.
func addListExtension(b *builder, typ uint16, list []uint16) {
	if len(list) == 0 {
		return
	}
	addExtension(b, typ, func(b *builder) { addList16(b, list) })
}

// addBytes8 writes v behind an 8-bit length prefix.
func addBytes8(b *builder, v []byte) {
	b.addPrefixed8(func(b *builder) { b.addBytes(v) })
}

// addBytes16 writes v behind a 16-bit length prefix.
func addBytes16(b *builder, v []byte) {
	b.addPrefixed16(func(b *builder) { b.addBytes(v) })
}

// addBytes24 writes v behind a 24-bit length prefix.
func addBytes24(b *builder, v []byte) {
	b.addPrefixed24(func(b *builder) { b.addBytes(v) })
}

// addALPN writes a ProtocolNameList holding names.
func addALPN(b *builder, names ...string) {
	b.addPrefixed16(func(b *builder) {
		for _, n := range names {
			addBytes8(b, []byte(n))
		}
	})
}

// addHelloHead writes the version, random and session id shared by
// ClientHello and ServerHello.
func addHelloHead(b *builder, version uint16, random, sessionID []byte) {
	if len(random) != 32 {
		b.setError(errRandomLen)
	}
	if len(sessionID) > 32 {
		b.setError(errSessionIDLen)
	}
	b.addUint16(version)
	b.addBytes(random)
	addBytes8(b, sessionID)
}

// readHelloHead reads the version, random and session id shared by
// ClientHello and ServerHello.
func readHelloHead(s *cryptobyte.String, version *uint16, random, sessionID *[]byte) bool {
	return s.ReadUint16(version) &&
		s.ReadBytes(random, 32) &&
		s.ReadUint8LengthPrefixed((*cryptobyte.String)(sessionID)) &&
		len(*sessionID) <= 32
}

// readUint16s parses all of v as a non-empty list of uint16 values.
func readUint16s(v cryptobyte.String, out *[]uint16) bool {
	if v.Empty() {
		return false
	}
	list := make([]uint16, 0, len(v)/2)
	for !v.Empty() {
		var x uint16
		if !v.ReadUint16(&x) {
			return false
		}
		list = append(list, x)
	}
	*out = list
	return true
}

// readList16 reads a non-empty, 16-bit prefixed list of uint16 values.
func readList16(s *cryptobyte.String, out *[]uint16) bool {
	var v cryptobyte.String
	return s.ReadUint16LengthPrefixed(&v) && readUint16s(v, out)
}

// readBytes8 reads an 8-bit prefixed vector that must not be empty.
func readBytes8(s *cryptobyte.String, out *[]byte) bool {
	return s.ReadUint8LengthPrefixed((*cryptobyte.String)(out)) && len(*out) > 0
}

// readBytes16 reads a 16-bit prefixed vector that must not be empty.
func readBytes16(s *cryptobyte.String, out *[]byte) bool {
	return s.ReadUint16LengthPrefixed((*cryptobyte.String)(out)) && len(*out) > 0
}

// readBytes24 reads a 24-bit prefixed vector that must not be empty.
func readBytes24(s *cryptobyte.String, out *[]byte) bool {
	return s.ReadUint24LengthPrefixed((*cryptobyte.String)(out)) && len(*out) > 0
}

// readALPN reads a non-empty ProtocolNameList of non-empty names. The
// names are counted first and cut from one string of the whole list, so
// that a list of thousands is two allocations, not one per name.
func readALPN(s *cryptobyte.String, out *[]string) bool {
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return false
	}
	n := 0
	for rest := list; !rest.Empty(); n++ {
		var name []byte
		if !readBytes8(&rest, &name) {
			return false
		}
	}
	all := string(list)
	*out = slices.Grow(*out, n)
	for len(all) > 0 {
		end := 1 + int(all[0])
		*out = append(*out, all[1:end])
		all = all[end:]
	}
	return true
}

// readSingleALPN reads a ProtocolNameList that holds exactly one name, as a
// server sends it.
func readSingleALPN(s *cryptobyte.String, out *string) bool {
	var names []string
	if !readALPN(s, &names) || len(names) != 1 {
		return false
	}
	*out = names[0]
	return true
}

// uint16Set is a set of 16-bit values (extension types, groups) as a
// bitmap over their whole range. At 8 KiB it lives on its user's stack,
// and adding or taking out a value costs a few instructions, so that a
// list the peer sends is checked against itself or another of its lists
// in time linear in their lengths.
type uint16Set [1 << 16 / 64]uint64

// add puts v in the set and reports whether it was new.
func (s *uint16Set) add(v uint16) bool {
	word, bit := v/64, uint64(1)<<(v%64)
	if s[word]&bit != 0 {
		return false
	}
	s[word] |= bit
	return true
}

// take removes v from the set and reports whether it was there.
func (s *uint16Set) take(v uint16) bool {
	word, bit := v/64, uint64(1)<<(v%64)
	if s[word]&bit == 0 {
		return false
	}
	s[word] &^= bit
	return true
}

// extWalker walks an extensions block, rejecting duplicates and bytes
// that do not form an extension, and records the types in order into rec
// when it is non-nil. Its caller parses each body, all of it:
//
//	w := extWalker{exts: exts}
//	for w.next() {
//		w.parsed(m.parseExtension(w.typ, &w.data, w.last()))
//	}
//	return w.err
//
// The body lives in the walker, which lives on the caller's stack: a
// callback taking it would move it to the heap for every message.
type extWalker struct {
	exts cryptobyte.String
	rec  *[]uint16
	seen uint16Set
	typ  uint16
	data cryptobyte.String
	err  error
}

// readBlock reads a 16-bit prefixed extensions block that must end s.
func (w *extWalker) readBlock(s *cryptobyte.String) {
	if !s.ReadUint16LengthPrefixed(&w.exts) || !s.Empty() {
		w.err = errDecode
	}
}

// next moves to the next extension, reporting false at the end of the
// block or after an error.
func (w *extWalker) next() bool {
	if w.err != nil || w.exts.Empty() {
		return false
	}
	if !w.exts.ReadUint16(&w.typ) || !w.exts.ReadUint16LengthPrefixed(&w.data) {
		w.err = errDecode
		return false
	}
	if !w.seen.add(w.typ) {
		w.err = errIllegal
		return false
	}
	if w.rec != nil {
		*w.rec = append(*w.rec, w.typ)
	}
	return true
}

// last reports whether the current extension is the block's final one.
func (w *extWalker) last() bool { return w.exts.Empty() }

// parsed takes the outcome of parsing the current body, which must have
// been consumed whole.
func (w *extWalker) parsed(err error) {
	if err == nil && !w.data.Empty() {
		err = errDecode
	}
	w.err = err
}

// skip discards an extension body that the parser does not interpret.
func skip(data *cryptobyte.String) {
	*data = nil
}

// addSRTP writes a UseSRTPData: profiles<2..2^16-1>, srtp_mki<0..255>.
func addSRTP(b *builder, profiles []uint16, mki []byte) {
	b.addPrefixed16(func(b *builder) {
		for _, p := range profiles {
			b.addUint16(p)
		}
	})
	addBytes8(b, mki)
}

// readSRTP reads a UseSRTPData with at least one profile.
func readSRTP(s *cryptobyte.String, profiles *[]uint16, mki *[]byte) bool {
	return readList16(s, profiles) && len(*profiles) > 0 &&
		s.ReadUint8LengthPrefixed((*cryptobyte.String)(mki)) && s.Empty()
}
