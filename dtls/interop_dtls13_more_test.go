package dtls_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	stdelliptic "crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/elliptic"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// More DTLS 1.3 (RFC 9147) interop with pion/dtls v4 than
// TestInteropPionDTLS13 has: Ed25519 certificates, a key update that asks
// for none back, resumption with session tickets and a HelloRetryRequest
// for a key share. Unless a test says otherwise, both ends authenticate
// with certificates the other verifies, negotiate DTLS-SRTP and must export
// the same keying material, and carry interopMessages messages each way.

// suite13 is the cipher suite of these tests, which pion implements.
const suite13 = fsm.TLS_AES_128_GCM_SHA256

// hsServerHello is the handshake type of a ServerHello, which a
// HelloRetryRequest is too (RFC 8446 §4.1.4).
const hsServerHello = 2

// noDiag describes nothing: no proxy relays the messages.
func noDiag() string { return "" }

// only13 limits a tlsm config to DTLS 1.3.
func only13(cfg *dtls.Config) *dtls.Config {
	cfg.MinVersion, cfg.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	return cfg
}

// exporter is c's exporter of SRTP keying material, as checkTLSM13State
// takes it.
func exporter(c *dtls.Conn) func(int) ([]byte, error) {
	return func(n int) ([]byte, error) { return c.ExportKeyingMaterial(srtpLabel, nil, n) }
}

// eventLog keeps the key updates of a tlsm Conn and the session tickets
// it sends and receives.
type eventLog struct {
	mu     sync.Mutex
	events []fsm.Event
}

// record is an OnEvent function.
func (l *eventLog) record(ev fsm.Event) {
	ticket := ev.Message == fsm.MessageNewSessionTicket &&
		(ev.Kind == fsm.EventMessageSent || ev.Kind == fsm.EventMessageReceived)
	if !ticket && ev.Kind != fsm.EventKeyUpdateSent && ev.Kind != fsm.EventKeyUpdateReceived {
		return
	}
	ev.Data = nil
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// keyUpdates returns the key updates sent and received, in order.
func (l *eventLog) keyUpdates() []fsm.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var updates []fsm.Event
	for _, ev := range l.events {
		if ev.Kind == fsm.EventKeyUpdateSent || ev.Kind == fsm.EventKeyUpdateReceived {
			updates = append(updates, ev)
		}
	}
	return updates
}

// tickets counts the NewSessionTickets of kind EventMessageSent or
// EventMessageReceived.
func (l *eventLog) tickets(kind fsm.EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ev.Kind == kind && ev.Message == fsm.MessageNewSessionTicket {
			n++
		}
	}
	return n
}

// tlsm13Served is what a tlsm server Conn saw. The Conn stays open until
// the test ends, for its state and its exporter.
type tlsm13Served struct {
	conn *dtls.Conn
	log  *eventLog
	echo echoResult
	err  error
}

// serveTLSM13 serves the next Conn of accept in the background: it logs
// the Conn's events, completes the handshake and answers messages until
// the client closes. The Conn is closed when the test ends.
func serveTLSM13(t testing.TB, accept func() (*dtls.Conn, error)) <-chan tlsm13Served {
	done := make(chan tlsm13Served, 1)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		s := tlsm13Served{log: &eventLog{}}
		defer func() { done <- s }()
		c, err := accept()
		if err != nil {
			s.err = err
			return
		}
		s.conn = c
		go func() {
			<-stop
			c.Close()
		}()
		c.OnEvent(s.log.record)
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		if s.err = c.HandshakeContext(ctx); s.err != nil {
			return
		}
		s.echo = serveEcho(c)
	}()
	return done
}

// waitTLSM13 waits for the server of serveTLSM13 and checks that it
// went well.
func waitTLSM13(t testing.TB, done <-chan tlsm13Served) tlsm13Served {
	t.Helper()
	select {
	case s := <-done:
		require.NoError(t, s.err, "tlsm server")
		require.NoError(t, s.echo.err, "tlsm server")
		return s
	case <-time.After(interopTimeout):
		t.Fatal("tlsm server did not finish")
		return tlsm13Served{}
	}
}

