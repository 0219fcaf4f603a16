package tlshttp

//lint:file-ignore SA1019 x/net/http2's Server and Transport are deprecated in favour of net/http's own HTTP/2, which on Go 1.26 serves and dials only *crypto/tls.Conn; they are the supported route for any net.Conn, and from Go 1.27 x/net runs them on net/http's implementation.

import (
	"context"
	gotls "crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"

	"golang.org/x/net/http2"

	"github.com/tlsm/tlsm/tls"
)

// Transport is an http.RoundTripper that dials https URLs with tlsm: it
// offers "h2" and "http/1.1" by ALPN and speaks HTTP/2 (x/net/http2) to a
// server that picks h2 and HTTP/1.1 (net/http) to one that picks the
// other or none. Which a server speaks is remembered per host; the
// connection of the handshake that found out is used, not wasted. Plain
// http URLs go to the HTTP/1.1 transport. Response.TLS is filled in both
// cases.
type Transport struct {
	cfg *tls.Config
	h1  *http.Transport
	h2  *http2.Transport

	mu     sync.Mutex
	h1Only map[string]bool       // hosts that did not pick h2
	spare  map[string][]net.Conn // their connections not yet used
}

// NewTransport returns a Transport whose connections use cfg (cloned;
// its NextProtos are set by the Transport). h1, when not nil, is the
// HTTP/1.1 transport to use (its dialers are replaced); nil means a
// clone of http.DefaultTransport.
func NewTransport(cfg *tls.Config, h1 *http.Transport) *Transport {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if h1 == nil {
		h1 = http.DefaultTransport.(*http.Transport).Clone()
	}
	t := &Transport{cfg: cfg.Clone(), h1: h1, h1Only: map[string]bool{}, spare: map[string][]net.Conn{}}
	h1.DialTLSContext = t.dialH1
	h1.ForceAttemptHTTP2 = false
	t.h2 = &http2.Transport{DialTLSContext: func(ctx context.Context, network, addr string, _ *gotls.Config) (net.Conn, error) {
		return t.dialH2(ctx, network, addr)
	}}
	return t
}

// errNotH2 is what an HTTP/2 dial returns when the server picked HTTP/1.1.
var errNotH2 = errors.New("tlshttp: server did not choose h2")

// RoundTrip sends req over HTTP/2 or HTTP/1.1, as the host speaks.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || t.isH1Only(req.URL.Host) {
		return t.roundTripH1(req)
	}
	resp, err := t.h2.RoundTrip(req)
	if errors.Is(err, errNotH2) {
		return t.roundTripH1(req)
	}
	return resp, err
}

// roundTripH1 sends req with the HTTP/1.1 transport and fills
// Response.TLS from the connection that carried it.
func (t *Transport) roundTripH1(req *http.Request) (*http.Response, error) {
	var used net.Conn
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { used = info.Conn }}
	resp, err := t.h1.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err == nil && resp.TLS == nil {
		if c, ok := used.(Conn); ok {
			st := c.ConnectionState()
			resp.TLS = &st
		}
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of both transports.
func (t *Transport) CloseIdleConnections() {
	t.h1.CloseIdleConnections()
	t.h2.CloseIdleConnections()
	t.mu.Lock()
	defer t.mu.Unlock()
	for host, conns := range t.spare {
		for _, c := range conns {
			c.Close()
		}
		delete(t.spare, host)
	}
}

func (t *Transport) isH1Only(host string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.h1Only[canonicalHost(host)]
}

// dialH2 dials addr offering h2 and HTTP/1.1; when the server picks the
// latter, the connection is kept for the HTTP/1.1 transport.
func (t *Transport) dialH2(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := t.dial(ctx, network, addr, []string{http2.NextProtoTLS, "http/1.1"})
	if err != nil {
		return nil, err
	}
	if c.Conn.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
		return c, nil
	}
	t.mu.Lock()
	host := canonicalHost(addr)
	t.h1Only[host] = true
	t.spare[host] = append(t.spare[host], c)
	t.mu.Unlock()
	return nil, errNotH2
}

// dialH1 is the HTTP/1.1 transport's dialer: a spare connection, else a
// new one offering HTTP/1.1 only.
func (t *Transport) dialH1(ctx context.Context, network, addr string) (net.Conn, error) {
	host := canonicalHost(addr)
	t.mu.Lock()
	if conns := t.spare[host]; len(conns) > 0 {
		c := conns[len(conns)-1]
		t.spare[host] = conns[:len(conns)-1]
		t.mu.Unlock()
		return c, nil
	}
	t.mu.Unlock()
	return t.dial(ctx, network, addr, []string{"http/1.1"})
}

// dial makes a tlsm connection to addr offering protos.
func (t *Transport) dial(ctx context.Context, network, addr string, protos []string) (Conn, error) {
	cfg := t.cfg.Clone()
	cfg.NextProtos = protos
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return Conn{}, err
		}
		cfg.ServerName = host
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return Conn{}, err
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return Conn{}, err
	}
	return Conn{c}, nil
}

// canonicalHost is host:port with the https port when none is given.
func canonicalHost(hostport string) string {
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return net.JoinHostPort(hostport, "443")
	}
	return hostport
}
