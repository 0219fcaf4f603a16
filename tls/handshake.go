package tls

import (
	"context"
	"errors"
	"time"

	"github.com/tlsm/tlsm/fsm"
)

// Handshake runs the handshake if it has not yet run; after it, Handshake
// performs scheduled work (a key update, a renegotiation) now, as
// SSL_do_handshake(3).
func (c *Conn) Handshake() error { return c.HandshakeContext(context.Background()) }

// HandshakeContext runs the handshake, giving up when ctx is done; after
// it, HandshakeContext performs scheduled work now, as Handshake does.
//
// As in crypto/tls, the context does not touch the deadlines: the
// caller's deadlines bound the handshake as they bound any Read or
// Write, and stay as they were. When ctx ends before the handshake does,
// HandshakeContext closes the underlying connection and returns ctx's
// error; so it either returns nil with a usable Conn, or ctx.Err() with
// the connection closed.
func (c *Conn) HandshakeContext(ctx context.Context) error { return c.handshake(ctx, true) }

// handshake runs the first handshake if it has not run; force also
// performs scheduled work on an established connection.
func (c *Conn) handshake(ctx context.Context, force bool) error {
	c.handshakeMu.Lock()
	defer c.handshakeMu.Unlock()
	if err := c.handshakeState(); err != errHandshakeRunning {
		if err == nil && force {
			return c.callCore(func(core *fsm.Conn) error { return core.Handshake(time.Now()) }, true)
		}
		return err
	}
	c.callCore(func(core *fsm.Conn) error {
		core.SetCallbackContext(ctx, c)
		return nil
	}, false)
	err := c.runHandshakeContext(ctx)
	if err != nil {
		c.setHandshakeErr(err)
	}
	return err
}

// runHandshakeContext runs the first handshake, closing the connection
// when ctx ends first. A context that cannot end costs nothing.
func (c *Conn) runHandshakeContext(ctx context.Context) error {
	if ctx.Done() == nil {
		return c.runHandshake()
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.Close()
		close(interrupted)
	})
	err := c.runHandshake()
	if !stop() {
		// ctx ended, perhaps as the handshake completed: the connection
		// is closed (or about to be), so the handshake failed.
		<-interrupted
		return ctx.Err()
	}
	return err
}

var errHandshakeRunning = errors.New("tls: handshake running")

// handshakeState returns nil when the handshake is done, the error that
// ended it, or errHandshakeRunning.
func (c *Conn) handshakeState() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.core.HandshakeComplete():
		return nil
	case c.hsErr != nil:
		return c.hsErr
	case c.err != nil:
		return c.err
	}
	return errHandshakeRunning
}

// setHandshakeErr records the failure of the first handshake: as in
// crypto/tls, every later Read, Write and Handshake returns it, whether
// the core failed or the socket did (a deadline, say), after which the
// handshake cannot be taken up again.
func (c *Conn) setHandshakeErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hsErr = err
}

// runHandshake starts the first handshake and reads the socket until it
// ends.
func (c *Conn) runHandshake() error {
	if c.raw != nil {
		return c.serveHandshake()
	}
	if err := c.callCore(func(core *fsm.Conn) error {
		if core.IsClient() {
			return core.Start(time.Now())
		}
		return nil
	}, true); err != nil {
		return err
	}
	c.readMu.Lock()
	defer c.unlockRead()
	for {
		if err := c.handshakeState(); err != errHandshakeRunning {
			if err == nil {
				c.releaseWriteBuffers()
			}
			return err
		}
		c.precompute()
		if err := c.readOnce(); err != nil {
			return err
		}
	}
}

// streamServer is what rawReader.serve hands what it reads to.
type streamServer interface {
	// beginServe runs once, as the wait begins: quiet means that what it
	// sent is what the first bytes can only answer; an error ends serve.
	beginServe() (quiet bool, err error)
	// readClass is the read size of the next read.
	readClass() int
	// takeRead takes the n bytes read into buf, a buffer of read size
	// class, and says whether to read on; an error ends serve.
	takeRead(class int, buf []byte, n int) (more bool, err error)
}

// serveHandshake is runHandshake for a Conn that reads its socket
// through its RawConn: all its reads run within one wait of the poller
// (rawReader.serve), so that a flight sent in answer to bytes that
// emptied the socket, and a client's first, is followed by a wait, not by
// a read that would find nothing.
func (c *Conn) serveHandshake() error {
	c.readMu.Lock()
	defer c.unlockRead()
	err := c.raw.serve(c)
	if state := c.handshakeState(); state != errHandshakeRunning {
		if state == nil {
			c.releaseWriteBuffers()
		}
		return state
	}
	return err
}

// beginServe starts the handshake of a client: its first flight goes
// out, and nothing can come before the answer to it.
func (c *Conn) beginServe() (quiet bool, err error) {
	client := false
	err = c.callCore(func(core *fsm.Conn) error {
		if client = core.IsClient(); client {
			return core.Start(time.Now())
		}
		return nil
	}, false)
	if client && err == nil {
		c.precompute()
	}
	return client && err == nil, err
}

// precompute lets the core do ahead, once what it sent is on its way,
// what the peer's answer will need (fsm.Conn.Precompute).
func (c *Conn) precompute() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.core.Precompute()
}

// takeRead feeds the core what a read of the handshake found and says
// whether the handshake still runs.
func (c *Conn) takeRead(class int, buf []byte, n int) (more bool, err error) {
	if err := c.feed(class, buf, n); err != nil {
		return false, err
	}
	c.precompute()
	return c.handshakeState() == errHandshakeRunning, nil
}

// startHandshake runs the first handshake if needed; unlike Handshake it
// does not force scheduled work.
func (c *Conn) startHandshake() error {
	if c.handshakeState() == nil {
		return nil
	}
	return c.handshake(context.Background(), false)
}
