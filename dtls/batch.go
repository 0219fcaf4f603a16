//go:build linux

package dtls

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched datagram I/O: a *net.UDPConn is read with recvmmsg, up to
// batchLen datagrams a system call, each into a buffer that holds the
// largest, and a flush of several datagrams goes out with sendmmsg. The
// system calls run in the callbacks of the socket's syscall.RawConn, so
// the runtime's poller waits, with the socket's deadlines, as it does for
// ReadFrom and WriteTo. The source of a datagram is decoded from its
// sockaddr into a netip.AddrPort, so that a batch costs no allocation
// (golang.org/x/net's ReadBatch makes a net.UDPAddr for every datagram).
// Other sockets, among them types that wrap a *net.UDPConn, are read and
// written a datagram at a time.

const (
	// batchLen is the most datagrams one recvmmsg reads.
	batchLen = 8
	// sendBatchLen is the most datagrams one sendmmsg writes.
	sendBatchLen = 16
	// sockaddrLen is the room for an address: a sockaddr_in6, which
	// holds a sockaddr_in too.
	sockaddrLen = unix.SizeofSockaddrInet6
)

// batchSocket is a UDP socket read and written a batch of datagrams per
// system call. One goroutine at a time reads it; any may write.
type batchSocket struct {
	raw syscall.RawConn
	// laddr and raddr name the socket in errors, as package net does;
	// raddr is nil unless the socket is connected.
	laddr, raddr net.Addr
	// inet6 is set for an AF_INET6 socket (IPv6, or dual stack), which
	// takes IPv4 destinations in their IPv4-mapped form.
	inet6 bool

	// own is the batch of a socket that keeps its buffers (a
	// listener's); nil when each read borrows one, and vlen buffers.
	// vlen grows while reads find datagrams waiting and fill every
	// buffer, and falls back to what the last read took, so that a Conn
	// that waits for each datagram borrows one buffer.
	own  *recvBatch
	vlen int
	// The state of the read under way: its batch, the datagrams it read,
	// whether it found none at first and waited, the system call's error;
	// readFn is recvmmsg bound once.
	cur    *recvBatch
	got    int
	waited bool
	errno  syscall.Errno
	readFn func(fd uintptr) bool
	// server is what serve hands batches to, while it runs; begun is set
	// once its beginServe ran, stopErr is the error that ended it.
	server  batchServer
	begun   bool
	stopErr error
	// polling makes read return at once when nothing waits (poll).
	polling bool

	// The system calls and datagrams, read and written, and the reads
	// that found nothing.
	recvCalls, received, emptyReads, sendCalls, sent atomic.Uint64
}

// newBatchSocket returns a batchSocket for pconn when it is a
// *net.UDPConn, else nil. With own set, the socket keeps batchLen
// receive buffers; without, a read borrows them from datagramBuffers:
// one for its length, as a read of one datagram does, and the others,
// as many as the reads before suggest, only while there are datagrams
// to read.
func newBatchSocket(pconn net.PacketConn, own bool) *batchSocket {
	u, ok := pconn.(*net.UDPConn)
	if !ok {
		return nil
	}
	raw, err := u.SyscallConn()
	if err != nil {
		return nil
	}
	domain := 0
	cerr := raw.Control(func(fd uintptr) {
		domain, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	})
	if cerr != nil || err != nil || domain != unix.AF_INET && domain != unix.AF_INET6 {
		return nil
	}
	s := &batchSocket{raw: raw, laddr: u.LocalAddr(), raddr: u.RemoteAddr(), inet6: domain == unix.AF_INET6, vlen: 1}
	if own {
		s.own, s.vlen = newRecvBatch(), batchLen
		s.own.ownBuffers()
	}
	s.readFn = s.recvmmsg
	return s
}

