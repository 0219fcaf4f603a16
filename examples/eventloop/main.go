// Command eventloop serves many DTLS clients on one UDP socket from a
// single goroutine, by driving fsm.Conns directly: no dtls.Conn, no
// goroutine or timer per connection. It is the shape of an application
// that owns its event loop (a media server, a game server) and hands tlsm
// the datagrams it reads and the time.
//
//	go run ./examples/eventloop -listen 127.0.0.1:4444
//
// Every line a client sends is echoed back in upper case.
//
// With -clients, it runs that many DTLS clients against its own server,
// both in this process: the clients are fsm.Conns too, driven from one
// other goroutine (internal/loadgen: a UDP socket each, one epoll set,
// one timer heap). Each handshakes, sends a line and checks the echo.
//
//	go run ./examples/eventloop -clients 10000
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/timers"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:4444", "UDP address to serve on")
	clients := flag.Int("clients", 0, "run this many clients against the server, from one goroutine, and report")
	inFlight := flag.Int("inflight", 64, "with -clients, handshakes under way at once")
	flag.Parse()
	if *clients > 0 {
		if err := runClients(*clients, *inFlight, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "eventloop:", err)
			os.Exit(1)
		}
		return
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventloop:", err)
		os.Exit(1)
	}
	cert, err := selfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventloop:", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	log.Info("listening", "addr", pc.LocalAddr().String())
	loop := newLoop(pc, &fsm.Config{Certificates: []fsm.Certificate{cert}}, log)
	if err := loop.run(nil); err != nil {
		fmt.Fprintln(os.Stderr, "eventloop:", err)
		os.Exit(1)
	}
}

// maxPeers bounds the connections one loop keeps.
const maxPeers = 20000

// peer is one client: its Conn and the timer it asked for.
type peer struct {
	addr     net.Addr
	conn     *fsm.Conn
	deadline time.Time
	gone     bool // closed and forgotten: its timers are void
}

// loop owns the socket and every Conn.
type loop struct {
	pc     net.PacketConn
	cfg    *fsm.Config
	log    *slog.Logger
	peers  map[string]*peer
	timers timers.Queue[*peer]
	buf    []byte
}

func newLoop(pc net.PacketConn, cfg *fsm.Config, log *slog.Logger) *loop {
	return &loop{pc: pc, cfg: cfg, log: log, peers: map[string]*peer{}, buf: make([]byte, 65536)}
}

// run reads datagrams until the socket closes or stop is closed. The read
// deadline is the earliest timer any Conn asked for, so timeouts are
// handled by the same goroutine.
func (l *loop) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		l.pc.SetReadDeadline(l.nextDeadline())
		n, addr, err := l.pc.ReadFrom(l.buf)
		now := time.Now()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			l.fireTimers(now)
			continue
		case errors.Is(err, net.ErrClosed):
			return nil
		case err != nil:
			return err
		}
		l.handle(now, addr, l.buf[:n])
		l.fireTimers(now)
	}
}

// nextDeadline is the earliest timer, or a second from now.
func (l *loop) nextDeadline() time.Time {
	next := time.Now().Add(time.Second)
	if at, ok := l.timers.Next(); ok && at.Before(next) {
		next = at
	}
	return next
}

// handle routes one datagram. A new address gets no Conn until it proves,
// with the cookie, that it receives at that address (fsm.VerifyHello).
func (l *loop) handle(now time.Time, addr net.Addr, d []byte) {
	key := addr.String()
	p, ok := l.peers[key]
	if !ok {
		reply, accept := fsm.VerifyHello(l.cfg, []byte(key), now, d)
		if len(reply) > 0 {
			l.pc.WriteTo(reply, addr)
		}
		if !accept || len(l.peers) >= maxPeers {
			return
		}
		p = &peer{addr: addr, conn: fsm.NewDTLSServer(l.cfg, []byte(key))}
		l.peers[key] = p
		l.log.Info("new peer", "addr", key, "peers", len(l.peers))
	}
	p.conn.HandleDatagram(now, d)
	l.drain(now, p)
}

// fireTimers hands the time to every Conn whose timer has passed. A
// timer whose Conn has since asked for another time, or is gone, is
// skipped.
func (l *loop) fireTimers(now time.Time) {
	for t, ok := l.timers.PopDue(now); ok; t, ok = l.timers.PopDue(now) {
		p := t.Key
		if p.gone || !p.deadline.Equal(t.At) {
			continue
		}
		p.deadline = time.Time{}
		p.conn.HandleTimeout(now)
		l.drain(now, p)
	}
}

// drain acts on a Conn's events: datagrams go out, lines come back in
// upper case, timers are noted, closed Conns are forgotten.
func (l *loop) drain(now time.Time, p *peer) {
	for ev := p.conn.NextEvent(); ev.Kind != fsm.EventNone; ev = p.conn.NextEvent() {
		switch ev.Kind {
		case fsm.EventTransmit:
			l.pc.WriteTo(ev.Data, p.addr)
		case fsm.EventTimer:
			p.deadline = ev.Deadline
			if !ev.Deadline.IsZero() {
				l.timers.Push(ev.Deadline, p)
			}
		case fsm.EventData:
			reply := bytes.ToUpper(ev.Data)
			// Write queues more events, which this loop drains next.
			p.conn.Write(now, reply)
		case fsm.EventHandshakeDone:
			l.log.Info("handshake", "addr", p.addr.String(), "version", fsm.VersionName(ev.Version),
				"cipher", fsm.CipherSuiteName(ev.Suite))
		case fsm.EventClosed:
			if ev.Err == nil {
				p.conn.Close(now)
				for ev := p.conn.NextEvent(); ev.Kind != fsm.EventNone; ev = p.conn.NextEvent() {
					if ev.Kind == fsm.EventTransmit {
						l.pc.WriteTo(ev.Data, p.addr)
					}
				}
			}
			delete(l.peers, p.addr.String())
			p.gone = true
			l.log.Info("closed", "addr", p.addr.String(), "err", ev.Err)
			return
		}
	}
}

// selfSigned makes an ECDSA P-256 certificate for localhost.
func selfSigned() (fsm.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fsm.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fsm.Certificate{}, err
	}
	return fsm.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
