package benchsuite

import (
	gotls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/tls"
)

// The handshake benchmarks measure one full handshake, client and server
// together, with X25519 and an ECDSA P-256 certificate: tlsm's core (two
// fsm.Conns joined in memory, no goroutines), tlsm's tls.Conn over
// net.Pipe, and crypto/tls over net.Pipe.

// Handshake13Core is a TLS 1.3 handshake between two fsm.Conns.
func Handshake13Core(b *testing.B) {
	cc, sc := TLSConfigs()
	coreHandshakes(b, cc, sc, fsm.VersionTLS13)
}

// Handshake13CoreCold is Handshake13Core with an empty certificate cache
// on every handshake, so that the client parses and verifies the server's
// chain each time, as on its first connection to a server. Handshake13Core
// shows the repeat connections, whose chain is parsed and verified once.
func Handshake13CoreCold(b *testing.B) {
	cc, sc := TLSConfigs()
	b.ReportAllocs()
	for b.Loop() {
		cc.CertificateCache = fsm.NewCertificateCache()
		coreHandshake(b, cc, sc, fsm.VersionTLS13)
	}
}

// Handshake13Pipe is a TLS 1.3 handshake between two tls.Conns.
func Handshake13Pipe(b *testing.B) {
	cc, sc := TLSConfigs()
	pipeHandshakes(b, func(a, z net.Conn) (Handshaker, Handshaker) { return tls.Client(a, cc), tls.Server(z, sc) })
}

// Handshake13GoTLS is a TLS 1.3 handshake between two crypto/tls Conns.
func Handshake13GoTLS(b *testing.B) {
	cc, sc := GoConfigs()
	pipeHandshakes(b, func(a, z net.Conn) (Handshaker, Handshaker) { return gotls.Client(a, cc), gotls.Server(z, sc) })
}

// tls12Configs restricts TLSConfigs to TLS 1.2 with
// ECDHE-ECDSA-AES128-GCM-SHA256.
func tls12Configs() (client, server *fsm.Config) {
	cc, sc := TLSConfigs()
	cc.MaxVersion = fsm.VersionTLS12
	cc.CipherSuites = []uint16{gotls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	// A client cache that keeps nothing: every handshake is a full one.
	cc.ClientSessionCache = noSessions{}
	return cc, sc
}

// Handshake12Core is a TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 handshake
// between two fsm.Conns.
func Handshake12Core(b *testing.B) {
	cc, sc := tls12Configs()
	coreHandshakes(b, cc, sc, fsm.VersionTLS12)
}

// Handshake12Pipe is Handshake12Core between two tls.Conns.
func Handshake12Pipe(b *testing.B) {
	cc, sc := tls12Configs()
	pipeHandshakes(b, func(a, z net.Conn) (Handshaker, Handshaker) { return tls.Client(a, cc), tls.Server(z, sc) })
}

// Handshake12GoTLS is Handshake12Core between two crypto/tls Conns.
func Handshake12GoTLS(b *testing.B) {
	cc, sc := go12Configs()
	pipeHandshakes(b, func(a, z net.Conn) (Handshaker, Handshaker) { return gotls.Client(a, cc), gotls.Server(z, sc) })
}

func coreHandshakes(b *testing.B, cc, sc *fsm.Config, version uint16) {
	b.ReportAllocs()
	for b.Loop() {
		coreHandshake(b, cc, sc, version)
	}
}

// coreHandshake runs one full handshake between two fsm.Conns.
func coreHandshake(b *testing.B, cc, sc *fsm.Config, version uint16) {
	p := memconn.New(cc, sc)
	if err := p.Handshake(); err != nil {
		b.Fatal(err)
	}
	if st := p.Client.Conn.ConnectionState(); st.DidResume || st.Version != version {
		b.Fatalf("negotiated version %#x, resumed %v", st.Version, st.DidResume)
	}
}

func pipeHandshakes(b *testing.B, pair func(a, z net.Conn) (client, server Handshaker)) {
	b.ReportAllocs()
	for b.Loop() {
		a, z := net.Pipe()
		client, server := pair(a, z)
		pipeHandshake(b, client, server)
		a.Close()
		z.Close()
	}
}

// noSessions is a client session cache that keeps nothing.
type noSessions struct{}

func (noSessions) Get(string) (*fsm.Session, bool) { return nil, false }
func (noSessions) Put(string, *fsm.Session)        {}

// The resumption benchmarks measure resumed handshakes (TLS 1.2 tickets,
// TLS 1.3 PSK with X25519), each followed by one byte from the server so
// that the client takes in the next ticket, as a real client would.

// resumeConfigs returns TLSConfigs with tickets, up to version v.
func resumeConfigs(v uint16) (client, server *fsm.Config) {
	cc, sc := TLSConfigs()
	cc.MaxVersion = v
	sc.SessionTicketsDisabled = false
	return cc, sc
}

// ResumeCore returns the resumption benchmark between two fsm.Conns at
// version v (fsm.VersionTLS12 or fsm.VersionTLS13).
func ResumeCore(v uint16) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := resumeConfigs(v)
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
	}
}

