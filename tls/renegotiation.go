package tls

import (
	"errors"
	"net"
	"time"

	"github.com/tlsm/tlsm/fsm"
)

// maxHeldWrites bounds the application data a Conn gives the core during
// a renegotiation. OpenSSL and crypto/tls take none in the middle of one,
// so the core holds it back until the handshake ends, and then the
// goroutine that ended it, often a Read, writes it out. Keeping it small
// keeps that Read from blocking on a large write while the peer's Read
// does the same. Past it, a Write waits for the renegotiation to end.
const maxHeldWrites = writeChunk

// maxBufferedPlain bounds the application data that a Write reading the
// socket (see awaitProgress) keeps for Read: past it, the Write waits for
// Read to take some, so that the peer cannot grow it without bound.
const maxBufferedPlain = 256 << 10

var (
	errMustWait = errors.New("tls: the renegotiation holds back enough data")
	errNoRead   = errors.New("tls: a waiting writer is not to read the socket now")
)

// writeChunk gives one chunk of a Write to the core, waiting while a
// renegotiation holds back all it may.
func (c *Conn) writeChunk(chunk []byte) error {
	for {
		var seq uint64
		err := c.callCore(func(*fsm.Conn) error {
			seq = c.progress
			return c.queueLocked(chunk)
		}, true)
		if err != errMustWait {
			return err
		}
		if err := c.awaitProgress(seq); err != nil {
			return err
		}
	}
}

// queueLocked writes chunk to the core, or returns errMustWait when the
// running renegotiation holds back enough data already.
func (c *Conn) queueLocked(chunk []byte) error {
	if !c.renegotiatingLocked() {
		c.heldWrites = 0
	} else if c.heldWrites >= maxHeldWrites {
		return errMustWait
	}
	if _, err := c.core.Write(time.Now(), chunk); err != nil {
		if errors.Is(err, fsm.ErrOutputFull) {
			return errMustWait
		}
		return err
	}
	if c.renegotiatingLocked() { // perhaps started by this Write
		c.heldWrites += len(chunk)
	}
	return nil
}

// renegotiatingLocked reports whether a renegotiation runs, during which
// the core holds back application data.
func (c *Conn) renegotiatingLocked() bool {
	switch c.core.State() {
	case fsm.StateClientConnected12, fsm.StateServerConnected12,
		fsm.StateClientConnected13, fsm.StateServerConnected13, fsm.StateClosed:
		return false
	}
	return c.core.HandshakeComplete()
}

// finishRenegotiation waits for a running renegotiation to end.
func (c *Conn) finishRenegotiation() error {
	for {
		c.mu.Lock()
		running, seq := c.renegotiatingLocked(), c.progress
		c.mu.Unlock()
		if !running {
			return nil
		}
		if err := c.awaitProgress(seq); err != nil {
			return err
		}
	}
}

// awaitProgress waits until the connection has moved on from progress
// seq, honouring the write deadline and Close. A renegotiation moves on
// only as the socket is read: when no Read is under way, the caller reads
// the socket once itself; otherwise it waits for the Read to.
func (c *Conn) awaitProgress(seq uint64) error {
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	if c.readMu.TryLock() {
		if err := c.readForWriter(seq); err != errNoRead {
			return err
		}
	}
	return c.waitForProgress(seq)
}

// readForWriter reads the socket once for a writer waiting since
// progress seq, keeping the application data that arrives for Read, or
// returns errNoRead when the writer is not to read now (see
// writerMayRead). The caller holds readMu; as the core takes input only
// under it, nothing the writer waits for can come between the look at
// progress and the read. readForWriter releases readMu; after no read it
// reports no progress, which would only wake the caller itself at once:
// while Read has yet to take the data kept for it, the writer would spin.
func (c *Conn) readForWriter(seq uint64) error {
	if err := c.writerMayRead(seq); err != nil {
		c.readMu.Unlock()
		return err
	}
	defer c.unlockRead()
	c.beginWriterRead()
	defer c.endWriterRead()
	return c.readOnce()
}

// writerMayRead returns nil when a writer waiting since progress seq may
// read the socket now, and errNoRead when it is not to: either the
// connection moved on since seq, so that what the writer waits for may
// have come already (a Read may have ended the renegotiation and taken
// the last data the peer sends before it hears from us), and the writer
// must look again before it reads; or Read has yet to take the
// application data kept for it.
func (c *Conn) writerMayRead(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return net.ErrClosed
	case c.progress != seq, len(c.plain)-c.plainOff >= maxBufferedPlain:
		return errNoRead
	}
	return nil
}

// waitForProgress waits for progress past seq, Close or the write
// deadline.
func (c *Conn) waitForProgress(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for c.progress == seq {
		if c.closed {
			return net.ErrClosed
		}
		until, err := c.writeTimeoutLocked()
		switch {
		case err != nil:
			return err
		case until > 0 && timer == nil:
			timer = time.AfterFunc(until, c.wake)
		case until > 0:
			timer.Reset(until)
		}
		c.changed.Wait()
	}
	return nil
}

// wake wakes the goroutines waiting for progress, to look at the time.
func (c *Conn) wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed.Broadcast()
}

// noteProgressLocked records progress: input for the core, or data taken
// by Read; it wakes the goroutines waiting for it.
func (c *Conn) noteProgressLocked() {
	c.progress++
	if c.waiting.Load() > 0 {
		c.changed.Broadcast()
	}
}

// unlockRead ends a turn at reading the socket; a goroutine waiting for
// progress may take the next.
func (c *Conn) unlockRead() {
	c.readMu.Unlock()
	if c.waiting.Load() > 0 {
		c.mu.Lock()
		c.noteProgressLocked()
		c.mu.Unlock()
	}
}

// markClosed records Close for the goroutines waiting for progress.
func (c *Conn) markClosed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.changed.Broadcast()
}
