package flights

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/record"
)

// dtlsClientHello decodes the DTLS layout of ClientHello, so that it can
// stand in the message tables.
type dtlsClientHello struct{ ClientHello }

func (m *dtlsClientHello) Unmarshal(body []byte) error { return m.UnmarshalDTLS(body) }

// newMessageDTLS returns an empty message for typ in its DTLS form, or nil
// for types whose form does not change in DTLS.
func newMessageDTLS(typ MsgType) message {
	switch typ {
	case TypeClientHello:
		return new(dtlsClientHello)
	case TypeHelloVerifyRequest:
		return new(HelloVerifyRequest)
	}
	return nil
}

func sampleDTLSClientHello() *ClientHello {
	return &ClientHello{
		Version:              0xfefd,
		Random:               fill(0x11, 32),
		SessionID:            fill(0x22, 32),
		DTLS:                 true,
		DTLSCookie:           fill(0xc0, 32),
		CipherSuites:         []uint16{0xc02b, 0xc02f},
		CompressionMethods:   []byte{0},
		SupportedGroups:      []uint16{0x001d, 0x0017},
		SignatureAlgorithms:  []uint16{0x0403, 0x0804},
		ExtendedMasterSecret: true,
		PSKIdentities:        []PSKIdentity{{Identity: []byte("id"), ObfuscatedTicketAge: 7}},
		PSKBinders:           [][]byte{fill(0x88, 32)},
	}
}

// sampleMessagesDTLS returns realistic values of the messages whose DTLS
// form differs from TLS.
func sampleMessagesDTLS() map[string]message {
	return map[string]message{
		"DTLSClientHello":         &dtlsClientHello{*sampleDTLSClientHello()},
		"DTLSClientHelloNoCookie": &dtlsClientHello{ClientHello{Version: 0xfefd, Random: fill(3, 32), DTLS: true, CipherSuites: []uint16{0xc02b}, CompressionMethods: []byte{0}}},
		"HelloVerifyRequest":      &HelloVerifyRequest{Version: 0xfeff, Cookie: fill(0xc0, 32)},
		"EmptyHelloVerifyRequest": &HelloVerifyRequest{Version: 0xfeff},
	}
}

func TestDTLSRoundTrip(t *testing.T) {
	for name, m := range sampleMessagesDTLS() {
		t.Run(name, func(t *testing.T) {
			enc := m.Append(nil)
			got := newMessageDTLS(MsgType(enc[0]))
			require.NoError(t, got.Unmarshal(enc[4:]))
			require.Equal(t, enc, got.Append(nil))
		})
	}
}

func TestHelloVerifyRequestEncoding(t *testing.T) {
	m := &HelloVerifyRequest{Version: 0xfeff, Cookie: []byte{1, 2, 3}}
	enc := m.Append(nil)
	require.Equal(t, []byte{3, 0, 0, 6, 0xfe, 0xff, 3, 1, 2, 3}, enc)
	var got HelloVerifyRequest
	require.NoError(t, got.Unmarshal(enc[4:]))
	require.Equal(t, m, &got)
	require.NoError(t, got.Unmarshal(fill(0, 3)))
	require.Empty(t, got.Cookie)
	require.NotPanics(t, func() { (&HelloVerifyRequest{Cookie: fill(1, 255)}).Append(nil) })
	require.Panics(t, func() { (&HelloVerifyRequest{Cookie: fill(1, 256)}).Append(nil) })
}

func TestDTLSClientHello(t *testing.T) {
	want := sampleDTLSClientHello()
	enc := want.Append(nil)
	// The cookie follows the session id: header, version, random, session
	// id vector.
	at := 4 + 2 + 32 + 1 + 32
	require.Equal(t, byte(32), enc[at])
	require.Equal(t, want.DTLSCookie, enc[at+1:at+33])
	require.Equal(t, []byte{0, 4, 0xc0, 0x2b}, enc[at+33:at+37])

	var got ClientHello
	require.NoError(t, got.UnmarshalDTLS(enc[4:]))
	require.True(t, got.DTLS)
	got.Extensions = nil
	require.Equal(t, want, &got)

	// BindersLen still names the tail of the encoding.
	n := want.BindersLen()
	require.Equal(t, []byte{0, 33, 32}, enc[len(enc)-n:len(enc)-n+3])

	// The TLS decoder reads the cookie vector as cipher suites.
	require.Error(t, new(ClientHello).Unmarshal(enc[4:]))

	// Without DTLS the cookie is not encoded.
	tls := *want
	tls.DTLS = false
	require.Len(t, tls.Append(nil), len(enc)-33)

	// An empty cookie is one zero byte.
	want.DTLSCookie = nil
	enc = want.Append(nil)
	require.Equal(t, byte(0), enc[at])
	require.NoError(t, got.UnmarshalDTLS(enc[4:]))
	require.NotNil(t, got.DTLSCookie)
	require.Empty(t, got.DTLSCookie)

	want.DTLSCookie = fill(1, 256)
	require.Panics(t, func() { want.Append(nil) })
}

