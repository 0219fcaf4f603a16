package dtls_test

import (
	"bytes"
	"fmt"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// A DTLS-SRTP handshake, as WebRTC makes one: a server from Listen and a
// client from Dial over UDP on loopback agree on an SRTP protection
// profile, and both export the same SRTP keying material (RFC 5764).
func ExampleListen() {
	cert := testcert.MustNew(testcert.ECDSAP256) // a test CA and a certificate for localhost
	profiles := []uint16{fsm.SRTP_AEAD_AES_128_GCM, fsm.SRTP_AES128_CM_HMAC_SHA1_80}
	ln, err := dtls.Listen("udp", "127.0.0.1:0", &dtls.Config{
		Certificates:           []dtls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}},
		SRTPProtectionProfiles: profiles,
	})
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	serverKeys := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		server := c.(*dtls.Conn)
		if server.Handshake() != nil { // Accept returns before the handshake ends
			return
		}
		keys, _ := server.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 2*(16+12))
		serverKeys <- keys
		c.Read(make([]byte, 1500)) // until the client closes
	}()

	conn, err := dtls.Dial("udp", ln.Addr().String(), &dtls.Config{
		RootCAs: cert.CAPool, ServerName: "localhost", SRTPProtectionProfiles: profiles,
	})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	keys, _ := conn.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 2*(16+12))
	fmt.Printf("version %#x, SRTP profile %#04x\n", st.Version, st.SRTPProtectionProfile)
	fmt.Println("same SRTP keys:", bytes.Equal(keys, <-serverKeys))
	// Output:
	// version 0xfefd, SRTP profile 0x0007
	// same SRTP keys: true
}