// listenTLSM13 starts a tlsm listener (dtls.NewListener) on 127.0.0.1 and
// returns its address and how to accept its Conns.
func listenTLSM13(t testing.TB, cfg *dtls.Config) (net.Addr, func() (*dtls.Conn, error)) {
	t.Helper()
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	return sock.LocalAddr(), tlsmAccept(t, sock, nil, cfg, true)
}

// dialTLSM13 runs a tlsm client's handshake with server from a socket of
// its own and logs the Conn's events from the start; the Conn is closed
// when the test ends.
func dialTLSM13(t testing.TB, server net.Addr, cfg *dtls.Config) (*dtls.Conn, *eventLog) {
	t.Helper()
	csock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	c := dtls.Client(csock, server, cfg)
	t.Cleanup(func() { c.Close() })
	log := &eventLog{}
	c.OnEvent(log.record)
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx), "tlsm client handshake")
	return c, log
}

// waitPionServed waits for the server of servePion and checks that it
// went well.
func waitPionServed(t testing.TB, done <-chan pionServed) pionServed {
	t.Helper()
	select {
	case s := <-done:
		require.NoError(t, s.state.err, "pion server")
		require.NoError(t, s.echo.err, "pion server")
		return s
	case <-time.After(interopTimeout):
		t.Fatal("pion server did not finish")
		return pionServed{}
	}
}

// exchangeAll runs interopMessages round trips over c and checks that
// loopback lost few.
func exchangeAll(t testing.TB, c net.Conn, diag func() string) {
	t.Helper()
	require.LessOrEqual(t, exchange(t, c, diag), maxLosses, "too many losses on loopback")
}

// pionVerification records what pion passes to WithVerifyPeerCertificate,
// which it calls only after it verified the peer's chain against its
// roots (a client) or client CAs (a server).
type pionVerification struct {
	mu     sync.Mutex
	calls  int
	chains [][]*x509.Certificate
}

func (v *pionVerification) verify(_ [][]byte, chains [][]*x509.Certificate) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	v.chains = chains
	return nil
}

// check checks that pion verified the peer's Ed25519 chain once.
func (v *pionVerification) check(t testing.TB, ca *x509.Certificate) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	require.Equal(t, 1, v.calls, "pion's certificate verifications")
	checkEd25519Chains(t, "pion", v.chains, ca)
}

// checkEd25519Chains checks that who verified the peer's Ed25519 leaf for
// localhost up to ca.
func checkEd25519Chains(t testing.TB, who string, chains [][]*x509.Certificate, ca *x509.Certificate) {
	t.Helper()
	require.NotEmpty(t, chains, "%s verified no chain", who)
	chain := chains[0]
	require.Equal(t, x509.Ed25519, chain[0].PublicKeyAlgorithm, "%s: the peer's key", who)
	require.Equal(t, "localhost", chain[0].Subject.CommonName, "%s: the peer's certificate", who)
	require.True(t, chain[len(chain)-1].Equal(ca), "%s: the chain does not end at the peer's CA", who)
}

// ed25519UnderECDSA is an Ed25519 leaf for localhost (and 127.0.0.1),
// for both server and client authentication, issued by a CA of its own
// with an ECDSA P-256 key: pion verifies no chain with a certificate
// signed with Ed25519 (see TestInteropPionDTLS13Ed25519), so the ends it
// verifies present this one; the key they sign their handshake with is
// Ed25519 all the same.
type ed25519UnderECDSA struct {
	own  dtls.Certificate // for tlsm
	pion tls.Certificate  // for pion
	ca   *x509.Certificate
	pool *x509.CertPool
}