func TestDTLSMalformed(t *testing.T) {
	head := cat([]byte{0xfe, 0xfd}, fill(1, 32), []byte{0})
	suites := []byte{0, 2, 0xc0, 0x2b, 1, 0}
	require.NoError(t, new(ClientHello).UnmarshalDTLS(cat(head, []byte{2, 9, 9}, suites)))
	cases := []struct {
		name string
		m    message
		body []byte
	}{
		{"ch no cookie", new(dtlsClientHello), cat(head, suites)},
		{"ch cookie truncated", new(dtlsClientHello), cat(head, []byte{3, 9, 9})},
		{"ch cookie then nothing", new(dtlsClientHello), cat(head, []byte{0})},
		{"hvr empty", new(HelloVerifyRequest), nil},
		{"hvr no cookie length", new(HelloVerifyRequest), []byte{0xfe, 0xff}},
		{"hvr cookie truncated", new(HelloVerifyRequest), []byte{0xfe, 0xff, 2, 1}},
		{"hvr trailing byte", new(HelloVerifyRequest), []byte{0xfe, 0xff, 1, 1, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, record.AlertDecodeError, tc.m.Unmarshal(tc.body))
		})
	}
}

func TestFragmentEncoding(t *testing.T) {
	f := Fragment{Type: TypeCertificate, Length: 0x010203, Seq: 0x0405, Offset: 0x000102, Data: []byte{7, 8, 9}}
	enc := AppendFragment([]byte("x"), f)
	require.Equal(t, []byte{'x', 11, 1, 2, 3, 4, 5, 0, 1, 2, 0, 0, 3, 7, 8, 9}, enc)

	// Two fragments in one payload, then a trailing byte.
	g := Fragment{Type: TypeServerHelloDone, Seq: 6, Data: []byte{}}
	payload := append(AppendFragment(enc[1:], g), 0xee)
	got, rest, err := ParseFragment(payload)
	require.NoError(t, err)
	require.Equal(t, f, got)
	require.Equal(t, len(got.Data), cap(got.Data))
	got, rest, err = ParseFragment(rest)
	require.NoError(t, err)
	require.Equal(t, g, got)
	require.Equal(t, []byte{0xee}, rest)

	require.Panics(t, func() { AppendFragment(nil, Fragment{Length: 2, Offset: 1, Data: []byte{1, 2}}) })
	require.Panics(t, func() { AppendFragment(nil, Fragment{Length: 1 << 24}) })
}

func TestParseFragmentMalformed(t *testing.T) {
	hdr := func(length, offset, fragLen uint32) []byte {
		return appendDTLSHeader(nil, TypeFinished, length, 1, offset, fragLen)
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header 11 bytes", hdr(4, 0, 0)[:11]},
		{"data short", cat(hdr(4, 0, 4), []byte{1, 2, 3})},
		{"past length", cat(hdr(4, 2, 3), []byte{1, 2, 3})},
		{"offset past empty message", hdr(0, 1, 0)},
		{"data in empty message", cat(hdr(0, 0, 1), []byte{1})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseFragment(tc.b)
			require.Equal(t, record.AlertDecodeError, err)
		})
	}
	_, _, err := ParseFragment(cat(hdr(4, 1, 3), []byte{1, 2, 3}))
	require.NoError(t, err)
}

