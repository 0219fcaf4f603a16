package flights

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/record"
)

// newMessage12 returns an empty TLS 1.2 message for typ, or nil for types
// whose TLS 1.2 form newMessage already covers or that this package does
// not decode.
func newMessage12(typ MsgType) message {
	switch typ {
	case TypeHelloRequest:
		return new(HelloRequest)
	case TypeNewSessionTicket:
		return new(NewSessionTicket12)
	case TypeCertificate:
		return new(Certificate12)
	case TypeServerKeyExchange:
		return new(ServerKeyExchange)
	case TypeCertificateRequest:
		return new(CertificateRequest12)
	case TypeServerHelloDone:
		return new(ServerHelloDone)
	case TypeClientKeyExchange:
		return new(ClientKeyExchange)
	}
	return nil
}

func sampleServerKeyExchange() *ServerKeyExchange {
	return &ServerKeyExchange{Curve: 0x0017, PublicKey: append([]byte{4}, fill(0x41, 64)...), Algorithm: 0x0403, Signature: fill(0x5b, 71)}
}

// sampleMessages12 returns realistic values of every TLS 1.2 message type.
func sampleMessages12() map[string]message {
	return map[string]message{
		"HelloRequest":      &HelloRequest{},
		"ServerKeyExchange": sampleServerKeyExchange(),
		"ServerHelloDone":   &ServerHelloDone{},
		"ClientKeyExchange": &ClientKeyExchange{PublicKey: fill(0x3c, 32)},
		"CertificateRequest12": &CertificateRequest12{
			CertificateTypes:       []byte{1, 64},
			SignatureAlgorithms:    []uint16{0x0403, 0x0804, 0x0401},
			CertificateAuthorities: [][]byte{fill(0x30, 20), fill(0x30, 300)},
		},
		"CertificateRequest12NoCAs": &CertificateRequest12{CertificateTypes: []byte{64}, SignatureAlgorithms: []uint16{0x0403}},
		"Certificate12":             &Certificate12{Certificates: [][]byte{fill(0x30, 700), fill(0x31, 1)}},
		"EmptyCertificate12":        &Certificate12{},
		"NewSessionTicket12":        &NewSessionTicket12{LifetimeHint: 7200, Ticket: fill(0x7e, 180)},
		"EmptyNewSessionTicket12":   &NewSessionTicket12{LifetimeHint: 0},
	}
}

func TestRoundTrip12(t *testing.T) {
	for name, m := range sampleMessages12() {
		t.Run(name, func(t *testing.T) {
			enc := m.Append(nil)
			n := int(enc[1])<<16 | int(enc[2])<<8 | int(enc[3])
			require.Equal(t, len(enc)-4, n, "header length")

			got := newMessage12(MsgType(enc[0]))
			require.NotNil(t, got, "type %v", MsgType(enc[0]))
			require.NoError(t, got.Unmarshal(enc[4:]))
			require.Equal(t, enc, got.Append(nil))

			prefix := []byte("prefix")
			require.Equal(t, append(prefix, enc...), m.Append(prefix))
		})
	}
}

func TestFields12(t *testing.T) {
	for name, want := range sampleMessages12() {
		t.Run(name, func(t *testing.T) {
			got := newMessage12(MsgType(want.Append(nil)[0]))
			require.NoError(t, got.Unmarshal(want.Append(nil)[4:]))
			switch w := want.(type) {
			case *NewSessionTicket12:
				// An empty ticket decodes as an empty, non-nil slice.
				g := got.(*NewSessionTicket12)
				require.Equal(t, w.LifetimeHint, g.LifetimeHint)
				require.Equal(t, len(w.Ticket), len(g.Ticket))
				if len(w.Ticket) > 0 {
					require.Equal(t, w.Ticket, g.Ticket)
				}
			default:
				require.Equal(t, want, got)
			}
		})
	}
}

func TestEmptyBodies12(t *testing.T) {
	require.Equal(t, []byte{0, 0, 0, 0}, (&HelloRequest{}).Append(nil))
	require.Equal(t, []byte{14, 0, 0, 0}, (&ServerHelloDone{}).Append(nil))
	require.Equal(t, []byte{11, 0, 0, 3, 0, 0, 0}, (&Certificate12{}).Append(nil))
	require.Equal(t, []byte{4, 0, 0, 6, 0, 0, 0, 9, 0, 0}, (&NewSessionTicket12{LifetimeHint: 9}).Append(nil))
}