// read waits for datagrams and reads up to a batch of them into b; the
// caller hands b back to release when done with them.
func (s *batchSocket) read() (b *recvBatch, n int, err error) {
	s.cur, s.got, s.waited, s.errno = s.borrow(), 0, false, 0
	err = s.raw.Read(s.readFn)
	if err == nil && s.errno != 0 {
		err = os.NewSyscallError("recvmmsg", s.errno)
	}
	if err != nil {
		s.giveBack(s.cur)
		return nil, 0, s.opError("read", err)
	}
	return s.cur, s.got, nil
}

// batchServer is what batchSocket.serve hands its batches to.
// beginServe runs once, as the wait begins: quiet means that what it sent
// is what the first datagram can only answer, and an error ends serve.
// takeBatch takes the n datagrams of b and says whether to read on.
type batchServer interface {
	beginServe() (quiet bool, err error)
	takeBatch(b *recvBatch, n int) (more bool)
}

// poll is read without the wait: n is 0 when no datagram waits.
func (s *batchSocket) poll() (b *recvBatch, n int, err error) {
	s.polling = true
	defer func() { s.polling = false }()
	return s.read()
}

// serve reads the socket for as long as to asks, all within one wait of
// the runtime's poller (one RawConn.Read), handing to each batch it
// reads. The poller tells a wait of every datagram that arrives after it
// began, so after a read that left the socket empty (fewer datagrams than
// it had room for) serve waits for the next one instead of trying a read
// that would find nothing. The first try reads, a datagram having perhaps
// come before the wait began, unless to's beginServe is quiet. to runs in
// the RawConn's callback: it may write to the socket, not close it. A
// read borrows at least two buffers, so that a read of one datagram tells
// that the socket is empty, and keeps those that got one while to takes
// them; waiting, serve holds one, as read does.
func (s *batchSocket) serve(to batchServer) error {
	s.server, s.begun, s.cur, s.errno, s.stopErr = to, false, s.borrow(), 0, nil
	err := s.raw.Read(s.readFn)
	s.giveBack(s.cur)
	errno, stopErr := s.errno, s.stopErr
	s.server, s.cur, s.stopErr = nil, nil, nil
	if err == nil && errno != 0 {
		err = os.NewSyscallError("recvmmsg", errno)
	}
	if err != nil {
		return s.opError("read", err)
	}
	return stopErr
}

// serveRead is the callback of serve.
func (s *batchSocket) serveRead(fd uintptr) bool {
	if !s.begun {
		s.begun = true
		quiet, err := s.server.beginServe()
		if err != nil || quiet {
			s.stopErr = err
			return err != nil
		}
	}
	b := s.cur
	for {
		room := s.vlen
		if b != s.own {
			room = max(room, 2)
			s.vlen = room
		}
		b.prepare(room)
		n, e, done := mmsg(unix.SYS_RECVMMSG, fd, &b.hdrs[0], room)
		if !done || e != 0 {
			s.keepOne(b)
			if !done {
				s.emptyReads.Add(1)
			}
			s.errno = e
			return done
		}
		s.recvCalls.Add(1)
		s.received.Add(uint64(n))
		s.got, s.waited = n, false
		if b != s.own {
			b.returnBuffers(max(n, 1)) // those left empty
		}
		more := s.server.takeBatch(b, n)
		s.adapt()
		s.keepOne(b)
		if !more || n < room {
			return !more
		}
	}
}

// keepOne hands back the buffers a read borrowed past the first.
func (s *batchSocket) keepOne(b *recvBatch) {
	if b != s.own {
		b.returnBuffers(1)
	}
}

// recvmmsg is the callback of read: it reads what the socket holds, up
// to vlen datagrams. The buffers past the first are borrowed for each
// attempt and handed back when it finds nothing, so a reader waiting
// holds one, as a read of one datagram does.
func (s *batchSocket) recvmmsg(fd uintptr) bool {
	if s.server != nil {
		return s.serveRead(fd)
	}
	b := s.cur
	b.prepare(s.vlen)
	n, e, done := mmsg(unix.SYS_RECVMMSG, fd, &b.hdrs[0], s.vlen)
	if !done {
		s.emptyReads.Add(1)
		if b != s.own {
			b.returnBuffers(1)
		}
		s.waited = true
		return s.polling
	}
	if e == 0 {
		s.recvCalls.Add(1)
		s.received.Add(uint64(n))
	}
	s.got, s.errno = n, e
	return true
}

