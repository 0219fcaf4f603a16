package benchsuite

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tlsm/tlsm/dtls"
)

// The batch I/O benchmarks run DTLS 1.2 over UDP loopback twice: on
// *net.UDPConns, which dtls reads with recvmmsg, up to 8 datagrams a
// system call, and to which it writes a flush of several datagrams with
// one sendmmsg (on Linux); and on the same sockets behind
// SingleDatagramIO, which hides the *net.UDPConn so that dtls reads and
// writes them a datagram per system call, through ReadFrom and WriteTo
// (a read then makes a net.Addr of the source: two small allocations).

// SingleDatagramIO returns pc, a *net.UDPConn, behind a wrapper that
// offers its net.PacketConn methods but not the *net.UDPConn itself, so
// that dtls reads and writes it a datagram per system call. Other
// PacketConns are returned as they are.
func SingleDatagramIO(pc net.PacketConn) net.PacketConn {
	if u, ok := pc.(*net.UDPConn); ok {
		return &singleDatagramConn{udp: u}
	}
	return pc
}

// singleDatagramConn is a *net.UDPConn that dtls does not recognise.
type singleDatagramConn struct{ udp *net.UDPConn }

// ReadFrom reads a datagram and its source.
func (c *singleDatagramConn) ReadFrom(p []byte) (int, net.Addr, error) { return c.udp.ReadFrom(p) }

// WriteTo writes a datagram to addr.
func (c *singleDatagramConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	return c.udp.WriteTo(p, addr)
}

// Close closes the socket.
func (c *singleDatagramConn) Close() error { return c.udp.Close() }

// LocalAddr returns the socket's address.
func (c *singleDatagramConn) LocalAddr() net.Addr { return c.udp.LocalAddr() }

// SetDeadline sets the socket's deadlines.
func (c *singleDatagramConn) SetDeadline(t time.Time) error { return c.udp.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *singleDatagramConn) SetReadDeadline(t time.Time) error { return c.udp.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (c *singleDatagramConn) SetWriteDeadline(t time.Time) error { return c.udp.SetWriteDeadline(t) }

// socketIO returns the identity with batching, else SingleDatagramIO.
func socketIO(batched bool) func(net.PacketConn) net.PacketConn {
	if batched {
		return func(pc net.PacketConn) net.PacketConn { return pc }
	}
	return SingleDatagramIO
}

// DTLSBatchBulk1200 is DTLSBulk1200UDP on sockets that dtls reads in
// batches, or a datagram at a time: a goroutine writes 1,200-byte
// records, the benchmark reads what arrives.
func DTLSBatchBulk1200(batched bool) func(*testing.B) {
	return func(b *testing.B) {
		a, z := udpSockets(b)
		wrap := socketIO(batched)
		cc, sc, _ := dtls12.configs()
		cc.MTU, sc.MTU = bulkMTU, bulkMTU
		client, server := dtls.Client(wrap(a), z.LocalAddr(), cc), dtls.Server(wrap(z), a.LocalAddr(), sc)
		if err := handshakeDTLS12(client, server); err != nil {
			client.Close()
			server.Close()
			b.Fatal(err)
		}
		bulkThrough(b, client, server)
	}
}

// handshakeDTLS12 runs the handshakes of client and server and checks
// that they negotiated dtls12.
func handshakeDTLS12(client, server *dtls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.HandshakeContext(ctx) }()
	err := client.HandshakeContext(ctx)
	if serr := <-done; err == nil {
		err = serr
	}
	if err == nil && !dtls12.negotiated(client.ConnectionState()) {
		err = fmt.Errorf("negotiated %+v", client.ConnectionState())
	}
	return err
}

// DTLSBatchHandshakes is full DTLS 1.2 handshakes over UDP loopback,
// Concurrent clients at a time, each a dtls.Client on a socket of its
// own, to a dtls listener: all sockets read and written in batches, or
// all a datagram at a time.
func DTLSBatchHandshakes(batched bool) func(*testing.B) {
	return func(b *testing.B) {
		wrap := socketIO(batched)
		cc, sc, _ := dtls12.configs()
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ln := dtls.NewListener(wrap(pc), sc)
		defer ln.Close()
		go acceptAndClose(ln)
		runClients(b, Concurrent, func() error {
			sock, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			c := dtls.Client(wrap(sock), ln.Addr(), cc)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.HandshakeContext(ctx); err != nil {
				return err
			}
			if st := c.ConnectionState(); !dtls12.negotiated(st) {
				return fmt.Errorf("negotiated %+v", st)
			}
			return nil
		})
	}
}
