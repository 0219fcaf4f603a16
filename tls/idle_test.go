package tls_test

import (
	"bytes"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// maxIdleConnBytes bounds the heap of an established tls.Conn that no
// goroutine reads or writes, with its share of the net.Pipe under it: the
// core's keys and state, no handshake or socket buffers. (crypto/tls
// holds about 5.6 KB per Conn in the idle figures of examples/bench.)
const maxIdleConnBytes = 4864

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

// TestBlockedReadMemory measures the heap of connections over loopback
// TCP with a Read blocked on each side, for tlsm and for crypto/tls in
// the same run: right after the handshake, and after 64 KiB each way,
// when the socket read size has grown to a full record. A Read waiting
// on its socket holds no buffer, as in crypto/tls; right after the
// handshake a stalled tlsm connection costs no more in all.
//
// After a transfer, the totals are not compared: a tlsm Conn then keeps
// its write buffers and the core's, sized for 64 KiB writes, where
// crypto/tls keeps one record's worth.
func TestBlockedReadMemory(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	cc := &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}
	sc := &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, SessionTicketsDisabled: true}
	gcc := &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}
	gsc := &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}, SessionTicketsDisabled: true}
	ours := func(a, b net.Conn) (io.ReadWriter, io.ReadWriter, error) {
		cli, srv := tls.Client(a, cc), tls.Server(b, sc)
		return cli, srv, handshakeBoth(cli, srv)
	}
	theirs := func(a, b net.Conn) (io.ReadWriter, io.ReadWriter, error) {
		cli, srv := gotls.Client(a, gcc), gotls.Server(b, gsc)
		done := make(chan error, 1)
		go func() { done <- srv.Handshake() }()
		err := cli.Handshake()
		return cli, srv, errors.Join(err, <-done)
	}
	const pairs = 100
	// noise is the slack allowed per pair in comparing the growth of the
	// heap; the smallest read buffer is 2048 bytes.
	const noise = 512
	for _, exchanged := range []int{0, 64 << 10} {
		t.Run(fmt.Sprintf("after %d bytes each way", exchanged), func(t *testing.T) {
			idle, blocked := blockedReadHeap(t, pairs, exchanged, ours)
			goIdle, goBlocked := blockedReadHeap(t, pairs, exchanged, theirs)
			t.Logf("heap per TCP connection pair, idle -> a Read blocked on each side: tlsm %.0f -> %.0f B, crypto/tls %.0f -> %.0f B", idle, blocked, goIdle, goBlocked)
			require.LessOrEqual(t, blocked-idle, goBlocked-goIdle+noise, "the blocked Reads hold buffers")
			if exchanged == 0 {
				require.LessOrEqual(t, blocked, goBlocked)
			}
		})
	}
}

// blockedReadHeap opens pairs loopback TCP connections with open and
// exchanges that many bytes each way on each; it returns the growth of
// the heap per pair then (idle), and once a Read started on both ends of
// each waits on its socket (blocked).
func blockedReadHeap(t *testing.T, pairs, exchanged int, open func(a, b net.Conn) (client, server io.ReadWriter, err error)) (idle, blocked float64) {
	var sockets []net.Conn
	var readers sync.WaitGroup
	defer func() {
		for _, s := range sockets {
			s.Close()
		}
		readers.Wait()
	}()
	data, got := make([]byte, exchanged), make([]byte, exchanged)
	start := make(chan struct{})
	before := heapInUse()
	for range pairs {
		a, b := tcpPair(t)
		sockets = append(sockets, a, b)
		client, server, err := open(a, b)
		require.NoError(t, err)
		require.NoError(t, sendAcross(client, server, data, got))
		require.NoError(t, sendAcross(server, client, data, got))
		for _, r := range []io.Reader{client, server} {
			buf := make([]byte, 1024)
			readers.Go(func() {
				<-start
				r.Read(buf)
			})
		}
	}
	idle = float64(heapInUse()-before) / float64(pairs)
	close(start)
	waitIOWait(t, 2*pairs)
	blocked = float64(heapInUse()-before) / float64(pairs)
	return idle, blocked
}

// sendAcross writes data on w while it reads as much into got from r.
func sendAcross(w io.Writer, r io.Reader, data, got []byte) error {
	wrote := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		wrote <- err
	}()
	_, err := io.ReadFull(r, got)
	return errors.Join(err, <-wrote)
}

// waitIOWait waits until at least n goroutines wait on the network poller.
func waitIOWait(t *testing.T, n int) {
	for deadline := time.Now().Add(hangTimeout); bytes.Count(allStacks(), []byte(" [IO wait")) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d goroutines wait on the network after %v", n, hangTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
