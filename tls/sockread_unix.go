//go:build unix

package tls

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
)

// rawReader reads a TCP or Unix stream socket through its
// syscall.RawConn: the read system call runs inside the callback, which
// takes a buffer from the pool only then, so a Read waiting for data
// holds none. The runtime's poller waits, with the socket's deadlines, as
// it does for net.Conn.Read, and the system calls are the same.
type rawReader struct {
	conn net.Conn
	raw  syscall.RawConn
	// readFD is r.read, bound once so that reads do not allocate.
	readFD func(fd uintptr) bool
	// The callback's argument and results.
	class int
	buf   *[]byte
	n     int
	err   error
	// reads and emptyReads count the read system calls that found data
	// or the end of the stream, and those that found nothing.
	reads, emptyReads atomic.Uint64
	// server is what serve hands what it reads to, while it runs; begun
	// is set once its beginServe ran.
	server streamServer
	begun  bool
}

// newRawReader returns a rawReader for a *net.TCPConn or a stream
// *net.UnixConn, or nil. Other types, even those that embed one of these,
// are read through their Read method, which may do more than read.
func newRawReader(conn net.Conn) *rawReader {
	var sc syscall.Conn
	switch conn := conn.(type) {
	case *net.TCPConn:
		sc = conn
	case *net.UnixConn:
		if a, ok := conn.LocalAddr().(*net.UnixAddr); !ok || a.Net != "unix" {
			return nil // a datagram socket: an empty read is no end of file
		}
		sc = conn
	default:
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawReader{conn: conn, raw: raw}
	r.readFD = r.read
	return r
}

// readSocket reads the socket once into a buffer of size class; buf is
// nil when nothing was read.
func (r *rawReader) readSocket(class int) (buf *[]byte, n int, err error) {
	r.class = class
	if err := r.raw.Read(r.readFD); err != nil {
		return nil, 0, asReadError(err)
	}
	buf, n, err = r.buf, r.n, r.err
	r.buf, r.n, r.err = nil, 0, nil
	return buf, n, err
}

// read is the callback of RawConn.Read: false asks the poller to wait
// until fd is readable.
func (r *rawReader) read(fd uintptr) bool {
	if r.server != nil {
		return r.serveRead(fd)
	}
	buf, n, err, empty := r.readOnce(fd, r.class)
	if empty {
		return false
	}
	r.buf, r.n, r.err = buf, n, err
	return true
}

// readOnce runs one read of fd into a buffer of read size class from
// readBuffers. It returns the buffer and the bytes read, or the error
// (io.EOF at the end of the stream) with the buffer handed back, or empty
// when the socket held nothing.
func (r *rawReader) readOnce(fd uintptr, class int) (buf *[]byte, n int, err error, empty bool) {
	pool := &readBuffers[class]
	buf = pool.Get().(*[]byte)
	n, err = readRetrying(int(fd), *buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		pool.Put(buf)
		r.emptyReads.Add(1)
		return nil, 0, nil, true
	case err != nil:
		pool.Put(buf)
		return nil, 0, opError(r.conn, "read", os.NewSyscallError("read", err)), false
	case n == 0:
		pool.Put(buf)
		r.reads.Add(1)
		return nil, 0, io.EOF, false
	}
	r.reads.Add(1)
	return buf, n, nil, false
}

// counts returns the read system calls that found data or the end of the
// stream, and those that found nothing.
func (r *rawReader) counts() (reads, empty uint64) {
	return r.reads.Load(), r.emptyReads.Load()
}

// serve reads the socket for as long as to asks, all within one wait of
// the runtime's poller (one RawConn.Read), handing to what each read
// finds. The poller tells a wait of the bytes that arrive after it began,
// so after a read that left the socket empty (that did not fill its
// buffer) serve waits for more instead of trying a read that would find
// nothing. The first try reads, bytes having perhaps come before the wait
// began, unless to's beginServe is quiet. to runs in the RawConn's
// callback: it may write to the socket, not close it. A read takes its
// buffer from the pool only once data is there, as readSocket does. An
// end of the stream is io.ErrUnexpectedEOF.
func (r *rawReader) serve(to streamServer) error {
	r.server, r.begun, r.err = to, false, nil
	err := r.raw.Read(r.readFD)
	serr := r.err
	r.server, r.err = nil, nil
	if err != nil {
		return asReadError(err)
	}
	return serr
}

// serveRead is the callback of serve.
func (r *rawReader) serveRead(fd uintptr) bool {
	if !r.begun {
		r.begun = true
		quiet, err := r.server.beginServe()
		if err != nil || quiet {
			r.err = err
			return err != nil
		}
	}
	for {
		class := r.server.readClass()
		buf, n, err, empty := r.readOnce(fd, class)
		switch {
		case empty:
			return false
		case err == io.EOF:
			r.err = io.ErrUnexpectedEOF
			return true
		case err != nil:
			r.err = err
			return true
		}
		more, err := r.server.takeRead(class, *buf, n)
		readBuffers[class].Put(buf)
		if err != nil || !more {
			r.err = err
			return true
		}
		if n < len(*buf) {
			return false
		}
	}
}

// readRetrying is read(2), retried when a signal interrupts it.
func readRetrying(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// asReadError turns the error of RawConn.Read (a deadline, a closed
// socket), whose Op is "raw-read", into the one net.Conn.Read returns.
func asReadError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "raw-read" {
		read := *oe
		read.Op = "read"
		return &read
	}
	return err
}

// tryWrite writes p to the socket once, without waiting for room, and
// returns how much it took: all of p when the socket's buffer has room,
// less or nothing otherwise (an error is left for a blocking write to
// find and report).
func (r *rawReader) tryWrite(p []byte) int {
	n := 0
	r.raw.Write(func(fd uintptr) bool {
		for {
			m, err := syscall.Write(int(fd), p)
			if err == syscall.EINTR {
				continue
			}
			n = max(m, 0)
			return true // never wait
		}
	})
	return n
}
