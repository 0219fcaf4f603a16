package benchsuite

import (
	gotls "crypto/tls"
	"net"
	"testing"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// TLSConfigs returns tlsm configurations for X25519 and an ECDSA P-256
// certificate chain that the client verifies. The server issues no
// session tickets, as GoConfigs, so that a full handshake is the same
// work on both sides; the resumption benchmarks turn them back on.
func TLSConfigs() (client, server *fsm.Config) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	// P-256 names the certificate's curve, which TLS 1.2 asks the client
	// to list; the key exchange is X25519, the server's first choice.
	client = &fsm.Config{RootCAs: cert.CAPool, ServerName: "localhost", CurvePreferences: []fsm.CurveID{fsm.X25519, fsm.CurveP256}}
	return client, tlsServerConfig(cert)
}

// tlsServerConfig is TLSConfigs' server, with cert.
func tlsServerConfig(cert *testcert.Cert) *fsm.Config {
	return &fsm.Config{
		Certificates:           []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key, Leaf: cert.Leaf}},
		SessionTicketsDisabled: true,
		CurvePreferences:       []fsm.CurveID{fsm.X25519},
	}
}

// GoConfigs returns crypto/tls configurations matching TLSConfigs:
// TLS 1.3 only, X25519, the same certificate, no session tickets.
func GoConfigs() (client, server *gotls.Config) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	client = &gotls.Config{
		RootCAs: cert.CAPool, ServerName: "localhost",
		CurvePreferences: []gotls.CurveID{gotls.X25519}, MinVersion: gotls.VersionTLS13,
	}
	return client, goServerConfig(cert)
}

// goServerConfig is GoConfigs' server, with cert.
func goServerConfig(cert *testcert.Cert) *gotls.Config {
	return &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}, SessionTicketsDisabled: true}
}

// Handshaker is a connection whose handshake can be run on its own:
// *tls.Conn of either package.
type Handshaker interface {
	net.Conn
	Handshake() error
}

// pipeHandshake runs the two handshakes, the server's in a goroutine.
func pipeHandshake(b testing.TB, client, server Handshaker) {
	if err := handshakePair(client, server); err != nil {
		b.Fatal(err)
	}
}

// handshakePair runs the two handshakes, the server's in a goroutine.
func handshakePair(client, server Handshaker) error {
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	err := client.Handshake()
	if err != nil {
		// Unblock the server, which may be waiting for the client.
		client.Close()
		server.Close()
	}
	if serr := <-done; err == nil {
		err = serr
	}
	return err
}
