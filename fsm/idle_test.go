package fsm_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

// maxIdleConnBytes is the heap an established, idle TLS 1.3 fsm.Conn may
// hold once its events are drained: keys and state, no handshake buffers.
const maxIdleConnBytes = 4096

func TestIdleConnMemory(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.SessionTicketsDisabled = true
	const pairs = 300
	keep := make([]*memconn.Pair, 0, pairs)
	before := liveHeap()
	for range pairs {
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		p.DropBuffers()
		keep = append(keep, p)
	}
	perConn := float64(liveHeap()-before) / (2 * pairs)
	t.Logf("idle TLS 1.3 fsm.Conn: %.0f B of heap", perConn)
	require.LessOrEqual(t, perConn, float64(maxIdleConnBytes))

	// The released buffers grow again: data still flows both ways.
	for _, p := range keep[:10] {
		require.NoError(t, p.Write(p.Client, []byte("ping")))
		require.NoError(t, p.Write(p.Server, []byte("pong")))
		require.Equal(t, "ping", string(p.Server.Received))
		require.Equal(t, "pong", string(p.Client.Received))
		require.Equal(t, fsm.StateClientConnected13, p.Client.Conn.State())
	}
	runtime.KeepAlive(keep)
}
