package dtls_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/gob"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	pionsuite "github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// Interop with real DTLS 1.2 peers over UDP on 127.0.0.1: pion/dtls v4
// and openssl s_server/s_client. Every connection authenticates both
// sides with ECDSA P-256 certificates that the peer verifies, negotiates
// DTLS-SRTP, checks that both ends export the same SRTP keying material,
// and carries interopMessages messages each way, stop and wait. A proxy
// between the two records every datagram, so the tests can check the
// cookie exchange, with a 256-byte MTU the fragmentation of the
// handshake, and the Connection IDs the records carry (RFC 9146); it can
// also move the client to a new port, as a NAT that rebinds.

const (
	aes128GCM = cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	chacha20  = cipher.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	// interopTimeout bounds every handshake.
	interopTimeout = 10 * time.Second
	// wireDTLS12 is DTLS 1.2 on the wire.
	wireDTLS12 = 0xfefd
)

// Profiles: clients prefer AEAD_AES_128_GCM, servers only know
// AES128_CM_HMAC_SHA1_80, so the server must pick the client's second
// choice.
var (
	clientSRTP = []uint16{fsm.SRTP_AEAD_AES_128_GCM, fsm.SRTP_AES128_CM_HMAC_SHA1_80}
	serverSRTP = []uint16{fsm.SRTP_AES128_CM_HMAC_SHA1_80}
	wantSRTP   = fsm.SRTP_AES128_CM_HMAC_SHA1_80
)

func interopCert(t testing.TB) (*testcert.Cert, dtls.Certificate) {
	t.Helper()
	cert, err := testcert.New(testcert.ECDSAP256)
	require.NoError(t, err)
	return cert, dtls.Certificate{Certificate: cert.CertDER, PrivateKey: cert.Key, Leaf: cert.Leaf}
}

// tlsmClientConfig and tlsmServerConfig authenticate both ways.
func tlsmClientConfig(t testing.TB, suite uint16, mtu int) *dtls.Config {
	cert, own := interopCert(t)
	return &dtls.Config{
		Certificates: []dtls.Certificate{own},
		RootCAs:      cert.CAPool, ServerName: "localhost",
		CipherSuites:           []uint16{suite},
		MinVersion:             fsm.VersionTLS12,
		MaxVersion:             fsm.VersionTLS12,
		SRTPProtectionProfiles: clientSRTP,
		MTU:                    mtu,
		RetransmitTimeout:      250 * time.Millisecond,
	}
}

func tlsmServerConfig(t testing.TB, suite uint16, mtu int) *dtls.Config {
	cert, own := interopCert(t)
	return &dtls.Config{
		Certificates: []dtls.Certificate{own},
		ClientAuth:   fsm.RequireAndVerifyClientCert, ClientCAs: cert.CAPool,
		CipherSuites:           []uint16{suite},
		MinVersion:             fsm.VersionTLS12,
		MaxVersion:             fsm.VersionTLS12,
		SRTPProtectionProfiles: serverSRTP,
		MTU:                    mtu,
		RetransmitTimeout:      250 * time.Millisecond,
	}
}

// checkTLSMState checks what a tlsm Conn negotiated and returns its SRTP
// keying material.
func checkTLSMState(t testing.TB, c *dtls.Conn, suite uint16) []byte {
	t.Helper()
	cs := c.ConnectionState()
	require.True(t, cs.HandshakeComplete)
	require.Equal(t, "DTLS1.2", fsm.VersionName(cs.Version))
	require.Equal(t, fsm.CipherSuiteName(suite), fsm.CipherSuiteName(cs.CipherSuite))
	require.NotEmpty(t, cs.PeerCertificates, "peer certificates")
	require.NotEmpty(t, cs.VerifiedChains, "peer certificate not verified")
	require.Equal(t, "localhost", cs.PeerCertificates[0].Subject.CommonName)
	require.Equal(t, wantSRTP, cs.SRTPProtectionProfile, "SRTP profile")
	ekm, err := c.ExportKeyingMaterial(srtpLabel, nil, srtpKeyingLen(t, cs.SRTPProtectionProfile))
	require.NoError(t, err)
	return ekm
}

// pionState is what a pion Conn negotiated.
type pionState struct {
	version protocol.Version
	suite   pionsuite.ID
	certs   int
	srtp    piondtls.SRTPProtectionProfile
	ekm     []byte
	cids    pionCIDs
	err     error
}

func pionStateOf(c *piondtls.Conn) pionState {
	st, ok := c.ConnectionState()
	if !ok {
		return pionState{err: os.ErrInvalid}
	}
	ps := pionState{version: st.NegotiatedVersion(), suite: st.CipherSuiteID, certs: len(st.PeerCertificates)}
	ps.srtp, _ = c.SelectedSRTPProtectionProfile()
	if ps.cids, ps.err = pionCIDsOf(&st); ps.err != nil {
		return ps
	}
	ps.ekm, ps.err = st.ExportKeyingMaterial(srtpLabel, nil, 2*(16+14))
	return ps
}

// pionCIDs are the Connection IDs of a pion Conn (RFC 9146), which its
// State keeps unexported; its serialized form, a gob of a struct with
// these fields among others, has them.
type pionCIDs struct {
	// LocalConnectionID is the CID pion asked for, in the records it
	// receives; RemoteConnectionID the one it puts in the records it sends.
	LocalConnectionID  []byte
	RemoteConnectionID []byte
}

func pionCIDsOf(st *piondtls.State) (pionCIDs, error) {
	var ids pionCIDs
	b, err := st.MarshalBinary()
	if err != nil {
		return ids, fmt.Errorf("pion state: %w", err)
	}
	err = gob.NewDecoder(bytes.NewReader(b)).Decode(&ids)
	return ids, err
}

