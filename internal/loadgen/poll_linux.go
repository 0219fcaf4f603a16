package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// noSocket stands for a client without a socket.
const noSocket = -1

// errWouldBlock is a read of a socket with nothing waiting.
var errWouldBlock = errors.New("loadgen: no datagram waiting")

// poller owns the clients' sockets and the epoll set that watches them.
type poller struct {
	epoll  int
	server unix.Sockaddr
	family int
	events []unix.EpollEvent
	ready  []int
}

// newPoller makes the epoll set for clients of server.
func newPoller(server string) (*poller, error) {
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		return nil, fmt.Errorf("loadgen: server address: %w", err)
	}
	p := &poller{events: make([]unix.EpollEvent, 256)}
	if ap.Addr().Unmap().Is4() {
		p.family = unix.AF_INET
		p.server = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	} else {
		p.family = unix.AF_INET6
		p.server = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	p.epoll, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("loadgen: epoll: %w", err)
	}
	return p, nil
}

// open makes a non-blocking UDP socket connected to the server, watched
// for client, and returns its descriptor.
func (p *poller) open(client int) (int, error) {
	fd, err := unix.Socket(p.family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return noSocket, fmt.Errorf("loadgen: socket: %w", err)
	}
	if err := unix.Connect(fd, p.server); err != nil {
		unix.Close(fd)
		return noSocket, fmt.Errorf("loadgen: connect: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(client)}
	if err := unix.EpollCtl(p.epoll, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return noSocket, fmt.Errorf("loadgen: epoll_ctl: %w", err)
	}
	return fd, nil
}

// wait returns the clients whose sockets have datagrams, waiting up to d
// for one (at least a millisecond, epoll's unit, when d is positive).
func (p *poller) wait(d time.Duration) ([]int, error) {
	ms := int((d + time.Millisecond - 1) / time.Millisecond)
	n, err := unix.EpollWait(p.epoll, p.events, max(ms, 0))
	if errors.Is(err, unix.EINTR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: epoll_wait: %w", err)
	}
	p.ready = p.ready[:0]
	for _, ev := range p.events[:n] {
		p.ready = append(p.ready, int(ev.Fd))
	}
	return p.ready, nil
}

// read reads one datagram from fd into buf.
func (p *poller) read(fd int, buf []byte) (int, error) {
	n, err := unix.Read(fd, buf)
	if errors.Is(err, unix.EAGAIN) {
		return 0, errWouldBlock
	}
	return n, err
}

// write sends one datagram on fd.
func (p *poller) write(fd int, b []byte) error {
	if fd == noSocket {
		return errors.New("loadgen: no socket")
	}
	_, err := unix.Write(fd, b)
	return err
}

// close closes fd, which leaves the epoll set with it.
func (p *poller) close(fd int) { unix.Close(fd) }

// shutdown closes the epoll set.
func (p *poller) shutdown() error { return unix.Close(p.epoll) }