// TestServerKeyExchangeVector decodes a ServerKeyExchange written out byte
// by byte: an x25519 share signed with ecdsa_secp256r1_sha256.
func TestServerKeyExchangeVector(t *testing.T) {
	msg := []byte{
		0x0c,             // msg_type: server_key_exchange (12)
		0x00, 0x00, 0x30, // body length: 48
		// ServerECDHParams (RFC 8422 §5.4):
		0x03,       // ECCurveType: named_curve
		0x00, 0x1d, // NamedCurve: x25519
		0x20, // ECPoint length: 32
		// ECPoint: 32 bytes of x25519 public key
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // ECPoint bytes 1-8
		0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, // ECPoint bytes 9-16
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, // ECPoint bytes 17-24
		0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, // ECPoint bytes 25-32
		// DigitallySigned (RFC 5246 §4.7):
		0x04, 0x03, // SignatureAndHashAlgorithm: ecdsa_secp256r1_sha256
		0x00, 0x08, // signature length: 8
		0x30, 0x06, // DER SEQUENCE, 6 bytes
		0x02, 0x01, 0x01, // INTEGER r = 1
		0x02, 0x01, 0x02, // INTEGER s = 2
	}
	require.Equal(t, len(msg)-4, int(msg[3]))

	var m ServerKeyExchange
	require.NoError(t, m.Unmarshal(msg[4:]))
	require.Equal(t, uint16(0x001d), m.Curve)
	point := make([]byte, 32)
	for i := range point {
		point[i] = byte(i + 1)
	}
	require.Equal(t, point, m.PublicKey)
	require.Equal(t, uint16(0x0403), m.Algorithm)
	require.Equal(t, []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02}, m.Signature)

	// The signed params are the first 36 bytes of the body.
	require.Equal(t, msg[4:4+36], m.Params())
	require.Equal(t, msg, m.Append(nil))
}

func TestServerKeyExchangeParams(t *testing.T) {
	m := sampleServerKeyExchange()
	p := m.Params()
	require.Equal(t, []byte{3, 0x00, 0x17, 65}, p[:4])
	require.Equal(t, m.PublicKey, p[4:])

	// Params is built afresh: it never aliases the decode buffer.
	enc := m.Append(nil)
	var got ServerKeyExchange
	require.NoError(t, got.Unmarshal(enc[4:]))
	p = got.Params()
	p[0] = 0xff
	require.Equal(t, enc, got.Append(nil))
	require.Equal(t, byte(3), got.Params()[0])

	require.Panics(t, func() { (&ServerKeyExchange{PublicKey: fill(1, 256)}).Params() })
}

