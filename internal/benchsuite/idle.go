package benchsuite

import (
	gotls "crypto/tls"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/tls"
)

// Idle is what established, idle connections cost.
//
// A connection is both of its ends, client and server, in this process,
// with the transport between them (net.Pipe, dpipe) when there is one.
// Bytes is the growth of the live heap (runtime.MemStats.HeapAlloc) plus
// goroutine stacks (StackInuse) after a garbage collection, and
// Goroutines the growth of runtime.NumGoroutine, each divided by Conns.
type Idle struct {
	Conns      int
	Bytes      float64
	Goroutines float64
}

// opener establishes one connection and returns what closes it.
type opener func() (closeFn func(), err error)

// measureIdle opens n connections with open and measures them, idle,
// before closing them.
func measureIdle(n int, open opener) (Idle, error) {
	closers := make([]func(), 0, n)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	g0 := settledGoroutines()
	m0 := liveMemory()
	for range n {
		c, err := open()
		if err != nil {
			return Idle{}, fmt.Errorf("connection %d of %d: %w", len(closers)+1, n, err)
		}
		closers = append(closers, c)
	}
	g1 := settledGoroutines()
	m1 := liveMemory()
	runtime.KeepAlive(closers)
	return Idle{
		Conns:      n,
		Bytes:      float64(int64(m1)-int64(m0)) / float64(n),
		Goroutines: float64(g1-g0) / float64(n),
	}, nil
}

// liveMemory collects garbage twice (so that sync.Pools are emptied too)
// and returns the live heap and goroutine stacks.
func liveMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// settledGoroutines waits, up to two seconds, for the number of
// goroutines to stop changing (goroutines of finished handshakes exit
// shortly after them) and returns it.
func settledGoroutines() int {
	last, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(2 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	return last
}

// IdleTLSCore measures n TLS 1.3 connections of two fsm.Conns each.
func IdleTLSCore(n int) (Idle, error) {
	cc, sc := TLSConfigs()
	return measureIdle(n, func() (func(), error) {
		p := memconn.New(cc, sc)
		if err := p.Handshake(); err != nil {
			return nil, err
		}
		client, server := p.Client.Conn, p.Server.Conn
		return func() { runtime.KeepAlive(client); runtime.KeepAlive(server) }, nil
	})
}

// IdleTLSConn measures n TLS 1.3 connections of two tls.Conns over
// net.Pipe.
func IdleTLSConn(n int) (Idle, error) {
	cc, sc := TLSConfigs()
	return measureIdle(n, pipeOpener(func(a, z net.Conn) (Handshaker, Handshaker) { return tls.Client(a, cc), tls.Server(z, sc) }))
}

// IdleGoTLS measures n TLS 1.3 connections of two crypto/tls Conns over
// net.Pipe.
func IdleGoTLS(n int) (Idle, error) {
	cc, sc := GoConfigs()
	return measureIdle(n, pipeOpener(func(a, z net.Conn) (Handshaker, Handshaker) { return gotls.Client(a, cc), gotls.Server(z, sc) }))
}

func pipeOpener(pair func(a, z net.Conn) (client, server Handshaker)) opener {
	return func() (func(), error) {
		a, z := net.Pipe()
		client, server := pair(a, z)
		if err := handshakePair(client, server); err != nil {
			return nil, err
		}
		// Closing the pipe first makes the close_notify that Close
		// sends fail at once, instead of waiting for a reader.
		return func() { a.Close(); z.Close(); client.Close(); server.Close() }, nil
	}
}

// IdleDTLSCore measures n DTLS 1.2 connections of two fsm.Conns each.
func IdleDTLSCore(n int) (Idle, error) { return idleDTLSCore(n, dtls12) }

// idleDTLSCore measures n connections of s of two fsm.Conns each.
func idleDTLSCore(n int, s dtlsSetup) (Idle, error) {
	cc, sc, cert := s.configs()
	now := cert.Leaf.NotBefore.Add(time.Hour)
	return measureIdle(n, func() (func(), error) {
		p := newDTLSCorePair(cc, sc, now)
		if err := p.handshake(); err != nil {
			return nil, err
		}
		if st := p.client.ConnectionState(); !s.negotiated(st) {
			return nil, fmt.Errorf("negotiated %+v", st)
		}
		client, server := p.client, p.server
		return func() { runtime.KeepAlive(client); runtime.KeepAlive(server) }, nil
	})
}

// IdleDTLSConn measures n DTLS 1.2 connections of two dtls.Conns over
// dpipe, without dpipe's own memory.
func IdleDTLSConn(n int) (Idle, error) { return idleDTLSConn(n, dtls12) }

// idleDTLSConn measures n connections of s of two dtls.Conns over dpipe,
// without dpipe's own memory.
func idleDTLSConn(n int, s dtlsSetup) (Idle, error) {
	cc, sc, _ := s.configs()
	return withoutDatagramPipes(measureIdle(n, func() (func(), error) {
		a, z := DatagramPipe()
		client := dtls.Client(a, z.LocalAddr(), cc)
		server := dtls.Server(z, a.LocalAddr(), sc)
		if err := handshakePair(client, server); err != nil {
			return nil, err
		}
		if st := client.ConnectionState(); !s.negotiated(st) {
			client.Close()
			server.Close()
			return nil, fmt.Errorf("negotiated %+v", st)
		}
		return func() { client.Close(); server.Close() }, nil
	}))
}

// IdlePion measures n DTLS 1.2 connections of two pion Conns over dpipe,
// without dpipe's own memory. dpipe runs no goroutine, so the goroutines
// counted are pion's.
func IdlePion(n int) (Idle, error) { return idlePion(n, dtls12) }

// idlePion measures n connections of s of two pion Conns over dpipe,
// without dpipe's own memory.
func idlePion(n int, s dtlsSetup) (Idle, error) {
	_, _, cert := s.configs()
	return withoutDatagramPipes(measureIdle(n, func() (func(), error) {
		client, server, err := pionPair(cert, s, 0)
		if err != nil {
			return nil, err
		}
		return func() { client.Close(); server.Close() }, nil
	}))
}

// withoutDatagramPipes subtracts from idle what as many bare dpipes cost:
// the in-memory transport buffers about 49 KB per pipe, which would
// otherwise outweigh the connections over it.
func withoutDatagramPipes(idle Idle, err error) (Idle, error) {
	if err != nil {
		return idle, err
	}
	pipes, err := measureIdle(idle.Conns, func() (func(), error) {
		a, z := DatagramPipe()
		return func() { a.Close(); z.Close() }, nil
	})
	if err != nil {
		return idle, err
	}
	idle.Bytes -= pipes.Bytes
	idle.Goroutines -= pipes.Goroutines
	return idle, nil
}
