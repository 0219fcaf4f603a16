package tls_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/tls"
)

// tcpPair returns the two ends of a loopback TCP connection; the test's
// cleanup closes them.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := ln.AcceptTCP()
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// handshakeBoth runs the handshakes of client and server concurrently.
func handshakeBoth(client, server *tls.Conn) error {
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	cerr := client.Handshake()
	serr := <-done
	if cerr != nil {
		return fmt.Errorf("client handshake: %w", cerr)
	}
	if serr != nil {
		return fmt.Errorf("server handshake: %w", serr)
	}
	return nil
}