// mmsg runs the system call trap (recvmmsg, sendmmsg) on fd for the n
// message headers from hdrs, again when a signal interrupts it. It
// returns the messages done and the error, or done false when the
// socket would block.
func mmsg(trap, fd uintptr, hdrs *unix.Mmsghdr, n int) (got int, errno syscall.Errno, done bool) {
	for {
		r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(hdrs)), uintptr(n), 0, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, 0, false
		case 0:
			return int(r), 0, true
		}
		return 0, e, true
	}
}

// borrow returns the batch for a read: the socket's own, or one from the
// pool with the buffer of its first slot.
func (s *batchSocket) borrow() *recvBatch {
	if s.own != nil {
		return s.own
	}
	b := recvBatches.Get().(*recvBatch)
	b.prepare(1)
	return b
}

// giveBack returns a borrowed batch and its buffers.
func (s *batchSocket) giveBack(b *recvBatch) {
	if b != s.own {
		b.returnBuffers(0)
		recvBatches.Put(b)
	}
}

// release hands back a batch that read returned, and sets how many
// datagrams the next read takes from how this one went.
func (s *batchSocket) release(b *recvBatch) {
	s.adapt()
	s.giveBack(b)
}

// adapt sets how many datagrams the next read of a socket without
// buffers of its own takes: more while reads fill every buffer without
// waiting, else what the last read took.
func (s *batchSocket) adapt() {
	if s.own == nil {
		if s.got >= s.vlen && !s.waited {
			s.vlen = min(2*s.vlen, batchLen)
		} else {
			s.vlen = max(s.got, 1)
		}
	}
}

// sendable reports whether a flush to the peer at to can go out in
// batches: to the peer of a connected socket, for a Conn that writes to
// it alone (then dst is nil), or from an unconnected socket to a UDP
// address of its family without a zone.
func (s *batchSocket) sendable(to net.Addr, connected bool) (dst *net.UDPAddr, ok bool) {
	if connected || s.raddr != nil {
		return nil, connected && s.raddr != nil
	}
	u, ok := to.(*net.UDPAddr)
	if !ok || u.Zone != "" || u.Port < 0 || u.Port > 0xffff {
		return nil, false
	}
	if s.inet6 {
		return u, u.IP.To16() != nil
	}
	return u, u.IP.To4() != nil
}

// send writes the datagrams of d to dst (nil on a connected socket), as
// many a system call as sendmmsg takes. A datagram that fails is lost
// and the rest still go, unless the socket is closed; send returns the
// first error.
func (s *batchSocket) send(d *datagrams, dst *net.UDPAddr) error {
	b := sendBatches.Get().(*sendBatch)
	defer sendBatches.Put(b)
	defer b.clear()
	b.setName(dst, s.inet6)
	var first error
	for i := 0; i < len(d.ends); {
		b.pack(d, i)
		n, err := s.write(b)
		if err != nil {
			if first == nil {
				first = err
			}
			if errors.Is(err, net.ErrClosed) {
				break
			}
		}
		i += max(n, 1) // after an error, the first datagram is lost
	}
	return first
}

// write runs one sendmmsg of b and returns how many datagrams it sent.
func (s *batchSocket) write(b *sendBatch) (int, error) {
	b.sent, b.errno = 0, 0
	if err := s.raw.Write(b.writeFn); err != nil {
		return 0, s.opError("write", err)
	}
	if b.errno != 0 {
		return 0, s.opError("write", os.NewSyscallError("sendmmsg", b.errno))
	}
	s.sendCalls.Add(1)
	s.sent.Add(uint64(b.sent))
	return b.sent, nil
}

