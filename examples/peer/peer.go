package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/tls"
)

const (
	dialTimeout      = 10 * time.Second
	handshakeTimeout = 30 * time.Second
	// closeWait bounds how long we wait for the peer's close_notify (or
	// for it to hang up) after sending ours.
	closeWait = 3 * time.Second
)

// peer is one run of the program: a client connection, or a server's
// connections one after another.
type peer struct {
	opts   *options
	cfg    *fsm.Config
	log    *slog.Logger
	stdout io.Writer
	// lines delivers stdin; it is set to nil once stdin is exhausted.
	lines <-chan string
}

func (p *peer) isClient() bool { return p.opts.connect != "" }

// conn is what a session needs of a *tls.Conn or a *dtls.Conn.
type conn interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	Handshake() error
	HandshakeContext(ctx context.Context) error
	OnEvent(f func(fsm.Event))
	ConnectionState() fsm.ConnectionState
	Renegotiate() error
	RenegotiateAbbreviated() error
	KeyUpdate(t fsm.KeyUpdateType) error
	// CloseWrite sends close_notify. TLS keeps the socket open for the
	// peer's answer; DTLS closes the Conn, as its close_notify is the last
	// thing it sends and Read returns one record at a time anyway.
	CloseWrite() error
}

// dtlsConn adapts a *dtls.Conn to conn.
type dtlsConn struct{ *dtls.Conn }

func (c dtlsConn) CloseWrite() error { return c.Conn.Close() }

// dial opens a client connection, its handshake not yet run; abort
// closes it without ceremony.
func (p *peer) dial() (c conn, abort func(), err error) {
	d := net.Dialer{Timeout: dialTimeout}
	if !p.opts.dtls {
		raw, err := d.Dial("tcp", p.opts.connect)
		if err != nil {
			return nil, nil, err
		}
		return tls.Client(raw, p.cfg), func() { raw.Close() }, nil
	}
	// dtls.DialContext would run the handshake before OnEvent could be
	// set, so the client is put on a dialed socket here as it does.
	raw, err := d.Dial("udp", p.opts.connect)
	if err != nil {
		return nil, nil, err
	}
	dc := dtls.Client(raw.(net.PacketConn), raw.RemoteAddr(), p.cfg)
	return dtlsConn{dc}, func() { dc.Close() }, nil
}

func (p *peer) client() int {
	for range p.opts.reconnect {
		if !p.shortConnection() {
			return 1
		}
	}
	c, abort, err := p.dial()
	if err != nil {
		p.log.Info("error", "err", err.Error())
		return 1
	}
	if ok, _ := p.serve(c, abort); !ok {
		return 1
	}
	return 0
}

// ticketWait bounds how long a short connection waits for data, such as
// the TLS 1.3 tickets that follow the handshake, before closing.
const ticketWait = 300 * time.Millisecond

// shortConnection connects, handshakes, takes what the server sends in a
// short while (its tickets), and closes: a session to resume.
func (p *peer) shortConnection() bool {
	c, abort, err := p.dial()
	if err != nil {
		p.log.Info("error", "err", err.Error())
		return false
	}
	defer abort()
	s := &session{p: p, conn: c}
	c.OnEvent(s.logEvent)
	if !s.handshake() {
		return false
	}
	c.SetReadDeadline(time.Now().Add(ticketWait))
	buf := make([]byte, readBuffer)
	for {
		n, err := c.Read(buf)
		p.stdout.Write(buf[:n])
		if err != nil {
			break
		}
	}
	c.SetDeadline(time.Now().Add(closeWait))
	c.CloseWrite()
	p.log.Info("closed")
	return true
}

