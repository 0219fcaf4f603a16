package tls_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

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

// dataStream is a reproducible stream of pseudo-random bytes: a writer
// and a reader made with the same seed see the same bytes however they
// cut them.
type dataStream struct{ src *rand.ChaCha8 }

func newDataStream(seed uint64) *dataStream {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "tlsm stream test data")
	return &dataStream{rand.NewChaCha8(key)}
}

// next fills p with the next len(p) bytes of the stream.
func (s *dataStream) next(p []byte) { s.src.Read(p) }

// readStream reads exactly n bytes from r and checks them against the
// stream of seed.
func readStream(r io.Reader, n int64, seed uint64) error {
	want := newDataStream(seed)
	got := make([]byte, 64<<10)
	exp := make([]byte, len(got))
	var off int64
	for off < n {
		m, err := r.Read(got[:min(int64(len(got)), n-off)])
		want.next(exp[:m])
		if !bytes.Equal(got[:m], exp[:m]) {
			return fmt.Errorf("the data differ in the %d bytes read at offset %d", m, off)
		}
		off += int64(m)
		if err != nil && off < n {
			return fmt.Errorf("read at offset %d of %d: %w", off, n, err)
		}
	}
	return nil
}

// waitBlockedIn waits until a goroutine that has fn on its stack is
// blocked, on the network or on a lock.
func waitBlockedIn(t *testing.T, fn string) {
	t.Helper()
	for deadline := time.Now().Add(hangTimeout); ; {
		for _, g := range bytes.Split(allStacks(), []byte("\n\n")) {
			blocked := bytes.Contains(g, []byte(" [IO wait")) || bytes.Contains(g, []byte(" [sync.Cond.Wait")) || bytes.Contains(g, []byte(" [sync.Mutex.Lock"))
			if blocked && bytes.Contains(g, []byte(fn+"(")) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine blocked in %s after %v", fn, hangTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// allStacks returns the stacks of all goroutines.
func allStacks() []byte {
	for buf := make([]byte, 1<<16); ; buf = make([]byte, 2*len(buf)) {
		if n := runtime.Stack(buf, true); n < len(buf) {
			return buf[:n]
		}
	}
}