func newEd25519UnderECDSA(t testing.TB) ed25519UnderECDSA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(stdelliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, leafKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsm test CA ECDSA for Ed25519"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, leafKey.Public(), caKey)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(leafDER)
	require.NoError(t, err)
	chain := [][]byte{leafDER, caDER}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return ed25519UnderECDSA{
		own:  dtls.Certificate{Certificate: chain, PrivateKey: leafKey, Leaf: leaf},
		pion: tls.Certificate{Certificate: chain, PrivateKey: leafKey, Leaf: leaf},
		ca:   ca, pool: pool,
	}
}

// TestInteropPionDTLS13Ed25519 runs DTLS 1.3 between tlsm and pion with
// Ed25519 keys (RFC 8446 §4.2.3 scheme ed25519) on both sides, each way:
// both ends must negotiate DTLS 1.3, verify the other's Ed25519 leaf up to
// its CA, export the same SRTP keying material and carry the messages both
// ways. The end that tlsm verifies presents testcert's Ed25519 chain, whose
// CA signs with Ed25519 too; the end that pion verifies an Ed25519 leaf
// under an ECDSA CA (ed25519UnderECDSA), as pion v4.0.1 takes no chain
// with an Ed25519 certificate signature: signaturehash.FromCertificate
// maps x509.PureEd25519 to hash None, while its allowed schemes list
// Ed25519 with hash Ed25519, so ValidateCertificateSignatureAlgorithms in
// its internal/handshakecrypto fails every such chain with "certificate
// uses a signature algorithm that is not allowed".
func TestInteropPionDTLS13Ed25519(t *testing.T) {
	cert := testcert.MustNew(testcert.Ed25519)
	mixed := newEd25519UnderECDSA(t)
	t.Run("pion-client/tlsm-server", func(t *testing.T) {
		cfg := only13(tlsmServerConfig(t, suite13, 0))
		cfg.Certificates, cfg.ClientCAs = []dtls.Certificate{mixed.own}, cert.CAPool
		addr, accept := listenTLSM13(t, cfg)
		done := serveTLSM13(t, accept)
		var pion pionVerification
		c := dialPion(t, addr, append(pionClientOptions(t, pionClientCase{suite: suite13}),
			piondtls.WithCertificates(cert.TLSCertificate()), piondtls.WithRootCAs(mixed.pool),
			piondtls.WithVerifyPeerCertificate(pion.verify)))
		ps := pionStateOf(c)
		exchangeAll(t, c, noDiag)
		require.NoError(t, c.Close())
		s := waitTLSM13(t, done)
		checkSeqs(t, s.echo.seqs)
		cs := s.conn.ConnectionState()
		checkPion13State(t, ps, checkTLSM13State(t, cs, exporter(s.conn)))
		checkEd25519Chains(t, "tlsm", cs.VerifiedChains, cert.CA)
		pion.check(t, mixed.ca)
	})
	t.Run("tlsm-client/pion-server", func(t *testing.T) {
		var pion pionVerification
		addr, done := startPionServer(t, append(pionServerOptions(t, pionServerCase{suite: suite13, cookie: true}),
			piondtls.WithCertificates(cert.TLSCertificate()), piondtls.WithClientCAs(mixed.pool),
			piondtls.WithVerifyPeerCertificate(pion.verify)))
		cfg := only13(tlsmClientConfig(t, suite13, 0))
		cfg.Certificates, cfg.RootCAs = []dtls.Certificate{mixed.own}, cert.CAPool
		c, _ := dialTLSM13(t, addr, cfg)
		cs := c.ConnectionState()
		ekm := checkTLSM13State(t, cs, exporter(c))
		checkEd25519Chains(t, "tlsm", cs.VerifiedChains, cert.CA)
		exchangeAll(t, c, noDiag)
		require.NoError(t, c.Close())
		s := waitPionServed(t, done)
		checkSeqs(t, s.echo.seqs)
		checkPion13State(t, s.state, ekm)
		pion.check(t, mixed.ca)
	})
}

