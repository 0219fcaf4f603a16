package dtls_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// The batch tests run over UDP loopback, IPv4 and IPv6, with Conns that
// read their own socket (Client, Server, Dial) and Conns of a listener.
// On Linux a *net.UDPConn is read with recvmmsg and flights go out with
// sendmmsg: the counts exported for the tests show it, and the tests
// that check them skip that check elsewhere.

// TestBatchReadsQueuedDatagrams: records written before the peer reads
// wait on its socket; reading takes them a batch per system call and
// delivers every one, in order. Through a listener, the client's
// connected socket (Dial) reads the replies the same way.
func TestBatchReadsQueuedDatagrams(t *testing.T) {
	const records = 40
	forLoopbacks(t, func(t *testing.T, host string) {
		t.Run("own socket", func(t *testing.T) {
			cc, sc := configs(t)
			client, server := ownConns(t, socketOn(t, host), socketOn(t, host), cc, sc)
			checkQueuedReads(t, client, server, records)
		})
		t.Run("listener", func(t *testing.T) {
			cc, sc := configs(t)
			client, server, _ := listenerConns(t, host, cc, sc)
			writeNumbered(t, client, records)
			readNumbered(t, server, records)
			checkQueuedReads(t, server, client, records)
		})
	})
}

// checkQueuedReads writes n records from w before r reads them, then
// checks that r reads them all, in order, a batch per system call.
func checkQueuedReads(t *testing.T, w, r *dtls.Conn, n int) {
	t.Helper()
	before, batched := dtls.ConnBatchCounts(r)
	writeNumbered(t, w, n)
	readNumbered(t, r, n)
	if !batched {
		return
	}
	after, _ := dtls.ConnBatchCounts(r)
	require.GreaterOrEqual(t, after.Received-before.Received, uint64(n))
	require.LessOrEqual(t, after.RecvCalls-before.RecvCalls, uint64(n/4), "datagrams read a batch at a time")
}

// TestBatchSendsFlightInOneCall: a write that the MTU cuts into several
// records goes out as several datagrams in one sendmmsg, from an
// unconnected socket of its own, a connected one (Dial) and a listener's;
// the peer reads every record, in order.
func TestBatchSendsFlightInOneCall(t *testing.T) {
	forLoopbacks(t, func(t *testing.T, host string) {
		cc, sc := configs(t)
		cc.MTU, sc.MTU = 1500, 1500
		t.Run("own socket", func(t *testing.T) {
			client, server := ownConns(t, socketOn(t, host), socketOn(t, host), cc, sc)
			checkFlight(t, client, server, func() (dtls.BatchCounts, bool) { return dtls.ConnBatchCounts(client) })
			checkFlight(t, server, client, func() (dtls.BatchCounts, bool) { return dtls.ConnBatchCounts(server) })
		})
		t.Run("listener", func(t *testing.T) {
			client, server, ln := listenerConns(t, host, cc, sc)
			checkFlight(t, client, server, func() (dtls.BatchCounts, bool) { return dtls.ConnBatchCounts(client) })
			checkFlight(t, server, client, func() (dtls.BatchCounts, bool) { return dtls.ListenerBatchCounts(ln) })
		})
	})
}

// checkFlight writes a message of several records at w and reads it at
// r; with batching, counts must show them sent in one system call.
func checkFlight(t *testing.T, w, r *dtls.Conn, counts func() (dtls.BatchCounts, bool)) {
	t.Helper()
	var datagrams atomic.Uint64
	w.OnEvent(func(ev fsm.Event) {
		if ev.Kind == fsm.EventTransmit {
			datagrams.Add(1)
		}
	})
	defer w.OnEvent(nil)
	msg := patterned(6000, 1)
	before, batched := counts()
	_, err := w.Write(msg)
	require.NoError(t, err)
	after, _ := counts()
	require.Greater(t, datagrams.Load(), uint64(3), "a flight of several datagrams")
	if batched {
		require.Equal(t, uint64(1), after.SendCalls-before.SendCalls, "one sendmmsg")
		require.Equal(t, datagrams.Load(), after.Sent-before.Sent)
	}
	require.Equal(t, msg, readBytes(t, r, len(msg)))
}