// cidSetup is which end asks the other for a Connection ID (RFC 9146) in
// an interop case with pion: neither uses them when both fields are nil.
type cidSetup struct {
	tlsm *fsm.ConnectionIDs
	// pion makes the CIDs pion asks for (WithConnectionID): a nil slice
	// (OnlySendCIDGenerator) asks for none.
	pion   func() []byte
	policy piondtls.CIDPathMigrationPolicy // pion's, when its peer moves
}

// cidBoth has each end ask the other for a CID, of different lengths;
// cidPionAsks and cidTLSMAsks have only one ask.
func cidBoth() cidSetup {
	return cidSetup{tlsm: &fsm.ConnectionIDs{Length: 4}, pion: piondtls.RandomCIDGenerator(8)}
}

func cidPionAsks() cidSetup {
	return cidSetup{tlsm: &fsm.ConnectionIDs{}, pion: piondtls.RandomCIDGenerator(8)}
}

func cidTLSMAsks() cidSetup {
	return cidSetup{tlsm: &fsm.ConnectionIDs{Length: 8}, pion: piondtls.OnlySendCIDGenerator()}
}

func (s cidSetup) withPolicy(p piondtls.CIDPathMigrationPolicy) cidSetup {
	s.policy = p
	return s
}

// tlsmLen and pionLen are the lengths of the CIDs that tlsm and pion ask for.
func (s cidSetup) tlsmLen() int {
	if s.tlsm == nil || s.pion == nil {
		return 0
	}
	return s.tlsm.Length
}

func (s cidSetup) pionLen() int {
	if s.tlsm == nil || s.pion == nil {
		return 0
	}
	return len(s.pion())
}

func (s cidSetup) pionOptions() []piondtls.Option {
	if s.pion == nil {
		return nil
	}
	return []piondtls.Option{piondtls.WithConnectionID(s.pion, s.policy)}
}

// check checks that the tlsm end (cs) and the pion end agree on the CIDs
// in use, and that every protected record the proxy relayed carries the
// one its receiver asked for; toTLSM is the direction towards tlsm.
func (s cidSetup) check(t testing.TB, cs fsm.ConnectionState, pion pionCIDs, p *recordingProxy, toTLSM int) {
	t.Helper()
	require.Equal(t, s.tlsm != nil && s.pion != nil, cs.ConnectionIDNegotiated, "tlsm: CIDs negotiated")
	require.Len(t, cs.ConnectionID, s.tlsmLen(), "tlsm: the CID it asked for")
	require.Len(t, cs.PeerConnectionID, s.pionLen(), "tlsm: the CID pion asked for")
	require.Equal(t, hex.EncodeToString(cs.ConnectionID), hex.EncodeToString(pion.RemoteConnectionID), "the CID pion sends")
	require.Equal(t, hex.EncodeToString(cs.PeerConnectionID), hex.EncodeToString(pion.LocalConnectionID), "the CID pion asked for")
	checkWireCIDs(t, p.Stats(toTLSM), cs.ConnectionID)
	checkWireCIDs(t, p.Stats(1-toTLSM), cs.PeerConnectionID)
}

// checkWireCIDs checks that every protected record one way carried cid,
// or, for an empty cid, that none carried a CID.
func checkWireCIDs(t testing.TB, s dirStats, cid []byte) {
	t.Helper()
	if len(cid) == 0 {
		require.Empty(t, s.cids, "records with a CID no one asked for: %v", s)
		require.Positive(t, s.plainProtected, "no protected records: %v", s)
		return
	}
	require.Equal(t, []string{hex.EncodeToString(cid)}, slices.Collect(maps.Keys(s.cids)), "CIDs on the wire: %v", s)
	require.Zero(t, s.plainProtected, "protected records without the CID: %v", s)
}

// checkPionState compares the pion end with the tlsm end.
func checkPionState(t testing.TB, ps pionState, suite uint16, tlsmEKM []byte) {
	t.Helper()
	require.NoError(t, ps.err)
	require.Equal(t, protocol.Version1_2, ps.version, "pion version")
	require.Equal(t, pionsuite.ID(suite), ps.suite, "pion cipher suite")
	require.Positive(t, ps.certs, "pion saw no peer certificate")
	require.Equal(t, uint16(wantSRTP), uint16(ps.srtp), "pion SRTP profile")
	require.Len(t, tlsmEKM, 60)
	require.Equal(t, tlsmEKM, ps.ekm, "SRTP keying material differs")
}

// checkCookie checks that the server did, or did not, send a
// HelloVerifyRequest, and that the client repeated its ClientHello after
// one.
func checkCookie(t testing.TB, p *recordingProxy, cookie bool) {
	t.Helper()
	up, down := p.Stats(c2s), p.Stats(s2c)
	if cookie {
		require.Positive(t, down.fragments[hsHelloVerifyRequest], "no HelloVerifyRequest: %v", down)
		require.GreaterOrEqual(t, up.fragments[hsClientHello], 2, "ClientHello not repeated: %v", up)
	} else {
		require.Zero(t, down.fragments[hsHelloVerifyRequest], "unexpected HelloVerifyRequest: %v", down)
	}
}

// checkRecordNumbers checks that neither side sent two records with the
// same epoch and sequence number: the peer's replay window drops the
// second (RFC 6347 §4.1.2.6), which costs a retransmission timeout when it
// holds a handshake message.
func checkRecordNumbers(t testing.TB, p *recordingProxy) {
	t.Helper()
	require.Empty(t, p.Stats(c2s).dups, "client reused record numbers")
	require.Empty(t, p.Stats(s2c).dups, "server reused record numbers")
	require.Zero(t, p.Stats(c2s).unparsed, "datagrams from the client")
	require.Zero(t, p.Stats(s2c).unparsed, "datagrams from the server")
}

