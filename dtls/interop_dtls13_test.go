package dtls_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// TestInteropPionDTLS13 runs DTLS 1.3 (RFC 9147) between tlsm and pion/dtls
// v4 both ways, with client certificates, the messages of the other
// interop tests, a key update each way halfway (asking the peer for one
// too, which it sends), and DTLS-SRTP keys that must agree; without
// Connection IDs and with them both ways (RFC 9147 §9), which tlsm's
// listener routes by. tlsm enables DTLS 1.3 with MaxVersion; its server
// checks pion's address with a HelloRetryRequest cookie.
func TestInteropPionDTLS13(t *testing.T) {
	for _, cid := range []cidSetup{{}, cidBoth()} {
		suffix := map[bool]string{false: "", true: "-cid"}[cid.tlsm != nil]
		t.Run("tlsm-client"+suffix, func(t *testing.T) { testTLSMClient13(t, cid) })
		for _, listener := range []bool{false, true} {
			name := map[bool]string{false: "pion-client", true: "pion-client-listener"}[listener]
			t.Run(name+suffix, func(t *testing.T) { testPionClient13(t, listener, cid) })
		}
	}
}

// checkTLSM13State checks a tlsm Conn that negotiated DTLS 1.3 with a
// verified peer and SRTP, and returns its SRTP keying material.
func checkTLSM13State(t testing.TB, cs fsm.ConnectionState, export func(int) ([]byte, error)) []byte {
	t.Helper()
	require.True(t, cs.HandshakeComplete)
	require.Equal(t, record.VersionDTLS13, cs.Version, "tlsm version %s", fsm.VersionName(cs.Version))
	require.Equal(t, fsm.TLS_AES_128_GCM_SHA256, cs.CipherSuite)
	require.NotEmpty(t, cs.VerifiedChains, "peer certificate not verified")
	require.Equal(t, wantSRTP, cs.SRTPProtectionProfile, "SRTP profile")
	ekm, err := export(srtpKeyingLen(t, cs.SRTPProtectionProfile))
	require.NoError(t, err)
	return ekm
}

// checkPion13State checks that pion negotiated DTLS 1.3 as tlsm did.
func checkPion13State(t testing.TB, ps pionState, tlsmEKM []byte) {
	t.Helper()
	require.NoError(t, ps.err)
	require.Equal(t, protocol.Version1_3, ps.version, "pion version")
	require.Positive(t, ps.certs, "pion saw no peer certificate")
	require.Equal(t, uint16(wantSRTP), uint16(ps.srtp), "pion SRTP profile")
	require.Equal(t, tlsmEKM, ps.ekm, "SRTP keying material differs")
}

// testPionClient13 runs a pion client against a tlsm DTLS 1.3 server on a
// socket of its own (dtls.Server) or behind dtls.NewListener.
func testPionClient13(t *testing.T, listener bool, cid cidSetup) {
	cfg := tlsmServerConfig(t, fsm.TLS_AES_128_GCM_SHA256, 0)
	cfg.MinVersion, cfg.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	cfg.ConnectionIDs = cid.tlsm
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	csock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	accept := tlsmAccept(t, sock, csock.LocalAddr(), cfg, listener)
	var mu sync.Mutex
	var updates []fsm.Event
	type served struct {
		conn *dtls.Conn
		err  error
	}
	done := make(chan served, 1)
	go func() {
		server, err := accept()
		if err != nil {
			done <- served{err: err}
			return
		}
		server.OnEvent(func(ev fsm.Event) {
			if ev.Kind == fsm.EventKeyUpdateSent || ev.Kind == fsm.EventKeyUpdateReceived {
				mu.Lock()
				updates = append(updates, ev)
				mu.Unlock()
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		if err := server.HandshakeContext(ctx); err != nil {
			done <- served{server, err}
			return
		}
		done <- served{server, serveEcho(server).err}
	}()
	c, err := piondtls.Client(csock, sock.LocalAddr(), pionClientOptions(t, pionClientCase{suite: fsm.TLS_AES_128_GCM_SHA256, cid: cid})...)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx))
	ps := pionStateOf(c)
	resends := exchangeRange(t, c, 0, interopMessages/2, func() string { return "" })
	// pion's UpdateKeys, asking tlsm for an update too, halfway: it
	// returns once tlsm has acknowledged it.
	require.NoError(t, c.UpdateKeys(ctx, piondtls.KeyUpdateOptions{RequestPeerUpdate: true}))
	resends += exchangeRange(t, c, interopMessages/2, interopMessages, func() string { return "" })
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	require.NoError(t, c.Close())
	var s served
	select {
	case s = <-done:
		require.NoError(t, s.err, "tlsm server")
	case <-time.After(interopTimeout):
		t.Fatal("tlsm server did not finish")
	}
	defer s.conn.Close()
	ekm := checkTLSM13State(t, s.conn.ConnectionState(), func(n int) ([]byte, error) { return s.conn.ExportKeyingMaterial(srtpLabel, nil, n) })
	checkPion13State(t, ps, ekm)
	checkCIDs13(t, cid, s.conn.ConnectionState(), ps.cids)
	require.True(t, s.conn.ConnectionState().HelloRetryRequest, "no cookie exchange")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, updates, 2, "pion's key update and tlsm's answer: %v", updates)
	require.Equal(t, fsm.EventKeyUpdateReceived, updates[0].Kind)
	require.Equal(t, fsm.EventKeyUpdateSent, updates[1].Kind)
}

