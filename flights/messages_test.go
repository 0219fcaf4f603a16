package flights

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/record"
	"golang.org/x/crypto/cryptobyte"
)

func TestRoundTrip(t *testing.T) {
	for name, m := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			enc := m.Append(nil)
			typ := MsgType(enc[0])
			s := cryptobyte.String(enc[1:])
			var body cryptobyte.String
			require.True(t, s.ReadUint24LengthPrefixed(&body) && s.Empty(), "header length")

			got := newMessage(typ)
			require.NotNil(t, got, "type %v", typ)
			require.NoError(t, got.Unmarshal(body))
			require.Equal(t, enc, got.Append(nil))

			prefix := []byte("prefix")
			require.Equal(t, append(prefix, enc...), m.Append(prefix))
		})
	}
}

func TestClientHelloFields(t *testing.T) {
	want := sampleClientHello()
	enc := want.Append(nil)
	var got ClientHello
	require.NoError(t, got.Unmarshal(enc[4:]))
	require.Equal(t, []uint16{
		ExtServerName, ExtStatusRequest, ExtSupportedGroups, ExtECPointFormats,
		ExtSignatureAlgorithms, ExtALPN, ExtExtendedMasterSecret, ExtSessionTicket,
		ExtRenegotiationInfo, ExtEarlyData, ExtSupportedVersions, ExtCookie, ExtPSKModes,
		ExtSignatureAlgorithmsCert, ExtKeyShare, ExtPreSharedKey,
	}, got.Extensions)
	got.Extensions = nil
	want.SecureRenegotiation = []byte{}
	require.Equal(t, want, &got)
}

func TestBindersLen(t *testing.T) {
	m := sampleClientHello()
	enc := m.Append(nil)

	// Rebuild the binders list by hand: a 2-byte length, then each
	// binder behind a 1-byte length.
	n := 0
	for _, b := range m.PSKBinders {
		n += 1 + len(b)
	}
	tail := []byte{byte(n >> 8), byte(n)}
	for _, b := range m.PSKBinders {
		tail = append(append(tail, byte(len(b))), b...)
	}
	require.Equal(t, len(tail), m.BindersLen())
	require.Equal(t, tail, enc[len(enc)-m.BindersLen():])

	m.PSKIdentities, m.PSKBinders = nil, nil
	require.Zero(t, m.BindersLen())
}

func TestServerHelloForms(t *testing.T) {
	hrr := sampleHelloRetryRequest()
	require.True(t, hrr.IsHelloRetryRequest())
	enc := hrr.Append(nil)
	// key_share in a HelloRetryRequest is the bare group.
	require.Contains(t, string(enc), string([]byte{0x00, 0x33, 0x00, 0x02, 0x00, 0x17}))
	var got ServerHello
	require.NoError(t, got.Unmarshal(enc[4:]))
	require.Equal(t, uint16(0x0017), got.SelectedGroup)
	require.Zero(t, got.KeyShare.Group)
	require.Equal(t, hrr.Cookie, got.Cookie)

	sh := sampleServerHello()
	require.False(t, sh.IsHelloRetryRequest())
	require.NoError(t, got.Unmarshal(sh.Append(nil)[4:]))
	require.Equal(t, sh.KeyShare, got.KeyShare)
	require.Zero(t, got.SelectedGroup)
	require.Equal(t, []uint16{
		ExtSupportedVersions, ExtKeyShare, ExtPreSharedKey, ExtALPN,
		ExtExtendedMasterSecret, ExtSessionTicket, ExtECPointFormats, ExtRenegotiationInfo,
	}, got.Extensions)
}

func TestHelloRetryRequestRandom(t *testing.T) {
	require.Equal(t, sha256.Sum256([]byte("HelloRetryRequest")), HelloRetryRequestRandom)
}

func TestEmptyRenegotiationInfo(t *testing.T) {
	ch := &ClientHello{
		Version: 0x0303, Random: fill(1, 32), CipherSuites: []uint16{0x1301},
		CompressionMethods: []byte{0}, SecureRenegotiationSupported: true,
	}
	enc := ch.Append(nil)
	require.Equal(t, []byte{0xff, 0x01, 0x00, 0x01, 0x00}, enc[len(enc)-5:])

	sh := &ServerHello{Version: 0x0303, Random: fill(1, 32), SecureRenegotiationSupported: true}
	enc = sh.Append(nil)
	require.Equal(t, []byte{0xff, 0x01, 0x00, 0x01, 0x00}, enc[len(enc)-5:])
	var got ServerHello
	require.NoError(t, got.Unmarshal(enc[4:]))
	require.True(t, got.SecureRenegotiationSupported)
	require.Empty(t, got.SecureRenegotiation)
}

