package dtls_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// resumeMessages is how many messages go each way on each connection of
// TestInteropPionResumption.
const resumeMessages = 20

// pionSessions is a pion SessionStore in memory.
type pionSessions struct {
	mu sync.Mutex
	m  map[string]piondtls.Session
}

func (s *pionSessions) Set(key []byte, sess piondtls.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]piondtls.Session{}
	}
	s.m[string(key)] = sess
	return nil
}

func (s *pionSessions) Get(key []byte) (piondtls.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[string(key)], nil
}

func (s *pionSessions) Del(key []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, string(key))
	return nil
}

// TestInteropPionResumption: a second connection resumes the session of
// the first with an abbreviated handshake, in which the server's Finished
// comes first, under Connection IDs both ways that each connection
// negotiates afresh (RFC 9146). The clients are anonymous: pion's server
// resumes no client that sent a certificate (it drops the session then,
// after CVE-2016-5419), and a resumed tlsm Conn reports the peer's
// certificates but no VerifiedChains.
func TestInteropPionResumption(t *testing.T) {
	t.Parallel()
	t.Run("pion-client/tlsm-listener", func(t *testing.T) {
		t.Parallel()
		testPionClientResumes(t)
	})
	t.Run("tlsm-client/pion-server", func(t *testing.T) {
		t.Parallel()
		testPionServerResumes(t)
	})
}

func testPionClientResumes(t *testing.T) {
	tc := pionClientCase{suite: aes128GCM, listener: true, cookie: true, dtls12Only: true, cid: cidBoth()}
	cfg := tlsmServerConfig(t, tc.suite, 0)
	cfg.ClientAuth, cfg.ClientCAs = fsm.NoClientCert, nil
	cfg.ConnectionIDs = tc.cid.tlsm
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	accept := tlsmAccept(t, sock, nil, cfg, true)
	// pion keeps a client's sessions by server address and name: the
	// second connection goes through the same proxy.
	opts := append(pionClientOptions(t, tc), piondtls.WithSessionStore(&pionSessions{}))
	proxy := newRecordingProxy(t, sock.LocalAddr())
	proxy.SetConnectionIDs(tc.cid.tlsmLen(), tc.cid.pionLen())
	var cids [][]byte
	for i := range 2 {
		if i > 0 {
			proxy.nextClient(t)
		}
		done := serveTLSMWith(t, accept, tc.suite, false)
		c := dialPion(t, proxy.Addr(), opts)
		ps := pionStateOf(c)
		resends := exchangeRange(t, c, 0, resumeMessages, proxy.Diag)
		require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
		require.NoError(t, c.Close())
		s := waitServed(t, done)
		require.Equal(t, i == 1, s.state.DidResume, "connection %d resumed", i)
		require.NoError(t, ps.err)
		require.Equal(t, s.ekm, ps.ekm, "SRTP keying material differs")
		tc.cid.check(t, s.state, ps.cids, proxy, c2s)
		checkRecordNumbers(t, proxy)
		cids = append(cids, s.state.ConnectionID)
	}
	require.NotEqual(t, cids[0], cids[1], "the resumed connection has CIDs of its own")
}

func testPionServerResumes(t *testing.T) {
	tc := pionServerCase{suite: chacha20, cookie: true, dtls12Only: true, cid: cidBoth()}
	opts := append(pionServerOptions(t, tc),
		piondtls.WithClientAuth(piondtls.NoClientCert), piondtls.WithSessionStore(&pionSessions{}))
	ln := listenPion(t, opts)
	cfg := tlsmClientConfig(t, tc.suite, 0)
	cfg.Certificates = nil
	cfg.ConnectionIDs = tc.cid.tlsm
	var cids [][]byte
	for i := range 2 {
		done := servePion(ln)
		proxy := newRecordingProxy(t, ln.Addr())
		proxy.SetConnectionIDs(tc.cid.pionLen(), tc.cid.tlsmLen())
		csock, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		c := dtls.Client(csock, proxy.Addr(), cfg)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		require.NoError(t, c.HandshakeContext(ctx))
		cancel()
		cs := c.ConnectionState()
		require.Equal(t, i == 1, cs.DidResume, "connection %d resumed", i)
		ekm, err := c.ExportKeyingMaterial(srtpLabel, nil, 60)
		require.NoError(t, err)
		resends := exchangeRange(t, c, 0, resumeMessages, proxy.Diag)
		require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
		require.NoError(t, c.Close())
		var s pionServed
		select {
		case s = <-done:
		case <-time.After(interopTimeout):
			t.Fatal("pion server did not finish")
		}
		require.NoError(t, s.state.err)
		require.NoError(t, s.echo.err, "pion server")
		require.Equal(t, ekm, s.state.ekm, "SRTP keying material differs")
		tc.cid.check(t, cs, s.state.cids, proxy, s2c)
		checkRecordNumbers(t, proxy)
		cids = append(cids, cs.ConnectionID)
	}
	require.NotEqual(t, cids[0], cids[1], "the resumed connection has CIDs of its own")
}
