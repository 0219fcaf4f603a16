package tlsm_test

import (
	gotls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// benchConfigs returns tlsm configurations for X25519 + ECDSA P-256.
func benchConfigs(b *testing.B) (client, server *fsm.Config) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	server = &fsm.Config{Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key, Leaf: cert.Leaf}}}
	client = &fsm.Config{RootCAs: cert.CAPool, ServerName: "localhost", CurvePreferences: []fsm.CurveID{fsm.X25519}}
	return client, server
}

func goConfigs(b *testing.B) (client, server *gotls.Config) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	server = &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}, SessionTicketsDisabled: true}
	client = &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost", CurvePreferences: []gotls.CurveID{gotls.X25519},
		ClientSessionCache: nil, MinVersion: gotls.VersionTLS13}
	return client, server
}

// BenchmarkHandshake13 measures one full TLS 1.3 handshake (client and
// server together) with X25519 and an ECDSA P-256 certificate.
func BenchmarkHandshake13(b *testing.B) {
	b.Run("tlsm-core", func(b *testing.B) {
		cc, sc := benchConfigs(b)
		b.ReportAllocs()
		for b.Loop() {
			p := memconn.New(cc, sc)
			if err := p.Handshake(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tlsm-pipe", func(b *testing.B) {
		cc, sc := benchConfigs(b)
		b.ReportAllocs()
		for b.Loop() {
			a, z := net.Pipe()
			pipeHandshake(b, tls.Client(a, cc), tls.Server(z, sc))
			a.Close()
			z.Close()
		}
	})
	b.Run("crypto-tls-pipe", func(b *testing.B) {
		cc, sc := goConfigs(b)
		b.ReportAllocs()
		for b.Loop() {
			a, z := net.Pipe()
			pipeHandshake(b, gotls.Client(a, cc), gotls.Server(z, sc))
			a.Close()
			z.Close()
		}
	})
}

// BenchmarkHandshake12 measures one full TLS 1.2 handshake with
// ECDHE-ECDSA-AES128-GCM-SHA256, X25519 and an ECDSA P-256 certificate.
func BenchmarkHandshake12(b *testing.B) {
	b.Run("tlsm-core", func(b *testing.B) {
		cc, sc := benchConfigs(b)
		cc.MaxVersion, sc.SessionTicketsDisabled = fsm.VersionTLS12, true
		cc.SessionTicketsDisabled = true
		b.ReportAllocs()
		for b.Loop() {
			p := memconn.New(cc, sc)
			if err := p.Handshake(); err != nil {
				b.Fatal(err)
			}
			if p.Client.Conn.ConnectionState().DidResume {
				b.Fatal("resumed")
			}
			cc.ClientSessionCache = fsm.NewLRUSessionCache(1)
		}
	})
	b.Run("tlsm-pipe", func(b *testing.B) {
		cc, sc := benchConfigs(b)
		cc.MaxVersion = fsm.VersionTLS12
		b.ReportAllocs()
		for b.Loop() {
			cc.ClientSessionCache = fsm.NewLRUSessionCache(1)
			a, z := net.Pipe()
			pipeHandshake(b, tls.Client(a, cc), tls.Server(z, sc))
			a.Close()
			z.Close()
		}
	})
	b.Run("crypto-tls-pipe", func(b *testing.B) {
		cc, sc := goConfigs(b)
		cc.MinVersion, cc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
		b.ReportAllocs()
		for b.Loop() {
			a, z := net.Pipe()
			pipeHandshake(b, gotls.Client(a, cc), gotls.Server(z, sc))
			a.Close()
			z.Close()
		}
	})
}

// BenchmarkResume measures resumed handshakes (TLS 1.2 tickets, TLS 1.3
// PSK), each followed by one byte from the server so that the client takes
// in the next ticket, as a real client would.
func BenchmarkResume(b *testing.B) {
	for _, v := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		name := fsm.VersionName(v)
		b.Run(name+"/tlsm-core", func(b *testing.B) {
			cc, sc := benchConfigs(b)
			cc.MaxVersion = v
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := memconn.New(cc, sc)
				if err := p.Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := p.Write(p.Server, []byte{1}); err != nil {
					b.Fatal(err)
				}
				if i > 0 && !p.Client.Conn.ConnectionState().DidResume {
					b.Fatal("not resumed")
				}
			}
		})
		b.Run(name+"/tlsm-pipe", func(b *testing.B) {
			cc, sc := benchConfigs(b)
			cc.MaxVersion = v
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a, z := net.Pipe()
				c := tls.Client(a, cc)
				resumeRound(b, c, tls.Server(z, sc))
				if i > 0 && !c.ConnectionState().DidResume {
					b.Fatal("not resumed")
				}
				a.Close()
				z.Close()
			}
		})
		b.Run(name+"/crypto-tls-pipe", func(b *testing.B) {
			cc, sc := goConfigs(b)
			cc.MinVersion, cc.MaxVersion = gotls.VersionTLS12, v
			cc.ClientSessionCache = gotls.NewLRUClientSessionCache(1)
			sc.SessionTicketsDisabled = false
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a, z := net.Pipe()
				c := gotls.Client(a, cc)
				resumeRound(b, c, gotls.Server(z, sc))
				if i > 0 && !c.ConnectionState().DidResume {
					b.Fatal("not resumed")
				}
				a.Close()
				z.Close()
			}
		})
	}
}

