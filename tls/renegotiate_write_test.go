package tls_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/tls"
)

// renegConfigs returns TLS 1.2 configurations whose server takes as
// many client renegotiations as come, as often as they come.
func renegConfigs() (client, server *tls.Config) {
	cc, sc := testConfigs()
	cc.MaxVersion = fsm.VersionTLS12
	sc.MaxVersion = fsm.VersionTLS12
	sc.AllowClientRenegotiation = true
	sc.MaxRenegotiations = 1 << 20
	sc.MinRenegotiationInterval = time.Nanosecond
	return cc, sc
}

// countHandshakes counts the completed handshakes of c.
func countHandshakes(c *tls.Conn) *atomic.Int64 {
	var n atomic.Int64
	c.OnEvent(func(ev fsm.Event) {
		if ev.Kind == fsm.EventHandshakeDone {
			n.Add(1)
		}
	})
	return &n
}

// TestRenegotiateThenLargeWrite: a Write far larger than what the core
// holds during a renegotiation waits for the renegotiation, which it
// drives itself, instead of failing.
func TestRenegotiateThenLargeWrite(t *testing.T) {
	const size = 8 << 20
	cc, sc := renegConfigs()
	a, b := tcpPair(t)
	a.SetDeadline(time.Now().Add(time.Minute))
	b.SetDeadline(time.Now().Add(time.Minute))
	cli, srv := tls.Client(a, cc), tls.Server(b, sc)
	handshakes := countHandshakes(cli)
	require.NoError(t, handshakeBoth(cli, srv))
	seed := seedFor(t.Name())
	got := make(chan error, 1)
	go func() {
		err := readStream(srv, size, seed)
		if err == nil {
			err = expectEOF(srv)
		}
		got <- err
	}()
	data := make([]byte, size)
	newDataStream(seed).next(data)
	require.NoError(t, cli.Renegotiate())
	n, err := cli.Write(data)
	require.NoError(t, err)
	require.Equal(t, size, n)
	require.NoError(t, cli.CloseWrite())
	require.NoError(t, <-got)
	require.EqualValues(t, 2, handshakes.Load())
}

// TestRenegotiationFullDuplex moves 64 MiB each way over loopback TCP
// while the client renegotiates and the server asks for renegotiations,
// over and over; every byte must arrive, in order.
func TestRenegotiationFullDuplex(t *testing.T) {
	const size = 64 << 20
	cc, sc := renegConfigs()
	a, b := tcpPair(t)
	a.SetDeadline(time.Now().Add(5 * time.Minute))
	b.SetDeadline(time.Now().Add(5 * time.Minute))
	cli, srv := tls.Client(a, cc), tls.Server(b, sc)
	cliHandshakes, srvHandshakes := countHandshakes(cli), countHandshakes(srv)
	require.NoError(t, handshakeBoth(cli, srv))
	seed := seedFor(t.Name())
	errs := make(chan error, 2)
	go func() { errs <- duplexSide("client", cli, size, seed, seed+1, cli.Renegotiate) }()
	go func() { errs <- duplexSide("server", srv, size, seed+1, seed, srv.Renegotiate) }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	t.Logf("handshakes: client %d, server %d", cliHandshakes.Load(), srvHandshakes.Load())
	require.GreaterOrEqual(t, cliHandshakes.Load(), int64(8))
	require.Equal(t, cliHandshakes.Load(), srvHandshakes.Load())
}

// duplexSide writes size bytes of the stream outSeed while it reads size
// bytes of the stream inSeed, calling renegotiate every few MiB it
// writes; then it sends close_notify and reads the peer's.
func duplexSide(name string, c *tls.Conn, size int64, outSeed, inSeed uint64, renegotiate func() error) error {
	wrote := make(chan error, 1)
	go func() {
		err := writeRenegotiating(c, size, outSeed, renegotiate)
		if err != nil {
			c.Close() // ends the Read too
		}
		wrote <- err
	}()
	rerr := readStream(c, size, inSeed)
	if werr := <-wrote; werr != nil {
		return fmt.Errorf("%s: write: %w", name, werr)
	}
	if rerr != nil {
		return fmt.Errorf("%s: read: %w", name, rerr)
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("%s: CloseWrite: %w", name, err)
	}
	if err := expectEOF(c); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return c.Close()
}

