package dtls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v3/deadline"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// The core's configuration types, named here as crypto/tls names them.
type (
	Config                 = fsm.Config
	Certificate            = fsm.Certificate
	ConnectionState        = fsm.ConnectionState
	ClientHelloInfo        = fsm.ClientHelloInfo
	CertificateRequestInfo = fsm.CertificateRequestInfo
	ClientAuthType         = fsm.ClientAuthType
	CurveID                = fsm.CurveID
)

// Client certificate policies and key exchange groups, as in crypto/tls.
const (
	NoClientCert               = fsm.NoClientCert
	RequestClientCert          = fsm.RequestClientCert
	RequireAnyClientCert       = fsm.RequireAnyClientCert
	VerifyClientCertIfGiven    = fsm.VerifyClientCertIfGiven
	RequireAndVerifyClientCert = fsm.RequireAndVerifyClientCert

	X25519    = fsm.X25519
	CurveP256 = fsm.CurveP256
	CurveP384 = fsm.CurveP384
)

const (
	// ReceiveQueueLen and ReceiveQueueBytes bound the records of
	// application data a Conn holds for Read, in number and in bytes of
	// buffer; a record that arrives when either is reached is dropped, as
	// a datagram may be.
	ReceiveQueueLen   = 256
	ReceiveQueueBytes = 128 << 10
	// maxDatagram is the size of a receive buffer: the largest UDP payload.
	maxDatagram = 1 << 16
	// writeChunk bounds how much application data is protected per call
	// into the core, so a large Write does not grow the output buffer
	// without bound.
	writeChunk = 16 << 10
	// maxFreeRecords bounds the record buffers kept for reuse, and
	// maxFreeRecordSize their size: a few records of a packet's size.
	maxFreeRecords    = 16
	maxFreeRecordSize = 2048
)

// ErrShortBuffer is returned by Read when p cannot hold the next record.
// The record stays queued, so a Read with a larger buffer returns it.
var ErrShortBuffer = fmt.Errorf("dtls: buffer shorter than the record: %w", io.ErrShortBuffer)

// Conn is a DTLS connection with one peer over a net.PacketConn. It is
// safe for one reader and one writer at a time, and for Close, deadlines
// and the accessors from any goroutine.
type Conn struct {
	pconn net.PacketConn
	// raddr is the peer's address; with Connection IDs it moves when an
	// authenticated datagram newer than all before comes from another
	// (RFC 9146 §6).
	raddr atomic.Pointer[net.Addr]
	// cidLen is the length of the Connection ID the peer puts in its
	// records, known once the handshake completes; 0 for none.
	cidLen int
	// wconn is set when pconn is connected to raddr (Dial), whose sockets
	// refuse WriteTo.
	wconn net.Conn
	// batch reads and writes pconn a batch of datagrams per system call
	// when it is a *net.UDPConn on Linux (a listener Conn shares the
	// listener's, for writing); nil: a datagram at a time.
	batch *batchSocket
	// l is the listener that feeds c; nil when c reads pconn itself.
	l   *listener
	key addrKey // c's key in l.conns, guarded by l.mu
	cid string  // c's key in l.byCID, if any, guarded by l.mu
	// helloRandom is the random of the ClientHello that made a listener
	// Conn; replaces is the Conn for the same source that c took over
	// from, until c's handshake completes or fails.
	helloRandom [32]byte
	replaces    *Conn
	// pathCandidate is the address where the peer is being checked (RFC
	// 9853) until pathDeadline, guarded by mu.
	pathCandidate net.Addr
	pathDeadline  time.Time
	// closedFlag is closed, readable without mu; replacedByPeer is set
	// once the peer's new connection has taken c's place.
	closedFlag     atomic.Bool
	replacedByPeer bool

	// handshakeMu serialises handshakes; readMu serialises readers, who
	// alone wait for datagrams.
	handshakeMu sync.Mutex
	readMu      sync.Mutex
	// mu guards the core and the fields below.
	mu sync.Mutex
	// pending holds the datagrams the core produced, in order; the one
	// goroutine marked flushing sends them, never holding mu while it
	// does. flushed signals the end of a flush. spare is the other half
	// of a double buffer.
	pending  datagrams
	spare    datagrams
	flushing bool
	// shrink: a handshake completed, whose flights grew pending and
	// spare; the flush that follows lets go of them.
	shrink  bool
	flushed sync.Cond
	core    *fsm.Conn
	started bool
	// startOnServe: the client's first flight is to go once
	// serveHandshake waits for the answer.
	startOnServe bool
	records      [][]byte // application data records not yet read
	recHead      int
	queued       int      // the capacity of the buffers in records[recHead:]
	free         [][]byte // record buffers to reuse
	peerEOF      bool     // the peer sent close_notify
	err          error    // the error that closed the core
	sockErr      error    // the listener's socket failed
	closed       bool     // Close was called
	closedCh     chan struct{}
	onEvent      func(fsm.Event)

	// timer calls HandleTimeout at timerAt, when the core asks for it.
	timer   *time.Timer
	timerAt time.Time

	// wake has a token whenever the listener or a timer changed the
	// state a reader waits on (listener Conns only).
	wake chan struct{}
	// rdl is the read deadline of a listener Conn, which shares the
	// socket and so cannot use its deadline.
	rdl *deadline.Deadline
	// readDeadline and writeDeadline are as set; hsDeadline and
	// hsCanceled come from the context of a running HandshakeContext
	// (Conns that read their own socket).
	readDeadline  time.Time
	writeDeadline time.Time
	hsActive      bool
	hsDeadline    time.Time
	hsCanceled    bool
}

