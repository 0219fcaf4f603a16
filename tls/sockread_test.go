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
