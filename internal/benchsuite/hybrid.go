package benchsuite

import (
	gotls "crypto/tls"
	"net"
	"sync/atomic"
	"testing"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/tls"
)

// The key exchange benchmarks measure a full TLS 1.3 handshake as the
// handshake benchmarks do, with one group on both sides (the client
// sends one key share, of that group): X25519MLKEM768, and X25519 alone
// for the difference. tlsm and crypto/tls run over net.Pipe and over TCP
// on 127.0.0.1; wire-B/op counts the bytes both sides sent.

// KeyExchangeGroups are the groups the key exchange benchmarks compare.
var KeyExchangeGroups = []fsm.CurveID{fsm.X25519MLKEM768, fsm.X25519}

// groupConfigs are TLSConfigs with group only, on both sides.
func groupConfigs(group fsm.CurveID) (client, server *fsm.Config) {
	cc, sc := TLSConfigs()
	cc.CurvePreferences = []fsm.CurveID{group}
	sc.CurvePreferences = []fsm.CurveID{group}
	return cc, sc
}

// goGroupConfigs are GoConfigs with group only, on both sides.
func goGroupConfigs(group fsm.CurveID) (client, server *gotls.Config) {
	cc, sc := GoConfigs()
	cc.CurvePreferences = []gotls.CurveID{gotls.CurveID(group)}
	sc.CurvePreferences = []gotls.CurveID{gotls.CurveID(group)}
	return cc, sc
}

// KeyExchangeCore is a TLS 1.3 handshake on group between two
// fsm.Conns.
func KeyExchangeCore(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := groupConfigs(group)
		coreHandshakes(b, cc, sc, fsm.VersionTLS13)
	}
}

// tlsmPair and goPair make the two ends of a handshake on group.
func tlsmPair(group fsm.CurveID) func(a, z net.Conn) (Handshaker, Handshaker) {
	cc, sc := groupConfigs(group)
	return func(a, z net.Conn) (Handshaker, Handshaker) { return tls.Client(a, cc), tls.Server(z, sc) }
}

// tlsmPairCold is tlsmPair with an empty certificate cache for every
// pair, so that the client parses and verifies the server's chain each
// time, as crypto/tls verifies it each time.
func tlsmPairCold(group fsm.CurveID) func(a, z net.Conn) (Handshaker, Handshaker) {
	cc, sc := groupConfigs(group)
	return func(a, z net.Conn) (Handshaker, Handshaker) {
		cc.CertificateCache = fsm.NewCertificateCache()
		return tls.Client(a, cc), tls.Server(z, sc)
	}
}

func goPair(group fsm.CurveID) func(a, z net.Conn) (Handshaker, Handshaker) {
	cc, sc := goGroupConfigs(group)
	return func(a, z net.Conn) (Handshaker, Handshaker) { return gotls.Client(a, cc), gotls.Server(z, sc) }
}

// KeyExchangePipe and KeyExchangeGoTLSPipe are handshakes on group over
// net.Pipe, tlsm's and crypto/tls's.
func KeyExchangePipe(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { countedPipeHandshakes(b, tlsmPair(group), group) }
}

// KeyExchangeGoTLSPipe: see KeyExchangePipe.
func KeyExchangeGoTLSPipe(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { countedPipeHandshakes(b, goPair(group), group) }
}

// KeyExchangeTCP and KeyExchangeGoTLSTCP are handshakes on group over a
// new TCP connection on 127.0.0.1 each, tlsm's and crypto/tls's.
func KeyExchangeTCP(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, tlsmPair(group), group) }
}

// KeyExchangePipeCold and KeyExchangeTCPCold are KeyExchangePipe and
// KeyExchangeTCP with an empty certificate cache for every handshake.
func KeyExchangePipeCold(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { countedPipeHandshakes(b, tlsmPairCold(group), group) }
}

// KeyExchangeTCPCold: see KeyExchangePipeCold.
func KeyExchangeTCPCold(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, tlsmPairCold(group), group) }
}

// KeyExchangeGoTLSTCP: see KeyExchangeTCP.
func KeyExchangeGoTLSTCP(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, goPair(group), group) }
}

// countingConn counts the bytes read and written through it.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// groupOf is the group a handshaken connection of either package used.
func groupOf(c Handshaker) fsm.CurveID {
	switch c := c.(type) {
	case *tls.Conn:
		return c.ConnectionState().CurveID
	case *gotls.Conn:
		return fsm.CurveID(c.ConnectionState().CurveID)
	}
	return 0
}

// handshakeCounted runs one handshake over a and z, the client's end
// counted, checks the group, and closes both ends.
func handshakeCounted(b *testing.B, pair func(a, z net.Conn) (Handshaker, Handshaker), a, z net.Conn, group fsm.CurveID, wire *atomic.Int64) {
	client, server := pair(countingConn{a, wire}, z)
	pipeHandshake(b, client, server)
	if g := groupOf(client); g != group {
		b.Fatalf("negotiated %v, want %v", g, group)
	}
	a.Close()
	z.Close()
}

func countedPipeHandshakes(b *testing.B, pair func(a, z net.Conn) (Handshaker, Handshaker), group fsm.CurveID) {
	var wire atomic.Int64
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		a, z := net.Pipe()
		handshakeCounted(b, pair, a, z, group, &wire)
		n++
	}
	b.ReportMetric(float64(wire.Load())/float64(n), "wire-B/op")
}

func tcpHandshakes(b *testing.B, pair func(a, z net.Conn) (Handshaker, Handshaker), group fsm.CurveID) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var wire atomic.Int64
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		a, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		handshakeCounted(b, pair, a, <-accepted, group, &wire)
		n++
	}
	b.ReportMetric(float64(wire.Load())/float64(n), "wire-B/op")
}
