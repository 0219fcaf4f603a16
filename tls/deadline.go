package tls

import (
	"net"
	"os"
	"time"
)

// SetDeadline sets the read and write deadlines of the socket.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	return c.conn.SetReadDeadline(c.socketReadDeadlineLocked())
}

// SetWriteDeadline sets the socket's write deadline. A write that times
// out leaves the connection unusable for writing, as a partial record may
// have been sent. The deadline also bounds a Write waiting for a
// renegotiation to end.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDeadline = t
	if err := c.conn.SetWriteDeadline(t); err != nil {
		return err
	}
	c.changed.Broadcast()
	if c.writerReading {
		return c.conn.SetReadDeadline(c.socketReadDeadlineLocked())
	}
	return nil
}

// socketReadDeadlineLocked is the read deadline the socket needs: the
// caller's, or the earlier write deadline while a Write reads.
func (c *Conn) socketReadDeadlineLocked() time.Time {
	if c.writerReading && writeFirst(c.readDeadline, c.writeDeadline) {
		return c.writeDeadline
	}
	return c.readDeadline
}

// writeFirst reports whether the write deadline w comes before the read
// deadline r; the zero time is no deadline.
func writeFirst(r, w time.Time) bool {
	return !w.IsZero() && (r.IsZero() || w.Before(r))
}

// beginWriterRead lets a Write read the socket, bounded by its deadline
// as well as the read deadline (on a net.Conn whose deadlines work).
func (c *Conn) beginWriterRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writerReading = true
	if writeFirst(c.readDeadline, c.writeDeadline) {
		c.conn.SetReadDeadline(c.writeDeadline)
	}
}

// endWriterRead gives the socket the caller's read deadline back.
func (c *Conn) endWriterRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if writeFirst(c.readDeadline, c.writeDeadline) {
		c.conn.SetReadDeadline(c.readDeadline)
	}
	c.writerReading = false
}

// writeTimeoutLocked returns the error of a Write whose deadline has
// passed while it waited, or nil; until is the time left otherwise (0
// for no deadline).
func (c *Conn) writeTimeoutLocked() (until time.Duration, err error) {
	if c.writeDeadline.IsZero() {
		return 0, nil
	}
	if until = time.Until(c.writeDeadline); until <= 0 {
		return 0, opError(c.conn, "write", os.ErrDeadlineExceeded)
	}
	return until, nil
}

// opError describes a failed operation on conn as package net does.
func opError(conn net.Conn, op string, err error) error {
	local := conn.LocalAddr()
	e := &net.OpError{Op: op, Source: local, Addr: conn.RemoteAddr(), Err: err}
	if local != nil {
		e.Net = local.Network()
	}
	return e
}