// pionKeyUsage returns the epochs of pion's current DTLS 1.3 traffic keys.
func pionKeyUsage(t testing.TB, c *piondtls.Conn) piondtls.KeyUsageStats {
	t.Helper()
	st, ok := c.ConnectionState()
	require.True(t, ok, "pion has no state")
	require.NotNil(t, st.KeyUsage, "pion reports no key usage")
	return *st.KeyUsage
}

// TestInteropPionDTLS13KeyUpdateNotRequested: halfway through the
// messages, pion's client updates its sending keys without asking tlsm's
// server for an update in return (UpdateKeys without RequestPeerUpdate,
// a KeyUpdate of update_not_requested, RFC 9147 §8). UpdateKeys returns
// once tlsm has acknowledged it; tlsm must report exactly one
// EventKeyUpdateReceived, of UpdateNotRequested, and send no KeyUpdate:
// pion's sending epoch moves on, its receiving epoch does not, and the
// messages after the update flow both ways.
func TestInteropPionDTLS13KeyUpdateNotRequested(t *testing.T) {
	addr, accept := listenTLSM13(t, only13(tlsmServerConfig(t, suite13, 0)))
	done := serveTLSM13(t, accept)
	c := dialPion(t, addr, pionClientOptions(t, pionClientCase{suite: suite13}))
	ps := pionStateOf(c)
	before := pionKeyUsage(t, c)
	resends := exchangeRange(t, c, 0, interopMessages/2, noDiag)
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.UpdateKeys(ctx, piondtls.KeyUpdateOptions{}))
	updated := pionKeyUsage(t, c)
	require.Equal(t, before.WriteEpoch+1, updated.WriteEpoch, "pion's sending epoch after its update")
	require.Equal(t, before.ReadEpoch, updated.ReadEpoch, "pion's receiving epoch after its update")
	resends += exchangeRange(t, c, interopMessages/2, interopMessages, noDiag)
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	after := pionKeyUsage(t, c)
	require.Equal(t, updated.WriteEpoch, after.WriteEpoch, "pion's sending epoch at the end")
	require.Equal(t, before.ReadEpoch, after.ReadEpoch, "tlsm updated its sending keys unasked")
	require.NoError(t, c.Close())

	s := waitTLSM13(t, done)
	checkSeqs(t, s.echo.seqs)
	checkPion13State(t, ps, checkTLSM13State(t, s.conn.ConnectionState(), exporter(s.conn)))
	updates := s.log.keyUpdates()
	require.Len(t, updates, 1, "tlsm's key updates: %v", updates)
	require.Equal(t, fsm.EventKeyUpdateReceived, updates[0].Kind, "tlsm's key updates: %v", updates)
	require.Equal(t, fsm.UpdateNotRequested, updates[0].KeyUpdate, "the type of pion's KeyUpdate")
}

// tickets counts the DTLS 1.3 sessions (with a ticket) in the store.
func (s *pionSessions) tickets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.m {
		if sess.Ticket != nil {
			n++
		}
	}
	return n
}

// pionTicketStore is a pion SessionStore that counts the lookups that
// found a DTLS 1.3 session: pion's client looks its ticket up to offer it,
// pion's server the tickets a client offers (by their identity).
type pionTicketStore struct {
	pionSessions
	hits atomic.Int32
}

func (s *pionTicketStore) Get(key []byte) (piondtls.Session, error) {
	sess, err := s.pionSessions.Get(key)
	if sess.Ticket != nil {
		s.hits.Add(1)
	}
	return sess, err
}

// found is how many lookups found a ticket.
func (s *pionTicketStore) found() int { return int(s.hits.Load()) }