// checkMTU checks that every datagram one way fit mtu and that the
// sender's certificate chain was fragmented.
func checkMTU(t testing.TB, p *recordingProxy, dir, mtu int) {
	t.Helper()
	s := p.Stats(dir)
	require.LessOrEqual(t, s.maxSize, mtu, "datagram larger than the MTU: %v", s)
	require.Greater(t, s.partial[hsCertificate], 1, "certificate not fragmented: %v", s)
}

// pionOptions limit pion to one DTLS 1.2 cipher suite, and with
// dtls12Only to DTLS 1.2; without, pion has a DTLS 1.3 suite too, as it
// supports (and offers) DTLS 1.3 only with one.
func pionOptions(suite uint16, mtu int, dtls12Only bool) []piondtls.Option {
	suites := []pionsuite.ID{pionsuite.ID(suite)}
	if !dtls12Only {
		suites = append(suites, pionsuite.TLS_AES_128_GCM_SHA256)
	}
	opts := []piondtls.Option{
		piondtls.WithCipherSuites(suites...),
		piondtls.WithFlightInterval(250 * time.Millisecond),
	}
	if dtls12Only {
		opts = append(opts, piondtls.WithMaxVersion(protocol.Version1_2))
	}
	if mtu > 0 {
		opts = append(opts, piondtls.WithMTU(mtu))
	}
	return opts
}

// pionServerCase is a tlsm client against a pion server.
type pionServerCase struct {
	name       string
	suite      uint16
	cookie     bool // pion's server makes the client prove its address
	mtu        int
	dtls12Only bool // pion supports DTLS 1.2 only, else DTLS 1.3 too
	// pionDefaults leaves pion's cipher suites, versions and timers
	// alone, so that it is set up only to authenticate and use SRTP;
	// tlsm's version bounds are its defaults too.
	pionDefaults bool
	cid          cidSetup
	// migrate moves the tlsm client to a new port half way through the
	// messages, as a NAT that lost its mapping does.
	migrate bool
}

// pionClientCase is a pion client against a tlsm server.
type pionClientCase struct {
	name       string
	suite      uint16
	listener   bool // dtls.Listen, else dtls.Server on a socket of its own
	cookie     bool // tlsm's server makes the client prove its address
	mtu        int
	dtls12Only bool // pion offers DTLS 1.2 only, else 1.2 and 1.3
	// pionDefaults leaves pion's cipher suites, versions and timers
	// alone, so that it is set up only to authenticate, use SRTP and keep
	// to mtu; tlsm's version bounds are its defaults too.
	pionDefaults bool
	cid          cidSetup
	// migrate moves the pion client to a new port half way through the
	// messages, as a NAT that lost its mapping does.
	migrate bool
}

