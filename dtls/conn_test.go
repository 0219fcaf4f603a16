package dtls_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// configs returns a client and a server Config for DTLS over loopback.
func configs(t testing.TB) (client, server *dtls.Config) {
	t.Helper()
	cert := testcert.MustNew(testcert.ECDSAP256)
	server = &dtls.Config{
		Certificates:      []dtls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}},
		RetransmitTimeout: 100 * time.Millisecond,
	}
	client = &dtls.Config{RootCAs: cert.CAPool, ServerName: "localhost", RetransmitTimeout: 100 * time.Millisecond}
	return client, server
}

// listen starts a listener on loopback, closed at the end of the test.
func listen(t testing.TB, cfg *dtls.Config) net.Listener {
	t.Helper()
	ln, err := dtls.Listen("udp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// echo serves every accepted Conn by writing each record back.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 1<<16)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

func TestDialListen(t *testing.T) {
	cc, sc := configs(t)
	ln := listen(t, sc)
	type result struct {
		got []string
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var r result
		buf := make([]byte, 2048)
		for range 100 {
			n, err := c.Read(buf)
			if err != nil {
				done <- result{err: err}
				return
			}
			r.got = append(r.got, string(buf[:n]))
		}
		for i := range 100 {
			if _, err := fmt.Fprintf(c, "from server %d", i); err != nil {
				done <- result{err: err}
				return
			}
		}
		// The client's close_notify ends the stream.
		_, r.err = c.Read(buf)
		done <- r
	}()

	c, err := dtls.Dial("udp", ln.Addr().String(), cc)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	cs := c.ConnectionState()
	require.True(t, cs.HandshakeComplete)
	require.Equal(t, uint16(0xfefd), cs.Version)
	require.Equal(t, ln.Addr().String(), c.RemoteAddr().String())
	for i := range 100 {
		_, err := fmt.Fprintf(c, "from client %d", i)
		require.NoError(t, err)
	}
	buf := make([]byte, 2048)
	var got []string
	for range 100 {
		n, err := c.Read(buf)
		require.NoError(t, err)
		got = append(got, string(buf[:n]))
	}
	for i := range 100 {
		require.Contains(t, got, fmt.Sprintf("from server %d", i))
	}
	require.NoError(t, c.Close())
	_, err = c.Read(buf)
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = c.Write([]byte("late"))
	require.ErrorIs(t, err, net.ErrClosed)

	r := <-done
	require.ErrorIs(t, r.err, io.EOF)
	require.Len(t, r.got, 100)
	for i := range 100 {
		require.Contains(t, r.got, fmt.Sprintf("from client %d", i))
	}
}

func TestLargeWriteSplitToMTU(t *testing.T) {
	const mtu = 400
	cc, sc := configs(t)
	cc.MTU, sc.MTU = mtu, mtu
	ln := listen(t, sc)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := dtls.Dial("udp", ln.Addr().String(), cc)
	require.NoError(t, err)
	defer c.Close()
	var mu sync.Mutex
	largest, datagrams := 0, 0
	c.OnEvent(func(ev fsm.Event) {
		if ev.Kind == fsm.EventTransmit {
			mu.Lock()
			largest, datagrams = max(largest, len(ev.Data)), datagrams+1
			mu.Unlock()
		}
	})

	msg := make([]byte, 20000)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	n, err := c.Write(msg)
	require.NoError(t, err)
	require.Equal(t, len(msg), n)
	mu.Lock()
	require.LessOrEqual(t, largest, mtu)
	require.Greater(t, datagrams, len(msg)/mtu)
	mu.Unlock()

	s := <-accepted
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	// A buffer too short for a record leaves the record queued.
	_, err = s.Read(make([]byte, 10))
	require.ErrorIs(t, err, io.ErrShortBuffer)
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < len(msg) {
		n, err := s.Read(buf)
		require.NoError(t, err)
		require.Less(t, n, mtu, "one record per Read")
		got = append(got, buf[:n]...)
	}
	require.Equal(t, msg, got)
}

// lossyProxy forwards datagrams between clients and target, dropping
// each with probability loss in both directions.
type lossyProxy struct {
	front  net.PacketConn
	target net.Addr
	loss   float64

	mu       sync.Mutex
	rng      *rand.Rand
	upstream map[string]*proxied
	dropped  int
}

// proxied is one client of a proxy and the socket that carries its
// datagrams to the target.
type proxied struct {
	client net.Addr
	up     net.Conn
}

func newLossyProxy(t *testing.T, target net.Addr, loss float64, seed uint64) *lossyProxy {
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &lossyProxy{front: front, target: target, loss: loss, rng: rand.New(rand.NewPCG(seed, 2)), upstream: map[string]*proxied{}}
	t.Cleanup(p.close)
	go p.run()
	return p
}

func (p *lossyProxy) drop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.Float64() < p.loss {
		p.dropped++
		return true
	}
	return false
}

func (p *lossyProxy) run() {
	buf := make([]byte, 1<<16)
	for {
		n, from, err := p.front.ReadFrom(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		pc := p.upstream[from.String()]
		if pc == nil {
			pc = &proxied{client: from}
			if err := p.dialLocked(pc); err != nil {
				p.mu.Unlock()
				continue
			}
			p.upstream[from.String()] = pc
		}
		up := pc.up
		p.mu.Unlock()
		if !p.drop() {
			up.Write(buf[:n])
		}
	}
}

// dialLocked gives pc a new socket towards the target.
func (p *lossyProxy) dialLocked(pc *proxied) error {
	up, err := net.Dial("udp", p.target.String())
	if err != nil {
		return err
	}
	pc.up = up
	go p.back(up, pc.client)
	return nil
}

// rebind gives every client a new socket towards the target, as a NAT
// that loses its mappings does: the target sees them come from new ports.
func (p *lossyProxy) rebind(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.upstream {
		old := pc.up
		require.NoError(t, p.dialLocked(pc))
		old.Close()
	}
}

// back forwards what the target sends to the client at to.
func (p *lossyProxy) back(up net.Conn, to net.Addr) {
	buf := make([]byte, 1<<16)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		if !p.drop() {
			p.front.WriteTo(buf[:n], to)
		}
	}
}

func (p *lossyProxy) close() {
	p.front.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.upstream {
		pc.up.Close()
	}
}

func TestLossyProxy(t *testing.T) {
	cc, sc := configs(t)
	cc.RetransmitTimeout, sc.RetransmitTimeout = 30*time.Millisecond, 30*time.Millisecond
	cc.MaxRetransmitTimeout, sc.MaxRetransmitTimeout = 200*time.Millisecond, 200*time.Millisecond
	cc.MaxRetransmits, sc.MaxRetransmits = 30, 30
	cc.MTU, sc.MTU = 300, 300 // fragment the server's flight
	ln := listen(t, sc)
	go echo(ln)
	proxy := newLossyProxy(t, ln.Addr(), 0.2, 7)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dtls.DialContext(ctx, "udp", proxy.front.LocalAddr().String(), cc)
	require.NoError(t, err)
	defer c.Close()

	// Application data may be lost: send each message until it is echoed.
	buf := make([]byte, 2048)
	for i := range 30 {
		msg := fmt.Sprintf("message %d", i)
		echoed := false
		for try := 0; try < 50 && !echoed; try++ {
			_, err := c.Write([]byte(msg))
			require.NoError(t, err)
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			for !echoed {
				n, err := c.Read(buf)
				if err != nil {
					var ne net.Error
					require.True(t, errors.As(err, &ne) && ne.Timeout(), "%v", err)
					break
				}
				echoed = string(buf[:n]) == msg
			}
		}
		require.True(t, echoed, msg)
	}
	proxy.mu.Lock()
	require.Positive(t, proxy.dropped)
	proxy.mu.Unlock()
}

func TestReadDeadline(t *testing.T) {
	cc, sc := configs(t)
	ln := listen(t, sc)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := dtls.Dial("udp", ln.Addr().String(), cc)
	require.NoError(t, err)
	defer c.Close()
	s := <-accepted
	defer s.Close()

	isTimeout := func(err error) {
		t.Helper()
		var ne net.Error
		require.True(t, errors.As(err, &ne), "%T %v", err, err)
		require.True(t, ne.Timeout())
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	}
	// A Conn that reads its own socket, and one fed by the listener.
	for _, conn := range []net.Conn{c, s} {
		start := time.Now()
		require.NoError(t, conn.SetReadDeadline(start.Add(100*time.Millisecond)))
		_, err := conn.Read(make([]byte, 100))
		isTimeout(err)
		require.GreaterOrEqual(t, time.Since(start), 90*time.Millisecond)

		// A deadline moved into the past wakes a blocked Read.
		require.NoError(t, conn.SetReadDeadline(time.Time{}))
		errc := make(chan error, 1)
		go func() {
			_, err := conn.Read(make([]byte, 100))
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(-time.Second)))
		isTimeout(<-errc)
		require.NoError(t, conn.SetReadDeadline(time.Time{}))

		// A write deadline in the past fails Write.
		require.NoError(t, conn.SetWriteDeadline(time.Now().Add(-time.Second)))
		_, err = conn.Write([]byte("late"))
		isTimeout(err)
		require.NoError(t, conn.SetWriteDeadline(time.Time{}))
	}

	// The connection still works after timeouts.
	_, err = c.Write([]byte("still here"))
	require.NoError(t, err)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := s.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "still here", string(buf[:n]))
}

