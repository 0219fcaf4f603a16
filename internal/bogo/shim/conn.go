package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/tlsm/tlsm/fsm"
)

// The runner's framing of datagrams over its TCP connection (DTLS only):
// a packet is 'P' and a 4-byte big-endian length; 'T' and an 8-byte
// big-endian count of nanoseconds asks the shim to act as if that much
// time had passed while it waited to read, which it acknowledges with 't'
// at once, before anything it sends because of the time.
const (
	opPacket     = 'P'
	opTimeout    = 'T'
	opTimeoutAck = 't'
)

// errTruncated is a stream that ended without the peer's close_notify.
var errTruncated = errors.New("connection ended without close_notify")

// clock is the shim's virtual clock. It starts at the real time, so that
// the runner's certificates are valid, and moves only when the runner
// says time has passed (DTLS timeouts) or a test asks for a delay between
// connections. Every input to the core carries its reading, so retransmit
// timers fire exactly when the runner expects them to.
type clock struct{ now time.Time }

func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }

// conn drives one fsm.Conn over the runner's socket: it feeds the core
// what arrives, carries out the events it emits, and presents the
// blocking reads and writes the test flow is written with.
type conn struct {
	core  *fsm.Conn
	sock  net.Conn
	dtls  bool
	clock *clock
	// byteAtATime feeds stream input to the core one byte per call
	// (the runner's -async): every split of a record must work.
	byteAtATime bool
	rbuf        []byte

	// in holds application data delivered and not yet read, one chunk
	// per record, so that a DTLS read returns exactly one record.
	in [][]byte
	// peerClosed is set by the peer's close_notify; eof by the end of
	// the socket; err by a failure of the core or the socket.
	peerClosed bool
	eof        bool
	err        error
	// sawHelloRetry is set when the current handshake went through a
	// HelloRetryRequest.
	sawHelloRetry bool
}

func newConn(core *fsm.Conn, sock net.Conn, dtls bool, clk *clock, byteAtATime bool) *conn {
	return &conn{core: core, sock: sock, dtls: dtls, clock: clk, byteAtATime: byteAtATime, rbuf: make([]byte, 16<<10)}
}

// start begins a client's handshake; a server waits for the ClientHello.
func (c *conn) start() error {
	if c.core.IsClient() {
		c.core.Start(c.clock.now)
	}
	return c.drain()
}

// handshake runs the first handshake to completion.
func (c *conn) handshake() error {
	for !c.core.HandshakeComplete() {
		if err := c.pump(); err != nil {
			return err
		}
	}
	return nil
}

// drain carries out every event the core has queued.
func (c *conn) drain() error {
	for ev := c.core.NextEvent(); ev.Kind != fsm.EventNone; ev = c.core.NextEvent() {
		if err := c.handle(ev); err != nil {
			c.fail(err)
		}
	}
	c.noteState()
	return c.err
}

func (c *conn) handle(ev fsm.Event) error {
	switch ev.Kind {
	case fsm.EventTransmit:
		return c.send(ev.Data)
	case fsm.EventData:
		if len(ev.Data) > 0 {
			c.in = append(c.in, append([]byte(nil), ev.Data...))
		}
	case fsm.EventClosed:
		if ev.Err != nil {
			c.fail(ev.Err)
		} else {
			c.peerClosed = true
		}
	case fsm.EventRenegotiationStarted:
		c.sawHelloRetry = false
	}
	return nil
}

// noteState records what the public state says of the handshake.
func (c *conn) noteState() {
	switch c.core.State() {
	case fsm.StateClientWaitServerHelloRetried, fsm.StateServerWaitClientHelloRetried:
		c.sawHelloRetry = true
	}
}

func (c *conn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// send writes one transmit event: stream bytes, or one framed datagram.
func (c *conn) send(data []byte) error {
	if !c.dtls {
		_, err := c.sock.Write(data)
		return err
	}
	frame := make([]byte, 5+len(data))
	frame[0] = opPacket
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(data)))
	copy(frame[5:], data)
	_, err := c.sock.Write(frame)
	return err
}

// pump waits for one input from the runner, gives it to the core and
// carries out the events it produces.
func (c *conn) pump() error {
	if c.err != nil {
		return c.err
	}
	if c.eof {
		return errTruncated
	}
	var err error
	if c.dtls {
		err = c.pumpDatagram()
	} else {
		err = c.pumpStream()
	}
	if errors.Is(err, io.EOF) {
		c.eof = true
		return errTruncated
	}
	if err != nil {
		c.fail(err)
	}
	return c.drain()
}

func (c *conn) pumpStream() error {
	n, err := c.sock.Read(c.rbuf)
	if n > 0 {
		c.feed(c.rbuf[:n])
	}
	return err
}

// feed gives stream bytes to the core, all at once or byte by byte.
func (c *conn) feed(data []byte) {
	if !c.byteAtATime {
		c.core.HandleData(c.clock.now, data)
		return
	}
	for i := range data {
		if c.core.HandleData(c.clock.now, data[i:i+1]) != nil || c.drain() != nil {
			return
		}
	}
}

func (c *conn) pumpDatagram() error {
	var op [1]byte
	if _, err := io.ReadFull(c.sock, op[:]); err != nil {
		return err
	}
	switch op[0] {
	case opPacket:
		var n [4]byte
		if _, err := io.ReadFull(c.sock, n[:]); err != nil {
			return unexpectedEOF(err)
		}
		// A fresh buffer: the core decrypts in place and its events
		// may point into the datagram.
		d := make([]byte, binary.BigEndian.Uint32(n[:]))
		if _, err := io.ReadFull(c.sock, d); err != nil {
			return unexpectedEOF(err)
		}
		c.core.HandleDatagram(c.clock.now, d)
		return nil
	case opTimeout:
		return c.timeout()
	}
	return fmt.Errorf("unknown opcode %q from the runner", op[0])
}

// timeout acknowledges the runner's timeout opcode, moves the clock on by
// the time it names and lets the core's timers fire.
func (c *conn) timeout() error {
	var d [8]byte
	if _, err := io.ReadFull(c.sock, d[:]); err != nil {
		return unexpectedEOF(err)
	}
	if _, err := c.sock.Write([]byte{opTimeoutAck}); err != nil {
		return err
	}
	c.clock.advance(time.Duration(binary.BigEndian.Uint64(d[:])))
	c.core.HandleTimeout(c.clock.now)
	return nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// read returns the next application data, up to len(p) bytes of one
// record. It returns io.EOF after the peer's close_notify and
// errTruncated when the socket ends without one.
func (c *conn) read(p []byte) (int, error) {
	for len(c.in) == 0 {
		if c.peerClosed {
			return 0, io.EOF
		}
		if err := c.pump(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.in[0])
	if n == len(c.in[0]) {
		c.in = c.in[1:]
	} else {
		c.in[0] = c.in[0][n:]
	}
	return n, nil
}

// write sends application data, completing the handshake first.
func (c *conn) write(p []byte) error {
	if err := c.handshake(); err != nil {
		return err
	}
	if _, err := c.core.Write(c.clock.now, p); err != nil {
		c.fail(err)
	}
	return c.drain()
}

// close sends close_notify.
func (c *conn) close() error {
	c.core.Close(c.clock.now)
	return c.drain()
}

// finish hands the socket back: like BoringSSL's shim, it stops writing
// and reads until the runner closes, so that nothing sent is lost to a
// reset, then closes it.
func (c *conn) finish() {
	if tc, ok := c.sock.(*net.TCPConn); ok {
		tc.CloseWrite()
		c.sock.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c.sock)
	}
	c.sock.Close()
}