// testTLSMClient13 runs a tlsm DTLS 1.3 client against a pion server.
func testTLSMClient13(t *testing.T, cid cidSetup) {
	addr, done := startPionServer(t, pionServerOptions(t, pionServerCase{suite: fsm.TLS_AES_128_GCM_SHA256, cid: cid}))
	csock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := tlsmClientConfig(t, fsm.TLS_AES_128_GCM_SHA256, 0)
	cfg.MinVersion, cfg.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	cfg.ConnectionIDs = cid.tlsm
	c := dtls.Client(csock, addr, cfg)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx))
	ekm := checkTLSM13State(t, c.ConnectionState(), func(n int) ([]byte, error) { return c.ExportKeyingMaterial(srtpLabel, nil, n) })
	var updates []fsm.Event
	c.OnEvent(func(ev fsm.Event) {
		if ev.Kind == fsm.EventKeyUpdateSent || ev.Kind == fsm.EventKeyUpdateReceived {
			updates = append(updates, ev)
		}
	})
	resends := exchangeRange(t, c, 0, interopMessages/2, func() string { return "" })
	// tlsm's k/K: a key update, asking pion for one too, halfway.
	require.NoError(t, c.KeyUpdate(fsm.UpdateRequested))
	resends += exchangeRange(t, c, interopMessages/2, interopMessages, func() string { return "" })
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	require.NoError(t, c.Close())
	require.Len(t, updates, 2, "tlsm's key update and pion's answer: %v", updates)
	var s pionServed
	select {
	case s = <-done:
	case <-time.After(interopTimeout):
		t.Fatal("pion server did not finish")
	}
	checkPion13State(t, s.state, ekm)
	checkCIDs13(t, cid, c.ConnectionState(), s.state.cids)
	require.NoError(t, s.echo.err, "pion server")
	checkSeqs(t, s.echo.seqs)
}

// checkCIDs13 checks that tlsm and pion agree on the CIDs of a DTLS 1.3
// connection, when the case uses them.
func checkCIDs13(t testing.TB, cid cidSetup, cs fsm.ConnectionState, pion pionCIDs) {
	t.Helper()
	require.Equal(t, cid.tlsm != nil, cs.ConnectionIDNegotiated, "CIDs negotiated")
	require.Len(t, cs.ConnectionID, cid.tlsmLen(), "the CID tlsm asked for")
	require.Len(t, cs.PeerConnectionID, cid.pionLen(), "the CID pion asked for")
	require.Equal(t, cs.ConnectionID, []byte(pion.RemoteConnectionID), "the CID pion sends")
	require.Equal(t, cs.PeerConnectionID, []byte(pion.LocalConnectionID), "the CID pion asked for")
}
