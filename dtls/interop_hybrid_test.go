package dtls_test

// Post-quantum hybrid key exchange over DTLS 1.3 (draft-ietf-tls-ecdhe-mlkem):
// against pion/dtls v4, which has X25519MLKEM768, and tlsm to tlsm for
// each hybrid. A ClientHello with an ML-KEM share is larger than a 1,200
// byte datagram: it goes in fragments, and the server takes the hybrid
// from them without asking for another hello.

import (
	"net"
	"testing"

	piondtls "github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/elliptic"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
)

// checkHybridWire checks what the proxy saw of a DTLS 1.3 handshake on
// group: the ClientHellos (one, or two after a cookie retry) each in more
// than one fragment with a key share of group, and a ServerHello taking
// group; retried tells whether a HelloRetryRequest (for the cookie, not
// for a share) came first. Every datagram fits mtu.
func checkHybridWire(t testing.TB, p *recordingProxy, group fsm.CurveID, retried bool, mtu int) {
	t.Helper()
	up, down := p.Stats(c2s), p.Stats(s2c)
	wantHellos := 1
	if retried {
		wantHellos = 2
	}
	require.Len(t, up.clientHellos, wantHellos, "ClientHellos")
	require.Len(t, down.serverHellos, wantHellos, "ServerHellos")
	require.Positive(t, up.partial[hsClientHello], "ClientHello not fragmented")
	for _, ch := range up.clientHellos {
		require.True(t, hasShare(ch, group), "ClientHello without a %v share: %v", group, ch.KeyShares)
	}
	if retried {
		hrr := down.serverHellos[0]
		require.True(t, hrr.IsHelloRetryRequest())
		require.Zero(t, hrr.SelectedGroup, "the retry asked for another share")
		require.NotEmpty(t, up.clientHellos[1].Cookie, "second ClientHello without the cookie")
	}
	sh := down.serverHellos[wantHellos-1]
	require.False(t, sh.IsHelloRetryRequest())
	require.Equal(t, uint16(group), sh.KeyShare.Group, "ServerHello's group")
	require.LessOrEqual(t, up.maxSize, mtu, "client datagram size")
	require.LessOrEqual(t, down.maxSize, mtu, "server datagram size")
}

func hasShare(ch *flights.ClientHello, group fsm.CurveID) bool {
	for _, ks := range ch.KeyShares {
		if ks.Group == uint16(group) {
			return true
		}
	}
	return false
}

// TestInteropPionDTLS13Hybrid: X25519MLKEM768 with pion both ways. A
// default tlsm client sends the hybrid and X25519 shares, and pion's
// server (which prefers the hybrid) takes the first; a pion client
// preferring the hybrid sends both shares too, and tlsm's server takes the
// hybrid, on a socket of its own and behind a listener, with and without
// the cookie exchange. A default pion client sends an X25519 share only:
// tlsm takes it rather than ask for the hybrid.
func TestInteropPionDTLS13Hybrid(t *testing.T) {
	t.Run("tlsm-client/pion-server", func(t *testing.T) {
		addr, done := startPionServer(t, pionServerOptions(t, pionServerCase{suite: suite13}))
		proxy := newRecordingProxy(t, addr)
		c, _ := dialTLSM13(t, proxy.Addr(), only13(tlsmClientConfig(t, suite13, 0)))
		cs := c.ConnectionState()
		ekm := checkTLSM13State(t, cs, exporter(c))
		require.Equal(t, fsm.X25519MLKEM768, cs.CurveID)
		require.False(t, cs.HelloRetryRequest)
		exchangeAll(t, c, proxy.Diag)
		require.NoError(t, c.Close())
		s := waitPionServed(t, done)
		checkPion13State(t, s.state, ekm)
		checkHybridWire(t, proxy, fsm.X25519MLKEM768, false, fsm.DefaultMTU)
		require.Equal(t, []uint16{uint16(fsm.X25519MLKEM768), uint16(fsm.X25519)}, groupsOf(proxy.Stats(c2s).clientHellos[0]))
	})
	for _, tc := range []struct {
		name             string
		listener, cookie bool
	}{
		{"tlsm-server", false, false},
		{"tlsm-listener", true, false},
		{"tlsm-listener/cookie", true, true},
	} {
		t.Run("pion-client/"+tc.name, func(t *testing.T) {
			cs, proxy := pionClientHybrid(t, tc.listener, tc.cookie, elliptic.X25519MLKEM768, elliptic.X25519)
			require.Equal(t, fsm.X25519MLKEM768, cs.CurveID)
			require.Equal(t, tc.cookie, cs.HelloRetryRequest)
			checkHybridWire(t, proxy, fsm.X25519MLKEM768, tc.cookie, fsm.DefaultMTU)
		})
	}
	t.Run("pion-client-defaults/tlsm-server", func(t *testing.T) {
		cs, proxy := pionClientHybrid(t, false, false)
		require.Equal(t, fsm.X25519, cs.CurveID)
		require.False(t, cs.HelloRetryRequest)
		up := proxy.Stats(c2s)
		require.Len(t, up.clientHellos, 1)
		require.Equal(t, []uint16{uint16(fsm.X25519)}, groupsOf(up.clientHellos[0]))
	})
}

