package benchsuite

import (
	gotls "crypto/tls"
	"fmt"
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
// on 127.0.0.1; over net.Pipe wire-B/op counts the bytes both sides sent.

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

// tlsmGroupEnds and goGroupEnds are the ends of a handshake on group,
// checking it.
func tlsmGroupEnds(group fsm.CurveID, cold bool) ends {
	cc, sc := groupConfigs(group)
	return tlsmEnds(cc, sc, cold).withGroup(group)
}

func goGroupEnds(group fsm.CurveID) ends {
	cc, sc := goGroupConfigs(group)
	return goEnds(cc, sc).withGroup(group)
}

// KeyExchangePipe and KeyExchangeGoTLSPipe are handshakes on group over
// net.Pipe, tlsm's and crypto/tls's.
func KeyExchangePipe(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { countedPipeHandshakes(b, tlsmGroupEnds(group, false)) }
}

// KeyExchangeGoTLSPipe: see KeyExchangePipe.
func KeyExchangeGoTLSPipe(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { countedPipeHandshakes(b, goGroupEnds(group)) }
}

// KeyExchangeTCP and KeyExchangeGoTLSTCP are handshakes on group over a
// new TCP connection on 127.0.0.1 each, tlsm's and crypto/tls's, one at a
// time (see tcpHandshakes).
func KeyExchangeTCP(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, tlsmGroupEnds(group, false), 1) }
}

// KeyExchangePipeCold and KeyExchangeTCPCold are KeyExchangePipe and
// KeyExchangeTCP with an empty certificate cache for every handshake.
func KeyExchangePipeCold(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { countedPipeHandshakes(b, tlsmGroupEnds(group, true)) }
}

// KeyExchangeTCPCold: see KeyExchangePipeCold.
func KeyExchangeTCPCold(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, tlsmGroupEnds(group, true), 1) }
}

// KeyExchangeGoTLSTCP: see KeyExchangeTCP.
func KeyExchangeGoTLSTCP(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, goGroupEnds(group), 1) }
}

// KeyExchangeTCPConcurrent and KeyExchangeGoTLSTCPConcurrent are
// KeyExchangeTCP and KeyExchangeGoTLSTCP with Concurrent clients at a
// time.
func KeyExchangeTCPConcurrent(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, tlsmGroupEnds(group, false), Concurrent) }
}

// KeyExchangeGoTLSTCPConcurrent: see KeyExchangeTCPConcurrent.
func KeyExchangeGoTLSTCPConcurrent(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) { tcpHandshakes(b, goGroupEnds(group), Concurrent) }
}

// withGroup makes e check the group its clients negotiate.
func (e ends) withGroup(group fsm.CurveID) ends {
	e.check = func(h Handshaker) error {
		if g := groupOf(h); g != group {
			return fmt.Errorf("negotiated %v, want %v", g, group)
		}
		return nil
	}
	return e
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

// countedPipeHandshakes runs handshakes of e over net.Pipe, counting
// the bytes on the wire.
func countedPipeHandshakes(b *testing.B, e ends) {
	var wire atomic.Int64
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		a, z := net.Pipe()
		client, server := e.client(a), e.server(countingConn{z, &wire})
		pipeHandshake(b, client, server)
		if err := e.check(client); err != nil {
			b.Fatal(err)
		}
		a.Close()
		z.Close()
		n++
	}
	b.ReportMetric(float64(wire.Load())/float64(n), "wire-B/op")
}