func TestConcurrentClients(t *testing.T) {
	cc, sc := configs(t)
	ln := listen(t, sc)
	go echo(ln)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			errs <- func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				c, err := dtls.DialContext(ctx, "udp", ln.Addr().String(), cc)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				buf := make([]byte, 100)
				for j := range 10 {
					msg := fmt.Sprintf("client %d message %d", i, j)
					if _, err := c.Write([]byte(msg)); err != nil {
						return err
					}
					n, err := c.Read(buf)
					if err != nil {
						return err
					}
					if string(buf[:n]) != msg {
						return fmt.Errorf("got %q, want %q", buf[:n], msg)
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// firstFlight returns the first datagram of a tlsm DTLS client: a
// ClientHello without a cookie.
func firstFlight(t *testing.T, client *fsm.Conn) []byte {
	t.Helper()
	require.NoError(t, client.Start(time.Now()))
	return nextTransmit(t, client)
}

func nextTransmit(t *testing.T, c *fsm.Conn) []byte {
	t.Helper()
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		if ev.Kind == fsm.EventTransmit {
			return bytes.Clone(ev.Data)
		}
	}
	t.Fatal("nothing transmitted")
	return nil
}

// acceptAsync runs Accept in the background.
func acceptAsync(ln net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			ch <- c
		}
	}()
	return ch
}

