package dtls_test

import (
	"context"
	"net"
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
// too, which it sends), and DTLS-SRTP keys that must agree. tlsm enables
// DTLS 1.3 with MaxVersion; its server checks pion's address with a
// HelloRetryRequest cookie.
func TestInteropPionDTLS13(t *testing.T) {
	t.Run("tlsm-client", func(t *testing.T) {
		addr, done := startPionServer(t, pionServerOptions(t, pionServerCase{suite: fsm.TLS_AES_128_GCM_SHA256}))
		csock, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		cfg := tlsmClientConfig(t, fsm.TLS_AES_128_GCM_SHA256, 0)
		cfg.MinVersion, cfg.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
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
		require.NoError(t, s.echo.err, "pion server")
		checkSeqs(t, s.echo.seqs)
	})

	t.Run("pion-client", func(t *testing.T) {
		cfg := tlsmServerConfig(t, fsm.TLS_AES_128_GCM_SHA256, 0)
		cfg.MinVersion, cfg.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
		sock, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		csock, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		server := dtls.Server(sock, csock.LocalAddr(), cfg)
		defer server.Close()
		var updates []fsm.Event
		server.OnEvent(func(ev fsm.Event) {
			if ev.Kind == fsm.EventKeyUpdateSent || ev.Kind == fsm.EventKeyUpdateReceived {
				updates = append(updates, ev)
			}
		})
		served := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			defer cancel()
			if err := server.HandshakeContext(ctx); err != nil {
				served <- err
				return
			}
			served <- serveEcho(server).err
		}()
		c, err := piondtls.Client(csock, sock.LocalAddr(), pionClientOptions(t, pionClientCase{suite: fsm.TLS_AES_128_GCM_SHA256})...)
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
		select {
		case err := <-served:
			require.NoError(t, err, "tlsm server")
		case <-time.After(interopTimeout):
			t.Fatal("tlsm server did not finish")
		}
		ekm := checkTLSM13State(t, server.ConnectionState(), func(n int) ([]byte, error) { return server.ExportKeyingMaterial(srtpLabel, nil, n) })
		checkPion13State(t, ps, ekm)
		require.True(t, server.ConnectionState().HelloRetryRequest, "no cookie exchange")
		require.Len(t, updates, 2, "pion's key update and tlsm's answer: %v", updates)
		require.Equal(t, fsm.EventKeyUpdateReceived, updates[0].Kind)
		require.Equal(t, fsm.EventKeyUpdateSent, updates[1].Kind)
	})
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
