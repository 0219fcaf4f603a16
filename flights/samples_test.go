package flights

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// message is implemented by every handshake message type.
type message interface {
	Append(b []byte) []byte
	Unmarshal(body []byte) error
}

// newMessage returns an empty message for typ, or nil for types this
// package does not decode.
func newMessage(typ MsgType) message {
	switch typ {
	case TypeClientHello:
		return new(ClientHello)
	case TypeServerHello:
		return new(ServerHello)
	case TypeEncryptedExtensions:
		return new(EncryptedExtensions)
	case TypeCertificateRequest:
		return new(CertificateRequest)
	case TypeCertificate:
		return new(Certificate)
	case TypeCertificateVerify:
		return new(CertificateVerify)
	case TypeFinished:
		return new(Finished)
	case TypeNewSessionTicket:
		return new(NewSessionTicket)
	case TypeKeyUpdate:
		return new(KeyUpdate)
	case TypeEndOfEarlyData:
		return new(EndOfEarlyData)
	}
	return nil
}

// unhex decodes hex that may contain white space.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// fill returns n bytes of value v.
func fill(v byte, n int) []byte {
	return bytes.Repeat([]byte{v}, n)
}

func sampleClientHello() *ClientHello {
	return &ClientHello{
		Version:                      0x0303,
		Random:                       fill(0x11, 32),
		SessionID:                    fill(0x22, 32),
		CipherSuites:                 []uint16{0x1301, 0x1303, 0x1302, 0xc02f},
		CompressionMethods:           []byte{0},
		ServerName:                   "example.com",
		SupportedGroups:              []uint16{0x001d, 0x0017, 0x0018},
		SignatureAlgorithms:          []uint16{0x0403, 0x0804, 0x0401},
		SignatureAlgorithmsCert:      []uint16{0x0403, 0x0401},
		SupportedVersions:            []uint16{0x0304, 0x0303},
		KeyShares:                    []KeyShare{{Group: 0x001d, Data: fill(0x33, 32)}, {Group: 0x0017, Data: fill(0x44, 65)}},
		ALPN:                         []string{"h2", "http/1.1"},
		PSKModes:                     []uint8{1},
		Cookie:                       fill(0x55, 20),
		EarlyData:                    true,
		SecureRenegotiationSupported: true,
		ExtendedMasterSecret:         true,
		TicketSupported:              true,
		SessionTicket:                fill(0x66, 48),
		PSKIdentities:                []PSKIdentity{{Identity: fill(0x77, 40), ObfuscatedTicketAge: 0x01020304}, {Identity: []byte("id"), ObfuscatedTicketAge: 7}},
		PSKBinders:                   [][]byte{fill(0x88, 32), fill(0x99, 48)},
		ECPointFormats:               []uint8{0},
		StatusRequest:                true,
	}
}

func sampleServerHello() *ServerHello {
	return &ServerHello{
		Version:                      0x0303,
		Random:                       fill(0xaa, 32),
		SessionID:                    fill(0x22, 32),
		CipherSuite:                  0x1301,
		SupportedVersion:             0x0304,
		KeyShare:                     KeyShare{Group: 0x001d, Data: fill(0xbb, 32)},
		HasSelectedPSK:               true,
		SelectedPSK:                  1,
		ALPN:                         "h2",
		SecureRenegotiationSupported: true,
		ExtendedMasterSecret:         true,
		TicketSupported:              true,
		ECPointFormats:               []uint8{0},
	}
}

func sampleHelloRetryRequest() *ServerHello {
	return &ServerHello{
		Version:          0x0303,
		Random:           HelloRetryRequestRandom[:],
		SessionID:        fill(0x22, 32),
		CipherSuite:      0x1302,
		SupportedVersion: 0x0304,
		SelectedGroup:    0x0017,
		Cookie:           fill(0xcc, 64),
	}
}

func sampleCertificate() *Certificate {
	return &Certificate{
		Context: []byte{9, 8},
		Entries: []CertificateEntry{
			{Data: fill(0x30, 300), OCSPStaple: fill(0x31, 100), SCTs: [][]byte{fill(0x32, 40), fill(0x33, 41)}},
			{Data: fill(0x34, 200)},
		},
	}
}

// sampleMessages returns one realistic value of every message type.
func sampleMessages() map[string]message {
	return map[string]message{
		"ClientHello":       sampleClientHello(),
		"ServerHello":       sampleServerHello(),
		"HelloRetryRequest": sampleHelloRetryRequest(),
		"EncryptedExtensions": &EncryptedExtensions{
			ALPN: "h2", ServerNameAck: true, SupportedGroups: []uint16{0x001d}, EarlyData: true,
		},
		"CertificateRequest": &CertificateRequest{
			Context:                 []byte{1, 2, 3},
			SignatureAlgorithms:     []uint16{0x0403, 0x0804},
			SignatureAlgorithmsCert: []uint16{0x0403},
			CertificateAuthorities:  [][]byte{fill(0x30, 20), fill(0x30, 30)},
		},
		"Certificate":       sampleCertificate(),
		"EmptyCertificate":  &Certificate{},
		"CertificateVerify": &CertificateVerify{Algorithm: 0x0804, Signature: fill(0x5a, 256)},
		"Finished":          &Finished{VerifyData: fill(0xf0, 32)},
		"NewSessionTicket": &NewSessionTicket{
			Lifetime: 7200, AgeAdd: 0xdeadbeef, Nonce: []byte{0, 1}, Ticket: fill(0x7e, 100), MaxEarlyData: 16384,
		},
		"KeyUpdate":      &KeyUpdate{RequestUpdate: 1},
		"EndOfEarlyData": &EndOfEarlyData{},
	}
}