// TestInteropPion runs pion/dtls v4 against tlsm both ways. By default
// pion supports DTLS 1.3 too: as a server it then picks DTLS 1.2 from
// tlsm's ClientHello, which offers no more, and as a client it offers
// supported_versions [DTLS 1.3, DTLS 1.2], from which tlsm picks 1.2.
//
// The cid cases use Connection IDs (RFC 9146) one way or both: pion asks
// for 8-byte CIDs or none (OnlySendCIDGenerator), tlsm for 4 or 8 bytes
// or none (Length 0). Both ends must report the same CIDs, and the
// records each way must carry the one their receiver asked for.
//
// The migrate cases move the client to a new port mid-session behind a
// NAT that rebinds. A pion client needs nothing for that: the address of
// its peer does not change. A pion server follows a tlsm client only with
// CIDPathMigrationUnsafe: its default, CIDPathMigrationReject, keeps
// answering the old address, and CIDPathMigrationRRC needs the
// return_routability_check extension (RFC 9853), which tlsm does not
// offer. Either end can follow its peer only by the CID it asked for.
func TestInteropPion(t *testing.T) {
	t.Parallel()
	for _, tc := range []pionServerCase{
		{name: "AES128GCM/cookie", suite: aes128GCM, cookie: true, dtls12Only: true},
		{name: "CHACHA20/no-cookie/mtu256", suite: chacha20, mtu: 256, dtls12Only: true},
		{name: "pion-supports-DTLS1.3", suite: aes128GCM, cookie: true},
		{name: "pion-defaults", suite: chacha20, cookie: true, pionDefaults: true},
		{name: "cid/both", suite: aes128GCM, cookie: true, cid: cidBoth()},
		{name: "cid/pion-asks/DTLS1.2-only", suite: aes128GCM, cookie: true, dtls12Only: true, cid: cidPionAsks()},
		{name: "cid/tlsm-asks/mtu256", suite: chacha20, mtu: 256, cid: cidTLSMAsks()},
		{name: "cid/none-asked", suite: aes128GCM, cookie: true, cid: cidSetup{tlsm: &fsm.ConnectionIDs{}, pion: piondtls.OnlySendCIDGenerator()}},
		{name: "cid/both/tlsm-client-moves", suite: aes128GCM, cookie: true, cid: cidBoth().withPolicy(piondtls.CIDPathMigrationUnsafe), migrate: true},
		{name: "cid/pion-asks/tlsm-client-moves", suite: chacha20, dtls12Only: true, cid: cidPionAsks().withPolicy(piondtls.CIDPathMigrationUnsafe), migrate: true},
	} {
		t.Run("tlsm-client/pion-server/"+tc.name, func(t *testing.T) {
			t.Parallel()
			testPionServer(t, tc)
		})
	}
	for _, tc := range []pionClientCase{
		{name: "listener/AES128GCM", suite: aes128GCM, listener: true, cookie: true, dtls12Only: true},
		{name: "server/CHACHA20/mtu256", suite: chacha20, cookie: true, mtu: 256, dtls12Only: true},
		{name: "server/no-cookie/AES128GCM", suite: aes128GCM, dtls12Only: true},
		{name: "listener/pion-offers-DTLS1.3", suite: aes128GCM, listener: true, cookie: true},
		{name: "server/pion-offers-DTLS1.3", suite: chacha20, cookie: true},
		{name: "listener/pion-defaults", suite: aes128GCM, listener: true, cookie: true, pionDefaults: true},
		{name: "server/pion-defaults/cid/both", suite: chacha20, cookie: true, pionDefaults: true, cid: cidBoth()},
		{name: "listener/cid/both", suite: aes128GCM, listener: true, cookie: true, cid: cidBoth()},
		{name: "server/cid/both/DTLS1.2-only", suite: aes128GCM, cookie: true, dtls12Only: true, cid: cidBoth()},
		{name: "listener/cid/pion-asks/mtu256", suite: chacha20, listener: true, cookie: true, mtu: 256, dtls12Only: true, cid: cidPionAsks()},
		{name: "listener/cid/tlsm-asks", suite: aes128GCM, listener: true, cookie: true, cid: cidTLSMAsks()},
		{name: "listener/pion-defaults/cid/both/mtu256", suite: chacha20, listener: true, cookie: true, mtu: 256, pionDefaults: true, cid: cidBoth()},
		{name: "server/pion-defaults/cid/both/mtu256", suite: aes128GCM, cookie: true, mtu: 256, pionDefaults: true, cid: cidBoth()},
		{name: "server/cid/tlsm-asks/no-cookie", suite: aes128GCM, cid: cidTLSMAsks()},
		{name: "listener/cid/both/pion-client-moves", suite: aes128GCM, listener: true, cookie: true, cid: cidBoth(), migrate: true},
		{name: "listener/cid/tlsm-asks/pion-client-moves", suite: chacha20, listener: true, cookie: true, dtls12Only: true, cid: cidTLSMAsks(), migrate: true},
		{name: "server/cid/tlsm-asks/pion-client-moves", suite: aes128GCM, cookie: true, cid: cidTLSMAsks(), migrate: true},
	} {
		t.Run("pion-client/tlsm-server/"+tc.name, func(t *testing.T) {
			t.Parallel()
			testPionClient(t, tc)
		})
	}
}

// pionServed is what a pion server saw.
type pionServed struct {
	state  pionState
	echo   echoResult
	remote string // the client's address at the end
}

// startPionServer starts a pion listener on 127.0.0.1 that serves one
// connection (servePion).
func startPionServer(t testing.TB, opts []piondtls.ServerOption) (net.Addr, <-chan pionServed) {
	t.Helper()
	ln := listenPion(t, opts)
	return ln.Addr(), servePion(ln)
}

// listenPion starts a pion listener on 127.0.0.1, closed when the test ends.
func listenPion(t testing.TB, opts []piondtls.ServerOption) net.Listener {
	t.Helper()
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	ln, err := piondtls.Listen(sock, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close(); sock.Close() })
	return ln
}

// servePion serves the next connection of ln in the background: it
// completes the handshake, notes what was negotiated and answers messages
// until the client closes.
func servePion(ln net.Listener) <-chan pionServed {
	done := make(chan pionServed, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- pionServed{state: pionState{err: err}}
			return
		}
		defer c.Close()
		pc := c.(*piondtls.Conn)
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		if err := pc.HandshakeContext(ctx); err != nil {
			done <- pionServed{state: pionState{err: err}}
			return
		}
		st := pionStateOf(pc)
		echo := serveEcho(pc)
		done <- pionServed{state: st, echo: echo, remote: pc.RemoteAddr().String()}
	}()
	return done
}

// pionServerOptions authenticate the client and set up the case.
func pionServerOptions(t testing.TB, tc pionServerCase) []piondtls.ServerOption {
	cert, _ := interopCert(t)
	opts := []piondtls.ServerOption{
		piondtls.WithCertificates(cert.TLSCertificate()),
		piondtls.WithClientAuth(piondtls.RequireAndVerifyClientCert),
		piondtls.WithClientCAs(cert.CAPool),
		piondtls.WithSRTPProtectionProfiles(piondtls.SRTP_AES128_CM_HMAC_SHA1_80),
		piondtls.WithInsecureSkipVerifyHello(!tc.cookie),
	}
	for _, o := range tc.cid.pionOptions() {
		opts = append(opts, o)
	}
	if tc.pionDefaults {
		return opts
	}
	for _, o := range pionOptions(tc.suite, tc.mtu, tc.dtls12Only) {
		opts = append(opts, o)
	}
	return opts
}