// TestInteropPionDTLS13Resumption: a second DTLS 1.3 connection resumes
// the session of the first with a ticket (a PSK, RFC 8446 §2.2), each way.
// The server must issue a ticket on the first connection and the client
// keep it; on the second, tlsm's ConnectionState().DidResume must be set
// (a tlsm client sees it only if pion's ServerHello selected the PSK) and
// pion must have found the ticket in its store (its client to offer it,
// its server to take it): pion reports no resumption in its State. Both
// connections negotiate DTLS 1.3, export the same SRTP keying material
// and carry the messages.
//
// The clients are anonymous: a pion server issues and takes tickets only
// when it asks for no client certificate, and a pion client keeps no
// ticket from a server that asked it for one.
func TestInteropPionDTLS13Resumption(t *testing.T) {
	t.Run("tlsm-client/pion-server", func(t *testing.T) {
		store := &pionTicketStore{}
		ln := listenPion(t, append(pionServerOptions(t, pionServerCase{suite: suite13, cookie: true}),
			piondtls.WithClientAuth(piondtls.NoClientCert), piondtls.WithSessionStore(store)))
		cfg := only13(tlsmClientConfig(t, suite13, 0))
		cfg.Certificates = nil
		cfg.ClientSessionCache = fsm.NewLRUSessionCache(4)
		for i := range 2 {
			done := servePion(ln)
			c, log := dialTLSM13(t, ln.Addr(), cfg)
			cs := c.ConnectionState()
			require.Equal(t, record.VersionDTLS13, cs.Version, "tlsm version %s", fsm.VersionName(cs.Version))
			require.Equal(t, i == 1, cs.DidResume, "connection %d: tlsm resumed", i)
			require.NotEmpty(t, cs.PeerCertificates, "connection %d: tlsm has no server certificate", i)
			ekm, err := exporter(c)(srtpKeyingLen(t, cs.SRTPProtectionProfile))
			require.NoError(t, err)
			exchangeAll(t, c, noDiag)
			if i == 0 {
				require.Positive(t, store.tickets(), "pion issued no ticket")
				require.Positive(t, log.tickets(fsm.EventMessageReceived), "tlsm received no ticket")
			}
			require.NoError(t, c.Close())
			s := waitPionServed(t, done)
			checkSeqs(t, s.echo.seqs)
			require.Equal(t, protocol.Version1_3, s.state.version, "pion version")
			require.Equal(t, ekm, s.state.ekm, "SRTP keying material differs")
			require.Equal(t, i == 1, store.found() > 0, "connection %d: pion found the ticket tlsm offered", i)
		}
	})
	t.Run("pion-client/tlsm-server", func(t *testing.T) {
		cfg := only13(tlsmServerConfig(t, suite13, 0))
		cfg.ClientAuth, cfg.ClientCAs = fsm.NoClientCert, nil
		addr, accept := listenTLSM13(t, cfg)
		store := &pionTicketStore{}
		opts := append(pionClientOptions(t, pionClientCase{suite: suite13}), piondtls.WithSessionStore(store))
		for i := range 2 {
			done := serveTLSM13(t, accept)
			c := dialPion(t, addr, opts)
			require.Equal(t, i == 1, store.found() > 0, "connection %d: pion offered its ticket", i)
			ps := pionStateOf(c)
			exchangeAll(t, c, noDiag)
			if i == 0 {
				require.Positive(t, store.tickets(), "pion kept no ticket from tlsm")
			}
			require.NoError(t, c.Close())
			s := waitTLSM13(t, done)
			checkSeqs(t, s.echo.seqs)
			cs := s.conn.ConnectionState()
			require.Equal(t, record.VersionDTLS13, cs.Version, "tlsm version %s", fsm.VersionName(cs.Version))
			require.Equal(t, i == 1, cs.DidResume, "connection %d: tlsm resumed", i)
			ekm, err := exporter(s.conn)(srtpKeyingLen(t, cs.SRTPProtectionProfile))
			require.NoError(t, err)
			checkPion13State(t, ps, ekm)
		}
	})
}

// checkRetried checks that the proxy relayed a second ClientHello and a
// second ServerHello (the first one a HelloRetryRequest) in epoch 0.
func checkRetried(t testing.TB, p *recordingProxy) {
	t.Helper()
	up, down := p.Stats(c2s), p.Stats(s2c)
	require.GreaterOrEqual(t, up.fragments[hsClientHello], 2, "ClientHello not repeated: %v", up)
	require.GreaterOrEqual(t, down.fragments[hsServerHello], 2, "no HelloRetryRequest: %v", down)
}

