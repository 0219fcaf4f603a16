package benchsuite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// The DTLS 1.3 benchmarks (RFC 9147) are the DTLS 1.2 ones with both
// sides limited to DTLS 1.3 and its TLS_AES_128_GCM_SHA256, the one suite
// pion/dtls v4 runs DTLS 1.3 with: X25519 (the key share of the first
// ClientHello), the same ECDSA P-256 chain (leaf and CA) that the client
// verifies, and no resumption (tlsm's server issues no tickets and its
// client keeps no sessions; pion issues and keeps none without a session
// store, which neither side has).
//
// Both servers check the client's address with the cookie of a
// HelloRetryRequest, their default, so every handshake takes the extra
// round trip: tlsm's Conn does unless Config.InsecureSkipHelloVerify, and
// pion's unless WithInsecureSkipVerifyHello(true). The cookies differ:
// tlsm's carries the server's choices and the first ClientHello's hash
// under an HMAC-SHA256 that binds them to the client's address with a
// secret the Config rotates, so that a server can go on without state;
// pion's is 20 random bytes that its server Conn keeps. In the in-memory
// benchmarks both servers keep a Conn from the first ClientHello on;
// over UDP, tlsm's listener answers the first ClientHello from its
// stateless front door and makes a Conn for the second.

// DTLS13Configs returns tlsm configurations for the DTLS 1.3 benchmarks:
// DTLSConfigs with DTLS 1.3 alone, TLS_AES_128_GCM_SHA256 and X25519.
func DTLS13Configs() (client, server *fsm.Config, cert *testcert.Cert) {
	client, server, cert = DTLSConfigs()
	for _, c := range []*fsm.Config{client, server} {
		c.MinVersion, c.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
		c.CipherSuites = []uint16{cipher.TLS_AES_128_GCM_SHA256}
		c.CurvePreferences = []fsm.CurveID{fsm.X25519}
	}
	return client, server, cert
}

// dtls13 is DTLS 1.3 with TLS_AES_128_GCM_SHA256.
var dtls13 = dtlsSetup{DTLS13Configs, protocol.Version1_3, cipher.TLS_AES_128_GCM_SHA256}

// retried13 reports whether a tlsm client ran a full DTLS 1.3 handshake
// whose server checked its address with a HelloRetryRequest.
func retried13(st fsm.ConnectionState) bool { return dtls13.negotiated(st) && st.HelloRetryRequest }

// DTLS13HandshakeCore is one full DTLS 1.3 handshake between two
// fsm.Conns, HelloRetryRequest cookie exchange included.
func DTLS13HandshakeCore(b *testing.B) {
	cc, sc, _ := DTLS13Configs()
	dtlsHandshakeCore(b, cc, sc, retried13)
}

// DTLS13HandshakePion is DTLS13HandshakeCore between two pion Conns over
// dpipe.
func DTLS13HandshakePion(b *testing.B) { pionHandshakes(b, dtls13) }

// DTLS13Bulk1200Core is 1,200-byte writes from a tlsm DTLS 1.3 client
// core to its server core, protected and unprotected.
func DTLS13Bulk1200Core(b *testing.B) { coreBulk(b, DTLS13CoreSender) }

// DTLS13Bulk1200Pion is DTLS13Bulk1200Core between two pion Conns over
// dpipe, as DTLSBulk1200Pion.
func DTLS13Bulk1200Pion(b *testing.B) { pionBulk(b, dtls13) }

// DTLS13CoreSender is DTLSCoreSender over DTLS 1.3.
func DTLS13CoreSender(tb testing.TB, msg []byte) func() { return coreSender(tb, dtls13, msg) }

// DTLS13HandshakeUDP is one full DTLS 1.3 handshake over UDP loopback, a
// dtls.Dial to a dtls.Listen in the same process.
func DTLS13HandshakeUDP(b *testing.B) {
	cc, sc, _ := DTLS13Configs()
	udpHandshakes(b, cc, sc, retried13, 1)
}

// DTLS13HandshakeUDPPion is DTLS13HandshakeUDP between pion Conns: a
// piondtls.Client on a new UDP socket bound to 127.0.0.1, what
// piondtls.Dial does but for the wildcard address it binds, to a
// piondtls.ListenAddr on 127.0.0.1.
func DTLS13HandshakeUDPPion(b *testing.B) { pionUDPHandshakes(b, dtls13, 1) }