// counts returns the system calls and datagrams of s, read and written
// in batches.
func (s *batchSocket) counts() ioCounts {
	return ioCounts{
		recvCalls: s.recvCalls.Load(), received: s.received.Load(), emptyReads: s.emptyReads.Load(),
		sendCalls: s.sendCalls.Load(), sent: s.sent.Load(),
	}
}

// opError describes a failure as package net does for the socket, with
// the error of the poller (a deadline, a closed socket) or the system
// call underneath that of the RawConn.
func (s *batchSocket) opError(op string, err error) error {
	var raw *net.OpError
	if errors.As(err, &raw) {
		err = raw.Err
	}
	return &net.OpError{Op: op, Net: s.laddr.Network(), Source: s.laddr, Addr: s.raddr, Err: err}
}

// recvBatch is the memory of a batched read: batchLen message headers,
// and the buffers they point to, each of maxDatagram bytes.
type recvBatch struct {
	hdrs  [batchLen]unix.Mmsghdr
	iovs  [batchLen]unix.Iovec
	names [batchLen][sockaddrLen]byte
	bufs  [batchLen]*[]byte
}

// recvBatches lends batches, without buffers, to the reads of Conns that
// read their own socket.
var recvBatches = sync.Pool{New: func() any { return newRecvBatch() }}

// newRecvBatch returns a batch whose headers point at their address and
// buffer slots.
func newRecvBatch() *recvBatch {
	b := new(recvBatch)
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Name, h.Iov = &b.names[i][0], &b.iovs[i]
		h.SetIovlen(1)
	}
	return b
}

// ownBuffers gives b buffers of its own.
func (b *recvBatch) ownBuffers() {
	for i := range b.bufs {
		buf := make([]byte, maxDatagram)
		b.bufs[i] = &buf
	}
}

// prepare readies the first n slots for a read, borrowing the buffers
// they lack; the read sets the lengths and the flags.
func (b *recvBatch) prepare(n int) {
	for i := range n {
		if b.bufs[i] == nil {
			b.bufs[i] = datagramBuffers.Get().(*[]byte)
		}
		buf := *b.bufs[i]
		b.iovs[i].Base = &buf[0]
		b.iovs[i].SetLen(len(buf))
		b.hdrs[i].Hdr.Namelen = sockaddrLen
		b.hdrs[i].Hdr.Flags = 0
		b.hdrs[i].Len = 0
	}
}

// returnBuffers hands back the borrowed buffers of the slots from the
// first-th on.
func (b *recvBatch) returnBuffers(first int) {
	for i := first; i < batchLen; i++ {
		if buf := b.bufs[i]; buf != nil {
			datagramBuffers.Put(buf)
			b.bufs[i], b.iovs[i].Base = nil, nil
		}
	}
}

// datagram returns the i-th datagram read and its source; ok is false
// for a datagram cut short (the buffers hold the largest, so it cannot
// be) or from an address of another family.
func (b *recvBatch) datagram(i int) (d []byte, src source, ok bool) {
	h := &b.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 || int(h.Len) > maxDatagram {
		return nil, source{}, false
	}
	src.ap, ok = addrPortOf(b.names[i][:min(int(h.Hdr.Namelen), sockaddrLen)])
	return (*b.bufs[i])[:h.Len], src, ok
}

// addrPortOf decodes a sockaddr_in or sockaddr_in6 as package net does:
// an IPv4 source on an IPv6 socket stays in its IPv4-mapped form.
func addrPortOf(sa []byte) (netip.AddrPort, bool) {
	if len(sa) < unix.SizeofSockaddrInet4 {
		return netip.AddrPort{}, false
	}
	port := binary.BigEndian.Uint16(sa[2:4])
	switch binary.NativeEndian.Uint16(sa[0:2]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port), true
	case unix.AF_INET6:
		if len(sa) < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, false
		}
		ip := netip.AddrFrom16([16]byte(sa[8:24]))
		if id := binary.NativeEndian.Uint32(sa[24:28]); id != 0 {
			ip = ip.WithZone(zoneName(id))
		}
		return netip.AddrPortFrom(ip, port), true
	}
	return netip.AddrPort{}, false
}

