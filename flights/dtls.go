package flights

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the DTLS 1.2 handshake framing (RFC 6347 §4.2.2): each
// handshake message carries a message sequence number and may be split
// into fragments, each with its own 12-byte header, that fit in
// datagrams. Reassembler (reassembly.go) puts the fragments back together.

// DTLSHeaderLen is the length of a DTLS handshake header: msg_type(1),
// length(3), message_seq(2), fragment_offset(3) and fragment_length(3).
const DTLSHeaderLen = 12

// Errors that make the DTLS encoders panic.
var (
	errFragment     = errors.New("flights: fragment does not fit its message")
	errFragmentSize = errors.New("flights: fragment size leaves no room for data")
	errTLSMessage   = errors.New("flights: not a whole handshake message in TLS framing")
	errDTLSMessage  = errors.New("flights: not a whole handshake message in DTLS framing")
)

// Fragment is one DTLS handshake fragment: the bytes
// [Offset, Offset+len(Data)) of the body of message number Seq, whose type
// is Type and whose whole body is Length bytes long.
type Fragment struct {
	Type   MsgType
	Length uint32
	Seq    uint16
	Offset uint32
	Data   []byte
}

// valid reports whether f is a well-formed part of its message: the
// message fits a 24-bit length and the data lies within it.
func (f *Fragment) valid() bool {
	return f.Length <= maxHandshakeBody &&
		uint64(f.Offset)+uint64(len(f.Data)) <= uint64(f.Length)
}

// ParseFragment reads one fragment from the start of b, a handshake record
// payload that may hold several fragments, and returns it and the bytes
// that follow it. Data aliases b. A truncated header, data shorter than
// fragment_length, or data that ends past the message's length is
// record.AlertDecodeError. (A 24-bit length cannot exceed 2^24-1.)
func ParseFragment(b []byte) (f Fragment, rest []byte, err error) {
	s := cryptobyte.String(b)
	var typ uint8
	var data cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24(&f.Length) || !s.ReadUint16(&f.Seq) ||
		!s.ReadUint24(&f.Offset) || !s.ReadUint24LengthPrefixed(&data) {
		return Fragment{}, nil, errDecode
	}
	f.Type = MsgType(typ)
	f.Data = data[:len(data):len(data)]
	if !f.valid() {
		return Fragment{}, nil, errDecode
	}
	return f, s, nil
}

// AppendFragment appends f with its 12-byte header to dst. It panics if
// the data does not lie within a message of f.Length bytes or f.Length
// exceeds 2^24-1. It allocates only when dst lacks capacity.
func AppendFragment(dst []byte, f Fragment) []byte {
	if !f.valid() {
		panic(errFragment)
	}
	return append(appendDTLSHeader(dst, f.Type, f.Length, f.Seq, f.Offset, uint32(len(f.Data))), f.Data...)
}

// appendDTLSHeader appends a DTLS handshake header; the values must fit
// their fields.
func appendDTLSHeader(dst []byte, typ MsgType, length uint32, seq uint16, offset, fragLen uint32) []byte {
	b := newBuilder(dst)
	b.addUint8(uint8(typ))
	b.addUint24(length)
	b.addUint16(seq)
	b.addUint24(offset)
	b.addUint24(fragLen)
	return b.mustBytes()
}

// ToDTLS appends to dst the DTLS form of tlsMsg, a whole handshake message
// in TLS framing (a 4-byte header and the body, as Append writes it): a
// 12-byte header with message_seq seq, fragment_offset 0 and
// fragment_length equal to the length, then the body. This is the form
// that enters the DTLS 1.2 transcript (RFC 6347 §4.2.6) and the input of
// AppendFragments. It panics if tlsMsg is not exactly one message.
func ToDTLS(dst, tlsMsg []byte, seq uint16) []byte {
	s := cryptobyte.String(tlsMsg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		panic(errTLSMessage)
	}
	return AppendFragment(dst, Fragment{Type: MsgType(typ), Length: uint32(len(body)), Seq: seq, Data: body})
}