// resumeRound handshakes and sends one byte from the server.
func resumeRound(b *testing.B, client, server handshaker) {
	done := make(chan error, 1)
	go func() {
		err := server.Handshake()
		if err == nil {
			_, err = server.Write([]byte{1})
		}
		done <- err
	}()
	var one [1]byte
	if _, err := io.ReadFull(client, one[:]); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

type handshaker interface {
	net.Conn
	Handshake() error
}

func pipeHandshake(b *testing.B, client, server handshaker) {
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBulk16K measures protecting and unprotecting 16 KiB writes.
func BenchmarkBulk16K(b *testing.B) {
	for _, suite := range []uint16{fsm.TLS_AES_128_GCM_SHA256, fsm.TLS_CHACHA20_POLY1305_SHA256} {
		b.Run("tlsm-core/"+fsm.CipherSuiteName(suite), func(b *testing.B) { benchCoreBulk(b, suite) })
	}
	b.Run("tlsm-pipe", func(b *testing.B) {
		cc, sc := benchConfigs(b)
		a, z := net.Pipe()
		defer a.Close()
		defer z.Close()
		benchPipeBulk(b, tls.Client(a, cc), tls.Server(z, sc))
	})
	b.Run("crypto-tls-pipe", func(b *testing.B) {
		cc, sc := goConfigs(b)
		a, z := net.Pipe()
		defer a.Close()
		defer z.Close()
		benchPipeBulk(b, gotls.Client(a, cc), gotls.Server(z, sc))
	})
}

func benchCoreBulk(b *testing.B, suite uint16) {
	cc, sc := benchConfigs(b)
	cc.CipherSuites = []uint16{suite}
	p := memconn.New(cc, sc)
	if err := p.Handshake(); err != nil {
		b.Fatal(err)
	}
	client, server := p.Client.Conn, p.Server.Conn
	msg := make([]byte, 16384)
	now := time.Now()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Write(msg); err != nil {
			b.Fatal(err)
		}
		for ev := client.NextEvent(); ev.Kind != fsm.EventNone; ev = client.NextEvent() {
			if ev.Kind == fsm.EventTransmit {
				if err := server.HandleData(now, ev.Data); err != nil {
					b.Fatal(err)
				}
			}
		}
		got := 0
		for ev := server.NextEvent(); ev.Kind != fsm.EventNone; ev = server.NextEvent() {
			got += len(ev.Data)
		}
		if got != len(msg) {
			b.Fatalf("delivered %d bytes", got)
		}
	}
}

func benchPipeBulk(b *testing.B, client, server handshaker) {
	go io.Copy(io.Discard, server)
	msg := make([]byte, 16384)
	if _, err := client.Write(msg); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
}