// TestBatchReadsLargeDatagram: a datagram of nearly 60,000 bytes, four
// records of a client with a large MTU that a proxy joins into one,
// reaches the server whole, through a Conn's own socket and through a
// listener: every record of it is read, in order.
func TestBatchReadsLargeDatagram(t *testing.T) {
	sizes := []int{16384, 16384, 16384, 10000}
	forLoopbacks(t, func(t *testing.T, host string) {
		for _, mode := range []string{"own socket", "listener"} {
			t.Run(mode, func(t *testing.T) {
				cc, sc := configs(t)
				cc.MTU, sc.MTU = 20000, 20000 // a 16 KiB record in a datagram
				client, server, proxy := proxiedConns(t, host, mode == "listener", cc, sc)
				proxy.join(len(sizes))
				for i, n := range sizes {
					_, err := client.Write(patterned(n, byte(i)))
					require.NoError(t, err)
				}
				select {
				case n := <-proxy.joined:
					require.Greater(t, n, 59000, "the joined datagram")
				case <-time.After(interopTimeout):
					t.Fatal("the proxy sent no joined datagram")
				}
				require.NoError(t, server.SetReadDeadline(time.Now().Add(interopTimeout)))
				buf := make([]byte, 1<<15)
				for i, n := range sizes {
					got, err := server.Read(buf)
					require.NoError(t, err, "record %d", i)
					require.True(t, bytes.Equal(patterned(n, byte(i)), buf[:got]), "record %d", i)
				}
			})
		}
	})
}

// proxiedConns returns a client and a server that exchange datagrams
// through a joiningProxy, handshaken: the server reads its own socket,
// or is a listener's Conn (the client then dials the proxy).
func proxiedConns(t *testing.T, host string, listener bool, cc, sc *dtls.Config) (client, server *dtls.Conn, proxy *joiningProxy) {
	t.Helper()
	if !listener {
		z := socketOn(t, host)
		proxy = newJoiningProxy(t, host, z.LocalAddr())
		client = dtls.Client(socketOn(t, host), proxy.sock.LocalAddr(), cc)
		server = dtls.Server(z, proxy.sock.LocalAddr(), sc)
		t.Cleanup(func() { client.Close(); server.Close() })
		handshakeBoth(t, client, server)
		return client, server, proxy
	}
	ln, err := dtls.Listen("udp", net.JoinHostPort(host, "0"), sc)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	proxy = newJoiningProxy(t, host, ln.Addr())
	client, server = dialAccept(t, ln, proxy.sock.LocalAddr(), cc)
	return client, server, proxy
}

// joiningProxy relays datagrams between one client and a server; after
// join(n), it sends the client's next n datagrams to the server as one,
// and the size of that one on joined.
type joiningProxy struct {
	sock   net.PacketConn
	server net.Addr
	joinN  atomic.Int32
	joined chan int
}

// newJoiningProxy starts a proxy on host for server, closed with the
// test.
func newJoiningProxy(t *testing.T, host string, server net.Addr) *joiningProxy {
	p := &joiningProxy{sock: socketOn(t, host), server: server, joined: make(chan int, 1)}
	go p.run()
	return p
}

// join makes the client's next n datagrams one.
func (p *joiningProxy) join(n int) { p.joinN.Store(int32(n)) }

// run relays until the socket is closed.
func (p *joiningProxy) run() {
	buf := make([]byte, 1<<16)
	var client net.Addr
	var held []byte
	heldN := 0
	for {
		n, from, err := p.sock.ReadFrom(buf)
		if err != nil {
			return
		}
		switch {
		case sameUDPAddr(from, p.server):
			if client != nil {
				p.sock.WriteTo(buf[:n], client)
			}
		case p.joinN.Load() > 0:
			client = from
			held, heldN = append(held, buf[:n]...), heldN+1
			if heldN == int(p.joinN.Load()) {
				if _, err := p.sock.WriteTo(held, p.server); err != nil {
					p.joined <- -1
				} else {
					p.joined <- len(held)
				}
				held, heldN = nil, 0
				p.joinN.Store(0)
			}
		default:
			client = from
			p.sock.WriteTo(buf[:n], p.server)
		}
	}
}

// sameUDPAddr reports whether a and b are the same UDP address.
func sameUDPAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	return ok1 && ok2 && ua.Port == ub.Port && ua.IP.Equal(ub.IP)
}