// ioCounts are the system calls of a socket read and written a batch of
// datagrams at a time (see batchSocket), the datagrams they carried, and
// the reads that found nothing.
type ioCounts struct {
	recvCalls, received, emptyReads, sendCalls, sent uint64
}

// datagramBuffers lends receive buffers to Conns that read their own
// socket, a datagram or a batch at a time, for the length of one read: a
// Conn not reading holds none.
var datagramBuffers = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}

// Client returns a client Conn exchanging datagrams with raddr over
// pconn; datagrams from other addresses are ignored. The Conn reads pconn
// itself (so nothing else should) and closes it on Close. The handshake
// runs on the first Read or Write, or on Handshake. On Linux, a
// *net.UDPConn is read and written in batches, as a listener's is, with
// buffers borrowed for each read only.
func Client(pconn net.PacketConn, raddr net.Addr, cfg *Config) *Conn {
	return newConn(pconn, raddr, fsm.NewDTLSClient(cfg), nil)
}

// Server returns a server Conn for the one peer raddr over pconn, which it
// reads itself and closes on Close; a server for many peers is a Listener.
// The cookie exchange runs in the Conn, which keeps no state for a
// ClientHello without a valid cookie.
func Server(pconn net.PacketConn, raddr net.Addr, cfg *Config) *Conn {
	return newConn(pconn, raddr, fsm.NewDTLSServer(cfg, []byte(raddr.String())), nil)
}

func newConn(pconn net.PacketConn, raddr net.Addr, core *fsm.Conn, l *listener) *Conn {
	c := &Conn{pconn: pconn, core: core, l: l, closedCh: make(chan struct{})}
	c.raddr.Store(&raddr)
	c.flushed.L = &c.mu
	if l != nil {
		c.wake = make(chan struct{}, 1)
		c.rdl = deadline.New()
		c.key = keyOf(raddr)
		c.batch = l.batch
	} else {
		if nc, ok := pconn.(net.Conn); ok && nc.RemoteAddr() != nil {
			c.wconn = nc
		}
		c.batch = newBatchSocket(pconn, false)
	}
	core.SetCallbackContext(context.Background(), c)
	return c
}

// Handshake runs the handshake if it has not yet run; after it, Handshake
// starts a scheduled renegotiation now, as SSL_do_handshake(3).
func (c *Conn) Handshake() error { return c.HandshakeContext(context.Background()) }

// handshakeContext is HandshakeContext's body; its errors are the core's, unprefixed.
func (c *Conn) handshakeContext(ctx context.Context) error {
	c.handshakeMu.Lock()
	defer c.handshakeMu.Unlock()
	if err := c.handshakeState(); err != errHandshakeRunning {
		if err == nil {
			return c.callCore(func(core *fsm.Conn) error { return core.Handshake(time.Now()) }, true)
		}
		return err
	}
	// A client reading its own socket in batches starts once the wait
	// for the answer has begun (serveHandshake).
	serve := c.l == nil && c.batch != nil
	err := c.callCore(func(core *fsm.Conn) error {
		core.SetCallbackContext(ctx, c)
		if c.started || !core.IsClient() {
			return nil
		}
		c.started = true
		if serve {
			c.startOnServe = true
			return nil
		}
		return core.Start(time.Now())
	}, true)
	if err != nil {
		return err
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.l == nil && ctx.Done() != nil {
		defer c.watchContext(ctx)()
	}
	for {
		if err := c.handshakeState(); err != errHandshakeRunning {
			return err
		}
		var err error
		if serve {
			err = c.serveHandshake()
		} else {
			c.precompute()
			err = c.await(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The socket's deadline may be the context's, passing just
			// before the context notices.
			if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
				return context.DeadlineExceeded
			}
			return c.errAfter(err)
		}
	}
}

var errHandshakeRunning = errors.New("dtls: handshake running")

// handshakeState returns nil when the handshake is done, the error that
// ended it, or errHandshakeRunning.
func (c *Conn) handshakeState() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return c.opError("handshake", net.ErrClosed)
	case c.core.HandshakeComplete():
		return nil
	case c.err != nil:
		return c.err
	case c.sockErr != nil:
		return c.sockErr
	}
	return errHandshakeRunning
}

