package benchsuite

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	pionsuite "github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	pionelliptic "github.com/pion/dtls/v4/pkg/crypto/elliptic"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/pion/transport/v5/dpipe"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// The DTLS benchmarks compare tlsm's core, two fsm.Conns in memory with
// no sockets and no goroutines, with pion/dtls v4 over pion's in-memory
// datagram pipe (transport/v5 dpipe), each side in its own goroutine. Both
// run DTLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, X25519 and
// an ECDSA P-256 certificate chain (leaf and CA) that the client verifies,
// and both servers make the client prove its address with a
// HelloVerifyRequest cookie, their default. Neither resumes sessions.

// DTLSConfigs returns tlsm DTLS configurations for the benchmarks.
func DTLSConfigs() (client, server *fsm.Config, cert *testcert.Cert) {
	cert = testcert.MustNew(testcert.ECDSAP256)
	suites := []uint16{cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	// The client lists P-256 too, the certificate's curve, as TLS 1.2
	// asks (RFC 8422 §5.1); both exchange keys on X25519.
	curves := []fsm.CurveID{fsm.X25519}
	server = &fsm.Config{
		Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key, Leaf: cert.Leaf}},
		CipherSuites: suites, CurvePreferences: curves, SessionTicketsDisabled: true,
	}
	client = &fsm.Config{
		RootCAs: cert.CAPool, ServerName: "localhost", CipherSuites: suites, CurvePreferences: append(curves, fsm.CurveP256),
		SessionTicketsDisabled: true, ClientSessionCache: noSessions{},
	}
	return client, server, cert
}

// dtlsCorePair is a DTLS client and server Conn joined in memory.
type dtlsCorePair struct {
	client, server *fsm.Conn
	now            time.Time
	// inbox holds datagrams for the client [0] and the server [1].
	inbox [2][][]byte
	done  [2]int
}

func newDTLSCorePair(cc, sc *fsm.Config, now time.Time) *dtlsCorePair {
	return &dtlsCorePair{client: fsm.NewDTLSClient(cc), server: fsm.NewDTLSServer(sc, []byte("192.0.2.1:5000")), now: now}
}

// drain takes c's events, queueing what it transmits for the peer.
func (p *dtlsCorePair) drain(c *fsm.Conn, side int) error {
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		switch ev.Kind {
		case fsm.EventTransmit:
			p.inbox[1-side] = append(p.inbox[1-side], append([]byte(nil), ev.Data...))
		case fsm.EventHandshakeDone:
			p.done[side]++
		case fsm.EventClosed:
			return ev.Err
		}
	}
	return nil
}

var errHandshakeIncomplete = errors.New("benchsuite: DTLS handshake did not complete")

// handshake runs a full handshake; nothing is lost, so no timer fires.
func (p *dtlsCorePair) handshake() error {
	if err := p.client.Start(p.now); err != nil {
		return err
	}
	if err := p.drain(p.client, 0); err != nil {
		return err
	}
	conns := [2]*fsm.Conn{p.client, p.server}
	for len(p.inbox[0])+len(p.inbox[1]) > 0 {
		for side, c := range conns {
			for len(p.inbox[side]) > 0 {
				d := p.inbox[side][0]
				p.inbox[side] = p.inbox[side][1:]
				if err := c.HandleDatagram(p.now, d); err != nil {
					return err
				}
				if err := p.drain(c, side); err != nil {
					return err
				}
			}
		}
	}
	if p.done != [2]int{1, 1} {
		return errHandshakeIncomplete
	}
	return nil
}

// PacketConn makes one end of a dpipe a net.PacketConn, as pion's own
// tests do: everything read comes from, and everything written goes to,
// the other end.
type PacketConn struct {
	net.Conn
	remote net.Addr
}

// ReadFrom reads a datagram from the other end.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, err := c.Read(p)
	return n, c.remote, err
}