// TestInteropPionDTLS13HelloRetryKeyShare: the client's first key share is
// for X25519, which the server does not take, though the client supports
// P-256, which the server does: the server asks for a P-256 share with a
// HelloRetryRequest (RFC 8446 §4.1.4), each way, with a cookie in it and
// without. tlsm must report the HelloRetryRequest and P-256, the proxy
// between the two must relay two ClientHellos, and the handshake must
// complete as in TestInteropPionDTLS13. Without a cookie, only the key
// share can have caused the retry. pion's client offers X25519 then P-256
// (WithEllipticCurves) and sends a share for the first only; tlsm's server
// takes only P-256. tlsm's client prefers X25519 then P-256; pion's server
// takes only P-256.
func TestInteropPionDTLS13HelloRetryKeyShare(t *testing.T) {
	for _, cookie := range []bool{false, true} {
		suffix := map[bool]string{false: "/no-cookie", true: "/cookie"}[cookie]
		for _, listener := range []bool{false, true} {
			name := map[bool]string{false: "pion-client/tlsm-server", true: "pion-client/tlsm-listener"}[listener]
			t.Run(name+suffix, func(t *testing.T) {
				testPionClientRetry13(t, listener, cookie)
			})
		}
		t.Run("tlsm-client/pion-server"+suffix, func(t *testing.T) {
			testTLSMClientRetry13(t, cookie)
		})
	}
}

// testPionClientRetry13 runs a pion client whose key share tlsm's server
// (dtls.Server, or behind a listener) does not take.
func testPionClientRetry13(t *testing.T, listener, cookie bool) {
	cfg := only13(tlsmServerConfig(t, suite13, 0))
	cfg.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	cfg.InsecureSkipHelloVerify = !cookie
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := newRecordingProxy(t, sock.LocalAddr())
	done := serveTLSM13(t, tlsmAccept(t, sock, proxy.BackAddr(), cfg, listener))
	c := dialPion(t, proxy.Addr(), append(pionClientOptions(t, pionClientCase{suite: suite13}),
		piondtls.WithEllipticCurves(elliptic.X25519, elliptic.P256)))
	ps := pionStateOf(c)
	exchangeAll(t, c, proxy.Diag)
	require.NoError(t, c.Close())
	s := waitTLSM13(t, done)
	checkSeqs(t, s.echo.seqs)
	cs := s.conn.ConnectionState()
	checkPion13State(t, ps, checkTLSM13State(t, cs, exporter(s.conn)))
	require.True(t, cs.HelloRetryRequest, "tlsm sent no HelloRetryRequest")
	require.Equal(t, fsm.CurveP256, cs.CurveID, "tlsm's group")
	checkRetried(t, proxy)
}

// testTLSMClientRetry13 runs a tlsm client whose key share pion's server
// does not take.
func testTLSMClientRetry13(t *testing.T, cookie bool) {
	addr, done := startPionServer(t, append(pionServerOptions(t, pionServerCase{suite: suite13, cookie: cookie}),
		piondtls.WithEllipticCurves(elliptic.P256)))
	proxy := newRecordingProxy(t, addr)
	cfg := only13(tlsmClientConfig(t, suite13, 0))
	cfg.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
	c, _ := dialTLSM13(t, proxy.Addr(), cfg)
	cs := c.ConnectionState()
	ekm := checkTLSM13State(t, cs, exporter(c))
	require.True(t, cs.HelloRetryRequest, "tlsm saw no HelloRetryRequest")
	require.Equal(t, fsm.CurveP256, cs.CurveID, "tlsm's group")
	exchangeAll(t, c, proxy.Diag)
	require.NoError(t, c.Close())
	s := waitPionServed(t, done)
	checkSeqs(t, s.echo.seqs)
	checkPion13State(t, s.state, ekm)
	checkRetried(t, proxy)
}