// TestBatchFallback: sockets that are not a *net.UDPConn are read and
// written a datagram at a time, through its own ReadFrom: a wrapper that
// embeds the *net.UDPConn and overrides ReadFrom (to filter, say) has its
// override called, although the ReadFromUDPAddrPort it also has would
// read the socket without it, and one that offers only net.PacketConn
// too. Both carry a handshake, records read in order and flights of
// several datagrams, between Conns on their own sockets and with a
// listener.
func TestBatchFallback(t *testing.T) {
	wrappers := map[string]func(net.PacketConn) net.PacketConn{
		"embedded": func(pc net.PacketConn) net.PacketConn { return &countingIO{UDPConn: pc.(*net.UDPConn)} },
		"plain":    func(pc net.PacketConn) net.PacketConn { return plainIO{pc} },
	}
	for name, wrap := range wrappers {
		t.Run(name, func(t *testing.T) {
			cc, sc := configs(t)
			cc.MTU, sc.MTU = 1500, 1500
			t.Run("own socket", func(t *testing.T) {
				a, z := wrap(socketOn(t, "127.0.0.1")), wrap(socketOn(t, "127.0.0.1"))
				client, server := ownConns(t, a, z, cc, sc)
				checkSingle(t, client, server, func() (dtls.BatchCounts, bool) { return dtls.ConnBatchCounts(server) })
				checkOverrideCalled(t, z)
			})
			t.Run("listener", func(t *testing.T) {
				sock := wrap(socketOn(t, "127.0.0.1"))
				ln := dtls.NewListener(sock, sc)
				t.Cleanup(func() { ln.Close() })
				accepted := acceptAsync(ln)
				client := dtls.Client(wrap(socketOn(t, "127.0.0.1")), ln.Addr(), cc)
				t.Cleanup(func() { client.Close() })
				server := handshakeAccepted(t, client, accepted)
				checkSingle(t, client, server, func() (dtls.BatchCounts, bool) { return dtls.ListenerBatchCounts(ln) })
				checkOverrideCalled(t, sock)
			})
		})
	}
}

// checkOverrideCalled checks that every datagram read from a countingIO
// went through its ReadFrom.
func checkOverrideCalled(t *testing.T, pc net.PacketConn) {
	t.Helper()
	if c, ok := pc.(*countingIO); ok {
		require.Positive(t, c.readFroms.Load(), "the wrapper's ReadFrom")
	}
}

// checkSingle checks that no batch I/O is counted and that records and
// flights go both ways between a and b.
func checkSingle(t *testing.T, a, b *dtls.Conn, counts func() (dtls.BatchCounts, bool)) {
	t.Helper()
	_, batched := counts()
	require.False(t, batched, "a wrapped socket read in batches")
	writeNumbered(t, a, 20)
	readNumbered(t, b, 20)
	checkFlight(t, a, b, counts)
	checkFlight(t, b, a, counts)
}

// countingIO embeds a *net.UDPConn, and with it ReadFromUDPAddrPort, but
// overrides ReadFrom, counting the datagrams it reads.
type countingIO struct {
	*net.UDPConn
	readFroms atomic.Int64
}

// ReadFrom reads a datagram and counts it.
func (c *countingIO) ReadFrom(p []byte) (int, net.Addr, error) {
	c.readFroms.Add(1)
	return c.UDPConn.ReadFrom(p)
}

// plainIO offers a socket's net.PacketConn methods alone.
type plainIO struct{ net.PacketConn }

// forLoopbacks runs f in a subtest on 127.0.0.1 and one on ::1, which is
// skipped when the system has no IPv6.
func forLoopbacks(t *testing.T, f func(t *testing.T, host string)) {
	t.Helper()
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			probe, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Skipf("no UDP on %s: %v", host, err)
			}
			probe.Close()
			f(t, host)
		})
	}
}

// socketOn opens a UDP socket on host, closed with the test.
func socketOn(t *testing.T, host string) net.PacketConn {
	t.Helper()
	sock, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { sock.Close() })
	return sock
}

// ownConns returns a client on a and a server on z, each reading its own
// socket, handshaken and closed with the test.
func ownConns(t *testing.T, a, z net.PacketConn, cc, sc *dtls.Config) (client, server *dtls.Conn) {
	t.Helper()
	client, server = dtls.Client(a, z.LocalAddr(), cc), dtls.Server(z, a.LocalAddr(), sc)
	t.Cleanup(func() { client.Close(); server.Close() })
	handshakeBoth(t, client, server)
	return client, server
}

// listenerConns returns a client dialed to a listener on host and the
// listener's Conn for it, handshaken and closed with the test.
func listenerConns(t *testing.T, host string, cc, sc *dtls.Config) (client, server *dtls.Conn, ln net.Listener) {
	t.Helper()
	ln, err := dtls.Listen("udp", net.JoinHostPort(host, "0"), sc)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	client, server = dialAccept(t, ln, ln.Addr(), cc)
	return client, server, ln
}

// dialAccept dials to, where ln's datagrams come from, and returns the
// client and the Conn that ln accepted, handshaken and closed with the
// test.
func dialAccept(t *testing.T, ln net.Listener, to net.Addr, cc *dtls.Config) (client, server *dtls.Conn) {
	t.Helper()
	accepted := acceptAsync(ln)
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	client, err := dtls.DialContext(ctx, "udp", to.String(), cc)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	server = acceptedConn(t, accepted)
	require.NoError(t, server.HandshakeContext(ctx))
	return client, server
}