func groupsOf(ch *flights.ClientHello) []uint16 {
	var out []uint16
	for _, ks := range ch.KeyShares {
		out = append(out, ks.Group)
	}
	return out
}

// pionClientHybrid runs a pion client with curves (its defaults when
// none) against a default tlsm DTLS 1.3 server through a proxy, and
// returns the server's state and the proxy.
func pionClientHybrid(t *testing.T, listener, cookie bool, curves ...elliptic.Curve) (fsm.ConnectionState, *recordingProxy) {
	cfg := only13(tlsmServerConfig(t, suite13, 0))
	cfg.InsecureSkipHelloVerify = !cookie
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := newRecordingProxy(t, sock.LocalAddr())
	done := serveTLSM13(t, tlsmAccept(t, sock, proxy.BackAddr(), cfg, listener))
	opts := pionClientOptions(t, pionClientCase{suite: suite13})
	if len(curves) > 0 {
		opts = append(opts, piondtls.WithEllipticCurves(curves...))
	}
	c := dialPion(t, proxy.Addr(), opts)
	ps := pionStateOf(c)
	exchangeAll(t, c, proxy.Diag)
	require.NoError(t, c.Close())
	s := waitTLSM13(t, done)
	cs := s.conn.ConnectionState()
	checkPion13State(t, ps, checkTLSM13State(t, cs, exporter(s.conn)))
	return cs, proxy
}

// TestDTLS13HybridUDP: tlsm to tlsm over UDP on 127.0.0.1 with each
// hybrid, datagrams of at most 1,200 bytes, behind a listener that checks
// the client's address with a cookie and without.
func TestDTLS13HybridUDP(t *testing.T) {
	for _, group := range []fsm.CurveID{fsm.X25519MLKEM768, fsm.SecP256r1MLKEM768, fsm.SecP384r1MLKEM1024} {
		for _, cookie := range []bool{false, true} {
			name := group.String() + map[bool]string{false: "/no-cookie", true: "/cookie"}[cookie]
			t.Run(name, func(t *testing.T) {
				scfg := only13(tlsmServerConfig(t, suite13, 1200))
				scfg.CurvePreferences = []fsm.CurveID{group}
				scfg.InsecureSkipHelloVerify = !cookie
				sock, err := net.ListenPacket("udp", "127.0.0.1:0")
				require.NoError(t, err)
				proxy := newRecordingProxy(t, sock.LocalAddr())
				done := serveTLSM13(t, tlsmAccept(t, sock, proxy.BackAddr(), scfg, true))
				ccfg := only13(tlsmClientConfig(t, suite13, 1200))
				ccfg.CurvePreferences = []fsm.CurveID{group}
				c, _ := dialTLSM13(t, proxy.Addr(), ccfg)
				exchangeAll(t, c, proxy.Diag)
				require.NoError(t, c.Close())
				s := waitTLSM13(t, done)
				for _, cs := range []fsm.ConnectionState{c.ConnectionState(), s.conn.ConnectionState()} {
					require.Equal(t, group, cs.CurveID)
					require.Equal(t, cookie, cs.HelloRetryRequest)
				}
				checkHybridWire(t, proxy, group, cookie, 1200)
			})
		}
	}
}
