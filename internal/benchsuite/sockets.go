package benchsuite

import (
	gotls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/tls"
)

// The socket benchmarks run full handshakes over TCP on 127.0.0.1, both
// ends in this process and of the same library: each client dials,
// completes its handshake and reads until the server's close_notify,
// which the server sends once its own handshake is complete, so that an
// operation is a whole handshake pair. They run sequentially (one
// client: latency) or with Concurrent clients at a time (throughput:
// enough to keep both CPUs busy). The sockets are the kernel's, not
// wrapped: tls.Conn reads a TCP socket its own way (see the tls
// package), which a wrapper would hide; the pipe benchmarks count the
// bytes on the wire.

// Concurrent is how many clients the concurrent socket benchmarks run at
// a time.
const Concurrent = 8

// ends makes the two ends of a connection.
type ends struct {
	client func(net.Conn) Handshaker
	server func(net.Conn) Handshaker
	// check, if set, looks at a client after its handshake.
	check func(Handshaker) error
}

// tlsmEnds are tls.Conns on cc and sc; cold gives every client a clone
// of cc with an empty certificate cache, so that it parses and verifies
// the server's chain as on a first connection.
func tlsmEnds(cc, sc *fsm.Config, cold bool) ends {
	return ends{
		client: func(c net.Conn) Handshaker {
			cfg := cc
			if cold {
				cfg = cc.Clone()
				cfg.CertificateCache = fsm.NewCertificateCache()
			}
			return tls.Client(c, cfg)
		},
		server: func(c net.Conn) Handshaker { return tls.Server(c, sc) },
	}
}

// goEnds are crypto/tls Conns on cc and sc.
func goEnds(cc, sc *gotls.Config) ends {
	return ends{
		client: func(c net.Conn) Handshaker { return gotls.Client(c, cc) },
		server: func(c net.Conn) Handshaker { return gotls.Server(c, sc) },
	}
}

// withVersion makes e check the version its clients negotiate.
func (e ends) withVersion(version uint16) ends {
	e.check = func(h Handshaker) error {
		var got uint16
		switch c := h.(type) {
		case *tls.Conn:
			st := c.ConnectionState()
			if st.DidResume {
				return errors.New("resumed")
			}
			got = st.Version
		case *gotls.Conn:
			st := c.ConnectionState()
			if st.DidResume {
				return errors.New("resumed")
			}
			got = st.Version
		}
		if got != version {
			return fmt.Errorf("negotiated version %#x, want %#x", got, version)
		}
		return nil
	}
	return e
}

// tcpServer accepts connections on 127.0.0.1 and, on each, completes the
// server's handshake and closes it (sending close_notify).
type tcpServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startTCPServer(b *testing.B, e ends) *tcpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &tcpServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				h := e.server(c)
				h.Handshake()
				h.Close()
			}()
		}
	}()
	return s
}

func (s *tcpServer) stop() {
	s.ln.Close()
	s.wg.Wait()
}

// tcpClient runs one client: dial, handshake, read to the server's
// close_notify, close.
func tcpClient(addr string, e ends) error {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	h := e.client(raw)
	defer h.Close()
	if err := h.Handshake(); err != nil {
		return err
	}
	if e.check != nil {
		if err := e.check(h); err != nil {
			return err
		}
	}
	var one [1]byte
	if _, err := h.Read(one[:]); err != io.EOF {
		return fmt.Errorf("read after the handshake: %v, want EOF", err)
	}
	return nil
}

// tcpHandshakes runs clients of e against a server of e, conc at a time.
func tcpHandshakes(b *testing.B, e ends, conc int) {
	s := startTCPServer(b, e)
	defer s.stop() // on failure; stopping twice is harmless
	addr := s.ln.Addr().String()
	runClients(b, conc, func() error { return tcpClient(addr, e) })
}

// TCPHandshake13 is a full TLS 1.3 handshake pair of tls.Conns over TCP
// with X25519 and an ECDSA P-256 chain, conc clients at a time; cold
// starts each client's certificate cache empty.
func TCPHandshake13(cold bool, conc int) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := TLSConfigs()
		tcpHandshakes(b, tlsmEnds(cc, sc, cold).withVersion(fsm.VersionTLS13), conc)
	}
}

// TCPHandshake13GoTLS is TCPHandshake13 between crypto/tls Conns, which
// verify the chain on every handshake.
func TCPHandshake13GoTLS(conc int) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := GoConfigs()
		tcpHandshakes(b, goEnds(cc, sc).withVersion(gotls.VersionTLS13), conc)
	}
}

// TCPHandshake12 is TCPHandshake13 for TLS 1.2 with
// ECDHE-ECDSA-AES128-GCM-SHA256, no session resumed.
func TCPHandshake12(cold bool, conc int) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := tls12Configs()
		tcpHandshakes(b, tlsmEnds(cc, sc, cold).withVersion(fsm.VersionTLS12), conc)
	}
}

// TCPHandshake12GoTLS is TCPHandshake12 between crypto/tls Conns (a nil
// ClientSessionCache: no resumption).
func TCPHandshake12GoTLS(conc int) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := go12Configs()
		tcpHandshakes(b, goEnds(cc, sc).withVersion(gotls.VersionTLS12), conc)
	}
}

// go12Configs restricts GoConfigs to TLS 1.2 with
// ECDHE-ECDSA-AES128-GCM-SHA256.
func go12Configs() (client, server *gotls.Config) {
	cc, sc := GoConfigs()
	cc.MinVersion, cc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
	cc.CipherSuites = []uint16{gotls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	return cc, sc
}

// DTLSHandshakeUDPLikePion is a full DTLS 1.2 handshake over UDP
// loopback set up as pion's (DTLSConfigs: one suite, X25519, the
// listener's cookie), dtls.Dial to dtls.Listen, conc clients at a time.
func DTLSHandshakeUDPLikePion(conc int) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc, _ := dtls12.configs()
		udpHandshakes(b, cc, sc, dtls12.negotiated, conc)
	}
}

// DTLSHandshakeUDPPion is DTLSHandshakeUDPLikePion between pion Conns.
func DTLSHandshakeUDPPion(conc int) func(*testing.B) {
	return func(b *testing.B) { pionUDPHandshakes(b, dtls12, conc) }
}
