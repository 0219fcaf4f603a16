package tls_test

import (
	"net"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestSocketFlushStartsNoGoroutine: over TCP, a flight written while the
// Conn reads (the server's first flight, the client's Finished) goes
// straight into the socket, which has room for it; a goroutine to write
// it, and the wake-up that starts it, are for a socket that is full.
func TestSocketFlushStartsNoGoroutine(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	sc := &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, SessionTicketsDisabled: true}
	cc := &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	const handshakes = 20
	before := goroutinesCreated()
	for range handshakes {
		raw, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		rawServer, err := ln.Accept()
		require.NoError(t, err)
		client, server := tls.Client(raw, cc), tls.Server(rawServer, sc)
		done := make(chan error, 1)
		go func() { done <- client.Handshake() }() // the one goroutine the test starts
		require.NoError(t, server.Handshake())
		require.NoError(t, <-done)
		client.Close()
		server.Close()
	}
	created := goroutinesCreated() - before
	t.Logf("%d goroutines created for %d handshakes", created, handshakes)
	require.LessOrEqual(t, created, uint64(handshakes+handshakes/2))
}