// startHandshake runs the first handshake if needed.
func (c *Conn) startHandshake() error {
	if c.handshakeState() == nil {
		return nil
	}
	return c.HandshakeContext(context.Background())
}

// watchContext makes ctx's deadline and cancellation interrupt a read of
// the socket, returning the function that undoes it.
func (c *Conn) watchContext(ctx context.Context) func() {
	c.mu.Lock()
	c.hsActive = true
	c.hsDeadline, _ = ctx.Deadline()
	c.applyReadDeadlineLocked()
	c.mu.Unlock()
	stop := func() bool { return true }
	if ctx.Done() != nil { // a context that can end
		stop = context.AfterFunc(ctx, func() {
			c.mu.Lock()
			if c.hsActive {
				c.hsCanceled = true
				c.applyReadDeadlineLocked()
			}
			c.mu.Unlock()
		})
	}
	return func() {
		stop()
		c.mu.Lock()
		c.hsActive, c.hsCanceled, c.hsDeadline = false, false, time.Time{}
		c.applyReadDeadlineLocked()
		c.mu.Unlock()
	}
}

// applyReadDeadlineLocked sets the socket's read deadline of a Conn that
// reads its own socket: the earlier of the caller's and the handshake
// context's, or the past to interrupt a reader.
func (c *Conn) applyReadDeadlineLocked() error {
	if c.l != nil {
		return nil
	}
	d := c.readDeadline
	if !c.hsDeadline.IsZero() && (d.IsZero() || c.hsDeadline.Before(d)) {
		d = c.hsDeadline
	}
	if c.hsCanceled || c.err != nil {
		d = time.Unix(1, 0)
	}
	return c.pconn.SetReadDeadline(d)
}

// await waits for the state to change: a listener Conn for the listener
// or a timer to signal, any other reads a datagram from its socket, or a
// batch of them. The caller holds readMu.
func (c *Conn) await(ctx context.Context) error {
	if c.l != nil {
		select {
		case <-c.wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-c.rdl.Done():
			return c.opError("read", os.ErrDeadlineExceeded)
		case <-c.closedCh:
			return c.opError("read", net.ErrClosed)
		}
	}
	if c.batch != nil {
		return c.awaitBatch()
	}
	buf := datagramBuffers.Get().(*[]byte)
	defer datagramBuffers.Put(buf)
	n, src, err := readSource(c.pconn, *buf)
	if err != nil {
		return err
	}
	c.receive(src, (*buf)[:n])
	return nil
}

// serveHandshake reads the socket of a Conn that reads its own in
// batches, handing each datagram to the core, until the handshake is no
// longer running, within one wait of the poller (batchSocket.serve): a
// flight sent in answer to a batch that emptied the socket is followed by
// a wait, not a read that would find nothing. The caller holds readMu.
func (c *Conn) serveHandshake() error { return c.batch.serve(c) }

// beginServe sends a client's first flight, when it is still to go, once
// serveHandshake's wait has begun, so that the first read waits too.
func (c *Conn) beginServe() (quiet bool, err error) {
	if !c.startOnServe {
		return false, nil
	}
	c.startOnServe = false
	err = c.callCore(func(core *fsm.Conn) error { return core.Start(time.Now()) }, true)
	if err == nil {
		c.precompute()
	}
	return err == nil, err
}

// takeBatch hands each datagram of b to the core and says whether the
// handshake still runs.
func (c *Conn) takeBatch(b *recvBatch, n int) (more bool) {
	for i := range n {
		if d, src, ok := b.datagram(i); ok {
			c.receive(src, d)
		}
	}
	c.precompute()
	return c.handshakeState() == errHandshakeRunning
}

// precompute lets the core do ahead, once what it sent is on its way,
// what the peer's answer will need (fsm.Conn.Precompute).
func (c *Conn) precompute() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.core.Precompute()
	}
}

// awaitBatch reads a batch of datagrams from the socket and hands each
// to the core, in order.
func (c *Conn) awaitBatch() error {
	b, n, err := c.batch.read()
	if err != nil {
		return err
	}
	defer c.batch.release(b)
	for i := range n {
		if d, src, ok := b.datagram(i); ok {
			c.receive(src, d)
		}
	}
	return nil
}

