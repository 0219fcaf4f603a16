package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// Mode is how tlsm takes its part in the DTLS handshake with the browser.
type Mode string

// The three ways to run tlsm against a browser.
const (
	// ModeClient: tlsm is the DTLS client (dtls.Client); the answer says
	// a=setup:active.
	ModeClient Mode = "client"
	// ModeServer: tlsm is the DTLS server for this one peer (dtls.Server);
	// the answer says a=setup:passive.
	ModeServer Mode = "server"
	// ModeListener: tlsm serves the peer from a listener
	// (dtls.NewListener), as a server of many peers would; the answer
	// says a=setup:passive.
	ModeListener Mode = "listener"
)

// Modes lists every Mode.
var Modes = []Mode{ModeClient, ModeServer, ModeListener}

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown mode %q (want client, server or listener)", s)
}

// setup is the a=setup value of our answer: the DTLS role we take.
func (m Mode) setup() string {
	if m == ModeClient {
		return "active"
	}
	return "passive"
}

// icePacketConn presents an ICE connection, which carries the datagrams
// of one peer, as the net.PacketConn that package dtls reads and writes:
// every datagram comes from peer, the remote address of the pair ICE
// selected when it connected, and is sent back over the pair selected
// now.
type icePacketConn struct {
	conn *ice.Conn
	peer net.Addr
	// hellos, if set, looks at the datagrams read for ClientHellos.
	hellos *helloWatch
}

func newICEPacketConn(conn *ice.Conn) (*icePacketConn, error) {
	peer := conn.RemoteAddr()
	if peer == nil {
		return nil, errors.New("ice: no selected candidate pair")
	}
	return &icePacketConn{conn: conn, peer: peer}, nil
}

// ReadFrom reads one datagram.
func (p *icePacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := p.conn.Read(b)
	if p.hellos != nil && err == nil {
		p.hellos.datagram(b[:n])
	}
	return n, p.peer, err
}

// WriteTo sends one datagram to the peer, the only address it knows.
func (p *icePacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if addr.String() != p.peer.String() {
		return 0, fmt.Errorf("ice: no route to %v, only to %v", addr, p.peer)
	}
	return p.conn.Write(b)
}

// Close closes the ICE connection and its agent.
func (p *icePacketConn) Close() error { return p.conn.Close() }

// LocalAddr returns the local address of the selected candidate pair.
func (p *icePacketConn) LocalAddr() net.Addr { return p.conn.LocalAddr() }

// SetDeadline sets the read and write deadlines.
func (p *icePacketConn) SetDeadline(t time.Time) error { return p.conn.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (p *icePacketConn) SetReadDeadline(t time.Time) error { return p.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (p *icePacketConn) SetWriteDeadline(t time.Time) error { return p.conn.SetWriteDeadline(t) }

// dtlsConfig is the Config for one browser: our certificate, and the
// browser's, self-signed, accepted only when its SHA-256 matches the
// fingerprint of the offer. A server requires the client's certificate,
// as DTLS-SRTP with SDP fingerprints requires (RFC 5763). maxVersion is
// the highest version offered: fsm.VersionTLS13 lets DTLS 1.3 be
// negotiated, 0 keeps to DTLS 1.2.
func dtlsConfig(cert fsm.Certificate, peerFingerprint [sha256.Size]byte, maxVersion uint16) *dtls.Config {
	return &dtls.Config{
		Certificates:           []fsm.Certificate{cert},
		InsecureSkipVerify:     true, // no chain to verify: the fingerprint vouches for the certificate
		ClientAuth:             fsm.RequireAnyClientCert,
		VerifyPeerCertificate:  matchFingerprint(peerFingerprint),
		SRTPProtectionProfiles: srtpPreference,
		MaxVersion:             maxVersion,
	}
}

// matchFingerprint accepts a peer whose leaf certificate has the SHA-256
// fingerprint want.
func matchFingerprint(want [sha256.Size]byte) func([][]byte, [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return errors.New("webrtc: the peer sent no certificate")
		}
		got := sha256.Sum256(rawCerts[0])
		if !bytes.Equal(got[:], want[:]) {
			return fmt.Errorf("webrtc: the peer's certificate has fingerprint %X, the SDP says %X", got, want)
		}
		return nil
	}
}

// handshakeDTLS runs tlsm's side of the DTLS handshake over pconn in the
// given mode and returns the established connection.
func handshakeDTLS(ctx context.Context, mode Mode, pconn *icePacketConn, cfg *dtls.Config) (*dtls.Conn, error) {
	var conn *dtls.Conn
	switch mode {
	case ModeClient:
		conn = dtls.Client(pconn, pconn.peer, cfg)
	case ModeServer:
		conn = dtls.Server(pconn, pconn.peer, cfg)
	case ModeListener:
		var err error
		if conn, err = acceptOne(ctx, pconn, cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("dtls handshake (%s): %w", mode, err)
	}
	return conn, nil
}

// acceptOne serves pconn with a dtls listener and returns the first
// connection it accepts; the listener then stops taking new ones, and
// pconn is closed with that connection.
func acceptOne(ctx context.Context, pconn net.PacketConn, cfg *dtls.Config) (*dtls.Conn, error) {
	ln := dtls.NewListener(pconn, cfg)
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	c, err := ln.Accept()
	if err != nil {
		return nil, fmt.Errorf("dtls accept: %w", err)
	}
	return c.(*dtls.Conn), nil
}
