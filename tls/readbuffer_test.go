package tls_test

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// readSizes records the buffer length of every Read on a net.Conn.
type readSizes struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
}

func (r *readSizes) Read(p []byte) (int, error) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(p))
	r.mu.Unlock()
	return r.Conn.Read(p)
}

func (r *readSizes) largest() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maxOf(r.sizes)
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// TestReadBufferGrowsWithTraffic checks that a Conn reads its socket
// through a small buffer while traffic is light, so an idle connection holds
// little, and through four full records' worth under bulk transfer.
func TestReadBufferGrowsWithTraffic(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	a, b := net.Pipe()
	tap := &readSizes{Conn: a}
	srv := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
	cli := tls.Client(tap, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	defer a.Close() // no close_notify: nobody would read it
	defer b.Close()

	bulk := randomBytes(seedFor(t.Name()), 1<<20)
	done := make(chan error, 1)
	go func() {
		if err := srv.Handshake(); err != nil {
			done <- err
			return
		}
		_, err := srv.Write(bulk)
		done <- err
	}()
	require.NoError(t, cli.Handshake())
	tap.mu.Lock()
	require.Equal(t, 2048, tap.sizes[0], "first socket read")
	tap.mu.Unlock()
	require.Less(t, tap.largest(), 16384, "socket reads during the handshake")

	got := make([]byte, len(bulk))
	_, err := io.ReadFull(cli, got)
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.Equal(t, bulk, got)
	require.Equal(t, 4*(16384+512), tap.largest(), "socket reads under bulk transfer")
}

// TestReadsOfEverySize writes a stream over TCP in writes of many sizes
// and reads it with buffers of many sizes, smaller and larger than a
// record and than a socket read: data that goes straight into a Read's
// buffer and data kept for the next Read come out in order.
func TestReadsOfEverySize(t *testing.T) {
	cli, srv := connectedOverTCP(t)

	stream := randomBytes(seedFor(t.Name()), 3<<20)
	sizes := []int{1, 700, 16384, 5, 40000, 16385, 3000, 65536, 12, 100000}
	done := make(chan error, 1)
	go func() {
		rest := stream
		for i := 0; len(rest) > 0; i++ {
			n := min(len(rest), sizes[i%len(sizes)])
			if _, err := srv.Write(rest[:n]); err != nil {
				done <- err
				return
			}
			rest = rest[n:]
		}
		done <- nil
	}()
	var got []byte
	for i := 0; len(got) < len(stream); i++ {
		buf := make([]byte, sizes[(i+3)%len(sizes)])
		n, err := cli.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	require.NoError(t, <-done)
	require.Equal(t, stream, got)
}

// TestWritesOfVaryingSizeReuseBuffers: Writes of sizes that go up and
// down reuse the two buffers that alternate between the sealing and the
// socket, whatever the size of the Write before: no allocation per
// Write once both have grown to the largest.
func TestWritesOfVaryingSizeReuseBuffers(t *testing.T) {
	cli, srv := connectedOverTCP(t)
	go io.Copy(io.Discard, srv)

	msg := make([]byte, 60000)
	writes := func() {
		for _, n := range []int{100, 1000, 10000, 60000, 3000} {
			if _, err := cli.Write(msg[:n]); err != nil {
				t.Fatal(err)
			}
		}
	}
	writes()
	if allocs := testing.AllocsPerRun(50, writes); !raceEnabled {
		require.Zero(t, allocs, "allocations per round of five Writes of 100 B to 60 KB")
	}
}

// connectedOverTCP returns a client and a server tls.Conn over loopback
// TCP, handshaken and closed with the test.
func connectedOverTCP(t *testing.T) (cli, srv *tls.Conn) {
	t.Helper()
	cert := testcert.MustNew(testcert.ECDSAP256)
	a, z := tcpPair(t)
	cli = tls.Client(a, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	srv = tls.Server(z, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
	t.Cleanup(func() { cli.Close(); srv.Close() })
	require.NoError(t, handshakeBoth(cli, srv))
	return cli, srv
}