// acceptedConn waits for the Conn that acceptAsync returns, closed with
// the test.
func acceptedConn(t *testing.T, accepted <-chan net.Conn) *dtls.Conn {
	t.Helper()
	select {
	case c := <-accepted:
		t.Cleanup(func() { c.Close() })
		return c.(*dtls.Conn)
	case <-time.After(interopTimeout):
		t.Fatal("nothing accepted")
		return nil
	}
}

// handshakeAccepted runs the handshake of client with a listener and
// returns the Conn the listener accepted for it, handshaken and closed
// with the test.
func handshakeAccepted(t *testing.T, client *dtls.Conn, accepted <-chan net.Conn) *dtls.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- client.HandshakeContext(ctx) }()
	server := acceptedConn(t, accepted)
	require.NoError(t, server.HandshakeContext(ctx))
	require.NoError(t, <-done)
	return server
}

// handshakeBoth runs the handshakes of client and server.
func handshakeBoth(t *testing.T, client, server *dtls.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.HandshakeContext(ctx) }()
	require.NoError(t, client.HandshakeContext(ctx))
	require.NoError(t, <-done)
}

// writeNumbered writes n numbered records.
func writeNumbered(t *testing.T, c net.Conn, n int) {
	t.Helper()
	for i := range n {
		_, err := fmt.Fprintf(c, "record %03d", i)
		require.NoError(t, err)
	}
}

// readNumbered reads the n records of writeNumbered, in order.
func readNumbered(t *testing.T, c net.Conn, n int) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(interopTimeout)))
	buf := make([]byte, 100)
	for i := range n {
		got, err := c.Read(buf)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("record %03d", i), string(buf[:got]))
	}
}

// readBytes reads records until it has n bytes.
func readBytes(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(interopTimeout)))
	got := make([]byte, 0, n)
	buf := make([]byte, 1<<16)
	for len(got) < n {
		m, err := c.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:m]...)
	}
	return got
}

// patterned returns n bytes that depend on seed and on their place.
func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// TestHandshakeReadsFindDatagrams: the reads of handshakes and their
// closes each find a datagram. After a read that leaves the socket
// empty, a listener and a client reading its own socket wait for the
// poller to tell of the next datagram instead of trying a read that
// finds nothing. The retransmission timers, too long to fire here, show
// that no arrival goes untold: a handshake that waited for one would not
// finish in time.
func TestHandshakeReadsFindDatagrams(t *testing.T) {
	const handshakes = 20
	cc, sc := configs(t)
	cc.RetransmitTimeout, sc.RetransmitTimeout = time.Minute, time.Minute
	forLoopbacks(t, func(t *testing.T, host string) {
		ln, err := dtls.Listen("udp", net.JoinHostPort(host, "0"), sc)
		require.NoError(t, err)
		defer ln.Close()
		go echo(ln)
		var empty uint64
		for range handshakes {
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			c, err := dtls.DialContext(ctx, "udp", ln.Addr().String(), cc)
			cancel()
			require.NoError(t, err)
			n, batched := dtls.ConnBatchCounts(c)
			require.NoError(t, c.Close())
			if !batched {
				t.Skip("no batched reads here, and no count of them")
			}
			empty += n.EmptyReads
		}
		n, _ := dtls.ListenerBatchCounts(ln)
		t.Logf("%d handshakes: %d reads that found nothing at the clients, %d at the listener", handshakes, empty, n.EmptyReads)
		require.Less(t, empty+n.EmptyReads, uint64(handshakes/2), "reads that found nothing")
	})
}

// TestSendBuffersAfterHandshake: once their handshake is over, a client
// and a server let go of the buffers their flights grew for sending;
// what the connection sends next grows them to its own size.
func TestSendBuffersAfterHandshake(t *testing.T) {
	cc, sc := configs(t)
	check := func(t *testing.T, client, server *dtls.Conn) {
		require.Zero(t, dtls.SendBufferForTest(client), "client")
		require.Zero(t, dtls.SendBufferForTest(server), "server")
		writeNumbered(t, client, 3)
		readNumbered(t, server, 3)
	}
	t.Run("own socket", func(t *testing.T) {
		client, server := ownConns(t, socketOn(t, "127.0.0.1"), socketOn(t, "127.0.0.1"), cc, sc)
		check(t, client, server)
	})
	t.Run("listener", func(t *testing.T) {
		client, server, _ := listenerConns(t, "127.0.0.1", cc, sc)
		check(t, client, server)
	})
}