func testPionServer(t *testing.T, tc pionServerCase) {
	addr, done := startPionServer(t, pionServerOptions(t, tc))
	proxy := newRecordingProxy(t, addr)
	proxy.SetConnectionIDs(tc.cid.pionLen(), tc.cid.tlsmLen())
	csock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := tlsmClientConfig(t, tc.suite, tc.mtu)
	cfg.ConnectionIDs = tc.cid.tlsm
	if tc.pionDefaults {
		cfg.MinVersion, cfg.MaxVersion = 0, 0
	}
	c := dtls.Client(csock, proxy.Addr(), cfg)
	defer c.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx))
	handshake := time.Since(start)
	ekm := checkTLSMState(t, c, tc.suite)

	start = time.Now()
	resends := exchangeMaybeMoving(t, c, proxy, tc.migrate)
	t.Logf("handshake %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	require.NoError(t, c.Close())

	var s pionServed
	select {
	case s = <-done:
	case <-time.After(interopTimeout):
		t.Fatal("pion server did not finish")
	}
	checkPionState(t, s.state, tc.suite, ekm)
	require.NoError(t, s.echo.err, "pion server")
	checkSeqs(t, s.echo.seqs)
	checkCookie(t, proxy, tc.cookie)
	if tc.mtu > 0 {
		checkMTU(t, proxy, c2s, tc.mtu)
	}
	checkRecordNumbers(t, proxy)
	require.NotContains(t, proxy.Stats(c2s).helloVersions, uint16(record.VersionDTLS13), "tlsm offered DTLS 1.3")
	tc.cid.check(t, c.ConnectionState(), s.state.cids, proxy, s2c)
	if tc.migrate {
		require.Equal(t, proxy.BackAddr().String(), s.remote, "pion did not follow the client")
	}
}

func testPionClient(t *testing.T, tc pionClientCase) {
	cfg := tlsmServerConfig(t, tc.suite, tc.mtu)
	cfg.InsecureSkipHelloVerify = !tc.cookie
	cfg.ConnectionIDs = tc.cid.tlsm
	if tc.pionDefaults {
		cfg.MinVersion, cfg.MaxVersion = 0, 0
	}
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := newRecordingProxy(t, sock.LocalAddr())
	proxy.SetConnectionIDs(tc.cid.tlsmLen(), tc.cid.pionLen())
	done := serveTLSM(t, tlsmAccept(t, sock, proxy.BackAddr(), cfg, tc.listener), tc.suite)

	start := time.Now()
	c := dialPion(t, proxy.Addr(), pionClientOptions(t, tc))
	handshake := time.Since(start)
	ps := pionStateOf(c)

	start = time.Now()
	resends := exchangeMaybeMoving(t, c, proxy, tc.migrate)
	t.Logf("handshake %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	require.NoError(t, c.Close())

	s := waitServed(t, done)
	checkPionState(t, ps, tc.suite, s.ekm)
	checkSeqs(t, s.echo.seqs)
	checkCookie(t, proxy, tc.cookie)
	if tc.mtu > 0 {
		checkMTU(t, proxy, s2c, tc.mtu)
	}
	checkRecordNumbers(t, proxy)
	if !tc.dtls12Only {
		require.Contains(t, proxy.Stats(c2s).helloVersions, uint16(record.VersionDTLS13), "pion offered DTLS 1.3")
	}
	if tc.pionDefaults && tc.mtu > 0 {
		// With all its suites, groups and versions, pion's ClientHello
		// with a cookie takes two fragments.
		require.Positive(t, proxy.Stats(c2s).partial[hsClientHello], "ClientHello not fragmented")
	}
	tc.cid.check(t, s.state, ps.cids, proxy, c2s)
	if tc.migrate {
		require.Equal(t, proxy.BackAddr().String(), s.remote, "tlsm did not follow the client")
	}
}

// pionClientOptions authenticate the server and the client and set up
// the case.
func pionClientOptions(t testing.TB, tc pionClientCase) []piondtls.ClientOption {
	cert, _ := interopCert(t)
	opts := []piondtls.ClientOption{
		piondtls.WithCertificates(cert.TLSCertificate()),
		piondtls.WithRootCAs(cert.CAPool),
		piondtls.WithServerName("localhost"),
		piondtls.WithSRTPProtectionProfiles(piondtls.SRTP_AEAD_AES_128_GCM, piondtls.SRTP_AES128_CM_HMAC_SHA1_80),
	}
	for _, o := range tc.cid.pionOptions() {
		opts = append(opts, o)
	}
	if tc.pionDefaults && tc.mtu > 0 {
		return append(opts, piondtls.WithMTU(tc.mtu))
	}
	if tc.pionDefaults {
		return opts
	}
	for _, o := range pionOptions(tc.suite, tc.mtu, tc.dtls12Only) {
		opts = append(opts, o)
	}
	return opts
}

// dialPion runs a pion client's handshake with server from a socket of
// its own; both are closed when the test ends.
func dialPion(t testing.TB, server net.Addr, opts []piondtls.ClientOption) *piondtls.Conn {
	t.Helper()
	csock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	c, err := piondtls.Client(csock, server, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); csock.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx), "pion client handshake")
	return c
}

// tlsmAccept returns how a test gets its tlsm server Conn over sock: from
// a listener (dtls.NewListener), or as dtls.Server for the one client at
// client.
func tlsmAccept(t testing.TB, sock net.PacketConn, client net.Addr, cfg *dtls.Config, listener bool) func() (*dtls.Conn, error) {
	if !listener {
		return func() (*dtls.Conn, error) { return dtls.Server(sock, client, cfg), nil }
	}
	ln := dtls.NewListener(sock, cfg)
	t.Cleanup(func() { ln.Close() })
	return func() (*dtls.Conn, error) {
		c, err := ln.Accept()
		if err != nil {
			return nil, err
		}
		return c.(*dtls.Conn), nil
	}
}

// exchangeMaybeMoving runs exchange over c, through proxy; with move, the
// proxy moves the client to a new port half way through.
func exchangeMaybeMoving(t testing.TB, c net.Conn, proxy *recordingProxy, move bool) (resends int) {
	t.Helper()
	if !move {
		return exchange(t, c, proxy.Diag)
	}
	half := interopMessages / 2
	before := proxy.BackAddr().String()
	resends = exchangeRange(t, c, 0, half, proxy.Diag)
	proxy.rebind(t)
	t.Logf("the client moves from %s to %s", before, proxy.BackAddr())
	return resends + exchangeRange(t, c, half, interopMessages, proxy.Diag)
}

