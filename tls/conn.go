// Package tls puts tlsm's sans-I/O state machine (package fsm) on a byte
// stream. A *Conn is a net.Conn: safe for one reader and one writer at a
// time, honouring deadlines, and running no goroutine of its own.
package tls

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsm/tlsm/fsm"
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

	// The versions of Config.MinVersion and MaxVersion.
	VersionTLS12 = fsm.VersionTLS12
	VersionTLS13 = fsm.VersionTLS13
)

// writeChunk bounds how much application data is protected per socket
// write, so a large Write does not grow the output buffer without bound.
const writeChunk = 4 * 16384

// Conn is a TLS connection over a net.Conn.
type Conn struct {
	conn net.Conn
	raw  *rawReader // reads conn when it is a TCP or Unix socket

	// handshakeMu serialises handshakes; readMu serialises readers.
	handshakeMu sync.Mutex
	readMu      sync.Mutex
	// activeCall counts the Writes in flight, two for each, and has its
	// low bit set by Close.
	activeCall atomic.Int32
	// waiting counts the goroutines waiting for progress (see
	// awaitProgress).
	waiting atomic.Int32
	// mu guards the core and the fields below.
	mu sync.Mutex
	// pending holds protected bytes in the order the core produced them;
	// the one goroutine marked flushing writes them to the socket, so
	// records reach the wire in sequence order. When pending is empty, it
	// takes the core's output buffer whole (fsm.Conn.TakeTransmitted),
	// handing the core spare, the buffer last written, in exchange: the
	// records go from the sealing to the socket without a copy.
	// transmits holds the transmit events of one drain until then.
	pending   []byte
	spare     []byte
	transmits [][]byte
	flushing  bool
	// releaseAfterFlush asks the flush under way to let go of both
	// buffers when it ends (see releaseWriteBuffers).
	releaseAfterFlush bool
	// changed signals the end of a flush, and to the goroutines waiting
	// for progress a change of progress, of the write deadline or Close.
	changed  sync.Cond
	progress uint64 // counts inputs to the core and Reads of buffered data
	closed   bool   // Close was called
	core     *fsm.Conn
	plain    []byte // delivered application data not yet read
	plainOff int
	// readDst is the buffer of the Read reading the socket: data that
	// arrives while nothing waits in plain goes straight there, readN
	// bytes so far, and only what does not fit into plain.
	readDst  []byte
	readN    int
	peerEOF  bool  // the peer sent close_notify
	err      error // the error that closed the core
	hsErr    error // the failure of the first handshake; permanent
	writeErr error // a failed socket write; permanent
	// heldWrites counts the bytes given to the core during the running
	// renegotiation, which it holds until the renegotiation ends.
	heldWrites int
	// readDeadline and writeDeadline are as set. While writerReading, a
	// Write reads the socket, under the earlier of the two.
	readDeadline  time.Time
	writeDeadline time.Time
	writerReading bool

	rclass  int // index of the socket read size; grows while reads fill it
	onEvent func(fsm.Event)
}

// Client returns a client Conn over conn. The handshake runs on the first
// Read or Write, or on Handshake.
func Client(conn net.Conn, cfg *Config) *Conn {
	c := newConn(conn, fsm.NewClient(cfg))
	return c
}

// Server returns a server Conn over conn.
func Server(conn net.Conn, cfg *Config) *Conn {
	return newConn(conn, fsm.NewServer(cfg))
}

func newConn(conn net.Conn, core *fsm.Conn) *Conn {
	c := &Conn{conn: conn, raw: newRawReader(conn), core: core}
	c.changed.L = &c.mu
	core.SetCallbackContext(context.Background(), c)
	return c
}

// releaseWriteBuffers lets go of the output buffers the handshake grew,
// or has the flush writing them do so when it ends; the data path grows
// its own on first use.
func (c *Conn) releaseWriteBuffers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flushing {
		c.releaseAfterFlush = true
		return
	}
	if len(c.pending) == 0 {
		c.pending, c.spare = nil, nil
	}
}

// The socket read size starts small and grows each time a read fills it,
// up to four full records with their overhead, so that a bulk transfer
// takes in several records with one system call when they are there.
var readSizes = [...]int{2048, 4096, 8192, 16384 + 512, 4 * (16384 + 512)}

// oneRecordClass is the read size of one full record: the last but one.
const oneRecordClass = len(readSizes) - 2

// readClass is the read size to use now: the grown one, but no more
// than one record while application data waits for Read, so that a
// Write reading the socket during a renegotiation overshoots the
// buffered limit by one record at most.
func (c *Conn) readClass() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rclass > oneRecordClass && len(c.plain) > c.plainOff {
		return oneRecordClass
	}
	if c.raw != nil {
		// A raw read takes its buffer only once data is there and gives
		// it back at once: no reason to start small. A whole handshake
		// flight (the server's, with a post-quantum key share and a
		// chain, is some 3 KB) then comes in one read, and what we
		// answer it with leaves in one write.
		return max(c.rclass, rawMinClass)
	}
	return c.rclass
}