func TestListenerVerifiesHello(t *testing.T) {
	cc, sc := configs(t)
	checkListenerAddressCheck(t, cc, sc, 3) // hello_verify_request
}

// checkListenerAddressCheck sends a client's first ClientHello to a
// listener of sc from a raw socket: the answer is one handshake record
// holding a message of type want (the cookie exchange) and no Conn is
// made; the ClientHello that echoes the cookie makes one.
func checkListenerAddressCheck(t *testing.T, cc, sc *fsm.Config, want byte) {
	t.Helper()
	ln := listen(t, sc)
	accepted := acceptAsync(ln)
	raw := loopbackSocket(t)

	client := fsm.NewDTLSClient(cc)
	_, err := raw.WriteTo(firstFlight(t, client), ln.Addr())
	require.NoError(t, err)
	reply := readHandshakeReply(t, raw)
	require.Equal(t, want, reply[13], "handshake message type")

	select {
	case <-accepted:
		t.Fatal("a Conn was made for a ClientHello without a cookie")
	case <-time.After(300 * time.Millisecond):
	}
	require.Zero(t, dtls.DemuxConns(ln))

	// The ClientHello with the cookie makes a Conn.
	require.NoError(t, client.HandleDatagram(time.Now(), reply))
	_, err = raw.WriteTo(nextTransmit(t, client), ln.Addr())
	require.NoError(t, err)
	select {
	case c := <-accepted:
		require.Equal(t, raw.LocalAddr().String(), c.RemoteAddr().String())
		require.Equal(t, 1, dtls.DemuxConns(ln))
		require.NoError(t, c.Close())
		require.Zero(t, dtls.DemuxConns(ln))
	case <-time.After(5 * time.Second):
		t.Fatal("no Conn for the ClientHello with a cookie")
	}
}

func TestListenerIgnoresGarbage(t *testing.T) {
	_, sc := configs(t)
	ln := listen(t, sc)
	raw := loopbackSocket(t)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := [][]byte{
		{1, 2, 3},
		{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 1},  // a record header longer than the datagram
		{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 2, 9, 9}, // application data from nowhere
	}
	random := make([]byte, 500)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	garbage = append(garbage, random)
	for _, g := range garbage {
		_, err := raw.WriteTo(g, ln.Addr())
		require.NoError(t, err)
	}
	raw.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _, err := raw.ReadFrom(make([]byte, 2048))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "garbage got an answer")
	require.Zero(t, dtls.DemuxConns(ln))
}