// AppendFragments appends to dst the fragments of msg, a whole message in
// DTLS form (see ToDTLS), one after another, in offset order. Each
// fragment, header included, is at most maxSize bytes, and each but the
// last carries exactly maxSize-DTLSHeaderLen body bytes; a message with an
// empty body yields one fragment. After appending each fragment it calls
// cut, if not nil, with that fragment. The fragment aliases the storage of
// the returned buffer and stays valid until the caller reuses that
// storage, so cut can copy it into a record of its own. A caller that
// keeps a scratch buffer and passes it back as dst[:0] fragments without
// allocating:
//
//	scratch = flights.AppendFragments(scratch[:0], msg, mtu-overhead, func(frag []byte) {
//		out = sealRecord(out, frag)
//	})
//
// AppendFragments panics if maxSize <= DTLSHeaderLen or msg is not
// exactly one whole DTLS-form message.
func AppendFragments(dst, msg []byte, maxSize int, cut func(fragment []byte)) []byte {
	f, rest, err := ParseFragment(msg)
	if err != nil || len(rest) != 0 || f.Offset != 0 || len(f.Data) != int(f.Length) {
		panic(errDTLSMessage)
	}
	if maxSize <= DTLSHeaderLen {
		panic(errFragmentSize)
	}
	body, per := f.Data, maxSize-DTLSHeaderLen
	for off := 0; ; {
		n := min(per, len(body)-off)
		start := len(dst)
		f.Offset, f.Data = uint32(off), body[off:off+n]
		dst = AppendFragment(dst, f)
		if cut != nil {
			cut(dst[start:len(dst):len(dst)])
		}
		if off += n; off == len(body) {
			return dst
		}
	}
}

// HelloVerifyRequest is a DTLS server's stateless answer to a ClientHello
// without a valid cookie (RFC 6347 §4.2.1); the client repeats its
// ClientHello with Cookie in ClientHello.DTLSCookie. RFC 6347 advises
// servers to send Version 0xfeff (DTLS 1.0) whatever version they will
// negotiate.
type HelloVerifyRequest struct {
	Version uint16
	// Cookie is 0 to 255 bytes.
	Cookie []byte
}

// Append appends the complete HelloVerifyRequest message, in TLS framing,
// to b. It panics if Cookie is longer than 255 bytes.
func (m *HelloVerifyRequest) Append(b []byte) []byte {
	return appendMessage(b, TypeHelloVerifyRequest, func(b *builder) {
		b.addUint16(m.Version)
		addBytes8(b, m.Cookie)
	})
}

// AppendDTLS appends the complete HelloVerifyRequest in DTLS form (see
// ToDTLS), as message message_seq seq, to dst. It allocates only when dst
// lacks capacity (a stateless server answers floods with it), and panics
// if Cookie is longer than 255 bytes.
func (m *HelloVerifyRequest) AppendDTLS(dst []byte, seq uint16) []byte {
	if len(m.Cookie) > 255 {
		panic(errFragment)
	}
	n := uint32(2 + 1 + len(m.Cookie))
	dst = append(dst, byte(TypeHelloVerifyRequest), byte(n>>16), byte(n>>8), byte(n))
	dst = append(dst, byte(seq>>8), byte(seq), 0, 0, 0, byte(n>>16), byte(n>>8), byte(n))
	dst = append(dst, byte(m.Version>>8), byte(m.Version), byte(len(m.Cookie)))
	return append(dst, m.Cookie...)
}

// Unmarshal parses a HelloVerifyRequest body (without the handshake
// header). Cookie aliases body and may be empty. It returns nil or a
// record.Alert.
func (m *HelloVerifyRequest) Unmarshal(body []byte) error {
	*m = HelloVerifyRequest{}
	s := cryptobyte.String(body)
	return okOr(s.ReadUint16(&m.Version) &&
		s.ReadUint8LengthPrefixed((*cryptobyte.String)(&m.Cookie)) &&
		s.Empty())
}

// HelloCookieFields are the fields at the start of a DTLS ClientHello, up
// to its cookie (RFC 6347 §4.2.1). They all lie in the hello's first
// fragment unless a path's MTU is absurdly small, so a server can check a
// cookie statelessly before it reassembles anything.
type HelloCookieFields struct {
	Version   uint16
	Random    []byte
	SessionID []byte
	Cookie    []byte
}

// ParseHelloCookieFields reads the fields up to the cookie from the start
// of a DTLS ClientHello body, which may be cut short after them (the
// first fragment of a hello). The slices alias start; it returns false
// when start does not hold them whole.
func ParseHelloCookieFields(start []byte) (f HelloCookieFields, ok bool) {
	s := cryptobyte.String(start)
	ok = readHelloHead(&s, &f.Version, &f.Random, &f.SessionID) &&
		s.ReadUint8LengthPrefixed((*cryptobyte.String)(&f.Cookie))
	return f, ok
}