func (p *peer) server() int {
	var (
		l   net.Listener
		err error
	)
	if p.opts.dtls {
		l, err = dtls.Listen("udp", p.opts.listen, p.cfg)
	} else {
		l, err = net.Listen("tcp", p.opts.listen)
	}
	if err != nil {
		p.log.Info("error", "err", err.Error())
		return 1
	}
	defer l.Close()
	p.log.Info("listening", "addr", l.Addr().String())
	status := 0
	for range p.opts.accept {
		raw, err := l.Accept()
		if err != nil {
			p.log.Info("error", "err", err.Error())
			return 1
		}
		var c conn
		abort := func() { raw.Close() }
		if dc, ok := raw.(*dtls.Conn); ok {
			c = dtlsConn{dc}
		} else {
			c = tls.Server(raw, p.cfg)
		}
		ok, quit := p.serve(c, abort)
		if !ok {
			status = 1
		}
		if quit {
			break
		}
	}
	return status
}

// session is one connection.
type session struct {
	p    *peer
	conn conn
	// wmu serialises writers: stdin lines, echoes, close_notify and the
	// commands that start handshake messages.
	wmu    sync.Mutex
	failed bool
	// handshakeLogged is set once an EventHandshakeDone was logged. A DTLS
	// listener runs a handshake before Accept returns its Conn, so its
	// events may come before OnEvent is set.
	handshakeLogged atomic.Bool
}

// handshake runs the first handshake and reports whether it succeeded.
func (s *session) handshake() bool {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := s.conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.fail(err)
		return false
	}
	cs := s.conn.ConnectionState()
	if !s.handshakeLogged.Load() {
		s.logHandshake(cs.Version, cs.CipherSuite, cs.CurveID, cs.DidResume, cs.Handshakes)
	}
	if cs.ConnectionIDNegotiated {
		s.p.log.Info("connection_id", "local", cidText(cs.ConnectionID), "peer", cidText(cs.PeerConnectionID))
	}
	return true
}

// serve runs one connection until it closes. ok is false after a fatal
// alert or error; quit is true when stdin asked to end the program. abort
// closes the connection without close_notify.
func (p *peer) serve(c conn, abort func()) (ok, quit bool) {
	s := &session{p: p, conn: c}
	defer func() {
		abort()
		p.log.Info("closed")
	}()

	c.OnEvent(s.logEvent)
	if !s.handshake() {
		return false, false
	}

	readDone := make(chan error, 1)
	go s.readLoop(readDone)
	for {
		select {
		case line, more := <-p.lines:
			if !more {
				p.lines = nil
				if p.isClient() {
					// Like s_client: end of input closes the connection.
					return s.shutdown(readDone), false
				}
				// A server keeps serving until the client closes.
				continue
			}
			cmd := strings.TrimRight(line, "\r\n")
			switch cmd {
			case "R", "A":
				if err := s.renegotiate(cmd == "A"); err != nil {
					p.log.Info("error", "err", err.Error())
				}
			case "k", "K":
				if err := s.keyUpdate(cmd == "K"); err != nil {
					p.log.Info("error", "err", err.Error())
				}
			case "Q":
				return s.shutdown(readDone), true
			default:
				if err := s.write([]byte(line)); err != nil {
					s.fail(err)
					abort()
					<-readDone
					return false, false
				}
			}
		case err := <-readDone:
			if err == io.EOF {
				// The peer's close_notify: answer it.
				_ = s.sendClose() // the peer may already have hung up
				return true, false
			}
			s.fail(err)
			return false, false
		}
	}
}

// renegotiate schedules a renegotiation and, as s_client's R does, starts
// it at once: a client sends its ClientHello, a server a HelloRequest. The
// read loop takes the rest of the handshake.
func (s *session) renegotiate(abbreviated bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	schedule := s.conn.Renegotiate
	if abbreviated {
		schedule = s.conn.RenegotiateAbbreviated
	}
	if err := schedule(); err != nil {
		return err
	}
	return s.conn.Handshake()
}

