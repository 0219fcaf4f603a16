package tls_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/tls"
)

// writeSignal is a net.Conn that reports its first Write after armed is
// closed.
type writeSignal struct {
	net.Conn
	armed   chan struct{}
	writing chan struct{}
	once    sync.Once
}

func (w *writeSignal) Write(p []byte) (int, error) {
	select {
	case <-w.armed:
		w.once.Do(func() { close(w.writing) })
	default:
	}
	return w.Conn.Write(p)
}

// TestCloseDuringBlockedWrite: Close while a Write is blocked on a peer
// that does not read closes the socket at once, without waiting to send
// close_notify behind the blocked Write, and the Write returns.
func TestCloseDuringBlockedWrite(t *testing.T) {
	cc, sc := testConfigs()
	a, b := tcpPair(t)
	sig := &writeSignal{Conn: a, armed: make(chan struct{}), writing: make(chan struct{})}
	cli, srv := tls.Client(sig, cc), tls.Server(b, sc)
	require.NoError(t, handshakeBoth(cli, srv))
	// Small socket buffers: the Write's first socket write blocks.
	require.NoError(t, a.SetWriteBuffer(4096))
	require.NoError(t, b.SetReadBuffer(4096))
	close(sig.armed)
	wrote := make(chan error, 1)
	go func() {
		_, err := cli.Write(make([]byte, 64<<20)) // more than the socket buffers; the server reads nothing
		wrote <- err
	}()
	<-sig.writing
	start := time.Now()
	err := within(t, "Close", cli.Close)
	elapsed := time.Since(start)
	require.NoError(t, err)
	// Close used to give close_notify 5 s to get past the blocked Write.
	require.Less(t, elapsed, 4*time.Second, "Close waited for the blocked Write")
	werr := within(t, "the Write blocked when Close was called", func() error { return <-wrote })
	require.ErrorIs(t, werr, net.ErrClosed)
	_, err = cli.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed, "Write after Close")
}