// writeRenegotiating writes size bytes of the stream of seed in writes of
// random sizes, up to several records each, scheduling a renegotiation
// after every 3 MiB or so until the last 8 MiB.
func writeRenegotiating(w io.Writer, size int64, seed uint64, renegotiate func() error) error {
	rng := rand.New(rand.NewPCG(seed, 0x7e9))
	stream := newDataStream(seed)
	buf := make([]byte, 256<<10)
	next := int64(1 << 20)
	for off := int64(0); off < size; {
		n := min(int64(1+rng.IntN(len(buf))), size-off)
		stream.next(buf[:n])
		m, err := w.Write(buf[:n])
		if err != nil {
			return fmt.Errorf("at offset %d: %w", off+int64(m), err)
		}
		off += n
		if off >= next && off < size-8<<20 {
			if err := renegotiate(); err != nil && !errors.Is(err, fsm.ErrClosed) {
				return fmt.Errorf("renegotiate at offset %d: %w", off, err)
			}
			next += 2<<20 + int64(rng.IntN(2<<20))
		}
	}
	return nil
}

// TestCloseFinishesRenegotiation: Close just after a Write that started
// a renegotiation takes the renegotiation to its end first, so that the
// data it held back arrives and the server sees a clean close_notify.
func TestCloseFinishesRenegotiation(t *testing.T) {
	const size = 1000
	cc, sc := renegConfigs()
	a, b := tcpPair(t)
	a.SetDeadline(time.Now().Add(time.Minute))
	b.SetDeadline(time.Now().Add(time.Minute))
	cli, srv := tls.Client(a, cc), tls.Server(b, sc)
	handshakes := countHandshakes(cli)
	require.NoError(t, handshakeBoth(cli, srv))
	seed := seedFor(t.Name())
	got := make(chan error, 1)
	go func() {
		err := readStream(srv, size, seed)
		if err == nil {
			err = expectEOF(srv)
		}
		got <- err
	}()
	data := make([]byte, size)
	newDataStream(seed).next(data)
	require.NoError(t, cli.Renegotiate())
	_, err := cli.Write(data)
	require.NoError(t, err)
	require.NoError(t, cli.Close())
	require.NoError(t, <-got)
	require.EqualValues(t, 2, handshakes.Load())
}

