package dtls_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// hangTimeout bounds the checks that something does not block for good.
const hangTimeout = 20 * time.Second

// within runs f and returns its error, failing the test when f has not
// returned after hangTimeout.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangTimeout):
		t.Fatalf("%s: still blocked after %v", what, hangTimeout)
		return nil
	}
}

// ownSockets returns a client and a server Conn, each on a loopback
// socket of its own.
func ownSockets(t *testing.T) (cli, srv *dtls.Conn) {
	cc, sc := configs(t)
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	b, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	cli, srv = dtls.Client(a, b.LocalAddr(), cc), dtls.Server(b, a.LocalAddr(), sc)
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
	})
	return cli, srv
}

// TestHandshakeContextKeepsCallerDeadline: a handshake whose context has
// a deadline leaves the caller's read deadline in force, so a later Read
// from a silent peer times out by it.
func TestHandshakeContextKeepsCallerDeadline(t *testing.T) {
	cli, srv := ownSockets(t)
	go srv.Handshake() // then stays silent
	require.NoError(t, cli.SetReadDeadline(time.Now().Add(2*time.Second)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, cli.HandshakeContext(ctx))
	err := within(t, "Read with a deadline set before the handshake", func() error {
		_, err := cli.Read(make([]byte, 100))
		return err
	})
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

// TestHandshakeContextEarlierCallerDeadline: the caller's read deadline,
// when earlier than the context's, ends the handshake.
func TestHandshakeContextEarlierCallerDeadline(t *testing.T) {
	cc, _ := configs(t)
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	cli := dtls.Client(a, silent.LocalAddr(), cc)
	defer cli.Close()
	require.NoError(t, cli.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangTimeout)
	defer cancel()
	err = within(t, "a handshake past the caller's deadline", func() error { return cli.HandshakeContext(ctx) })
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the caller's deadline ends the handshake")
	require.NoError(t, ctx.Err())
}

// TestHandshakeContextCanceledAsItCompletes cancels the context of a
// client handshake at each event of the client, or of the server, in
// turn, racing with the handshake's end. A dtls.Conn documents that
// giving up leaves the handshake where it was, so the handshake either
// succeeds and the connection works, or returns the context's error and
// a new Handshake completes it.
func TestHandshakeContextCanceledAsItCompletes(t *testing.T) {
	const rounds, events = 2, 20
	for i := range rounds * 2 * events {
		cancelAt, onServer := i/2%events+1, i%2 == 1
		where := fmt.Sprintf("cancelled at event %d of the server: %v", cancelAt, onServer)
		cli, srv := ownSockets(t)
		ctx, cancel := context.WithCancel(context.Background())
		watched := cli
		if onServer {
			watched = srv
		}
		seen := 0
		watched.OnEvent(func(fsm.Event) {
			if seen++; seen == cancelAt {
				cancel()
			}
		})
		go echoRecord(srv)
		err := cli.HandshakeContext(ctx)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.Canceled, where)
			require.NoError(t, within(t, where+": the handshake taken up again", cli.Handshake), where)
		}
		require.NoError(t, cli.SetDeadline(time.Now().Add(hangTimeout)))
		_, err = cli.Write([]byte("ping"))
		require.NoError(t, err, "%s: the Conn does not write", where)
		buf := make([]byte, 16)
		n, err := cli.Read(buf)
		require.NoError(t, err, "%s: the Conn does not read", where)
		require.Equal(t, "ping", string(buf[:n]))
	}
}

// echoRecord handshakes, then writes back the first record it reads.
func echoRecord(c *dtls.Conn) {
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err == nil {
		c.Write(buf[:n])
	}
}
