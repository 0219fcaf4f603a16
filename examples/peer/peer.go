package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

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

func (p *peer) client() int {
	for range p.opts.reconnect {
		if !p.shortConnection() {
			return 1
		}
	}
	raw, err := net.DialTimeout("tcp", p.opts.connect, dialTimeout)
	if err != nil {
		p.log.Info("error", "err", err.Error())
		return 1
	}
	if ok, _ := p.serve(tls.Client(raw, p.cfg), raw); !ok {
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
	raw, err := net.DialTimeout("tcp", p.opts.connect, dialTimeout)
	if err != nil {
		p.log.Info("error", "err", err.Error())
		return false
	}
	defer raw.Close()
	conn := tls.Client(raw, p.cfg)
	s := &session{p: p, conn: conn, raw: raw}
	conn.OnEvent(s.logEvent)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err = conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.fail(err)
		return false
	}
	conn.SetReadDeadline(time.Now().Add(ticketWait))
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		p.stdout.Write(buf[:n])
		if err != nil {
			break
		}
	}
	conn.SetDeadline(time.Now().Add(closeWait))
	conn.CloseWrite()
	p.log.Info("closed")
	return true
}

func (p *peer) server() int {
	l, err := net.Listen("tcp", p.opts.listen)
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
		ok, quit := p.serve(tls.Server(raw, p.cfg), raw)
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
	conn *tls.Conn
	raw  net.Conn
	// wmu serialises writers: stdin lines, echoes and close_notify.
	wmu    sync.Mutex
	failed bool
}

// serve runs one connection until it closes. ok is false after a fatal
// alert or error; quit is true when stdin asked to end the program.
func (p *peer) serve(conn *tls.Conn, raw net.Conn) (ok, quit bool) {
	s := &session{p: p, conn: conn, raw: raw}
	defer func() {
		raw.Close()
		p.log.Info("closed")
	}()

	conn.OnEvent(s.logEvent)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.fail(err)
		return false, false
	}
	cs := conn.ConnectionState()

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
				// TODO(renegotiation): TLS 1.2 renegotiation (R full, A
				// resuming; server: HelloRequest) once the core does TLS 1.2.
				p.log.Info("error", "err", renegotiationError(cs.Version))
			case "k", "K":
				if err := s.keyUpdate(cmd == "K"); err != nil {
					p.log.Info("error", "err", err.Error())
				}
			case "Q":
				return s.shutdown(readDone), true
			default:
				if err := s.write([]byte(line)); err != nil {
					s.fail(err)
					raw.Close()
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

func renegotiationError(version uint16) string {
	if version == fsm.VersionTLS13 {
		return "renegotiation is not supported with TLS 1.3"
	}
	return "renegotiation is not implemented yet"
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
		log.Info("handshake", "version", fsm.VersionName(ev.Version), "cipher", fsm.CipherSuiteName(ev.Suite),
			"resumed", ev.Resumed, "n", ev.Handshake)
	case fsm.EventAlertSent:
		s.alert("sent", ev.Level.String(), ev.Alert.String())
	case fsm.EventAlertReceived:
		s.alert("received", ev.Level.String(), ev.Alert.String())
	case fsm.EventKeyUpdateSent:
		log.Info("key_update", "dir", "sent", "type", ev.KeyUpdate.String())
	case fsm.EventKeyUpdateReceived:
		log.Info("key_update", "dir", "received", "type", ev.KeyUpdate.String())
	}
}

// readLoop copies application data to stdout (and back to the peer with
// -echo, line by line) until Read fails; io.EOF means close_notify.
func (s *session) readLoop(done chan<- error) {
	buf := make([]byte, 64<<10)
	var line []byte // with -echo: received bytes not yet echoed
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			s.p.stdout.Write(buf[:n])
			if s.p.opts.echo {
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
