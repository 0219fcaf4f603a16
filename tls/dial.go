package tls

import (
	"context"
	"net"
)

// Dial connects to addr and runs a client handshake. When cfg.ServerName
// is empty, the host part of addr is used.
func Dial(network, addr string, cfg *Config) (*Conn, error) {
	return DialContext(context.Background(), network, addr, cfg)
}

// DialContext is Dial with a context bounding the connect and handshake.
func DialContext(ctx context.Context, network, addr string, cfg *Config) (*Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	c := Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// listener wraps a net.Listener, returning server Conns.
type listener struct {
	net.Listener
	cfg *Config
}

// Accept waits for a connection and returns it as a server *Conn (its
// handshake runs on first use).
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Server(c, l.cfg), nil
}

// NewListener returns a listener whose Accept returns server *Conns.
func NewListener(inner net.Listener, cfg *Config) net.Listener {
	return &listener{Listener: inner, cfg: cfg}
}

// Listen listens on addr and returns a listener of server *Conns.
//
// For net/http, use package tlshttp instead: http.Server treats a
// listener's connections as TLS (Request.TLS, HTTP/2 by ALPN, handshake
// timeouts and logs) only when they are *crypto/tls.Conn, so a tlsm
// listener offering "h2" behind it would break every client choosing h2.
func Listen(network, addr string, cfg *Config) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return NewListener(l, cfg), nil
}
