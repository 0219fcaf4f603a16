package dtls_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// acceptAll accepts every Conn of ln into the returned channel.
func acceptAll(ln net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	return ch
}

// nextConn returns the next Conn accepted within five seconds.
func nextConn(t *testing.T, accepted <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-accepted:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no Conn accepted")
		return nil
	}
}

// readString reads one record from c within five seconds.
func readString(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	require.NoError(t, err)
	return string(buf[:n])
}

// TestListenerClientRestart: a client that loses its state and connects
// again from the same address gets a new connection at once (RFC 6347
// §4.2.8), and the old one ends with ErrReplaced.
func TestListenerClientRestart(t *testing.T) {
	cc, sc := configs(t)
	ln := listen(t, sc)
	accepted := acceptAll(ln)

	sock1, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	c1 := dtls.Client(sock1, ln.Addr(), cc)
	_, err = c1.Write([]byte("one"))
	require.NoError(t, err)
	s1 := nextConn(t, accepted)
	defer s1.Close()
	require.Equal(t, "one", readString(t, s1))
	// The client crashes: no close_notify, its keys are gone.
	require.NoError(t, sock1.Close())

	sock2, err := net.ListenPacket("udp", sock1.LocalAddr().String())
	require.NoError(t, err)
	c2 := dtls.Client(sock2, ln.Addr(), cc)
	defer c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c2.HandshakeContext(ctx), "the listener takes the new connection")
	_, err = c2.Write([]byte("two"))
	require.NoError(t, err)
	s2 := nextConn(t, accepted)
	defer s2.Close()
	require.Equal(t, "two", readString(t, s2))
	_, err = s2.Write([]byte("back"))
	require.NoError(t, err)
	require.Equal(t, "back", readString(t, c2))

	s1.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = s1.Read(make([]byte, 100))
	require.ErrorIs(t, err, dtls.ErrReplaced)
	_, err = s1.Write([]byte("to nobody"))
	require.ErrorIs(t, err, dtls.ErrReplaced)
	require.Equal(t, 1, dtls.DemuxConns(ln))
}

// rawClient drives an fsm client over a socket of the test's own.
type rawClient struct {
	t    *testing.T
	sock net.PacketConn
	to   net.Addr
	core *fsm.Conn
	sent [][]byte // every datagram sent, in order
	// received is the application data received.
	received []byte
	// oneRecordEach sends each record in a datagram of its own.
	oneRecordEach bool
}

// flush sends what the core has to send and keeps what it received.
func (r *rawClient) flush() {
	for ev := r.core.NextEvent(); ev.Kind != fsm.EventNone; ev = r.core.NextEvent() {
		switch ev.Kind {
		case fsm.EventTransmit:
			for _, d := range r.datagrams(ev.Data) {
				r.sent = append(r.sent, d)
				_, err := r.sock.WriteTo(d, r.to)
				require.NoError(r.t, err)
			}
		case fsm.EventData:
			r.received = append(r.received, ev.Data...)
		}
	}
}

// datagrams returns copies of what to send for d: d, or its records one
// by one.
func (r *rawClient) datagrams(d []byte) [][]byte {
	if !r.oneRecordEach {
		return [][]byte{bytes.Clone(d)}
	}
	var out [][]byte
	cidLen := len(r.core.ConnectionState().PeerConnectionID)
	for len(d) > 0 {
		_, rest, err := record.ParseDTLSRecordCID(d, cidLen)
		require.NoError(r.t, err)
		out = append(out, bytes.Clone(d[:len(d)-len(rest)]))
		d = rest
	}
	return out
}

// receive feeds the core the next datagram, or the time when none comes
// within 100 ms, and flushes; false on a timeout.
func (r *rawClient) receive() bool {
	defer r.flush()
	buf := make([]byte, 1<<16)
	r.sock.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	n, _, err := r.sock.ReadFrom(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		r.core.HandleTimeout(time.Now())
		return false
	}
	require.NoError(r.t, err)
	r.core.HandleDatagram(time.Now(), buf[:n])
	return true
}

// awaitData receives until the application data received since the call
// is text, for at most 5 seconds.
func (r *rawClient) awaitData(text string) {
	r.received = nil
	for deadline := time.Now().Add(5 * time.Second); string(r.received) != text; {
		require.True(r.t, time.Now().Before(deadline), "waiting for %q", text)
		r.receive()
	}
}

// handshake runs the core's handshake to completion.
func (r *rawClient) handshake() {
	require.NoError(r.t, r.core.Start(time.Now()))
	for deadline := time.Now().Add(5 * time.Second); !r.core.HandshakeComplete(); {
		require.True(r.t, time.Now().Before(deadline), "handshake")
		r.flush()
		r.receive()
	}
	r.flush()
}

// discard drops whatever the socket holds.
func (r *rawClient) discard() {
	for r.sock.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); ; {
		if _, _, err := r.sock.ReadFrom(make([]byte, 1<<16)); err != nil {
			return
		}
	}
}

// TestListenerRestartNeedsAHandshake: a copy of the hello that made a
// connection does not start another, and a new connection from the same
// address that never completes its handshake gives the address back to
// the old one.
func TestListenerRestartNeedsAHandshake(t *testing.T) {
	cc, sc := configs(t)
	sc.MaxRetransmits = 1 // a handshake gives up after 300 ms
	ln := listen(t, sc)
	accepted := acceptAll(ln)
	sock := loopbackSocket(t)

	old := &rawClient{t: t, sock: sock, to: ln.Addr(), core: fsm.NewDTLSClient(cc)}
	old.handshake()
	s1 := nextConn(t, accepted)
	defer s1.Close()
	for _, d := range old.sent[:2] { // the ClientHellos, without and with the cookie
		_, err := sock.WriteTo(d, ln.Addr())
		require.NoError(t, err)
	}
	old.discard()

	// Another client on the same address gets through the cookie
	// exchange, then falls silent.
	other := &rawClient{t: t, sock: sock, to: ln.Addr(), core: fsm.NewDTLSClient(cc)}
	require.NoError(t, other.core.Start(time.Now()))
	other.flush()
	require.True(t, other.receive(), "a HelloVerifyRequest")
	other.flush()
	s2 := nextConn(t, accepted)
	defer s2.Close()
	s2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := s2.Read(make([]byte, 100))
	require.Error(t, err, "the new handshake fails")
	old.discard()

	_, err = old.core.Write(time.Now(), []byte("still here"))
	require.NoError(t, err)
	old.flush()
	require.Equal(t, "still here", readString(t, s1))
	select {
	case c := <-accepted:
		t.Fatalf("a copy of the first hello made another Conn, %v", c.RemoteAddr())
	default:
	}
}