// receive hands a datagram read from the socket to the core: one from
// the peer's address, or from elsewhere carrying the Connection ID we
// asked for; others are ignored. The core and the receive queue copy
// what they keep.
func (c *Conn) receive(src source, d []byte) {
	switch {
	case src.is(c.peer()):
		c.deliver(d)
	case c.carriesOurCID(d):
		c.deliverFrom(src, d)
	}
}

// source is where a datagram came from: a UDP socket's address as read,
// without allocating, or another socket's net.Addr.
type source struct {
	ap    netip.AddrPort
	other net.Addr
}

func (s source) addr() net.Addr {
	if s.other != nil {
		return s.other
	}
	return net.UDPAddrFromAddrPort(s.ap)
}

// known reports whether s names an address (the zero source stands for
// the peer's).
func (s source) known() bool { return s.other != nil || s.ap.IsValid() }

// is reports whether s is the address peer.
func (s source) is(peer net.Addr) bool {
	if u, ok := peer.(*net.UDPAddr); ok && s.other == nil {
		return sameAddrPort(s.ap, u)
	}
	return sameAddr(s.addr(), peer)
}

// key is the listener's key of the source's address.
func (s source) key() addrKey {
	if s.other != nil {
		return keyOf(s.other)
	}
	return keyOfAddrPort(s.ap)
}

// readSource reads one datagram from pconn and where it came from, from
// a *net.UDPConn without allocating the address. Any other PacketConn,
// a type that embeds a *net.UDPConn included, is read with its ReadFrom,
// which a wrapper may have overridden to filter or change what it reads.
func readSource(pconn net.PacketConn, buf []byte) (n int, src source, err error) {
	if udp, ok := pconn.(*net.UDPConn); ok {
		n, src.ap, err = udp.ReadFromUDPAddrPort(buf)
	} else {
		n, src.other, err = pconn.ReadFrom(buf)
	}
	return n, src, err
}

// sameAddrPort reports whether ap is the address of b, an IPv4 address
// and its IPv4-mapped IPv6 form being the same.
func sameAddrPort(ap netip.AddrPort, b *net.UDPAddr) bool {
	if int(ap.Port()) != b.Port {
		return false
	}
	ip, ok := netip.AddrFromSlice(b.IP)
	return ok && ip.Unmap() == ap.Addr().Unmap() && ap.Addr().Zone() == b.Zone
}

// carriesOurCID reports whether datagram starts with a record carrying
// the Connection ID we asked the peer for.
func (c *Conn) carriesOurCID(datagram []byte) bool {
	c.mu.Lock()
	n := c.cidLen
	c.mu.Unlock()
	_, ok := record.ConnectionIDOf(datagram, n)
	return ok
}

// peer returns the peer's address.
func (c *Conn) peer() net.Addr { return *c.raddr.Load() }

// errAfter returns the error that closed the connection, if any, rather
// than err, the failure of a wait that it interrupted.
func (c *Conn) errAfter(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return c.opError("read", net.ErrClosed)
	case c.err != nil:
		return c.err
	case c.sockErr != nil:
		return c.sockErr
	}
	return err
}

// deliver feeds the core one datagram from the peer's address.
func (c *Conn) deliver(datagram []byte) { c.deliverFrom(source{}, datagram) }

// deliverFrom feeds the core one datagram from another address than the
// peer's (none: from the peer's). When it advances the connection (the
// core authenticated a record in it newer than all before), the peer has
// moved there (RFC 9146 §6), and what c sends goes there from now on,
// once the peer has answered there the return routability check (RFC
// 9853), when the handshake negotiated it; a replayed, old or forged
// datagram changes nothing.
func (c *Conn) deliverFrom(from source, datagram []byte) {
	c.mu.Lock()
	challenge := c.takeDatagramLocked(from, datagram)
	c.mu.Unlock()
	if challenge != nil {
		// Lost, the check fails: the peer stays where it was.
		c.pconn.WriteTo(challenge, from.addr())
	}
}

// takeDatagramLocked is deliverFrom under mu; it returns a
// path_challenge to send to from, if the peer is to be checked there.
func (c *Conn) takeDatagramLocked(from source, datagram []byte) []byte {
	if c.closed || c.replacedByPeer {
		return nil
	}
	c.core.HandleDatagram(time.Now(), datagram)
	var challenge []byte
	if from.known() && c.core.DatagramAdvanced() && !from.is(c.peer()) {
		challenge = c.peerSeenLocked(from.addr())
	}
	c.drainLocked()
	c.flushLocked(false)
	return challenge
}

