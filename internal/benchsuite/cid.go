package benchsuite

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// BenchCIDLength is the Connection ID length of the CID benchmarks, what
// a server asks its clients for (the clients ask for none, as a NAT-bound
// client need not).
const BenchCIDLength = 8

// cidConfigs are DTLSConfigs with Connection IDs on when cid is set.
func cidConfigs(cid bool) (client, server *fsm.Config) {
	client, server, _ = DTLSConfigs()
	if cid {
		client.ConnectionIDs = &fsm.ConnectionIDs{}
		server.ConnectionIDs = &fsm.ConnectionIDs{Length: BenchCIDLength}
	}
	return client, server
}

// DTLSHandshakeCoreCID is DTLSHandshakeCore with Connection IDs.
func DTLSHandshakeCoreCID(b *testing.B) {
	cc, sc := cidConfigs(true)
	dtlsHandshakeCore(b, cc, sc, func(st fsm.ConnectionState) bool { return st.ConnectionIDNegotiated })
}

// DTLSHandshakeUDP is one full DTLS 1.2 handshake over UDP loopback, a
// dtls.Dial to a dtls.Listen in the same process, with or without
// Connection IDs.
func DTLSHandshakeUDP(cid bool) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := cidConfigs(cid)
		udpHandshakes(b, cc, sc, func(st fsm.ConnectionState) bool { return st.ConnectionIDNegotiated == cid }, 1)
	}
}

// udpHandshakes runs handshakes over UDP loopback, dtls.Dial with cc to
// a dtls.Listen with sc, conc clients at a time; each must leave the
// client in a state that ok accepts.
func udpHandshakes(b *testing.B, cc, sc *fsm.Config, ok func(fsm.ConnectionState) bool, conc int) {
	ln, err := dtls.Listen("udp", "127.0.0.1:0", sc)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go acceptAndClose(ln)
	runClients(b, conc, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := dtls.DialContext(ctx, "udp", ln.Addr().String(), cc)
		cancel()
		if err != nil {
			return err
		}
		defer c.Close()
		if st := c.ConnectionState(); !ok(st) {
			return fmt.Errorf("negotiated %+v", st)
		}
		return nil
	})
}

// runClients runs client b.N times, one at a time when conc is 1 and
// conc at a time otherwise.
func runClients(b *testing.B, conc int, client func() error) {
	b.ReportAllocs()
	if conc <= 1 {
		for b.Loop() {
			if err := client(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(max(1, conc/runtime.GOMAXPROCS(0)))
	var failed atomic.Pointer[error]
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := client(); err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		}
	})
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}

// acceptAndClose completes the handshake of every Conn ln accepts (a
// tlsm or a pion one), then closes it.
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			if h, ok := c.(Handshaker); ok {
				h.Handshake()
			}
			c.Close()
		}()
	}
}

// RecordSizes returns the size of the datagram carrying one 100-byte
// write, without and with Connection IDs: the CID format adds the CID
// and one byte of inner content type to every protected record.
func RecordSizes() (plain, withCID int, err error) {
	for i, cid := range []bool{false, true} {
		cc, sc := cidConfigs(cid)
		_, _, cert := DTLSConfigs()
		p := newDTLSCorePair(cc, sc, cert.Leaf.NotBefore.Add(time.Hour))
		if err := p.handshake(); err != nil {
			return 0, 0, err
		}
		if _, err := p.client.Write(p.now, make([]byte, 100)); err != nil {
			return 0, 0, err
		}
		if err := p.drain(p.client, 0); err != nil {
			return 0, 0, err
		}
		n := len(p.inbox[1][len(p.inbox[1])-1])
		if i == 0 {
			plain = n
		} else {
			withCID = n
		}
	}
	return plain, withCID, nil
}
