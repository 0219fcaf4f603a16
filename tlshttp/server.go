// Package tlshttp runs net/http over tlsm: a server that serves HTTP/1.1
// and HTTP/2 on tlsm connections, and a client RoundTripper that speaks
// HTTP/2 to servers that pick it by ALPN and HTTP/1.1 to the others.
//
// net/http reaches TLS through *crypto/tls.Conn alone: it negotiates
// HTTP/2, runs handshakes with a timeout and logs their failures only for
// that type. This package does that part for tlsm's tls.Conn and hands
// the connections on: HTTP/1.1 to the http.Server itself, HTTP/2 to
// golang.org/x/net/http2, the maintained HTTP/2 implementation that
// net/http's own is a copy of and the one that takes connections of any
// type. Handlers see Request.TLS as crypto/tls would fill it (see
// fsm.ConnectionState.ToTLS).
package tlshttp

//lint:file-ignore SA1019 x/net/http2's Server and Transport are deprecated in favour of net/http's own HTTP/2, which on Go 1.26 serves and dials only *crypto/tls.Conn; they are the supported route for any net.Conn, and from Go 1.27 x/net runs them on net/http's implementation.

import (
	"context"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/tlsm/tlsm/tls"
)

// DefaultHandshakeTimeout bounds a server's TLS handshake when the
// http.Server sets neither ReadHeaderTimeout nor ReadTimeout.
const DefaultHandshakeTimeout = 10 * time.Second

// Conn is a tlsm connection as net/http and x/net/http2 see it: a
// net.Conn whose ConnectionState is crypto/tls's, which they put in
// Request.TLS and Response.TLS.
type Conn struct {
	*tls.Conn
}

// ConnectionState returns the connection's state as crypto/tls's.
func (c Conn) ConnectionState() gotls.ConnectionState {
	return c.Conn.ConnectionState().ToTLS()
}

// Serve accepts connections on ln, a plain (TCP) listener, runs a tlsm
// server handshake on each with cfg, and serves srv's handler on them:
// HTTP/2 when the client chose "h2" by ALPN, HTTP/1.1 otherwise. It
// offers both ("h2", then "http/1.1") when cfg.NextProtos is empty.
//
// As net/http does for crypto/tls: a handshake gets srv.ReadHeaderTimeout
// (else srv.ReadTimeout, else DefaultHandshakeTimeout), a failed one is
// logged to srv.ErrorLog as "http: TLS handshake error from ...", and a
// client speaking plain HTTP gets a 400 response. srv.Shutdown and
// srv.Close stop Serve and close ln; Serve then returns
// http.ErrServerClosed.
func Serve(srv *http.Server, ln net.Listener, cfg *tls.Config) error {
	s, err := newServer(srv, ln, cfg)
	if err != nil {
		return err
	}
	go s.acceptLoop()
	return srv.Serve(s.h1)
}

// ListenAndServe listens on srv.Addr (":https" if empty) over TCP and
// calls Serve.
func ListenAndServe(srv *http.Server, cfg *tls.Config) error {
	addr := srv.Addr
	if addr == "" {
		addr = ":https"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return Serve(srv, ln, cfg)
}

// server is one Serve call: the TCP listener, the handshakes, and the
// queue of HTTP/1.1 connections http.Server takes from.
type server struct {
	srv *http.Server
	ln  net.Listener
	cfg *tls.Config
	h2  *http2.Server
	h1  *connQueue
}

func newServer(srv *http.Server, ln net.Listener, cfg *tls.Config) (*server, error) {
	if cfg == nil {
		return nil, errors.New("tlshttp: nil tls.Config")
	}
	cfg = cfg.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{http2.NextProtoTLS, "http/1.1"}
	}
	h2 := &http2.Server{IdleTimeout: srv.IdleTimeout}
	// ConfigureServer makes srv.Shutdown shut the HTTP/2 connections down
	// gracefully too; the TLSConfig and TLSNextProto it sets are unused.
	if err := http2.ConfigureServer(srv, h2); err != nil {
		return nil, err
	}
	return &server{srv: srv, ln: ln, cfg: cfg, h2: h2, h1: newConnQueue(ln)}, nil
}

