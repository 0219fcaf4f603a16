package fsm_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/tlsm/tlsm/fsm"
)

// exampleConfigs returns a client and a server Config sharing a fresh
// self-signed certificate for "localhost".
func exampleConfigs() (client, server *fsm.Config) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	server = &fsm.Config{Certificates: []fsm.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &fsm.Config{RootCAs: roots, ServerName: "localhost"}
	return client, server
}

// shuttle drains both Conns' events until neither has anything to say,
// carrying transmitted bytes to the other and printing the rest.
func shuttle(now time.Time, client, server *fsm.Conn) {
	names := map[*fsm.Conn]string{client: "client", server: "server"}
	for moved := true; moved; {
		moved = false
		for from, to := range map[*fsm.Conn]*fsm.Conn{client: server, server: client} {
			for ev := from.NextEvent(); ev.Kind != fsm.EventNone; ev = from.NextEvent() {
				moved = true
				switch ev.Kind {
				case fsm.EventTransmit:
					to.HandleData(now, bytes.Clone(ev.Data))
				case fsm.EventHandshakeDone:
					fmt.Printf("%s: handshake %d done, %s\n", names[from], ev.Handshake, fsm.VersionName(ev.Version))
				case fsm.EventData:
					fmt.Printf("%s received %q\n", names[from], ev.Data)
				case fsm.EventKeyUpdateSent, fsm.EventKeyUpdateReceived:
					fmt.Printf("%s: %s %s\n", names[from], ev.Kind, ev.KeyUpdate)
				}
			}
		}
	}
}

// A client and a server Conn in memory, driven by hand: the caller feeds
// each the bytes the other transmits and drains their events.
func ExampleConn() {
	cc, sc := exampleConfigs()
	client, server := fsm.NewClient(cc), fsm.NewServer(sc)
	now := time.Now()
	client.Start(now)
	shuttle(now, client, server)

	client.Write(now, []byte("hello"))
	shuttle(now, client, server)
	// Unordered output:
	// client: handshake 1 done, TLS1.3
	// server: handshake 1 done, TLS1.3
	// server received "hello"
}

// A key update is scheduled, as with OpenSSL's SSL_key_update, and goes
// out with the next write; the peer answers a requested one.
func ExampleConn_KeyUpdate() {
	cc, sc := exampleConfigs()
	client, server := fsm.NewClient(cc), fsm.NewServer(sc)
	now := time.Now()
	client.Start(now)
	shuttle(now, client, server)

	client.KeyUpdate(fsm.UpdateRequested)
	fmt.Println("pending:", client.PendingKeyUpdate())
	client.Write(now, []byte("under the next key"))
	shuttle(now, client, server)
	// The server owes an update of its own, sent with its next write.
	fmt.Println("server pending:", server.PendingKeyUpdate())
	server.Write(now, []byte("and back"))
	shuttle(now, client, server)
	// Unordered output:
	// client: handshake 1 done, TLS1.3
	// server: handshake 1 done, TLS1.3
	// pending: requested
	// client: key_update_sent requested
	// server: key_update_received requested
	// server received "under the next key"
	// server pending: not_requested
	// server: key_update_sent not_requested
	// client: key_update_received not_requested
	// client received "and back"
}

// A TLS 1.2 renegotiation, as with OpenSSL's SSL_renegotiate: scheduled,
// then started by Handshake.
func ExampleConn_Renegotiate() {
	cc, sc := exampleConfigs()
	cc.MaxVersion = fsm.VersionTLS12
	client, server := fsm.NewClient(cc), fsm.NewServer(sc)
	now := time.Now()
	client.Start(now)
	shuttle(now, client, server)

	sc.AllowClientRenegotiation = true
	client.Renegotiate()
	fmt.Println("pending:", client.RenegotiatePending())
	client.Handshake(now)
	shuttle(now, client, server)
	fmt.Println("pending:", client.RenegotiatePending())
	// Unordered output:
	// client: handshake 1 done, TLS1.2
	// server: handshake 1 done, TLS1.2
	// pending: true
	// client: handshake 2 done, TLS1.2
	// server: handshake 2 done, TLS1.2
	// pending: false
}

// A DTLS server's stateless front door: a ClientHello without a cookie
// gets a HelloVerifyRequest and costs no state; the same client's second
// ClientHello, with the cookie, is accepted, and only then does the
// server make a Conn.
func ExampleVerifyHello() {
	cc, sc := exampleConfigs()
	sc.CookieSecrets = [][32]byte{{1, 2, 3}}
	peer := []byte("192.0.2.1:5000") // the client's address
	now := time.Now()
	client := fsm.NewDTLSClient(cc)
	client.Start(now)
	hello := nextDatagram(client)

	reply, accept := fsm.VerifyHello(sc, peer, now, hello)
	fmt.Println("first hello accepted:", accept, "reply:", len(reply) > 0)

	client.HandleDatagram(now, reply)
	hello = nextDatagram(client)
	reply, accept = fsm.VerifyHello(sc, peer, now, hello)
	fmt.Println("second hello accepted:", accept, "reply:", len(reply) > 0)

	server := fsm.NewDTLSServer(sc, peer)
	server.HandleDatagram(now, hello)
	fmt.Println("server state:", server.State())
	// Output:
	// first hello accepted: false reply: true
	// second hello accepted: true reply: false
	// server state: ServerWaitClientKeyExchange12
}

// nextDatagram returns the next datagram c transmits.
func nextDatagram(c *fsm.Conn) []byte {
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		if ev.Kind == fsm.EventTransmit {
			return bytes.Clone(ev.Data)
		}
	}
	return nil
}
