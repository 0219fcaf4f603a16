package tls_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// hangTimeout bounds the checks that something does not block for good.
const hangTimeout = 20 * time.Second

func testConfigs() (client, server *tls.Config) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	return &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"},
		&tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}}
}

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

// TestHandshakeErrorIsSticky: after a handshake that failed on a socket
// timeout, Read, Write and Handshake return that error again.
func TestHandshakeErrorIsSticky(t *testing.T) {
	cc, _ := testConfigs()
	a, _ := tcpPair(t) // the server never answers
	cli := tls.Client(a, cc)
	require.NoError(t, cli.SetDeadline(time.Now().Add(100*time.Millisecond)))
	hsErr := cli.Handshake()
	require.ErrorIs(t, hsErr, os.ErrDeadlineExceeded)
	require.NoError(t, cli.SetDeadline(time.Now().Add(hangTimeout)))
	calls := map[string]func() error{
		"Read":      func() error { _, err := cli.Read(make([]byte, 1)); return err },
		"Write":     func() error { _, err := cli.Write([]byte("x")); return err },
		"Handshake": cli.Handshake,
	}
	for name, call := range calls {
		err := within(t, name, call)
		require.Truef(t, errors.Is(err, hsErr), "%s after the failed handshake: %v, want %v", name, err, hsErr)
	}
}

// TestHandshakeContextKeepsCallerDeadline: a handshake whose context has
// a deadline leaves the caller's deadline in force, so a later Read from
// a silent peer times out by it.
func TestHandshakeContextKeepsCallerDeadline(t *testing.T) {
	cc, sc := testConfigs()
	a, b := tcpPair(t)
	cli, srv := tls.Client(a, cc), tls.Server(b, sc)
	go srv.Handshake() // then stays silent
	require.NoError(t, cli.SetReadDeadline(time.Now().Add(2*time.Second)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, cli.HandshakeContext(ctx))
	err := within(t, "Read with a deadline set before the handshake", func() error {
		_, err := cli.Read(make([]byte, 10))
		return err
	})
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

// TestHandshakeContextEarlierCallerDeadline: the caller's deadline, when
// earlier than the context's, ends the handshake.
func TestHandshakeContextEarlierCallerDeadline(t *testing.T) {
	cc, _ := testConfigs()
	a, _ := tcpPair(t) // the server never answers
	cli := tls.Client(a, cc)
	require.NoError(t, cli.SetDeadline(time.Now().Add(200*time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangTimeout)
	defer cancel()
	err := within(t, "a handshake past the caller's deadline", func() error { return cli.HandshakeContext(ctx) })
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the caller's deadline ends the handshake")
	require.NoError(t, ctx.Err())
}

// TestHandshakeContextCanceledAsItCompletes cancels the context of a
// client handshake at each event of the client, or of the server, in
// turn, racing with the handshake's end: the handshake either succeeds
// and the connection works, or returns the context's error with the
// connection closed.
func TestHandshakeContextCanceledAsItCompletes(t *testing.T) {
	cc, sc := testConfigs()
	sc.SessionTicketsDisabled = true
	const rounds, events = 3, 24
	for i := range rounds * 2 * events {
		cancelAt, onServer := i/2%events+1, i%2 == 1
		a, b := tcpPair(t)
		a.SetDeadline(time.Now().Add(hangTimeout))
		b.SetDeadline(time.Now().Add(hangTimeout))
		cli, srv := tls.Client(a, cc), tls.Server(b, sc)
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
		go echoOnce(srv)
		err := cli.HandshakeContext(ctx)
		cancel()
		where := fmt.Sprintf("cancelled at event %d of the server: %v", cancelAt, onServer)
		if err != nil {
			require.ErrorIs(t, err, context.Canceled, where)
			_, werr := a.Write([]byte{0})
			require.ErrorIs(t, werr, net.ErrClosed, "%s: the handshake failed, the socket is still open", where)
			continue
		}
		_, err = cli.Write([]byte("ping"))
		require.NoError(t, err, "%s: the handshake succeeded, the Conn does not write", where)
		got := make([]byte, 4)
		_, err = io.ReadFull(cli, got)
		require.NoError(t, err, "%s: the handshake succeeded, the Conn does not read", where)
		require.Equal(t, "ping", string(got))
		cli.Close()
	}
}

// echoOnce handshakes, then writes back what one Read returns.
func echoOnce(c *tls.Conn) {
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err == nil {
		c.Write(buf[:n])
	}
}