// WriteTo writes a datagram to the other end.
func (c *PacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { return c.Write(p) }

// DatagramPipe returns the two ends of a new in-memory datagram pipe
// (pion's dpipe, which runs no goroutine).
func DatagramPipe() (a, z *PacketConn) {
	ca, cz := dpipe.Pipe()
	return &PacketConn{Conn: ca, remote: cz.LocalAddr()}, &PacketConn{Conn: cz, remote: ca.LocalAddr()}
}

// dtlsSetup is one DTLS version as the benchmarks run it on both sides:
// tlsm's configurations and what pion is limited to, the version and its
// one cipher suite, which tlsm's configurations enable alone too.
type dtlsSetup struct {
	configs func() (client, server *fsm.Config, cert *testcert.Cert)
	version protocol.Version
	suite   uint16
}

// dtls12 is DTLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.
var dtls12 = dtlsSetup{DTLSConfigs, protocol.Version1_2, cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}

// negotiated reports whether a tlsm Conn ran a full handshake of s.
func (s dtlsSetup) negotiated(st fsm.ConnectionState) bool {
	return st.HandshakeComplete && !st.DidResume && st.Version == uint16(s.version) && st.CipherSuite == s.suite
}

// checkPion returns an error unless c ran a full handshake of s.
func (s dtlsSetup) checkPion(c *piondtls.Conn) error {
	st, ok := c.ConnectionState()
	if !ok || st.NegotiatedVersion() != s.version || uint16(st.CipherSuiteID) != s.suite {
		return errors.New("benchsuite: pion negotiated another version or suite")
	}
	return nil
}

// pionOptions limit pion to s's version, its suite and X25519, with mtu
// when it is not zero: the server presents cert, the client verifies it.
// Neither keeps sessions (pion resumes only with a session store), and
// the server checks the client's address with a cookie, pion's default.
func (s dtlsSetup) pionOptions(cert *testcert.Cert, mtu int) ([]piondtls.ServerOption, []piondtls.ClientOption) {
	common := []piondtls.Option{
		piondtls.WithCipherSuites(pionsuite.ID(s.suite)),
		piondtls.WithEllipticCurves(pionelliptic.X25519),
		piondtls.WithMinVersion(s.version),
		piondtls.WithMaxVersion(s.version),
	}
	if mtu > 0 {
		common = append(common, piondtls.WithMTU(mtu))
	}
	var serverOpts []piondtls.ServerOption
	var clientOpts []piondtls.ClientOption
	for _, o := range common {
		serverOpts = append(serverOpts, o)
		clientOpts = append(clientOpts, o)
	}
	serverOpts = append(serverOpts, piondtls.WithCertificates(cert.TLSCertificate()))
	clientOpts = append(clientOpts, piondtls.WithRootCAs(cert.CAPool), piondtls.WithServerName("localhost"))
	return serverOpts, clientOpts
}

// pionPair handshakes a pion client and server of s over a new dpipe,
// with mtu when it is not zero.
func pionPair(cert *testcert.Cert, s dtlsSetup, mtu int) (client, server *piondtls.Conn, err error) {
	ca, cz := DatagramPipe()
	return pionPairOver(ca, cz, cert, s, mtu)
}

// pionPairOver is pionPair over the two ends of a datagram pipe, each
// sending to the other's local address.
func pionPairOver(ca, cz net.PacketConn, cert *testcert.Cert, s dtlsSetup, mtu int) (client, server *piondtls.Conn, err error) {
	serverOpts, clientOpts := s.pionOptions(cert, mtu)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		c   *piondtls.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := piondtls.Server(cz, ca.LocalAddr(), serverOpts...)
		if err == nil {
			err = c.HandshakeContext(ctx)
		}
		done <- result{c, err}
	}()
	client, err = piondtls.Client(ca, cz.LocalAddr(), clientOpts...)
	if err == nil {
		err = client.HandshakeContext(ctx)
	}
	r := <-done
	if err == nil {
		err = r.err
	}
	if err == nil {
		err = s.checkPion(client)
	}
	if err != nil {
		if client != nil {
			client.Close()
		}
		if r.c != nil {
			r.c.Close()
		}
		return nil, nil, err
	}
	return client, r.c, nil
}

// DTLSHandshakeCore is one full DTLS 1.2 handshake between two fsm.Conns,
// cookie exchange included.
func DTLSHandshakeCore(b *testing.B) {
	cc, sc := cidConfigs(false)
	dtlsHandshakeCore(b, cc, sc, dtls12.negotiated)
}

