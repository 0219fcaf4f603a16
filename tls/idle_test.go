package tls_test

import (
	"net"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// maxIdleConnBytes bounds the heap of an established tls.Conn that no
// goroutine reads or writes, with its share of the net.Pipe under it: the
// core's keys and state, no handshake or socket buffers. (crypto/tls
// holds about 5.6 KB per Conn in the idle figures of examples/bench.)
const maxIdleConnBytes = 5120

func TestIdleConnMemory(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	sc := &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, SessionTicketsDisabled: true}
	cc := &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}
	const pairs = 200
	var conns, pipes []net.Conn
	defer func() {
		for _, p := range pipes { // not the tls.Conns: nobody reads a close_notify
			p.Close()
		}
	}()
	before := heapInUse()
	for range pairs {
		a, b := net.Pipe()
		client, server := tls.Client(a, cc), tls.Server(b, sc)
		done := make(chan error, 1)
		go func() { done <- server.Handshake() }()
		require.NoError(t, client.Handshake())
		require.NoError(t, <-done)
		conns = append(conns, client, server)
		pipes = append(pipes, a, b)
	}
	perConn := float64(heapInUse()-before) / (2 * pairs)
	t.Logf("idle tls.Conn with its half of a net.Pipe: %.0f B", perConn)
	require.LessOrEqual(t, perConn, float64(maxIdleConnBytes))
	runtime.KeepAlive(conns)
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