// peerSeenLocked follows the peer to from, where it sent an authenticated
// record newer than all before: at once, or, with the return routability
// check, once it answers there the challenge returned (RFC 9853 §7.1);
// until then c sends to the address it had. One check of an address runs
// at a time, for PathCheckTimeout. A Conn on a connected socket (Dial)
// cannot send elsewhere, so it neither checks nor moves.
func (c *Conn) peerSeenLocked(from net.Addr) []byte {
	if !c.core.ConnectionState().ReturnRoutabilityCheck {
		c.moveLocked(from)
		return nil
	}
	now := time.Now()
	if c.wconn != nil || c.pathCandidate != nil && sameAddr(c.pathCandidate, from) && now.Before(c.pathDeadline) {
		return nil
	}
	challenge, err := c.core.PathChallenge(now)
	if err != nil {
		return nil
	}
	c.pathCandidate, c.pathDeadline = from, now.Add(fsm.PathCheckTimeout)
	return challenge
}

// moveLocked makes to the peer's address.
func (c *Conn) moveLocked(to net.Addr) {
	moved := to // on the heap only when the peer moves
	c.raddr.Store(&moved)
	if c.l != nil {
		c.l.moved(c, to)
	}
}

// onTimer runs when the core's timer expires: the core retransmits its
// flight or gives the handshake up.
func (c *Conn) onTimer() {
	c.takeWaiting()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.replacedByPeer {
		return
	}
	at := c.timerAt
	now := time.Now()
	c.core.HandleTimeout(now)
	c.drainLocked()
	if c.timerAt.Equal(at) {
		// The core asked for no new timer: this one fired early, or the
		// core is done with it.
		if now.Before(at) {
			c.timer.Reset(at.Sub(now))
		} else {
			c.timerAt = time.Time{}
		}
	}
	c.flushLocked(false)
}

// takeWaiting hands the core the datagrams that wait on the socket of a
// Conn that reads its own in batches, when no reader is at it, without
// waiting for more. A timer that fires for a flight finds there what
// answers it: a DTLS 1.3 client that never reads after its handshake
// takes the server's acknowledgement of its last flight this way, which
// ends the flight, instead of sending it until it gives up. Over other
// sockets only a reader takes what comes.
func (c *Conn) takeWaiting() {
	if c.l != nil || c.batch == nil || !c.readMu.TryLock() {
		return
	}
	defer c.readMu.Unlock()
	b, n, err := c.batch.poll()
	if err != nil {
		return // a reader meets it
	}
	defer c.batch.release(b)
	for i := range n {
		if d, src, ok := b.datagram(i); ok {
			c.receive(src, d)
		}
	}
}

// setTimerLocked arms the timer for deadline, or stops it when zero.
func (c *Conn) setTimerLocked(deadline time.Time) {
	c.timerAt = deadline
	switch {
	case deadline.IsZero():
		if c.timer != nil {
			c.timer.Stop()
		}
	case c.timer == nil:
		c.timer = time.AfterFunc(time.Until(deadline), c.onTimer)
	default:
		c.timer.Reset(time.Until(deadline))
	}
}

// callCore runs f on the core, drains its events and sends what it
// produced. A writer (wait) waits for its datagrams to be on their way; a
// reader does not wait for another goroutine's flush, which sends its
// datagrams too.
func (c *Conn) callCore(f func(*fsm.Conn) error, wait bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError("write", net.ErrClosed)
	}
	if c.replacedByPeer {
		return c.err
	}
	err := f(c.core)
	c.drainLocked()
	werr := c.flushLocked(wait)
	if err != nil {
		return err
	}
	return werr
}

// drainLocked takes every event of the core.
func (c *Conn) drainLocked() {
	changed := false
	for {
		ev := c.core.NextEvent()
		if ev.Kind == fsm.EventNone {
			break
		}
		if c.onEvent != nil {
			c.onEvent(ev)
		}
		switch ev.Kind {
		case fsm.EventTransmit:
			c.pending.add(ev.Data)
		case fsm.EventData:
			if len(ev.Data) > 0 {
				c.pushRecordLocked(ev.Data)
				changed = true
			}
		case fsm.EventTimer:
			c.setTimerLocked(ev.Deadline)
		case fsm.EventPathValidated:
			if c.pathCandidate != nil && time.Now().Before(c.pathDeadline) {
				c.moveLocked(c.pathCandidate)
			}
			c.pathCandidate = nil
		case fsm.EventHandshakeDone:
			changed = true
			c.shrink = true
			c.handshakeDoneLocked()
			if old := c.replaces; old != nil {
				// The peer is at the new connection: it has lost the
				// old one's state (RFC 6347 §4.2.8).
				c.replaces = nil
				old.endReplaced()
			}
		case fsm.EventClosed:
			changed = true
			if ev.Err == nil {
				c.peerEOF = true
			} else {
				c.err = ev.Err
				// Interrupt a reader blocked on the socket.
				c.applyReadDeadlineLocked()
			}
			if old := c.replaces; old != nil {
				c.replaces = nil
				c.l.restore(c, old)
			}
		}
	}
	if changed {
		c.signalLocked()
	}
}

