package flights

import (
	"crypto"
	_ "crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"
)

// Messages of the "Simple 1-RTT Handshake" trace in RFC 8448 §3.
const (
	rfc8448ClientHello = `
		01 00 00 c0 03 03 cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12
		ec 18 a2 ef 62 83 02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00 00 00 0b
		00 09 00 00 06 73 65 72 76 65 72 ff 01 00 01 00 00 0a 00 14 00 12 00 1d 00 17 00
		18 00 19 01 00 01 01 01 02 01 03 01 04 00 23 00 00 00 33 00 26 00 24 00 1d 00 20
		99 38 1d e5 60 e4 bd 43 d2 3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1 3c ae 4d 54 13 69
		1e 52 9a af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03 02 03 08
		04 08 05 08 06 04 01 05 01 06 01 02 01 04 02 05 02 06 02 02 02 00 2d 00 02 01 01
		00 1c 00 02 40 01`
	rfc8448ServerHello = `
		02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5 cb
		14 34 da c1 55 77 2e d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20 c9 82
		88 76 11 20 95 fe 66 76 2b db f7 c6 72 e1 56 d6 cc 25 3b 83 3d f1 dd 69 b1 b0 4e
		75 1f 0f 00 2b 00 02 03 04`
	rfc8448EncryptedExtensions = `
		08 00 00 24 00 22 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01
		03 01 04 00 1c 00 02 40 01 00 00 00 00`
	// Hash of ClientHello and ServerHello, as listed in the trace.
	rfc8448HelloHash = "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8"
)

func TestRFC8448ClientHello(t *testing.T) {
	raw := unhex(t, rfc8448ClientHello)
	var m ClientHello
	require.NoError(t, m.Unmarshal(raw[4:]))

	require.Equal(t, uint16(0x0303), m.Version)
	require.Equal(t, unhex(t, "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7"), m.Random)
	require.Empty(t, m.SessionID)
	require.Equal(t, []uint16{0x1301, 0x1303, 0x1302}, m.CipherSuites)
	require.Equal(t, []byte{0}, m.CompressionMethods)
	require.Equal(t, "server", m.ServerName)
	require.True(t, m.SecureRenegotiationSupported)
	require.Empty(t, m.SecureRenegotiation)
	require.Equal(t, []uint16{0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104}, m.SupportedGroups)
	require.True(t, m.TicketSupported)
	require.Empty(t, m.SessionTicket)
	require.Equal(t, []KeyShare{{Group: 0x001d, Data: unhex(t, "99381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c")}}, m.KeyShares)
	require.Equal(t, []uint16{0x0304}, m.SupportedVersions)
	require.Equal(t, []uint16{
		0x0403, 0x0503, 0x0603, 0x0203, 0x0804, 0x0805, 0x0806, 0x0401,
		0x0501, 0x0601, 0x0201, 0x0402, 0x0502, 0x0602, 0x0202,
	}, m.SignatureAlgorithms)
	require.Equal(t, []uint8{1}, m.PSKModes)
	require.Equal(t, []uint16{
		ExtServerName, ExtRenegotiationInfo, ExtSupportedGroups, ExtSessionTicket,
		ExtKeyShare, ExtSupportedVersions, ExtSignatureAlgorithms, ExtPSKModes, 0x001c,
	}, m.Extensions)
	require.Zero(t, m.BindersLen())
}

func TestRFC8448ServerHello(t *testing.T) {
	raw := unhex(t, rfc8448ServerHello)
	var m ServerHello
	require.NoError(t, m.Unmarshal(raw[4:]))

	require.False(t, m.IsHelloRetryRequest())
	require.Equal(t, uint16(0x0303), m.Version)
	require.Equal(t, unhex(t, "a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e26928"), m.Random)
	require.Empty(t, m.SessionID)
	require.Equal(t, uint16(0x1301), m.CipherSuite)
	require.Zero(t, m.CompressionMethod)
	require.Equal(t, uint16(0x0304), m.SupportedVersion)
	require.Equal(t, KeyShare{Group: 0x001d, Data: unhex(t, "c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f")}, m.KeyShare)
	require.Equal(t, []uint16{ExtKeyShare, ExtSupportedVersions}, m.Extensions)
}

func TestRFC8448EncryptedExtensions(t *testing.T) {
	raw := unhex(t, rfc8448EncryptedExtensions)
	var m EncryptedExtensions
	require.NoError(t, m.Unmarshal(raw[4:]))
	require.True(t, m.ServerNameAck)
	require.Len(t, m.SupportedGroups, 9)
	require.Equal(t, []uint16{ExtSupportedGroups, 0x001c, ExtServerName}, m.Extensions)
}

func TestRFC8448Transcript(t *testing.T) {
	var tr Transcript
	tr.Write(unhex(t, rfc8448ClientHello))
	tr.SetHash(crypto.SHA256)
	tr.Write(unhex(t, rfc8448ServerHello))
	require.Equal(t, unhex(t, rfc8448HelloHash), tr.Sum(nil))
}

func TestRFC8448ThroughReader(t *testing.T) {
	stream := append(unhex(t, rfc8448ClientHello), unhex(t, rfc8448ServerHello)...)
	r := NewReader(1 << 14)
	r.Write(stream)
	var tr Transcript
	for _, want := range []MsgType{TypeClientHello, TypeServerHello} {
		typ, body, raw, ok, err := r.Next()
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, typ)
		require.NoError(t, newMessage(typ).Unmarshal(body))
		tr.Write(raw)
	}
	tr.SetHash(crypto.SHA256)
	require.Equal(t, unhex(t, rfc8448HelloHash), tr.Sum(nil))
	require.Zero(t, r.Buffered())
}