// tlsmServed is what a tlsm server saw.
type tlsmServed struct {
	state  fsm.ConnectionState
	ekm    []byte
	echo   echoResult
	remote string // the client's address at the end
	errs   []string
}

// serveTLSM runs a tlsm server Conn from accept in the background: it
// completes the handshake, checks what was negotiated (a verified client
// certificate among it), exports the SRTP keying material and answers
// messages until the client closes. The Conn is closed when the test
// ends, if not before.
func serveTLSM(t testing.TB, accept func() (*dtls.Conn, error), suite uint16) <-chan tlsmServed {
	return serveTLSMWith(t, accept, suite, true)
}

// serveTLSMWith is serveTLSM for a client that sends a certificate, or,
// without clientCert, none.
func serveTLSMWith(t testing.TB, accept func() (*dtls.Conn, error), suite uint16, clientCert bool) <-chan tlsmServed {
	done := make(chan tlsmServed, 1)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		var s tlsmServed
		defer func() { done <- s }()
		fail := func(format string, args ...any) { s.errs = append(s.errs, fmt.Sprintf(format, args...)) }
		c, err := accept()
		if err != nil {
			fail("accept: %v", err)
			return
		}
		defer c.Close()
		go func() {
			<-stop
			c.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			fail("handshake: %v", err)
			return
		}
		cs := c.ConnectionState()
		s.state = cs
		if v := fsm.VersionName(cs.Version); v != "DTLS1.2" {
			fail("version %s", v)
		}
		if cs.CipherSuite != suite {
			fail("cipher suite %s", fsm.CipherSuiteName(cs.CipherSuite))
		}
		if clientCert && len(cs.VerifiedChains) == 0 {
			fail("client certificate not verified")
		}
		if !clientCert && len(cs.PeerCertificates) > 0 {
			fail("a client certificate")
		}
		if cs.SRTPProtectionProfile != wantSRTP {
			fail("SRTP profile %#04x", cs.SRTPProtectionProfile)
		}
		if s.ekm, err = c.ExportKeyingMaterial(srtpLabel, nil, 60); err != nil {
			fail("export: %v", err)
		}
		s.echo = serveEcho(c)
		s.remote = c.RemoteAddr().String()
	}()
	return done
}

// waitServed waits for the tlsm server of serveTLSM and checks it went well.
func waitServed(t testing.TB, done <-chan tlsmServed) tlsmServed {
	t.Helper()
	select {
	case s := <-done:
		require.Empty(t, s.errs, "tlsm server")
		require.NoError(t, s.echo.err, "tlsm server")
		return s
	case <-time.After(interopTimeout):
		t.Fatal("tlsm server did not finish")
		return tlsmServed{}
	}
}

// opensslFiles writes the certificate chain, key and CA for openssl.
func opensslFiles(t testing.TB) (certFile, keyFile, caFile string) {
	t.Helper()
	cert, _ := interopCert(t)
	certFile, keyFile, caFile, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	return certFile, keyFile, caFile
}

// opensslSuite is the OpenSSL name of a cipher suite.
func opensslSuite(suite uint16) string {
	switch suite {
	case aes128GCM:
		return "ECDHE-ECDSA-AES128-GCM-SHA256"
	case chacha20:
		return "ECDHE-ECDSA-CHACHA20-POLY1305"
	}
	return "unknown"
}

// opensslSession decodes the SSL SESSION PARAMETERS that s_server prints
// after a handshake (an ASN.1 SSL_SESSION) for the protocol version and
// the cipher suite.
func opensslSession(t testing.TB, out string) (version, suite uint16) {
	t.Helper()
	i := strings.Index(out, "-----BEGIN SSL SESSION PARAMETERS-----")
	require.GreaterOrEqual(t, i, 0, "no session parameters in s_server's output")
	block, _ := pem.Decode([]byte(out[i:]))
	require.NotNil(t, block)
	var sess struct {
		Version    int
		SSLVersion int
		Cipher     []byte
	}
	_, err := asn1.Unmarshal(block.Bytes, &sess)
	require.NoError(t, err)
	require.Len(t, sess.Cipher, 2)
	return uint16(sess.SSLVersion), uint16(sess.Cipher[0])<<8 | uint16(sess.Cipher[1])
}

// opensslMTU is the MTU of every openssl test.
const opensslMTU = 256

// opensslSRTP is the OpenSSL name of wantSRTP.
const opensslSRTP = "SRTP_AES128_CM_SHA1_80"