// handshakeDoneLocked takes note of the Connection ID the peer puts in
// its records, by which a listener routes them from now on.
func (c *Conn) handshakeDoneLocked() {
	cid := c.core.ConnectionState().ConnectionID
	c.cidLen = len(cid)
	if c.l != nil && len(cid) > 0 {
		c.l.addCID(c, cid)
	}
}

// signalLocked wakes the reader of a listener Conn.
func (c *Conn) signalLocked() {
	if c.wake == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pushRecordLocked queues a copy of one record for Read, dropping it when
// the queue is full.
func (c *Conn) pushRecordLocked(data []byte) {
	if len(c.records)-c.recHead >= ReceiveQueueLen || c.queued+len(data) > ReceiveQueueBytes {
		return
	}
	var buf []byte
	if n := len(c.free); n > 0 && cap(c.free[n-1]) >= len(data) {
		buf, c.free = c.free[n-1], c.free[:n-1]
	} else {
		buf = make([]byte, 0, len(data))
	}
	buf = append(buf, data...)
	c.queued += cap(buf)
	c.records = append(c.records, buf)
}

// flushLocked sends the pending datagrams unless another goroutine is
// doing so (then a writer waits for it to finish, which includes its
// datagrams). It is called and returns with mu held, releasing it around
// the sends, and returns the first error of a send it made.
func (c *Conn) flushLocked(wait bool) error {
	for c.flushing {
		if !wait {
			return nil
		}
		c.flushed.Wait()
	}
	c.flushing = true
	var first error
	for !c.pending.empty() {
		batch, to := c.pending, c.peer()
		c.pending, c.spare = c.spare, datagrams{}
		c.pending.reset()
		c.mu.Unlock()
		err := c.send(&batch, to)
		c.mu.Lock()
		c.spare = batch
		if err != nil && first == nil {
			first = err
		}
	}
	if c.shrink {
		// What an established connection sends grows them again, to
		// its own size.
		c.pending, c.spare, c.shrink = datagrams{}, datagrams{}, false
	}
	c.flushing = false
	c.flushed.Broadcast()
	return first
}

// send writes each datagram of b to the peer at to, several in one
// system call when the socket is batched. A failed send is a lost
// datagram; the rest are still sent unless the socket is closed.
func (c *Conn) send(b *datagrams, to net.Addr) error {
	if c.batch != nil && len(b.ends) > 1 {
		if dst, ok := c.batch.sendable(to, c.wconn != nil); ok {
			return c.batch.send(b, dst)
		}
	}
	var first error
	start := 0
	for _, end := range b.ends {
		d := b.buf[start:end]
		start = end
		var err error
		if c.wconn != nil {
			_, err = c.wconn.Write(d)
		} else {
			_, err = c.pconn.WriteTo(d, to)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			if errors.Is(err, net.ErrClosed) {
				break
			}
		}
	}
	return first
}

// read is Read's body; its errors are the core's, unprefixed.
func (c *Conn) read(p []byte) (int, error) {
	if err := c.startHandshake(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if n, err, done := c.takeRecord(p); done {
			return n, err
		}
		if err := c.performScheduled(); err != nil {
			return 0, err
		}
		if err := c.await(context.Background()); err != nil {
			return 0, c.errAfter(err)
		}
	}
}

// performScheduled starts a renegotiation scheduled through the API before
// a Read waits, as SSL_renegotiate(3) has it happen on the next I/O.
func (c *Conn) performScheduled() error {
	c.mu.Lock()
	pending := c.core.RenegotiatePending()
	c.mu.Unlock()
	if !pending {
		return nil
	}
	return c.callCore(func(core *fsm.Conn) error { return core.HandleDatagram(time.Now(), nil) }, false)
}

// renegotiate is Renegotiate's body; its errors are the core's, unprefixed.
func (c *Conn) renegotiate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.Renegotiate()
}

// KeyUpdate schedules a DTLS 1.3 key update (SSL_key_update(3)), sent on
// the next Write or Handshake and acknowledged by the peer before the new
// keys are used (RFC 9147 §8).
func (c *Conn) KeyUpdate(t fsm.KeyUpdateType) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return dtlsError(c.core.KeyUpdate(t))
}

// PendingKeyUpdate returns the key update that will be sent next, or
// fsm.KeyUpdateNone (SSL_get_key_update_type(3)).
func (c *Conn) PendingKeyUpdate() fsm.KeyUpdateType {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.PendingKeyUpdate()
}