// dtlsHandshakeCore runs handshakes between fsm.Conns of cc and sc; each
// must leave the client in a state that ok accepts.
func dtlsHandshakeCore(b *testing.B, cc, sc *fsm.Config, ok func(fsm.ConnectionState) bool) {
	_, _, cert := DTLSConfigs()
	now := cert.Leaf.NotBefore.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		p := newDTLSCorePair(cc, sc, now)
		if err := p.handshake(); err != nil {
			b.Fatal(err)
		}
		if st := p.client.ConnectionState(); !ok(st) {
			b.Fatalf("negotiated %+v", st)
		}
	}
}

// DTLSHandshakePion is DTLSHandshakeCore between two pion Conns over
// dpipe.
func DTLSHandshakePion(b *testing.B) { pionHandshakes(b, dtls12) }

// pionHandshakes runs handshakes of s between two pion Conns over dpipe.
func pionHandshakes(b *testing.B, s dtlsSetup) {
	_, _, cert := s.configs()
	b.ReportAllocs()
	for b.Loop() {
		client, server, err := pionPair(cert, s, 0)
		if err != nil {
			b.Fatal(err)
		}
		client.Close()
		server.Close()
	}
}

// DTLSBulkSize is the size of a DTLS bulk write: a media packet.
const DTLSBulkSize = 1200

// bulkMTU is the MTU of the bulk benchmarks: a 1,200-byte write then
// fits one record in one datagram on both sides (at the default MTU of
// 1,200, tlsm would split it in two records to keep to the MTU, which
// pion does not do for application data).
const bulkMTU = 1500

// DTLSBulk1200Core is 1,200-byte writes from a tlsm client core to its
// server core, protected and unprotected.
func DTLSBulk1200Core(b *testing.B) { coreBulk(b, DTLSCoreSender) }

// coreBulk times the DTLSBulkSize-byte writes of the sender that
// newSender makes.
func coreBulk(b *testing.B, newSender func(testing.TB, []byte) func()) {
	msg := make([]byte, DTLSBulkSize)
	send := newSender(b, msg)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		send()
	}
}

// DTLSBulk1200Pion is DTLSBulk1200Core between two pion Conns over
// dpipe: a goroutine writes, the benchmark reads, so that what it times
// is messages that went all the way through.
func DTLSBulk1200Pion(b *testing.B) { pionBulk(b, dtls12) }

// pionBulk times DTLSBulkSize-byte writes of s between two pion Conns
// over dpipe.
func pionBulk(b *testing.B, s dtlsSetup) {
	_, _, cert := s.configs()
	client, server, err := pionPair(cert, s, bulkMTU)
	if err != nil {
		b.Fatal(err)
	}
	bulkThrough(b, client, server)
}

// DTLSCoreSender returns a function that writes msg from a connected tlsm
// DTLS client core and hands each datagram to the server core, checking
// that msg is delivered. Events are drained as they come, so the Conns
// reuse their buffers.
func DTLSCoreSender(tb testing.TB, msg []byte) func() { return coreSender(tb, dtls12, msg) }

// coreSender is DTLSCoreSender for s.
func coreSender(tb testing.TB, s dtlsSetup, msg []byte) func() {
	cc, sc, cert := s.configs()
	cc.MTU, sc.MTU = bulkMTU, bulkMTU
	p := newDTLSCorePair(cc, sc, cert.Leaf.NotBefore.Add(time.Hour))
	if err := p.handshake(); err != nil {
		tb.Fatal(err)
	}
	if st := p.client.ConnectionState(); !s.negotiated(st) {
		tb.Fatalf("negotiated %+v", st)
	}
	client, server, now := p.client, p.server, p.now
	return func() {
		if _, err := client.Write(now, msg); err != nil {
			tb.Fatal(err)
		}
		got := 0
		for ev := client.NextEvent(); ev.Kind != fsm.EventNone; ev = client.NextEvent() {
			if ev.Kind != fsm.EventTransmit {
				continue
			}
			if err := server.HandleDatagram(now, ev.Data); err != nil {
				tb.Fatal(err)
			}
			for ev := server.NextEvent(); ev.Kind != fsm.EventNone; ev = server.NextEvent() {
				got += len(ev.Data)
			}
		}
		if got != len(msg) {
			tb.Fatalf("delivered %d bytes", got)
		}
	}
}