func TestAppendPanicsOnBadRandom(t *testing.T) {
	require.Panics(t, func() { (&ServerHello{Random: fill(1, 31)}).Append(nil) })
	require.Panics(t, func() {
		(&ClientHello{Random: fill(1, 32), SessionID: fill(1, 33)}).Append(nil)
	})
}

func TestMsgTypeString(t *testing.T) {
	require.Equal(t, "client_hello", TypeClientHello.String())
	require.Equal(t, "message_hash", TypeMessageHash.String())
	require.Equal(t, "msg_type(99)", MsgType(99).String())
}

func TestUseSRTPRoundTrip(t *testing.T) {
	ch := sampleClientHello()
	ch.SRTPProfiles = []uint16{0x0001, 0x0007}
	ch.SRTPMKI = []byte{9}
	raw := ch.Append(nil)
	var got ClientHello
	require.NoError(t, got.Unmarshal(raw[4:]))
	require.Equal(t, []uint16{1, 7}, got.SRTPProfiles)
	require.Equal(t, []byte{9}, []byte(got.SRTPMKI))
	require.Contains(t, got.Extensions, ExtUseSRTP)

	sh := sampleServerHello()
	sh.SRTPProfiles = []uint16{7}
	raw = sh.Append(nil)
	var gotSH ServerHello
	require.NoError(t, gotSH.Unmarshal(raw[4:]))
	require.Equal(t, []uint16{7}, gotSH.SRTPProfiles)
	require.Empty(t, gotSH.SRTPMKI)

	sh.SRTPProfiles = []uint16{1, 7} // a server chooses one
	raw = sh.Append(nil)
	require.ErrorIs(t, gotSH.Unmarshal(raw[4:]), record.AlertDecodeError)
}

// TestConnectionIDRoundTrip: connection_id (RFC 9146) in both hellos,
// empty or not; its length prefix must match its content.
func TestConnectionIDRoundTrip(t *testing.T) {
	for _, cid := range [][]byte{{}, {1, 2, 3, 4, 5, 6, 7, 8}, fill(3, 255)} {
		ch := sampleClientHello()
		ch.ConnectionIDSupported, ch.ConnectionID = true, cid
		var got ClientHello
		raw := ch.Append(nil)
		require.NoError(t, got.Unmarshal(raw[4:]))
		require.True(t, got.ConnectionIDSupported)
		require.Equal(t, len(cid), len(got.ConnectionID))
		require.True(t, bytes.Equal(cid, got.ConnectionID))
		require.Contains(t, got.Extensions, ExtConnectionID)

		sh := sampleServerHello()
		sh.ConnectionIDSupported, sh.ConnectionID = true, cid
		var gotSH ServerHello
		require.NoError(t, gotSH.Unmarshal(sh.Append(nil)[4:]))
		require.True(t, gotSH.ConnectionIDSupported)
		require.True(t, bytes.Equal(cid, gotSH.ConnectionID))
	}
	var none ClientHello
	require.NoError(t, none.Unmarshal(sampleClientHello().Append(nil)[4:]))
	require.False(t, none.ConnectionIDSupported)

	// An extension whose vector is cut short, or followed by a byte.
	for _, ext := range [][]byte{{0, 54, 0, 2, 3, 1, 2}, {0, 54, 0, 3, 1, 1, 9}} {
		body := (&ServerHello{Version: 0xfefd, Random: fill(1, 32), CipherSuite: 0xc02b}).Append(nil)[4:]
		body = append(append(body, 0, byte(len(ext))), ext...)
		var sh ServerHello
		require.ErrorIs(t, sh.Unmarshal(body), record.AlertDecodeError, "%x", ext)
	}
}

// TestClientHelloOffers: Offers names exactly the extensions Append
// writes, for a hello with every field set and for one with none.
func TestClientHelloOffers(t *testing.T) {
	full := sampleClientHello()
	full.SRTPProfiles = []uint16{1}
	full.ConnectionIDSupported = true
	bare := &ClientHello{Version: 0x0303, Random: fill(1, 32), CipherSuites: []uint16{0x1301}, CompressionMethods: []byte{0}}
	for _, ch := range []*ClientHello{full, bare} {
		var parsed ClientHello
		require.NoError(t, parsed.Unmarshal(ch.Append(nil)[4:]))
		for ext := range 1 << 16 {
			require.Equal(t, slices.Contains(parsed.Extensions, uint16(ext)), ch.Offers(uint16(ext)), "extension %d", ext)
		}
	}
}
