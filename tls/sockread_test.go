package tls_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/tls"
)

// unixPair returns the two ends of a Unix stream socket connection; the
// test's cleanup closes them.
func unixPair(t *testing.T) (client, server net.Conn) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("unix", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// TestSocketReads runs a Conn over the sockets it reads through their
// RawConn: data arrive whole, and a deadline, Close and a peer that goes
// away without close_notify end a Read as with net.Conn.Read.
func TestSocketReads(t *testing.T) {
	pairs := map[string]func(t *testing.T) (net.Conn, net.Conn){
		"tcp":  func(t *testing.T) (net.Conn, net.Conn) { return tcpPair(t) },
		"unix": unixPair,
	}
	for name, pair := range pairs {
		t.Run(name, func(t *testing.T) {
			cli, srv, _ := establish(t, pair)
			seed := seedFor(t.Name())
			wrote := make(chan error, 1)
			go func() { wrote <- writeRandomly(srv, randomBytes(seed, 1<<20), seed) }()
			require.NoError(t, within(t, "reading 1 MiB", func() error {
				got := make([]byte, 1<<20)
				_, err := io.ReadFull(cli, got)
				return errors.Join(err, checkSame("data", randomBytes(seed, 1<<20), got))
			}))
			require.NoError(t, <-wrote)

			require.NoError(t, cli.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
			_, err := cli.Read(make([]byte, 1))
			var oe *net.OpError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "read", oe.Op)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.NoError(t, cli.SetReadDeadline(time.Time{}))

			read := make(chan error, 1)
			go func() {
				_, err := cli.Read(make([]byte, 1))
				read <- err
			}()
			waitBlockedIn(t, "tls.(*Conn).Read")
			require.NoError(t, cli.Close())
			require.ErrorIs(t, within(t, "a Read when its Conn closes", func() error { return <-read }), net.ErrClosed)
			_, err = srv.Read(make([]byte, 1))
			require.ErrorIs(t, err, io.EOF, "close_notify")

			_, srv, clientSocket := establish(t, pair)
			go func() {
				_, err := srv.Read(make([]byte, 1))
				read <- err
			}()
			waitBlockedIn(t, "tls.(*Conn).Read")
			clientSocket.Close()
			require.ErrorIs(t, within(t, "a Read when the peer goes", func() error { return <-read }), io.ErrUnexpectedEOF)
		})
	}
}

// establish returns a client and a server Conn over a new pair of
// sockets, handshake done, and the client's socket.
func establish(t *testing.T, pair func(t *testing.T) (net.Conn, net.Conn)) (cli, srv *tls.Conn, clientSocket net.Conn) {
	cc, sc := testConfigs()
	a, b := pair(t)
	cli, srv = tls.Client(a, cc), tls.Server(b, sc)
	require.NoError(t, handshakeBoth(cli, srv))
	return cli, srv, a
}

// TestHandshakeReadsFindData: the socket reads of handshakes, TLS 1.3
// and TLS 1.2 over TCP, find data. After a read that empties the
// socket, and after a client's first flight, a Conn waits for the poller
// to tell of the next bytes instead of trying a read that finds nothing;
// only a server's first read, which may come before the ClientHello,
// tries at once. No handshake waits for bytes that came untold: each
// finishes within the test's time.
func TestHandshakeReadsFindData(t *testing.T) {
	const handshakes = 20
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(fsm.VersionName(version), func(t *testing.T) {
			cc, sc := testConfigs()
			cc.MinVersion, cc.MaxVersion = version, version
			var clientEmpty, serverEmpty uint64
			for range handshakes {
				a, b := tcpPair(t)
				cli, srv := tls.Client(a, cc), tls.Server(b, sc)
				require.NoError(t, within(t, "a handshake", func() error { return handshakeBoth(cli, srv) }))
				_, empty, ok := cli.SocketReadsForTest()
				require.True(t, ok, "a TCP socket read through its RawConn")
				clientEmpty += empty
				_, empty, _ = srv.SocketReadsForTest()
				serverEmpty += empty
			}
			t.Logf("%d handshakes: %d reads that found nothing at the clients, %d at the servers", handshakes, clientEmpty, serverEmpty)
			require.LessOrEqual(t, clientEmpty, uint64(handshakes/4), "client reads that found nothing")
			require.LessOrEqual(t, serverEmpty, uint64(handshakes+handshakes/4), "server reads that found nothing")
		})
	}
}
