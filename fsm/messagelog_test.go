package fsm

import (
	"bytes"
	"testing"
	"time"

	"github.com/tlsm/tlsm/internal/testcert"
)

// TestMessageLogOnlyForClientAuth12: the raw handshake messages a TLS 1.2
// CertificateVerify signs are kept only by a client with a certificate to
// offer that may end up in TLS 1.2 and by a TLS 1.2 server that asks for
// one, and handshakes with client authentication still complete. The
// client is looked at once its ClientHello is out, the server once its
// flight is.
func TestMessageLogOnlyForClientAuth12(t *testing.T) {
	server := testcert.MustNew(testcert.ECDSAP256)
	client := testcert.MustNew(testcert.ECDSAP256)
	for _, tc := range []struct {
		name               string
		min, version       uint16
		clientCert         bool
		clientAuth         ClientAuthType
		clientLog, srvLog  bool
		wantClientVerified bool
	}{
		{name: "TLS 1.3", version: VersionTLS13},
		{name: "TLS 1.3 client certificate", version: VersionTLS13, clientCert: true, clientAuth: RequireAndVerifyClientCert, clientLog: true, wantClientVerified: true},
		{name: "TLS 1.3 only, client certificate", min: VersionTLS13, version: VersionTLS13, clientCert: true, clientAuth: RequireAndVerifyClientCert, wantClientVerified: true},
		{name: "TLS 1.2", version: VersionTLS12},
		{name: "TLS 1.2 client certificate", version: VersionTLS12, clientCert: true, clientAuth: RequireAndVerifyClientCert, clientLog: true, srvLog: true, wantClientVerified: true},
		{name: "TLS 1.2 certificate not asked for", version: VersionTLS12, clientCert: true, clientLog: true},
		{name: "TLS 1.2 asked, none to give", version: VersionTLS12, clientAuth: RequestClientCert, srvLog: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &Config{RootCAs: server.CAPool, ServerName: "localhost", MinVersion: tc.min, MaxVersion: tc.version}
			if tc.clientCert {
				cc.Certificates = []Certificate{{Certificate: client.CertDER, PrivateKey: client.Key}}
			}
			sc := &Config{
				Certificates: []Certificate{{Certificate: server.CertDER, PrivateKey: server.Key}},
				ClientAuth:   tc.clientAuth, ClientCAs: client.CAPool, SessionTicketsDisabled: true,
			}
			c, s := NewClient(cc), NewServer(sc)
			now := time.Now()
			if err := c.Start(now); err != nil {
				t.Fatal(err)
			}
			if got := c.hs.tls12.messages != nil; got != tc.clientLog {
				t.Errorf("client keeps the messages: %v, want %v", got, tc.clientLog)
			}
			carry(t, now, c, s) // the ClientHello
			if s.hs == nil {
				t.Fatal("no handshake under way on the server")
			}
			if got := s.hs.tls12.messages != nil; got != tc.srvLog {
				t.Errorf("server keeps the messages: %v, want %v", got, tc.srvLog)
			}
			for moved := true; moved; {
				moved = carry(t, now, c, s) || carry(t, now, s, c)
			}
			if c.State() != StateClientConnected12 && c.State() != StateClientConnected13 {
				t.Fatalf("client in %v, server in %v", c.State(), s.State())
			}
			if got := len(s.ConnectionState().PeerCertificates) > 0; got != tc.wantClientVerified {
				t.Errorf("server has the client's certificate: %v, want %v", got, tc.wantClientVerified)
			}
		})
	}
}

// carry feeds every byte from transmits to to and reports whether there
// were any; an error on either side fails the test.
func carry(t *testing.T, now time.Time, from, to *Conn) bool {
	t.Helper()
	moved := false
	for ev := from.NextEvent(); ev.Kind != EventNone; ev = from.NextEvent() {
		if ev.Kind != EventTransmit {
			continue
		}
		moved = true
		if err := to.HandleData(now, bytes.Clone(ev.Data)); err != nil {
			t.Fatal(err)
		}
	}
	return moved
}