// rawMinClass is the smallest read size of a raw socket read: 8 KiB.
const rawMinClass = 2

// readBuffers lends socket read buffers, one pool per read size, for the
// length of one read: the core copies what it keeps, so a Conn that is
// not reading holds no buffer. A Conn over a TCP or Unix socket takes its
// buffer only once data has arrived (see rawReader), so a Read waiting
// for data holds none either.
var readBuffers [len(readSizes)]sync.Pool

func init() {
	for i, size := range readSizes {
		readBuffers[i].New = func() any { b := make([]byte, size); return &b }
	}
}

// readOnceInto is readOnce for a Read into p: application data that
// arrives while none waits to be read is copied into p at once, n bytes,
// instead of being kept for the next Read. An error that comes with such
// data waits for the next Read.
func (c *Conn) readOnceInto(p []byte) (n int, err error) {
	c.mu.Lock()
	c.readDst, c.readN = p, 0
	c.mu.Unlock()
	err = c.readOnce()
	c.mu.Lock()
	n = c.readN
	c.readDst, c.readN = nil, 0
	c.mu.Unlock()
	if n > 0 {
		return n, nil
	}
	return 0, err
}

// readOnce reads from the socket once and feeds the core. The caller holds
// readMu.
func (c *Conn) readOnce() error {
	class := c.readClass()
	pool := &readBuffers[class]
	buf, n, rerr := c.readSocket(class)
	if buf != nil {
		defer pool.Put(buf)
	}
	if n > 0 {
		if err := c.feed(class, *buf, n); err != nil {
			return err
		}
	}
	if rerr != nil {
		if errors.Is(rerr, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return rerr
	}
	return nil
}

// feed hands the core the n bytes read into buf, a buffer of read size
// class, and grows the read size after a read that filled its buffer.
// The caller holds readMu.
func (c *Conn) feed(class int, buf []byte, n int) error {
	data := buf[:n]
	if err := c.callCore(func(core *fsm.Conn) error {
		c.noteProgressLocked()
		return core.HandleDataInPlace(time.Now(), data)
	}, false); err != nil {
		return err
	}
	if n == len(buf) && class >= c.rclass && class < len(readSizes)-1 {
		c.rclass = class + 1
	}
	return nil
}

// readSocket reads the socket once into a buffer from readBuffers, of
// read size class; buf is nil when nothing was read. The caller holds
// readMu.
func (c *Conn) readSocket(class int) (buf *[]byte, n int, err error) {
	if c.raw != nil {
		return c.raw.readSocket(class)
	}
	buf = readBuffers[class].Get().(*[]byte)
	n, err = c.conn.Read(*buf)
	return buf, n, err
}

// callCore runs f on the core and drains its events: application data is
// kept for Read, transmissions are queued and written. A writer (wait)
// waits for its bytes to be on their way; a reader does not write itself
// while the connection goes on: a goroutine of its own does, so that a
// blocked write never stops the Read that would unblock it — over a
// transport whose writes wait for the peer to read (net.Pipe), a peer
// writing a flight larger than one read while we answer its first
// message would wait forever otherwise.
func (c *Conn) callCore(f func(*fsm.Conn) error, wait bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := f(c.core)
	c.drainLocked()
	if !wait && err == nil {
		c.flushInBackgroundLocked()
		return c.writeErr
	}
	// A writer, or a reader whose input failed the connection: its
	// alert leaves before the error is reported.
	if werr := c.flushLocked(); werr != nil {
		return werr
	}
	return err
}

// flushInBackgroundLocked writes the pending bytes without waiting: what
// a TCP or Unix socket takes at once, and the rest, or all of it on
// other transports, from a goroutine it starts, unless one is writing
// already (it will write them too).
func (c *Conn) flushInBackgroundLocked() {
	if c.flushing || len(c.pending) == 0 {
		return
	}
	if c.raw != nil {
		// A socket with room for the bytes takes them at once: one
		// write that cannot block, and no goroutine to wake.
		n := c.raw.tryWrite(c.pending)
		c.pending = c.pending[:copy(c.pending, c.pending[n:])]
		if len(c.pending) == 0 {
			return
		}
	}
	c.flushing = true
	go func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.writePendingLocked()
	}()
}