// pionUDPHandshakes runs handshakes of s over UDP loopback between pion
// clients and a pion listener, conc at a time.
func pionUDPHandshakes(b *testing.B, s dtlsSetup, conc int) {
	_, _, cert := s.configs()
	serverOpts, clientOpts := s.pionOptions(cert, 0)
	ln, err := piondtls.ListenAddr("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, serverOpts...)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go acceptAndClose(ln)
	runClients(b, conc, func() error {
		sock, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		c, err := piondtls.Client(sock, ln.Addr(), clientOpts...)
		if err != nil {
			sock.Close()
			return err
		}
		defer c.Close() // and sock with it
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			return err
		}
		return s.checkPion(c)
	})
}

// IdleDTLS13Core measures n DTLS 1.3 connections of two fsm.Conns each.
func IdleDTLS13Core(n int) (Idle, error) { return idleDTLSCore(n, dtls13) }

// IdleDTLS13Conn measures n DTLS 1.3 connections of two dtls.Conns over
// dpipe, without dpipe's own memory.
func IdleDTLS13Conn(n int) (Idle, error) { return idleDTLSConn(n, dtls13) }

// IdleDTLS13Pion measures n DTLS 1.3 connections of two pion Conns over
// dpipe, without dpipe's own memory.
func IdleDTLS13Pion(n int) (Idle, error) { return idlePion(n, dtls13) }

// DTLS13AddressChecks reports whether tlsm's and pion's servers, set up
// as the DTLS 1.3 benchmarks set them up, answer the first ClientHello
// with a HelloRetryRequest: whether both check the client's address.
func DTLS13AddressChecks() (tlsm, pion bool, err error) {
	cc, sc, cert := DTLS13Configs()
	p := newDTLSCorePair(cc, sc, cert.Leaf.NotBefore.Add(time.Hour))
	if err := p.client.Start(p.now); err != nil {
		return false, false, err
	}
	if err := p.drain(p.client, 0); err != nil {
		return false, false, err
	}
	for _, d := range p.inbox[1] {
		if err := p.server.HandleDatagram(p.now, d); err != nil {
			return false, false, err
		}
	}
	if err := p.drain(p.server, 1); err != nil {
		return false, false, err
	}
	if len(p.inbox[0]) == 0 {
		return false, false, errors.New("benchsuite: tlsm's server did not answer")
	}
	tlsm = isHelloRetryRequest(p.inbox[0][0])

	ca, cz := DatagramPipe()
	first := &firstDatagram{PacketConn: cz}
	client, server, err := pionPairOver(ca, first, cert, dtls13, 0)
	if err != nil {
		return tlsm, false, err
	}
	client.Close()
	server.Close()
	return tlsm, isHelloRetryRequest(first.get()), nil
}

// firstDatagram is a PacketConn that keeps a copy of the first datagram
// written to it.
type firstDatagram struct {
	net.PacketConn
	mu    sync.Mutex
	first []byte
}

// WriteTo writes p to addr, keeping a copy if it is the first datagram.
func (f *firstDatagram) WriteTo(p []byte, addr net.Addr) (int, error) {
	f.mu.Lock()
	if f.first == nil {
		f.first = bytes.Clone(p)
	}
	f.mu.Unlock()
	return f.PacketConn.WriteTo(p, addr)
}

func (f *firstDatagram) get() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

// helloRetryRandom is the Random of a ServerHello that is a
// HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 §4.1.3).
var helloRetryRandom = sha256.Sum256([]byte("HelloRetryRequest"))

// isHelloRetryRequest reports whether a datagram starts with a plaintext
// handshake record holding a HelloRetryRequest: after the 13-byte record
// header and the 12-byte handshake header (type 2, ServerHello), the
// legacy version and the Random.
func isHelloRetryRequest(d []byte) bool {
	const (
		recordHeader    = 13
		handshakeHeader = 12
		random          = recordHeader + handshakeHeader + 2
	)
	return len(d) >= random+len(helloRetryRandom) && d[0] == 22 && d[recordHeader] == 2 &&
		bytes.Equal(d[random:random+len(helloRetryRandom)], helloRetryRandom[:])
}