// renegotiateAbbreviated is RenegotiateAbbreviated's body; its errors are the core's, unprefixed.
func (c *Conn) renegotiateAbbreviated() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.RenegotiateAbbreviated()
}

// RenegotiatePending reports whether a renegotiation or a request for one
// is scheduled and not yet acted on (SSL_renegotiate_pending(3)).
func (c *Conn) RenegotiatePending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.RenegotiatePending()
}

// takeRecord copies the next record into p; done is false when the caller
// must wait for more.
func (c *Conn) takeRecord(p []byte) (n int, err error, done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, c.opError("read", net.ErrClosed), true
	}
	if c.recHead < len(c.records) {
		rec := c.records[c.recHead]
		if len(p) < len(rec) {
			return 0, ErrShortBuffer, true
		}
		n = copy(p, rec)
		c.records[c.recHead] = nil
		c.recHead++
		c.queued -= cap(rec)
		if c.recHead == len(c.records) {
			c.records, c.recHead = c.records[:0], 0
		}
		if len(c.free) < maxFreeRecords && cap(rec) <= maxFreeRecordSize {
			c.free = append(c.free, rec[:0])
		}
		return n, nil, true
	}
	switch {
	case c.peerEOF:
		return 0, io.EOF, true
	case c.err != nil:
		return 0, c.err, true
	case c.sockErr != nil:
		return 0, c.sockErr, true
	}
	return 0, nil, false
}

// write is Write's body; its errors are the core's, unprefixed.
func (c *Conn) write(p []byte) (int, error) {
	if err := c.startHandshake(); err != nil {
		return 0, err
	}
	written := 0
	for written < len(p) {
		if err := c.checkWriteDeadline(); err != nil {
			return written, err
		}
		chunk := p[written:min(len(p), written+writeChunk)]
		err := c.callCore(func(core *fsm.Conn) error {
			_, err := core.Write(time.Now(), chunk)
			return err
		}, true)
		if err != nil {
			return written, err
		}
		written += len(chunk)
	}
	return written, nil
}

func (c *Conn) checkWriteDeadline() error {
	c.mu.Lock()
	d := c.writeDeadline
	c.mu.Unlock()
	if !d.IsZero() && !time.Now().Before(d) {
		return c.opError("write", os.ErrDeadlineExceeded)
	}
	return nil
}

// close is Close's body; its errors are the core's, unprefixed.
func (c *Conn) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	if !c.replacedByPeer {
		c.core.Close(time.Now())
		c.drainLocked()
		c.flushLocked(true)
	}
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	c.closedFlag.Store(true)
	if c.timer != nil {
		c.timer.Stop()
	}
	close(c.closedCh)
	old := c.replaces
	c.replaces = nil
	c.mu.Unlock()
	if c.l != nil {
		if old != nil {
			c.l.restore(c, old)
		}
		c.l.remove(c)
		return nil
	}
	return c.pconn.Close()
}

// ErrReplaced ends a listener Conn whose peer started a new connection
// from the same address, once the new one's handshake completed (RFC 6347
// §4.2.8): the peer has lost this one's state.
var ErrReplaced = errors.New("dtls: the peer started a new connection from the same address")

// endReplaced ends c after its peer started a new connection: nothing is
// sent to the peer, which no longer knows c's keys; reads and writes fail
// with ErrReplaced, and c's timer stops.
func (c *Conn) endReplaced() {
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrReplaced
	}
	c.replacedByPeer = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.signalLocked()
	older := c.replaces // c was itself taking over from a Conn
	c.replaces = nil
	c.mu.Unlock()
	if older != nil {
		older.endReplaced()
	}
}

// socketFailed ends a listener Conn whose shared socket failed.
func (c *Conn) socketFailed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sockErr == nil {
		c.sockErr = err
	}
	c.signalLocked()
}

// OnEvent sets a function that sees every event of the core as it is
// drained (Data is valid only during the call). It runs with the
// connection's lock held and must not call back into the Conn. A
// listener starts the handshake of its Conns before Accept returns them,
// so OnEvent set then may miss the first events.
func (c *Conn) OnEvent(f func(fsm.Event)) {
	c.mu.Lock()
	c.onEvent = f
	c.mu.Unlock()
}

// ConnectionState returns the negotiated parameters.
func (c *Conn) ConnectionState() ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.ConnectionState()
}

// exportKeyingMaterial is ExportKeyingMaterial's body; its errors are the core's, unprefixed.
func (c *Conn) exportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.ExportKeyingMaterial(label, context, length)
}