// drainLocked takes every event of the core.
func (c *Conn) drainLocked() {
	for {
		ev := c.core.NextEvent()
		if c.onEvent != nil && ev.Kind != fsm.EventNone {
			c.onEvent(ev)
		}
		switch ev.Kind {
		case fsm.EventNone:
			c.queueTransmitsLocked()
			return
		case fsm.EventTransmit:
			c.transmits = append(c.transmits, ev.Data)
		case fsm.EventData:
			c.deliverPlain(ev.Data)
		case fsm.EventHandshakeDone:
			c.heldWrites = 0
		case fsm.EventClosed:
			if ev.Err == nil {
				c.peerEOF = true
			} else {
				c.err = ev.Err
			}
		}
	}
}

// queueTransmitsLocked queues the bytes of the transmit events of one
// drain: the core's whole output buffer, when nothing else waits (no
// copy), else a copy of each after what waits.
func (c *Conn) queueTransmitsLocked() {
	if len(c.transmits) == 0 {
		return
	}
	if len(c.pending) == 0 {
		size := 0
		for _, t := range c.transmits {
			size += len(t)
		}
		out := c.core.TakeTransmitted(c.spare)
		if out != nil {
			c.spare = nil
		}
		// out is the output of the calls since the last drain, or nil
		// when the core let go of its buffer as a handshake ended: then
		// the events' bytes are copied.
		if len(out) == size {
			c.pending = out
			clear(c.transmits)
			c.transmits = c.transmits[:0]
			return
		}
	}
	for _, t := range c.transmits {
		c.pending = append(c.pending, t...)
	}
	clear(c.transmits)
	c.transmits = c.transmits[:0]
}

// deliverPlain hands delivered data to the Read under way, as much as its
// buffer takes when no earlier data waits, and keeps the rest.
func (c *Conn) deliverPlain(b []byte) {
	if c.plainOff == len(c.plain) && c.readN < len(c.readDst) {
		n := copy(c.readDst[c.readN:], b)
		c.readN += n
		b = b[n:]
		c.noteProgressLocked()
	}
	if len(b) > 0 {
		c.appendPlain(b)
	}
}

// appendPlain keeps delivered data for Read. The unread part moves to the
// front rather than the buffer growing, as data may arrive while a Read
// takes part of it (a Write reading the socket, see readForWriter).
func (c *Conn) appendPlain(b []byte) {
	switch {
	case c.plainOff == len(c.plain):
		c.plain, c.plainOff = c.plain[:0], 0
	case c.plainOff > 0 && len(c.plain)+len(b) > cap(c.plain):
		c.plain = c.plain[:copy(c.plain, c.plain[c.plainOff:])]
		c.plainOff = 0
	}
	c.plain = append(c.plain, b...)
}

// flushLocked writes the pending bytes, after waiting for another
// goroutine that is writing (which may write ours too). It is called and
// returns with mu held, releasing it around the write.
func (c *Conn) flushLocked() error {
	for c.flushing {
		c.changed.Wait()
	}
	c.flushing = true
	return c.writePendingLocked()
}

// writePendingLocked writes the pending bytes, then ends the flush that
// its caller marked. It releases mu around each write.
func (c *Conn) writePendingLocked() error {
	for len(c.pending) > 0 && c.writeErr == nil {
		buf := c.pending
		c.pending = nil
		c.mu.Unlock()
		_, err := c.conn.Write(buf)
		c.mu.Lock()
		if c.spare == nil {
			c.spare = buf[:0]
		}
		if err != nil {
			c.writeErr = err
		}
	}
	c.pending = c.pending[:0]
	if c.releaseAfterFlush {
		c.pending, c.spare, c.releaseAfterFlush = nil, nil, false
	}
	c.flushing = false
	c.changed.Broadcast()
	return c.writeErr
}

// Read reads application data, running the handshake first if needed. It
// returns io.EOF after the peer's close_notify.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.startHandshake(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.unlockRead()
	for {
		if n, err, done := c.takePlain(p); done {
			return n, err
		}
		if err := c.performScheduled(); err != nil {
			return 0, err
		}
		if n, err := c.readOnceInto(p); n > 0 || err != nil {
			return n, err
		}
	}
}

// takePlain copies buffered data into p; done is false when the caller
// must read more from the socket.
func (c *Conn) takePlain(p []byte) (n int, err error, done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.plainOff < len(c.plain) {
		n = copy(p, c.plain[c.plainOff:])
		c.plainOff += n
		c.noteProgressLocked()
		return n, nil, true
	}
	if c.peerEOF {
		return 0, io.EOF, true
	}
	if c.err != nil {
		return 0, c.err, true
	}
	return 0, nil, false
}