// keyUpdate schedules a key update and, as s_client's k and K do, sends it
// at once.
func (s *session) keyUpdate(requested bool) error {
	t := tls.UpdateNotRequested
	if requested {
		t = tls.UpdateRequested
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.conn.KeyUpdate(t); err != nil {
		return err
	}
	return s.conn.Handshake()
}

// logEvent turns the core's events into the log lines of the contract. It
// runs with the connection locked and must not call back into it.
func (s *session) logEvent(ev fsm.Event) {
	log := s.p.log
	switch ev.Kind {
	case fsm.EventHandshakeDone:
		s.logHandshake(ev.Version, ev.Suite, ev.Group, ev.Resumed, ev.Handshake)
		s.handshakeLogged.Store(true)
	case fsm.EventAlertSent:
		s.alert("sent", ev.Level.String(), ev.Alert.String())
	case fsm.EventAlertReceived:
		s.alert("received", ev.Level.String(), ev.Alert.String())
	case fsm.EventKeyUpdateSent:
		log.Info("key_update", "dir", "sent", "type", ev.KeyUpdate.String())
	case fsm.EventKeyUpdateReceived:
		log.Info("key_update", "dir", "received", "type", ev.KeyUpdate.String())
	case fsm.EventRenegotiationRequested:
		// A server sends the HelloRequest, a client receives it.
		dir := "sent"
		if s.p.isClient() {
			dir = "received"
		}
		log.Info("renegotiation", "event", "requested", "dir", dir)
	case fsm.EventRenegotiationStarted:
		log.Info("renegotiation", "event", "started", "resumed", ev.Resumed)
	}
}

// cidText is a Connection ID in hex, or "none" when empty.
func cidText(cid []byte) string {
	if len(cid) == 0 {
		return "none"
	}
	return hex.EncodeToString(cid)
}

// logHandshake logs a completed handshake: the line of the peer contract,
// then one naming its key exchange group.
func (s *session) logHandshake(version, suite uint16, group fsm.CurveID, resumed bool, n int) {
	s.p.log.Info("handshake", "version", fsm.VersionName(version), "cipher", fsm.CipherSuiteName(suite),
		"resumed", resumed, "n", n)
	s.p.log.Info("key_exchange", "group", group)
}

// readBuffer holds any TLS read and any DTLS record, so that a DTLS Read
// never fails with ErrShortBuffer.
const readBuffer = 64 << 10

// readLoop copies application data to stdout (and back to the peer with
// -echo: TLS line by line, DTLS record by record) until Read fails; io.EOF
// means close_notify.
func (s *session) readLoop(done chan<- error) {
	buf := make([]byte, readBuffer)
	var line []byte // with -echo over TLS: received bytes not yet echoed
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			s.p.stdout.Write(buf[:n])
			switch {
			case !s.p.opts.echo:
			case s.p.opts.dtls:
				if werr := s.write(buf[:n]); werr != nil {
					done <- werr
					return
				}
			default:
				line = append(line, buf[:n]...)
				if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
					if werr := s.write(line[:i+1]); werr != nil {
						done <- werr
						return
					}
					line = append(line[:0], line[i+1:]...)
				}
			}
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				// An unterminated last line: echo it before our close_notify,
				// as far as the peer still listens.
				_ = s.write(line)
			}
			done <- err
			return
		}
	}
}

func (s *session) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.conn.Write(b)
	return err
}

// sendClose sends close_notify and reports whether it reached the socket.
// A peer that hung up right after its own close_notify is not an error.
func (s *session) sendClose() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.CloseWrite()
}

// shutdown closes the connection on our initiative: close_notify, then a
// short wait for the peer's.
func (s *session) shutdown(readDone <-chan error) bool {
	if err := s.sendClose(); err != nil {
		s.fail(err)
		return false
	}
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	select {
	case err := <-readDone:
		var ae *fsm.AlertError
		switch {
		case err == io.EOF:
		case errors.As(err, &ae):
			s.fail(err)
			return false
		default:
			// The peer hung up without close_notify after hearing ours.
		}
	case <-timer.C:
	}
	return true
}

func (s *session) alert(dir, level, desc string) {
	s.p.log.Info("alert", "dir", dir, "level", level, "desc", desc)
}

// fail logs the error that ended the connection, once (its alert was
// logged as an event).
func (s *session) fail(err error) {
	if s.failed {
		return
	}
	s.failed = true
	s.p.log.Info("error", "err", err.Error())
}