// TestClientServerOwnSockets runs Client and Server each on a socket of
// its own, ignoring datagrams from a third party.
func TestClientServerOwnSockets(t *testing.T) {
	cc, sc := configs(t)
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	b, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	cli := dtls.Client(a, b.LocalAddr(), cc)
	srv := dtls.Server(b, a.LocalAddr(), sc)
	defer cli.Close()
	defer srv.Close()

	stranger := loopbackSocket(t)
	stranger.WriteTo([]byte("noise"), a.LocalAddr())
	stranger.WriteTo([]byte("noise"), b.LocalAddr())

	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 100)
		n, err := srv.Read(buf)
		if err == nil {
			_, err = srv.Write(buf[:n])
		}
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cli.HandshakeContext(ctx))
	_, err = cli.Write([]byte("ping"))
	require.NoError(t, err)
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := cli.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf[:n]))
	require.NoError(t, <-errc)

	km1, err := cli.ExportKeyingMaterial("EXPERIMENTAL test", nil, 16)
	require.NoError(t, err)
	km2, err := srv.ExportKeyingMaterial("EXPERIMENTAL test", nil, 16)
	require.NoError(t, err)
	require.Equal(t, km1, km2)
}

// TestHandshakeContext: a handshake with a silent peer gives up when its
// context ends, and the timer retransmits the ClientHello meanwhile.
func TestHandshakeContext(t *testing.T) {
	cc, _ := configs(t)
	silent := loopbackSocket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := dtls.DialContext(ctx, "udp", silent.LocalAddr().String(), cc)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second)

	// The silent peer saw the first ClientHello and retransmissions.
	silent.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	got := 0
	for buf := make([]byte, 2048); ; got++ {
		if _, _, err := silent.ReadFrom(buf); err != nil {
			break
		}
	}
	require.GreaterOrEqual(t, got, 2)
}

// TestListenerBounds: the backlog of Conns not accepted and the records
// queued for Read are bounded; what does not fit is dropped.
func TestListenerBounds(t *testing.T) {
	cc, sc := configs(t)
	ln := listen(t, sc)
	buf := make([]byte, 2048)
	for range dtls.MaxPendingConns + 3 {
		raw, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		defer raw.Close()
		client := fsm.NewDTLSClient(cc)
		_, err = raw.WriteTo(firstFlight(t, client), ln.Addr())
		require.NoError(t, err)
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := raw.ReadFrom(buf)
		require.NoError(t, err)
		require.NoError(t, client.HandleDatagram(time.Now(), buf[:n]))
		_, err = raw.WriteTo(nextTransmit(t, client), ln.Addr())
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return dtls.DemuxConns(ln) == dtls.MaxPendingConns }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, dtls.MaxPendingConns, dtls.DemuxConns(ln))
	// Closing the listener closes the Conns it was holding.
	require.NoError(t, ln.Close())
	require.Zero(t, dtls.DemuxConns(ln))
	_, err := ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)

	ln = listen(t, sc)
	accepted := acceptAsync(ln)
	c, err := dtls.Dial("udp", ln.Addr().String(), cc)
	require.NoError(t, err)
	defer c.Close()
	s := <-accepted
	defer s.Close()
	for i := range dtls.ReceiveQueueLen + 50 {
		_, err := fmt.Fprintf(c, "record %d", i)
		require.NoError(t, err)
		if i%32 == 31 {
			time.Sleep(10 * time.Millisecond) // do not overflow the socket's buffer
		}
	}
	time.Sleep(200 * time.Millisecond) // let the listener queue what it can
	got := 0
	for {
		s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := s.Read(buf); err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
		got++
	}
	require.Equal(t, dtls.ReceiveQueueLen, got)
}

// TestReceiveQueueBytes: records the application has not read are held up
// to ReceiveQueueBytes, however large the peer makes them; the rest are
// dropped, as datagrams may be.
func TestReceiveQueueBytes(t *testing.T) {
	cc, sc := configs(t)
	cc.MTU, sc.MTU = 20000, 20000 // records of 16 KiB, one per datagram
	ln := listen(t, sc)
	accepted := acceptAsync(ln)
	c, err := dtls.Dial("udp", ln.Addr().String(), cc)
	require.NoError(t, err)
	defer c.Close()
	s := <-accepted
	defer s.Close()
	record := make([]byte, 16<<10)
	for i := range 4 * dtls.ReceiveQueueBytes / len(record) {
		record[0] = byte(i)
		_, err := c.Write(record)
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond) // do not overflow the socket's buffer
	}
	time.Sleep(200 * time.Millisecond) // let the listener queue what it can
	got := 0
	buf := make([]byte, len(record))
	for {
		s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := s.Read(buf)
		if err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
		require.Equal(t, len(record), n)
		require.Equal(t, byte(got), buf[0], "the first records are kept, in order")
		got++
	}
	require.Equal(t, dtls.ReceiveQueueBytes/len(record), got)
}