func TestMalformed12(t *testing.T) {
	x25519 := fill(0x42, 32)
	ske := func(curveType byte, tail ...byte) []byte {
		return cat([]byte{curveType, 0x00, 0x1d, 32}, x25519, tail)
	}
	cases := []struct {
		name string
		typ  MsgType
		body []byte
		want record.Alert
	}{
		{"hello_request with body", TypeHelloRequest, []byte{0}, record.AlertDecodeError},
		{"ske empty", TypeServerKeyExchange, nil, record.AlertDecodeError},
		{"ske explicit_prime curve", TypeServerKeyExchange, ske(1, 4, 3, 0, 1, 9), record.AlertIllegalParameter},
		{"ske explicit_char2 curve", TypeServerKeyExchange, ske(2, 4, 3, 0, 1, 9), record.AlertIllegalParameter},
		{"ske unknown curve type alone", TypeServerKeyExchange, []byte{0}, record.AlertIllegalParameter},
		{"ske curve truncated", TypeServerKeyExchange, []byte{3, 0x00}, record.AlertDecodeError},
		{"ske empty point", TypeServerKeyExchange, []byte{3, 0x00, 0x1d, 0, 4, 3, 0, 1, 9}, record.AlertDecodeError},
		{"ske point overruns", TypeServerKeyExchange, []byte{3, 0x00, 0x1d, 33, 1, 2}, record.AlertDecodeError},
		{"ske no signature", TypeServerKeyExchange, ske(3), record.AlertDecodeError},
		{"ske algorithm only", TypeServerKeyExchange, ske(3, 4, 3), record.AlertDecodeError},
		{"ske empty signature", TypeServerKeyExchange, ske(3, 4, 3, 0, 0), record.AlertDecodeError},
		{"ske signature truncated", TypeServerKeyExchange, ske(3, 4, 3, 0, 3, 9, 9), record.AlertDecodeError},
		{"ske trailing byte", TypeServerKeyExchange, ske(3, 4, 3, 0, 1, 9, 0), record.AlertDecodeError},
		{"shd with body", TypeServerHelloDone, []byte{0}, record.AlertDecodeError},
		{"cke empty", TypeClientKeyExchange, nil, record.AlertDecodeError},
		{"cke empty point", TypeClientKeyExchange, []byte{0}, record.AlertDecodeError},
		{"cke point truncated", TypeClientKeyExchange, []byte{3, 1, 2}, record.AlertDecodeError},
		{"cke trailing byte", TypeClientKeyExchange, []byte{1, 4, 0}, record.AlertDecodeError},
		{"cr12 empty", TypeCertificateRequest, nil, record.AlertDecodeError},
		{"cr12 no certificate types", TypeCertificateRequest, []byte{0, 0, 2, 4, 3, 0, 0}, record.AlertDecodeError},
		{"cr12 empty sigalgs", TypeCertificateRequest, []byte{1, 64, 0, 0, 0, 0}, record.AlertDecodeError},
		{"cr12 odd sigalgs", TypeCertificateRequest, []byte{1, 64, 0, 3, 4, 3, 8, 0, 0}, record.AlertDecodeError},
		{"cr12 no authorities block", TypeCertificateRequest, []byte{1, 64, 0, 2, 4, 3}, record.AlertDecodeError},
		{"cr12 empty dn", TypeCertificateRequest, []byte{1, 64, 0, 2, 4, 3, 0, 2, 0, 0}, record.AlertDecodeError},
		{"cr12 dn overruns block", TypeCertificateRequest, []byte{1, 64, 0, 2, 4, 3, 0, 3, 0, 2, 0x30}, record.AlertDecodeError},
		{"cr12 trailing byte", TypeCertificateRequest, []byte{1, 64, 0, 2, 4, 3, 0, 0, 0}, record.AlertDecodeError},
		{"cert12 empty body", TypeCertificate, nil, record.AlertDecodeError},
		{"cert12 empty certificate", TypeCertificate, []byte{0, 0, 3, 0, 0, 0}, record.AlertDecodeError},
		{"cert12 certificate overruns list", TypeCertificate, []byte{0, 0, 4, 0, 0, 2, 0x30}, record.AlertDecodeError},
		{"cert12 list overruns body", TypeCertificate, []byte{0, 0, 5, 0, 0, 1, 0x30}, record.AlertDecodeError},
		{"cert12 trailing byte", TypeCertificate, []byte{0, 0, 4, 0, 0, 1, 0x30, 0}, record.AlertDecodeError},
		{"nst12 short hint", TypeNewSessionTicket, []byte{0, 0, 0}, record.AlertDecodeError},
		{"nst12 no ticket length", TypeNewSessionTicket, []byte{0, 0, 0, 1}, record.AlertDecodeError},
		{"nst12 ticket truncated", TypeNewSessionTicket, []byte{0, 0, 0, 1, 0, 2, 7}, record.AlertDecodeError},
		{"nst12 trailing byte", TypeNewSessionTicket, []byte{0, 0, 0, 1, 0, 1, 7, 0}, record.AlertDecodeError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := newMessage12(tc.typ).Unmarshal(tc.body)
			require.Error(t, err)
			require.Equal(t, tc.want, err)
		})
	}
}

// TestMalformed12Baseline checks that the valid neighbours of the malformed
// cases decode, so that each case fails for the reason it names.
func TestMalformed12Baseline(t *testing.T) {
	require.NoError(t, new(ServerKeyExchange).Unmarshal(cat([]byte{3, 0x00, 0x1d, 32}, fill(0x42, 32), []byte{4, 3, 0, 1, 9})))
	require.NoError(t, new(ServerKeyExchange).Unmarshal([]byte{3, 0x00, 0x1d, 1, 4, 4, 3, 0, 1, 9}))
	require.NoError(t, new(ClientKeyExchange).Unmarshal([]byte{1, 4}))
	require.NoError(t, new(CertificateRequest12).Unmarshal([]byte{1, 64, 0, 2, 4, 3, 0, 0}))
	require.NoError(t, new(CertificateRequest12).Unmarshal([]byte{1, 64, 0, 2, 4, 3, 0, 3, 0, 1, 0x30}))
	require.NoError(t, new(Certificate12).Unmarshal([]byte{0, 0, 0}))
	require.NoError(t, new(Certificate12).Unmarshal([]byte{0, 0, 4, 0, 0, 1, 0x30}))
	require.NoError(t, new(NewSessionTicket12).Unmarshal([]byte{0, 0, 0, 1, 0, 0}))
	require.NoError(t, new(NewSessionTicket12).Unmarshal([]byte{0, 0, 0, 1, 0, 1, 7}))
}