func TestInteropOpenSSL(t *testing.T) {
	t.Parallel()
	peers.Need(t, "openssl")

	for _, tc := range []struct {
		name   string
		listen bool // s_server -listen: DTLSv1_listen's cookie exchange
		suite  uint16
		// cid has tlsm ask for Connection IDs (RFC 9146), which OpenSSL
		// 3.0 does not know: none are used.
		cid bool
	}{
		{name: "listen/AES128GCM", listen: true, suite: aes128GCM},
		{name: "no-listen/CHACHA20/tlsm-asks-for-cid", listen: false, suite: chacha20, cid: true},
	} {
		t.Run("tlsm-client/s_server/"+tc.name, func(t *testing.T) {
			t.Parallel()
			certFile, keyFile, caFile := opensslFiles(t)
			port := peers.FreeUDPPort(t)
			args := []string{"-dtls1_2", "-mtu", "256",
				"-Verify", "1", "-CAfile", caFile, "-verify_return_error",
				"-use_srtp", opensslSRTP,
				"-keymatexport", srtpLabel, "-keymatexportlen", "60"}
			if tc.listen {
				args = append(args, "-listen")
			}
			srv := peers.OpenSSLServer(t, port, certFile, keyFile, args...)
			addr, err := net.ResolveUDPAddr("udp", peers.Addr(port))
			require.NoError(t, err)
			proxy := newRecordingProxy(t, addr)

			csock, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			cfg := tlsmClientConfig(t, tc.suite, opensslMTU)
			if tc.cid {
				cfg.ConnectionIDs = &fsm.ConnectionIDs{Length: 8}
			}
			c := dtls.Client(csock, proxy.Addr(), cfg)
			defer c.Close()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			defer cancel()
			require.NoError(t, c.HandshakeContext(ctx))
			handshake := time.Since(start)
			ekm := checkTLSMState(t, c, tc.suite)
			require.False(t, c.ConnectionState().ConnectionIDNegotiated, "Connection IDs with OpenSSL 3.0")

			srv.WaitOutput(t, "Keying material: ", interopTimeout)
			out := srv.Stdout()
			version, suite := opensslSession(t, out)
			require.Equal(t, uint16(wireDTLS12), version, "s_server's protocol version")
			require.Equal(t, tc.suite, suite, "s_server's cipher suite")
			require.Contains(t, out, "CIPHER is "+opensslSuite(tc.suite))
			require.Contains(t, out, "SRTP Extension negotiated, profile="+opensslSRTP)
			require.Equal(t, ekm, keyingMaterial(t, out), "SRTP keying material differs")

			start = time.Now()
			resends := exchangeWithServer(t, c, srv, proxy.Diag)
			t.Logf("handshake %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
			require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")

			// openssl checks the MTU too: its datagrams fit, and it
			// fragmented its certificate.
			checkMTU(t, proxy, c2s, opensslMTU)
			checkMTU(t, proxy, s2c, opensslMTU)
			// s_server turns on SSL_OP_COOKIE_EXCHANGE for DTLS with or
			// without -listen; -listen makes it stateless (DTLSv1_listen).
			checkCookie(t, proxy, true)
			// s_server prints DONE when it reads close_notify.
			require.NoError(t, c.Close())
			srv.WaitOutput(t, "DONE", interopTimeout)
			require.NotContains(t, srv.Stdout(), "ERROR")
			checkRecordNumbers(t, proxy)
		})
	}

	for _, tc := range []struct {
		name     string
		listener bool // dtls.Listen, else dtls.Server on a socket of its own
		// fullHello leaves s_client's cipher list alone: its ClientHello
		// then takes two fragments at this MTU.
		fullHello bool
	}{
		{name: "tlsm-listener/AES128GCM", listener: true},
		{name: "tlsm-listener/full-hello", listener: true, fullHello: true},
		{name: "tlsm-server/full-hello", fullHello: true},
	} {
		t.Run("s_client/"+tc.name, func(t *testing.T) {
			t.Parallel()
			testOpenSSLClient(t, tc.listener, tc.fullHello)
		})
	}
}

// testOpenSSLClient runs openssl s_client -dtls1_2 -mtu 256 against a
// tlsm server; with fullHello, s_client offers its whole cipher list.
func testOpenSSLClient(t *testing.T, listener, fullHello bool) {
	certFile, keyFile, caFile := opensslFiles(t)
	const suite = aes128GCM
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := newRecordingProxy(t, sock.LocalAddr())
	done := serveTLSM(t, tlsmAccept(t, sock, proxy.BackAddr(), tlsmServerConfig(t, suite, opensslMTU), listener), suite)

	start := time.Now()
	port := proxy.Addr().(*net.UDPAddr).Port
	args := []string{"-dtls1_2", "-mtu", "256",
		"-servername", "localhost",
		"-cert", certFile, "-key", keyFile,
		"-CAfile", caFile, "-verify_return_error", "-verify_hostname", "localhost",
		"-use_srtp", "SRTP_AEAD_AES_128_GCM:" + opensslSRTP,
		"-keymatexport", srtpLabel, "-keymatexportlen", "60"}
	if !fullHello {
		args = append(args, "-cipher", opensslSuite(suite))
	}
	cli := peers.OpenSSLClient(t, port, args...)
	cli.WaitOutput(t, "Keying material: ", interopTimeout)
	handshake := time.Since(start)
	out := cli.Stdout()
	require.Contains(t, out, "Protocol  : DTLSv1.2")
	require.Contains(t, out, "Cipher    : "+opensslSuite(suite))
	require.Contains(t, out, "SRTP Extension negotiated, profile="+opensslSRTP)
	require.Contains(t, out, "Verify return code: 0 (ok)")

	start = time.Now()
	resends := exchangeWithClient(t, cli, out, proxy.Diag)
	t.Logf("handshake (with process start) %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	// At the end of its input s_client sends close_notify and exits,
	// which ends the echo with io.EOF.
	start = time.Now()
	cli.CloseStdin()
	code, err := cli.Wait(interopTimeout)
	t.Logf("s_client exited %v after the end of its input", time.Since(start))
	require.NoError(t, err)
	require.Zero(t, code, "s_client exit status")

	s := waitServed(t, done)
	require.Equal(t, keyingMaterial(t, out), s.ekm, "SRTP keying material differs")
	checkSeqs(t, s.echo.seqs)
	checkCookie(t, proxy, true)
	checkMTU(t, proxy, c2s, opensslMTU)
	checkMTU(t, proxy, s2c, opensslMTU)
	if fullHello {
		// Each of its two ClientHellos, before and after the cookie.
		require.GreaterOrEqual(t, proxy.Stats(c2s).partial[hsClientHello], 4, "ClientHello not fragmented: %v", proxy.Stats(c2s))
	}
	checkRecordNumbers(t, proxy)
}

// exchangeWithServer runs interopMessages round trips between a tlsm
// client c and openssl s_server srv, which prints what it receives and
// sends the lines of its stdin: the test sends a message from c, waits
// for srv to print it, has srv answer, and checks the answer c reads.
func exchangeWithServer(t testing.TB, c *dtls.Conn, srv *peers.Proc, diag func() string) (resends int) {
	t.Helper()
	buf := make([]byte, 1<<16)
	off := len(srv.Stdout())
	for i := range interopMessages {
		msg := message("c2s", i, randomPayload(i))
		ans := string(answer([]byte(msg)))
		// Client to server.
		for attempt := 1; ; attempt++ {
			require.LessOrEqual(t, attempt, maxAttempts, "message %d never reached s_server", i)
			if attempt > 1 {
				resends++
				t.Logf("message %d: s_server did not print it within %v, resending; %s", i, replyWait, diag())
			}
			_, err := c.Write([]byte(msg))
			require.NoError(t, err)
			var ok bool
			if off, ok = waitOutput(srv, off, msg, replyWait); ok {
				break
			}
		}
		// Server to client.
	answer:
		for attempt := 1; ; attempt++ {
			require.LessOrEqual(t, attempt, maxAttempts, "answer %d never reached tlsm", i)
			if attempt > 1 {
				resends++
				t.Logf("answer %d: not read within %v, resending; %s", i, replyWait, diag())
			}
			srv.Send(strings.TrimSuffix(ans, "\n"))
			require.NoError(t, c.SetReadDeadline(time.Now().Add(replyWait)))
			for {
				n, err := c.Read(buf)
				if isTimeout(err) {
					continue answer
				}
				require.NoError(t, err, "read answer %d", i)
				// s_server sends what one read of its stdin returned:
				// after a resend, that may be two lines.
				got := false
				for _, line := range strings.SplitAfter(string(buf[:n]), "\n") {
					if seq := seqOf([]byte(line)); line == "" || seq >= 0 && seq < i {
						continue
					}
					require.Equal(t, ans, line, "answer %d", i)
					got = true
				}
				if got {
					break answer
				}
			}
		}
	}
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	return resends
}

// exchangeWithClient runs interopMessages round trips between openssl
// s_client cli, which sends the lines of its stdin and prints what it
// receives, and a tlsm server that answers each message.
func exchangeWithClient(t testing.TB, cli *peers.Proc, before string, diag func() string) (resends int) {
	t.Helper()
	off := len(before)
	for i := range interopMessages {
		msg := message("c2s", i, randomPayload(i))
		ans := string(answer([]byte(msg)))
		for attempt := 1; ; attempt++ {
			require.LessOrEqual(t, attempt, maxAttempts, "no answer to message %d", i)
			if attempt > 1 {
				resends++
				t.Logf("message %d: no answer within %v, resending; %s", i, replyWait, diag())
			}
			cli.Send(strings.TrimSuffix(msg, "\n"))
			var ok bool
			if off, ok = waitOutput(cli, off, ans, replyWait); ok {
				break
			}
		}
	}
	return resends
}

// TestListenerRecordNumbersAfterCookie drives a Listener with a raw tlsm
// client core, so the record numbers are under the test's control. RFC
// 6347 §4.2.1: a stateless server "MUST use the record sequence number in
// the ClientHello as the record sequence number in the
// HelloVerifyRequest", so that its HelloVerifyRequests, and then its
// ServerHello, never reuse a record number. A peer's replay window drops a
// record whose number it has seen: pion and OpenSSL then wait a whole
// retransmission timeout for the ServerHello (see the reused record
// numbers TestInteropPion and TestInteropOpenSSL report for the listener).
func TestListenerRecordNumbersAfterCookie(t *testing.T) {
	cc, sc := configs(t)
	ln := listen(t, sc)
	raw := loopbackSocket(t)
	buf := make([]byte, 1<<16)
	read := func() []byte {
		t.Helper()
		require.NoError(t, raw.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := raw.ReadFrom(buf)
		require.NoError(t, err)
		return append([]byte(nil), buf[:n]...)
	}

	// A client whose epoch-0 record numbers start at 7, as after a
	// retransmission or two.
	client := fsm.NewDTLSClient(cc)
	hello := firstFlight(t, client)
	setRecordSeq(hello, 7)
	_, err := raw.WriteTo(hello, ln.Addr())
	require.NoError(t, err)
	hvr := read()
	require.Equal(t, byte(hsHelloVerifyRequest), hvr[13], "HelloVerifyRequest")
	hvrSeq := recordSeq(hvr)
	assert.Equal(t, uint64(7), hvrSeq, "HelloVerifyRequest's record number is not the ClientHello's")

	require.NoError(t, client.HandleDatagram(time.Now(), hvr))
	hello2 := nextTransmit(t, client)
	setRecordSeq(hello2, 8)
	_, err = raw.WriteTo(hello2, ln.Addr())
	require.NoError(t, err)
	flight := read()
	require.Equal(t, byte(22), flight[0])
	require.Equal(t, byte(2), flight[13], "ServerHello")
	assert.Greater(t, recordSeq(flight), hvrSeq,
		"ServerHello's record number %d reuses or precedes the HelloVerifyRequest's %d", recordSeq(flight), hvrSeq)
}