// TestListenerFragmentedHelloDTLS13: a DTLS 1.3 ClientHello in fragments
// (as a browser's with a post-quantum key share is) reaches a listener
// that enables DTLS 1.3 and is answered with a HelloRetryRequest, whose
// cookie checks the address, never with a HelloVerifyRequest, which holds
// a browser to DTLS 1.2; the listener made a Conn for it.
func TestListenerFragmentedHelloDTLS13(t *testing.T) {
	cc, sc := configs(t)
	cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	cc.MTU = 200
	ln := listen(t, sc)
	accepted := acceptAsync(ln)
	raw := loopbackSocket(t)

	client := fsm.NewDTLSClient(cc)
	require.NoError(t, client.Start(time.Now()))
	fragments := 0
	for ev := client.NextEvent(); ev.Kind != fsm.EventNone; ev = client.NextEvent() {
		if ev.Kind == fsm.EventTransmit {
			fragments++
			_, err := raw.WriteTo(ev.Data, ln.Addr())
			require.NoError(t, err)
		}
	}
	require.Greater(t, fragments, 1, "the ClientHello in fragments")
	require.Equal(t, byte(2), readHandshakeReply(t, raw)[13], "a HelloRetryRequest (server_hello), not a hello_verify_request")

	select {
	case s := <-accepted:
		s.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the listener made no Conn")
	}
}

// TestListenerStatelessHelloDTLS13: a listener that enables DTLS 1.3
// answers a whole DTLS 1.3 ClientHello with a HelloRetryRequest and makes
// no Conn for it; the ClientHello that echoes the cookie makes one.
func TestListenerStatelessHelloDTLS13(t *testing.T) {
	cc, sc := configs(t)
	cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256} // a ClientHello of one datagram
	checkListenerAddressCheck(t, cc, sc, 2)                        // server_hello: a HelloRetryRequest
}

// readHandshakeReply reads the next datagram on raw, which must start
// with a handshake record in the clear: its message type is at [13].
func readHandshakeReply(t *testing.T, raw net.PacketConn) []byte {
	t.Helper()
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := raw.ReadFrom(buf)
	require.NoError(t, err)
	reply := buf[:n]
	require.Greater(t, len(reply), 13)
	require.Equal(t, byte(22), reply[0], "handshake record")
	return reply
}

// TestDTLS13ClientThatDoesNotRead: a DTLS 1.3 client that writes and
// never reads keeps its connection. Its last flight waits for the
// server's acknowledgement, which arrives while nobody reads the socket;
// when the retransmission timer fires, the client reads what waits
// there, takes the acknowledgement and ends its flight, instead of
// sending its Finished again until it gives up and fails.
func TestDTLS13ClientThatDoesNotRead(t *testing.T) {
	cc, sc := configs(t)
	cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	cc.RetransmitTimeout, cc.MaxRetransmitTimeout, cc.MaxRetransmits = 30*time.Millisecond, 60*time.Millisecond, 2
	ln := listen(t, sc)
	go echo(ln)
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	client, err := dtls.DialContext(ctx, "udp", ln.Addr().String(), cc)
	require.NoError(t, err)
	defer client.Close()
	var retransmits atomic.Int32
	client.OnEvent(func(ev fsm.Event) {
		if ev.Kind == fsm.EventRetransmit {
			retransmits.Add(1)
		}
	})
	// Without the acknowledgement, the flight would go out again at 30,
	// 90 and 150 ms and the client fail at 210 ms.
	time.Sleep(400 * time.Millisecond)
	_, err = client.Write([]byte("still here"))
	require.NoError(t, err, "a write after the retransmission timer's time")
	// Typically none: the acknowledgement waits when the timer first
	// fires; a slow machine may resend once before it arrives.
	require.Less(t, retransmits.Load(), int32(cc.MaxRetransmits), "Finished sent again")
	got := make([]byte, 100)
	n, err := client.Read(got)
	require.NoError(t, err)
	require.Equal(t, "still here", string(got[:n]))
}