// PacketConn returns the socket; a listener's Conns share one.
func (c *Conn) PacketConn() net.PacketConn { return c.pconn }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.pconn.LocalAddr() }

// RemoteAddr returns the peer's address.
// With Connection IDs, it is where the peer last sent an authenticated
// datagram from.
func (c *Conn) RemoteAddr() net.Addr { return c.peer() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read and of a handshake. A
// blocked Read returns an error whose Timeout method reports true (it
// wraps os.ErrDeadlineExceeded) once the deadline passes; a zero t means
// none. It costs no goroutine.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	if c.l != nil {
		c.rdl.Set(t)
		return nil
	}
	return c.applyReadDeadlineLocked()
}

// SetWriteDeadline sets the deadline of Write, which fails with a timeout
// once it has passed. Sending a datagram does not block for long, so the
// deadline is checked before sending rather than interrupting a send;
// retransmissions of the handshake ignore it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}

// opError describes a failed operation as package net does.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.pconn.LocalAddr().Network(), Source: c.pconn.LocalAddr(), Addr: c.peer(), Err: err}
}

// datagrams is a queue of datagrams in one buffer.
type datagrams struct {
	buf  []byte
	ends []int
}

func (d *datagrams) add(b []byte) {
	d.buf = append(d.buf, b...)
	d.ends = append(d.ends, len(d.buf))
}

func (d *datagrams) empty() bool { return len(d.ends) == 0 }

func (d *datagrams) reset() {
	d.buf, d.ends = d.buf[:0], d.ends[:0]
}

// sameAddr reports whether a and b are the same transport address.
func sameAddr(a, b net.Addr) bool {
	if ua, ok := a.(*net.UDPAddr); ok {
		if ub, ok := b.(*net.UDPAddr); ok {
			return ua.Port == ub.Port && ua.IP.Equal(ub.IP)
		}
	}
	return a != nil && b != nil && a.Network() == b.Network() && a.String() == b.String()
}

// HandshakeContext runs the handshake if it has not yet run, giving up
// when ctx is done. The read deadline also bounds it. Giving up leaves
// the handshake where it was: a later call continues it. On an
// established connection it performs scheduled work, as Handshake does.
func (c *Conn) HandshakeContext(ctx context.Context) error {
	return dtlsError(c.handshakeContext(ctx))
}

// Read reads one record of application data into p, running the handshake
// first if needed. Records are never merged or split: when p is too short
// for the next record, Read returns 0 and ErrShortBuffer and keeps the
// record. A record is at most Config.MTU bytes when the peer uses the same
// MTU. Read returns io.EOF after the peer's close_notify.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.read(p)
	return n, dtlsError(err)
}

// Write sends p as application data, running the handshake first if
// needed. p is cut into records that each fit one datagram of
// Config.MTU; the peer reads each record on its own, and any may be lost.
// The write deadline is checked before each part of p is protected.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.write(p)
	return n, dtlsError(err)
}

// Close sends close_notify and closes the Conn: a Conn from Client,
// Server or Dial closes its socket, a Conn from a Listener leaves it.
// Reads and writes blocked on the Conn return net.ErrClosed.
func (c *Conn) Close() error {
	return dtlsError(c.close())
}

// Renegotiate schedules a DTLS 1.2 renegotiation (SSL_renegotiate(3)): a
// client's new handshake offers no session, a server sends a HelloRequest.
// It starts on the next Read, Write or Handshake.
func (c *Conn) Renegotiate() error {
	return dtlsError(c.renegotiate())
}

// RenegotiateAbbreviated is Renegotiate, except that a client offers the
// current session (SSL_renegotiate_abbreviated(3)).
func (c *Conn) RenegotiateAbbreviated() error {
	return dtlsError(c.renegotiateAbbreviated())
}

// ExportKeyingMaterial returns keying material for label and context
// (RFC 5705); DTLS-SRTP keys use the label "EXTRACTOR-dtls_srtp".
func (c *Conn) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	b, err := c.exportKeyingMaterial(label, context, length)
	return b, dtlsError(err)
}

// prefixedError is an error of the core, which speaks of "tls:", as a
// dtls.Conn reports it: "dtls:". errors.Is and errors.As see through it.
type prefixedError struct{ err error }

func (e *prefixedError) Error() string {
	return "dtls: " + strings.TrimPrefix(e.err.Error(), "tls: ")
}

func (e *prefixedError) Unwrap() error { return e.err }

// dtlsError renames err when it says "tls:"; other errors (io.EOF, a
// timeout, an alert already saying "dtls:") are returned as they are.
func dtlsError(err error) error {
	if err == nil || !strings.HasPrefix(err.Error(), "tls: ") {
		return err
	}
	return &prefixedError{err}
}