// zones holds the names of the interfaces that link-local sources came
// in by, by index, so that a source is named without allocating once its
// interface has been seen.
var zones struct {
	sync.Mutex
	names map[uint32]string
}

// zoneName returns the name of the interface of index id, or the index
// in decimal when there is none.
func zoneName(id uint32) string {
	zones.Lock()
	defer zones.Unlock()
	if name, ok := zones.names[id]; ok {
		return name
	}
	ifi, err := net.InterfaceByIndex(int(id))
	if err != nil {
		return strconv.FormatUint(uint64(id), 10) // not kept: the next may find it
	}
	if zones.names == nil {
		zones.names = make(map[uint32]string)
	}
	zones.names[id] = ifi.Name
	return ifi.Name
}

// sendBatch is the memory of one sendmmsg: message headers pointing into
// the datagrams of a flush, all to one address, and the results of the
// system call.
type sendBatch struct {
	hdrs    [sendBatchLen]unix.Mmsghdr
	iovs    [sendBatchLen]unix.Iovec
	name    [sockaddrLen]byte
	namelen uint32
	count   int // headers in use
	sent    int
	errno   syscall.Errno
	writeFn func(fd uintptr) bool // sendmmsg bound once
}

// sendBatches lends batches to the sends of every socket.
var sendBatches = sync.Pool{New: func() any {
	b := new(sendBatch)
	b.writeFn = b.sendmmsg
	return b
}}

// setName sets the destination of every datagram: dst as a sockaddr of
// the socket's family, or none (a connected socket).
func (b *sendBatch) setName(dst *net.UDPAddr, inet6 bool) {
	clear(b.name[:])
	switch {
	case dst == nil:
		b.namelen = 0
	case inet6:
		binary.NativeEndian.PutUint16(b.name[0:2], unix.AF_INET6)
		binary.BigEndian.PutUint16(b.name[2:4], uint16(dst.Port))
		copy(b.name[8:24], dst.IP.To16())
		b.namelen = unix.SizeofSockaddrInet6
	default:
		binary.NativeEndian.PutUint16(b.name[0:2], unix.AF_INET)
		binary.BigEndian.PutUint16(b.name[2:4], uint16(dst.Port))
		copy(b.name[4:8], dst.IP.To4())
		b.namelen = unix.SizeofSockaddrInet4
	}
}

// pack points the headers at the datagrams of d from the i-th on, as
// many as a batch takes.
func (b *sendBatch) pack(d *datagrams, i int) {
	start := 0
	if i > 0 {
		start = d.ends[i-1]
	}
	var name *byte
	if b.namelen > 0 {
		name = &b.name[0]
	}
	b.count = min(len(d.ends)-i, sendBatchLen)
	for k := range b.count {
		end := d.ends[i+k]
		iov := &b.iovs[k]
		iov.Base = nil
		if end > start {
			iov.Base = &d.buf[start]
		}
		iov.SetLen(end - start)
		h := &b.hdrs[k]
		h.Hdr.Name, h.Hdr.Namelen, h.Hdr.Iov = name, b.namelen, iov
		h.Hdr.SetIovlen(1)
		start = end
	}
}

// clear drops the pointers into the datagrams sent, which the pool must
// not keep alive: all of them, as a flush of more than a batch leaves
// some from its first batch beyond the count of its last.
func (b *sendBatch) clear() {
	for k := range b.iovs {
		b.iovs[k].Base = nil
	}
	b.count = 0
}

// sendmmsg is the callback of write: it sends the packed datagrams, or
// as many as the socket takes.
func (b *sendBatch) sendmmsg(fd uintptr) bool {
	n, e, done := mmsg(unix.SYS_SENDMMSG, fd, &b.hdrs[0], b.count)
	b.sent, b.errno = n, e
	return done
}