// ResumePipe is ResumeCore between two tls.Conns.
func ResumePipe(v uint16) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := resumeConfigs(v)
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
	}
}

// ResumeGoTLS is ResumeCore between two crypto/tls Conns.
func ResumeGoTLS(v uint16) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := GoConfigs()
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
	}
}

// resumeRound handshakes and sends one byte from the server.
func resumeRound(b *testing.B, client, server Handshaker) {
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

// BulkSize is the size of a TLS bulk write: one full record.
const BulkSize = 16384

// The bulk benchmarks measure 16 KiB writes from client to server,
// protected and unprotected, on an established TLS 1.3 connection.

// Bulk16KCore returns the bulk benchmark between two fsm.Conns with the
// TLS 1.3 suite.
func Bulk16KCore(suite uint16) func(*testing.B) {
	return func(b *testing.B) {
		msg := make([]byte, BulkSize)
		send := TLSCoreSender(b, suite, msg)
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			send()
		}
	}
}

// TLSCoreSender returns a function that writes msg from a connected tlsm
// TLS 1.3 client core, using suite, and hands the bytes to the server
// core, checking that msg is delivered. Events are drained as they come,
// so the Conns reuse their buffers.
func TLSCoreSender(tb testing.TB, suite uint16, msg []byte) func() {
	cc, sc := TLSConfigs()
	cc.CipherSuites = []uint16{suite}
	p := memconn.New(cc, sc)
	if err := p.Handshake(); err != nil {
		tb.Fatal(err)
	}
	if got := p.Client.Conn.ConnectionState().CipherSuite; got != suite {
		tb.Fatalf("negotiated %s", fsm.CipherSuiteName(got))
	}
	client, server := p.Client.Conn, p.Server.Conn
	now := time.Now()
	return func() {
		if _, err := client.Write(now, msg); err != nil {
			tb.Fatal(err)
		}
		for ev := client.NextEvent(); ev.Kind != fsm.EventNone; ev = client.NextEvent() {
			if ev.Kind == fsm.EventTransmit {
				if err := server.HandleData(now, ev.Data); err != nil {
					tb.Fatal(err)
				}
			}
		}
		got := 0
		for ev := server.NextEvent(); ev.Kind != fsm.EventNone; ev = server.NextEvent() {
			got += len(ev.Data)
		}
		if got != len(msg) {
			tb.Fatalf("delivered %d bytes", got)
		}
	}
}

// Bulk16KPipe returns the bulk benchmark between two tls.Conns over
// net.Pipe with the TLS 1.3 suite.
func Bulk16KPipe(suite uint16) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := TLSConfigs()
		cc.CipherSuites = []uint16{suite}
		a, z := net.Pipe()
		defer a.Close()
		defer z.Close()
		client := tls.Client(a, cc)
		pipeBulk(b, client, tls.Server(z, sc), func() uint16 { return client.ConnectionState().CipherSuite }, suite)
	}
}

// Bulk16KGoTLS is the bulk benchmark between two crypto/tls Conns over
// net.Pipe. They negotiate TLS_AES_128_GCM_SHA256 on a machine with AES
// instructions: crypto/tls does not let TLS 1.3 suites be chosen.
func Bulk16KGoTLS(b *testing.B) {
	cc, sc := GoConfigs()
	a, z := net.Pipe()
	defer a.Close()
	defer z.Close()
	client := gotls.Client(a, cc)
	pipeBulk(b, client, gotls.Server(z, sc), func() uint16 { return client.ConnectionState().CipherSuite }, gotls.TLS_AES_128_GCM_SHA256)
}

// Bulk16KGoTLSToTLSM returns the bulk benchmark from a crypto/tls client
// to a tlsm tls.Conn server that allows only suite. This is how crypto/tls
// is made to send with TLS_CHACHA20_POLY1305_SHA256 on a machine with AES
// instructions; compare it with Bulk16KPipe(suite), whose receiver is the
// same, so that the two differ only in the sender.
func Bulk16KGoTLSToTLSM(suite uint16) func(*testing.B) {
	return func(b *testing.B) {
		gcc, _ := GoConfigs()
		_, sc := TLSConfigs()
		sc.CipherSuites = []uint16{suite}
		a, z := net.Pipe()
		defer a.Close()
		defer z.Close()
		client := gotls.Client(a, gcc)
		pipeBulk(b, client, tls.Server(z, sc), func() uint16 { return client.ConnectionState().CipherSuite }, suite)
	}
}

// pipeBulk times client writes while a goroutine reads the server.
func pipeBulk(b *testing.B, client, server Handshaker, negotiated func() uint16, suite uint16) {
	pipeHandshake(b, client, server)
	if got := negotiated(); got != suite {
		b.Fatalf("negotiated %s", fsm.CipherSuiteName(got))
	}
	go io.Copy(io.Discard, server)
	msg := make([]byte, BulkSize)
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
