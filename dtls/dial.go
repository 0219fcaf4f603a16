package dtls

import (
	"context"
	"fmt"
	"net"
)

// Dial opens a UDP socket connected to addr and runs a client handshake
// on it. When cfg.ServerName is empty, the host part of addr is used. The
// Conn owns the socket and closes it on Close.
func Dial(network, addr string, cfg *Config) (*Conn, error) {
	return DialContext(context.Background(), network, addr, cfg)
}

// DialContext is Dial with a context bounding the handshake.
func DialContext(ctx context.Context, network, addr string, cfg *Config) (*Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	pconn, ok := raw.(net.PacketConn)
	if !ok {
		raw.Close()
		return nil, fmt.Errorf("dtls: network %q does not carry datagrams", network)
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
	c := Client(pconn, raw.RemoteAddr(), cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