func TestToDTLS(t *testing.T) {
	fin := (&Finished{VerifyData: []byte{1, 2, 3}}).Append(nil)
	require.Equal(t, []byte{'p', 20, 0, 0, 3, 0x12, 0x34, 0, 0, 0, 0, 0, 3, 1, 2, 3}, ToDTLS([]byte("p"), fin, 0x1234))
	done := (&ServerHelloDone{}).Append(nil)
	require.Equal(t, []byte{14, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0}, ToDTLS(nil, done, 2))
	require.Panics(t, func() { ToDTLS(nil, fin[:len(fin)-1], 0) })
	require.Panics(t, func() { ToDTLS(nil, append(fin, 0), 0) })
}

// fragmentsOf splits msg with AppendFragments and returns copies of the
// fragments cut reported, checking them against the returned buffer.
func fragmentsOf(t *testing.T, msg []byte, maxSize int) [][]byte {
	var frags [][]byte
	out := AppendFragments([]byte("pre"), msg, maxSize, func(f []byte) {
		frags = append(frags, append([]byte(nil), f...))
	})
	require.Equal(t, cat(append([][]byte{[]byte("pre")}, frags...)...), out)
	require.Equal(t, out, AppendFragments([]byte("pre"), msg, maxSize, nil))
	return frags
}

func TestAppendFragments(t *testing.T) {
	for _, size := range []int{0, 1, 2, 7, 8, 9, 100, 1187, 1188, 1189, 5000, 70000} {
		tlsMsg := (&Finished{VerifyData: pattern(size)}).Append(nil)
		if size == 0 {
			tlsMsg = (&ServerHelloDone{}).Append(nil)
		}
		msg := ToDTLS(nil, tlsMsg, uint16(size))
		for _, maxSize := range []int{13, 14, 20, 100, 1200, 1500, 1 << 20} {
			frags := fragmentsOf(t, msg, maxSize)
			per := maxSize - DTLSHeaderLen
			require.Len(t, frags, max(1, (size+per-1)/per), "size %d maxSize %d", size, maxSize)
			r := NewReassembler(1<<17, 0)
			r.SetNextSeq(uint16(size))
			next := 0
			for i, frag := range frags {
				require.LessOrEqual(t, len(frag), maxSize)
				if i < len(frags)-1 {
					require.Len(t, frag, maxSize)
				}
				f, rest, err := ParseFragment(frag)
				require.NoError(t, err)
				require.Empty(t, rest)
				require.Equal(t, next, int(f.Offset))
				next += len(f.Data)
				old, err := r.Add(f)
				require.NoError(t, err)
				require.False(t, old)
			}
			typ, body, raw, ok := r.Next()
			require.True(t, ok)
			require.Equal(t, MsgType(tlsMsg[0]), typ)
			require.Equal(t, tlsMsg[4:], body)
			require.Equal(t, msg, raw)
			require.Zero(t, r.Buffered())
		}
	}
	msg := ToDTLS(nil, (&Finished{VerifyData: pattern(10)}).Append(nil), 0)
	require.Panics(t, func() { AppendFragments(nil, msg, DTLSHeaderLen, nil) })
	require.Panics(t, func() { AppendFragments(nil, msg[:len(msg)-1], 100, nil) })
	require.Panics(t, func() { AppendFragments(nil, append(msg, 0), 100, nil) })
	require.Panics(t, func() { AppendFragments(nil, fragmentsOf(t, msg, 15)[1], 100, nil) })
}

func TestAppendFragmentsAllocations(t *testing.T) {
	msg := ToDTLS(nil, (&Finished{VerifyData: pattern(5000)}).Append(nil), 3)
	scratch := make([]byte, 0, 8192)
	out := make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(100, func() {
		out = out[:0]
		scratch = AppendFragments(scratch[:0], msg, 1200, func(f []byte) {
			out = append(out, f...)
		})
	})
	require.Zero(t, allocs)
}

// pattern returns n bytes that differ from their neighbours, so that
// misplaced data shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestHelloVerifyRequestAppendDTLS: the direct DTLS encoding is the TLS
// encoding through ToDTLS.
func TestHelloVerifyRequestAppendDTLS(t *testing.T) {
	for _, cookie := range [][]byte{nil, fill(7, 32), fill(9, 255)} {
		m := HelloVerifyRequest{Version: 0xfeff, Cookie: cookie}
		require.Equal(t, ToDTLS(nil, m.Append(nil), 513), m.AppendDTLS(nil, 513))
	}
	require.Panics(t, func() { (&HelloVerifyRequest{Cookie: make([]byte, 256)}).AppendDTLS(nil, 0) })
}