// TestWriteDuringRenegotiationBuffersLittle: a Write that reads the
// socket to take a renegotiation forward keeps what application data
// arrives for Read, but only so much; once Read takes it, the
// renegotiation and the Write go on.
func TestWriteDuringRenegotiationBuffersLittle(t *testing.T) {
	const upload, download = 4 << 20, 4 << 20
	cc, sc := renegConfigs()
	a, b := tcpPair(t)
	a.SetDeadline(time.Now().Add(time.Minute))
	b.SetDeadline(time.Now().Add(time.Minute))
	cli, srv := tls.Client(a, cc), tls.Server(b, sc)
	require.NoError(t, handshakeBoth(cli, srv))
	seed := seedFor(t.Name())
	// The server reads the client's ClientHello, and answers it, only
	// after writing more data than the client buffers: the answer comes
	// after that data.
	ahead := int64(tls.MaxBufferedPlain + 64<<10)
	srvDone, gate := make(chan error, 2), make(chan struct{})
	go func() { srvDone <- writeThenOpen(srv, download, seed+1, ahead, gate) }()
	go func() {
		<-gate
		srvDone <- readStream(srv, upload, seed)
	}()

	require.NoError(t, cli.Renegotiate())
	wrote := make(chan error, 1)
	go func() {
		data := make([]byte, upload)
		newDataStream(seed).next(data)
		_, err := cli.Write(data)
		wrote <- err
	}()
	// Nothing reads the client: its Write reads the server's data until
	// it holds its limit.
	limit := tls.MaxBufferedPlain + 16384 + 512
	for buffered := 0; buffered < tls.MaxBufferedPlain; buffered = cli.BufferedForTest() {
		require.LessOrEqual(t, buffered, limit)
		select {
		case err := <-wrote:
			t.Fatalf("the Write ended before the client read: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	// Meanwhile the Write waits for Read to take some, without spinning:
	// past the read that reached the limit, which may have yet to end
	// its turn, nothing moves.
	progress := cli.ProgressForTest()
	for range 100 {
		time.Sleep(time.Millisecond)
		require.LessOrEqual(t, cli.BufferedForTest(), limit)
	}
	require.LessOrEqual(t, cli.ProgressForTest()-progress, uint64(1))
	require.NoError(t, readStream(cli, download, seed+1))
	require.NoError(t, <-wrote)
	require.NoError(t, <-srvDone)
	require.NoError(t, <-srvDone)
}

// TestWaitingWriterLooksAgainBeforeReading: a Write that decided to wait
// at some progress, and finds at its turn to read the socket that the
// connection has moved on since, looks again instead of reading. What it
// waits for may have come: a Read may have ended the renegotiation and
// taken the last data the peer sends before it hears from the Write,
// and reading would then wait for ever, the peer waiting for the Write.
func TestWaitingWriterLooksAgainBeforeReading(t *testing.T) {
	cc, sc := renegConfigs()
	a, b := tcpPair(t)
	cli, srv := tls.Client(a, cc), tls.Server(b, sc)
	require.NoError(t, handshakeBoth(cli, srv))
	moved := cli.ProgressForTest()
	require.NotZero(t, moved)
	// The server sends nothing: a read would last until the deadline.
	require.NoError(t, cli.SetWriteDeadline(time.Now().Add(5*time.Second)))
	err := within(t, "a writer waiting since an earlier progress", func() error {
		return cli.AwaitProgressForTest(moved - 1)
	})
	require.NoError(t, err)
}

// writeThenOpen writes size bytes of the stream of seed in 16 KiB
// writes, closing gate once it has written ahead bytes, or failed.
func writeThenOpen(w io.Writer, size int64, seed uint64, ahead int64, gate chan<- struct{}) error {
	opened := false
	open := func() {
		if !opened {
			opened = true
			close(gate)
		}
	}
	defer open()
	stream := newDataStream(seed)
	buf := make([]byte, 16<<10)
	for written := int64(0); written < size; {
		stream.next(buf)
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if written += int64(len(buf)); written >= ahead {
			open()
		}
	}
	return nil
}

// stalledRenegotiation returns a TLS 1.2 client whose renegotiation,
// started by Renegotiate and the next Write, never ends: the server
// takes no input, so it never reads the ClientHello.
func stalledRenegotiation(t *testing.T) (cli, srv *tls.Conn) {
	cc, sc := renegConfigs()
	a, b := tcpPair(t)
	cli, srv = tls.Client(a, cc), tls.Server(b, sc)
	require.NoError(t, handshakeBoth(cli, srv))
	require.NoError(t, cli.Renegotiate())
	return cli, srv
}

// TestWriteWaitingForRenegotiationDeadline: a Write waiting for a
// renegotiation that does not end returns when its deadline passes,
// whether it reads the socket itself or waits for a Read to; the read
// deadline is the caller's again afterwards.
func TestWriteWaitingForRenegotiationDeadline(t *testing.T) {
	for _, reading := range []bool{false, true} {
		t.Run(fmt.Sprintf("Read under way %v", reading), func(t *testing.T) {
			cli, srv := stalledRenegotiation(t)
			read := make(chan error, 1)
			if reading {
				go func() { read <- readStream(cli, 5, 1) }()
				waitBlockedIn(t, "tls.(*Conn).Read")
			}
			require.NoError(t, cli.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
			err := within(t, "Write past its deadline", func() error {
				_, err := cli.Write(make([]byte, 1<<20))
				return err
			})
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			// The Read, under way or not, has no deadline: it gets what
			// the server sends.
			if !reading {
				go func() { read <- readStream(cli, 5, 1) }()
			}
			data := make([]byte, 5)
			newDataStream(1).next(data)
			_, err = srv.Write(data)
			require.NoError(t, err)
			require.NoError(t, within(t, "Read", func() error { return <-read }))
		})
	}
}

// TestCloseInterruptsWriteWaitingForRenegotiation: Close ends a Write
// waiting for a renegotiation that does not end.
func TestCloseInterruptsWriteWaitingForRenegotiation(t *testing.T) {
	for _, reading := range []bool{false, true} {
		t.Run(fmt.Sprintf("Read under way %v", reading), func(t *testing.T) {
			cli, _ := stalledRenegotiation(t)
			if reading {
				go cli.Read(make([]byte, 1))
				waitBlockedIn(t, "tls.(*Conn).Read")
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := cli.Write(make([]byte, 1<<20))
				wrote <- err
			}()
			waitBlockedIn(t, "tls.(*Conn).awaitProgress")
			require.NoError(t, cli.Close())
			err := within(t, "the Write", func() error { return <-wrote })
			require.ErrorIs(t, err, net.ErrClosed)
		})
	}
}