// acceptLoop hands each TCP connection to a handshake of its own, until
// the listener fails or is closed.
func (s *server) acceptLoop() {
	defer s.h1.Close()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			s.h1.fail(err)
			return
		}
		go s.handshake(raw)
	}
}

// handshakeTimeout is how long a TLS handshake may take.
func (s *server) handshakeTimeout() time.Duration {
	switch {
	case s.srv.ReadHeaderTimeout > 0:
		return s.srv.ReadHeaderTimeout
	case s.srv.ReadTimeout > 0:
		return s.srv.ReadTimeout
	}
	return DefaultHandshakeTimeout
}

// handshake runs the TLS handshake on raw and hands the connection to
// HTTP/2 or HTTP/1.1.
func (s *server) handshake(raw net.Conn) {
	peeked, plainHTTP, err := peekPlainHTTP(raw, s.handshakeTimeout())
	if err != nil {
		raw.Close()
		s.logf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), err)
		return
	}
	if plainHTTP {
		io.WriteString(raw, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		raw.Close()
		s.logf("http: TLS handshake error from %s: client sent an HTTP request to an HTTPS server", raw.RemoteAddr())
		return
	}
	tc := tls.Server(peeked, s.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), s.handshakeTimeout())
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		tc.Close()
		s.logf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), err)
		return
	}
	c := Conn{tc}
	if tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
		s.h2.ServeConn(c, &http2.ServeConnOpts{BaseConfig: s.srv, Handler: s.srv.Handler})
		return
	}
	if !s.h1.push(c) {
		tc.Close()
	}
}

func (s *server) logf(format string, args ...any) {
	if s.srv.ErrorLog != nil {
		s.srv.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// peekPlainHTTP reads the first bytes a client sends, within timeout, to
// tell a plain HTTP request (a method name where a TLS record header
// belongs) from a TLS ClientHello; the returned Conn replays them.
func peekPlainHTTP(raw net.Conn, timeout time.Duration) (net.Conn, bool, error) {
	raw.SetReadDeadline(time.Now().Add(timeout))
	defer raw.SetReadDeadline(time.Time{})
	head := make([]byte, 5)
	n, err := io.ReadFull(raw, head)
	if err != nil && n == 0 {
		return nil, false, err
	}
	head = head[:n]
	return &prefixConn{Conn: raw, prefix: head}, looksLikeHTTP(head), nil
}

// looksLikeHTTP reports whether a record header is the start of an HTTP
// request, as net/http checks crypto/tls's RecordHeaderError.
func looksLikeHTTP(head []byte) bool {
	return slices.Contains(httpStarts, string(head))
}

// httpStarts are the first five bytes of requests of each HTTP method.
var httpStarts = []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE", "TRACE"}

// prefixConn reads prefix before the connection's own bytes.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// connQueue is the net.Listener http.Server serves HTTP/1.1 from: it
// returns the connections whose handshake is done, and closing it (as
// srv.Shutdown does) closes the TCP listener.
type connQueue struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	err   error
}

func newConnQueue(ln net.Listener) *connQueue {
	return &connQueue{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to Accept; false when the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.conns <- c:
		return true
	case <-q.done:
		return false
	}
}

// fail closes the queue with the listener's error.
func (q *connQueue) fail(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	q.Close()
}

// Accept returns the next connection whose handshake completed.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.err != nil {
			return nil, fmt.Errorf("tlshttp: %w", q.err)
		}
		return nil, net.ErrClosed
	}
}

// Close closes the queue and the TCP listener.
func (q *connQueue) Close() error {
	q.once.Do(func() {
		close(q.done)
		q.ln.Close()
	})
	return nil
}

// Addr is the TCP listener's address.
func (q *connQueue) Addr() net.Addr { return q.ln.Addr() }
