//go:build unix

package tls

import (
	"errors"
	"io"
	"net"
	"os"
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
	pool := &readBuffers[r.class]
	buf := pool.Get().(*[]byte)
	n, err := readRetrying(int(fd), *buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		pool.Put(buf)
		return false
	case err != nil:
		pool.Put(buf)
		r.err = opError(r.conn, "read", os.NewSyscallError("read", err))
	case n == 0:
		pool.Put(buf)
		r.err = io.EOF
	default:
		r.buf, r.n = buf, n
	}
	return true
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