// Write writes application data, running the handshake first if needed.
// A scheduled key update is sent before the data.
//
// While a TLS 1.2 renegotiation runs, the first 64 KiB written are held
// back until it ends; past them, Write waits for its end (within the
// write deadline), reading the socket itself when no Read is under way.
// Application data that arrives meanwhile is kept for Read, up to
// 256 KiB; beyond that, Write waits for Read to take some.
//
// After Close, Write returns net.ErrClosed.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.beginWrite() {
		return 0, net.ErrClosed
	}
	defer c.activeCall.Add(-2)
	if err := c.startHandshake(); err != nil {
		return 0, err
	}
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+writeChunk)]
		if err := c.writeChunk(chunk); err != nil {
			return written, err
		}
		written += len(chunk)
	}
	return written, nil
}

// beginWrite counts a Write in flight, unless Close was called.
func (c *Conn) beginWrite() bool {
	for {
		x := c.activeCall.Load()
		if x&1 != 0 {
			return false
		}
		if c.activeCall.CompareAndSwap(x, x+2) {
			return true
		}
	}
}

// beginClose marks the Conn closed; first is false if Close was called
// before, writing is true if a Write is in flight.
func (c *Conn) beginClose() (writing, first bool) {
	for {
		x := c.activeCall.Load()
		if x&1 != 0 {
			return false, false
		}
		if c.activeCall.CompareAndSwap(x, x|1) {
			return x != 0, true
		}
	}
}

// performScheduled starts a key update or renegotiation scheduled through
// the API before a Read blocks, as the man pages have it happen on the
// next I/O.
func (c *Conn) performScheduled() error {
	c.mu.Lock()
	pending := c.core.PendingKeyUpdate() != fsm.KeyUpdateNone || c.core.RenegotiatePending()
	c.mu.Unlock()
	if !pending {
		return nil
	}
	return c.callCore(func(core *fsm.Conn) error { return core.HandleData(time.Now(), nil) }, false)
}

// KeyUpdate schedules a TLS 1.3 key update, sent on the next Read, Write
// or Handshake (SSL_key_update(3)).
func (c *Conn) KeyUpdate(t fsm.KeyUpdateType) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.KeyUpdate(t)
}

// Renegotiate schedules a TLS 1.2 renegotiation (SSL_renegotiate(3)): a
// client's new handshake offers no session, a server sends a HelloRequest.
// It starts on the next Read, Write or Handshake.
func (c *Conn) Renegotiate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.Renegotiate()
}

// RenegotiateAbbreviated is Renegotiate, except that a client offers the
// current session (SSL_renegotiate_abbreviated(3)).
func (c *Conn) RenegotiateAbbreviated() error {
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

// PendingKeyUpdate returns the key update that will be sent next, or
// fsm.KeyUpdateNone (SSL_get_key_update_type(3)).
func (c *Conn) PendingKeyUpdate() fsm.KeyUpdateType {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.PendingKeyUpdate()
}

// OnEvent sets a function that sees every event of the core as it is
// drained (Data is valid only during the call). Set it before the
// handshake; it runs with the connection's lock held and must not call
// back into the Conn.
func (c *Conn) OnEvent(f func(fsm.Event)) {
	c.mu.Lock()
	c.onEvent = f
	c.mu.Unlock()
}

// CloseWrite sends close_notify without closing the socket. A running
// renegotiation is first taken to its end, so that the data it holds
// back goes out before close_notify, which would break the peer's
// handshake.
func (c *Conn) CloseWrite() error {
	ferr := c.finishRenegotiation()
	err := c.callCore(func(core *fsm.Conn) error { return core.Close(time.Now()) }, true)
	if ferr != nil {
		return ferr
	}
	return err
}

// Close sends close_notify and closes the socket, giving the end of a
// running renegotiation and close_notify 5 s. As in crypto/tls, a Close
// while a Write is in flight is taken as a way to interrupt it:
// close_notify would have to wait behind the Write, so Close only closes
// the socket. A second Close returns net.ErrClosed.
func (c *Conn) Close() error {
	writing, first := c.beginClose()
	if !first {
		return net.ErrClosed
	}
	if writing {
		c.markClosed()
		return c.conn.Close()
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	alertErr := c.CloseWrite()
	c.markClosed()
	err := c.conn.Close()
	if err == nil && alertErr != nil && !isNetClosing(alertErr) {
		var ae *fsm.AlertError
		if !errors.As(alertErr, &ae) {
			return alertErr
		}
	}
	return err
}

func isNetClosing(err error) bool { return errors.Is(err, net.ErrClosed) }

// ConnectionState returns the negotiated parameters.
func (c *Conn) ConnectionState() ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.ConnectionState()
}

// ExportKeyingMaterial returns keying material for label and context.
func (c *Conn) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.core.ExportKeyingMaterial(label, context, length)
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.conn }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Key update types, from package fsm.
const (
	KeyUpdateNone      = fsm.KeyUpdateNone
	UpdateNotRequested = fsm.UpdateNotRequested
	UpdateRequested    = fsm.UpdateRequested
)
