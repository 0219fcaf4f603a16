package fsm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

func TestCertificateCacheSharesLiveCertificates(t *testing.T) {
	cache := fsm.NewCertificateCache()
	der := testcert.MustNew(testcert.ECDSAP256).CertDER[0]
	in := append([]byte(nil), der...)
	first, err := cache.Parse(in)
	require.NoError(t, err)
	clear(in) // the caller's buffer is its own again
	second, err := cache.Parse(der)
	require.NoError(t, err)
	require.Same(t, first, second)
	require.Equal(t, der, first.Raw)
	require.Equal(t, 1, cache.Len())
}

func TestCertificateCacheRejectsGarbage(t *testing.T) {
	cache := fsm.NewCertificateCache()
	_, err := cache.Parse([]byte{0x30, 0x03, 0x02, 0x01})
	require.Error(t, err)
	require.Zero(t, cache.Len())
}

// TestCertificateCacheForgetsDeadEntries parses many distinct certificates,
// keeps none, and checks that their entries go once they are collected.
func TestCertificateCacheForgetsDeadEntries(t *testing.T) {
	cache := fsm.NewCertificateCache()
	for _, der := range distinctCertificates(t, 300) {
		_, err := cache.Parse(der)
		require.NoError(t, err)
	}
	require.True(t, waitEmpty(cache), "entries left after collection: %d", cache.Len())
}

// waitEmpty collects garbage until the cache's cleanups have emptied it,
// for up to five seconds (cleanups run on the runtime's own schedule).
func waitEmpty(cache *fsm.CertificateCache) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if cache.Len() == 0 {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func distinctCertificates(t *testing.T, n int) [][]byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ders := make([][]byte, n)
	for i := range ders {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1))}
		ders[i], err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		require.NoError(t, err)
	}
	return ders
}

// TestConnectionsShareParsedCertificates checks that two handshakes with
// one Config see one parsed server certificate, and that a Config given
// its own cache uses it.
func TestConnectionsShareParsedCertificates(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.SessionTicketsDisabled = true // full handshakes: a resumed one reuses the session's certificates
	peerLeaf := func() *x509.Certificate {
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		return p.Client.Conn.ConnectionState().PeerCertificates[0]
	}
	a, b := peerLeaf(), peerLeaf()
	require.Same(t, a, b)

	cc.CertificateCache = fsm.NewCertificateCache()
	c := peerLeaf()
	require.Same(t, a, c, "a Config's own cache starts empty, but the process's has the live leaf")
	require.Equal(t, 2, cc.CertificateCache.Len(), "leaf and CA of the chain")
	runtime.KeepAlive(a)
}

// TestDroppedCachesAreCollected makes a Config with a cache of its own
// per connection, as a process may, while one connection keeps the
// server's certificate alive: every new connection shares that
// certificate, and every dropped cache is collected all the same (a
// cache hooked to the shared certificate, by a cleanup, would live as
// long as it).
func TestDroppedCachesAreCollected(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.SessionTicketsDisabled = true
	handshake := func(cfg *fsm.Config) *x509.Certificate {
		p := memconn.New(cfg, sc)
		require.NoError(t, p.Handshake())
		return p.Client.Conn.ConnectionState().PeerCertificates[0]
	}
	kept := handshake(cc)
	var caches []weak.Pointer[fsm.CertificateCache]
	for range 50 {
		cfg := cc.Clone()
		cfg.CertificateCache = fsm.NewCertificateCache()
		require.Same(t, kept, handshake(cfg))
		caches = append(caches, weak.Make(cfg.CertificateCache))
	}
	live := func() int {
		n := 0
		for _, c := range caches {
			if c.Value() != nil {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); live() > 0 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	require.Zero(t, live(), "caches still alive")
	runtime.KeepAlive(kept)
}

// TestCertificateCacheSweepsAsItGrows parses certificates that die, then
// as many live ones: the entries of the dead go as the new come, without
// anyone asking for the cache's length.
func TestCertificateCacheSweepsAsItGrows(t *testing.T) {
	ders := distinctCertificates(t, 600)
	cache := fsm.NewCertificateCache()
	for _, der := range ders[:300] {
		_, err := cache.Parse(der)
		require.NoError(t, err)
	}
	runtime.GC()
	var live []*x509.Certificate
	for _, der := range ders[300:] {
		cert, err := cache.Parse(der)
		require.NoError(t, err)
		live = append(live, cert)
	}
	require.LessOrEqual(t, cache.EntriesForTest(), 300+64)
	runtime.KeepAlive(live)
}

// TestVerifiedChainsAreRemembered checks that a repeated full handshake
// does not verify the same chain again, and that what the remembered
// verification depends on (the time, the roots, the name) still counts.
func TestVerifiedChainsAreRemembered(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.SessionTicketsDisabled = true
	cc.CertificateCache = fsm.NewCertificateCache()
	handshake := func(at time.Time) *memconn.Pair {
		p := memconn.New(cc, sc)
		p.Now = at
		_ = p.Handshake()
		return p
	}
	now := time.Now()
	first := handshake(now) // alive to the end, and so its certificates
	defer runtime.KeepAlive(first)
	require.Equal(t, 0, cc.CertificateCache.VerifyHitsForTest())
	second := handshake(now.Add(time.Hour))
	require.NoError(t, second.Client.Err)
	require.Equal(t, 1, cc.CertificateCache.VerifyHitsForTest())
	require.Equal(t, 1, cc.CertificateCache.VerifiedLenForTest())
	require.Equal(t, first.Client.Conn.ConnectionState().VerifiedChains, second.Client.Conn.ConnectionState().VerifiedChains)

	expired := handshake(now.Add(48 * time.Hour))
	require.ErrorIs(t, expired.Client.CloseErr, fsm.Alert(45)) // certificate_expired

	cc.ServerName = "elsewhere.example"
	renamed := handshake(now)
	require.ErrorIs(t, renamed.Client.CloseErr, fsm.Alert(42)) // bad_certificate

	cc.ServerName = "localhost"
	cc.RootCAs = testcert.MustNew(testcert.Ed25519).CAPool
	untrusted := handshake(now)
	require.ErrorIs(t, untrusted.Client.CloseErr, fsm.Alert(48)) // unknown_ca
	require.Equal(t, 1, cc.CertificateCache.VerifyHitsForTest())
}

// TestVerifiedClientChainsAreRemembered is the same for a server that
// verifies client certificates.
func TestVerifiedClientChainsAreRemembered(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cert := testcert.MustNew(testcert.ECDSAP256)
	cc.Certificates = []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}
	sc.ClientAuth = fsm.RequireAndVerifyClientCert
	sc.ClientCAs = cert.CAPool
	sc.SessionTicketsDisabled = true
	var pairs []*memconn.Pair // alive, so that the weakly cached certificates are too
	for range 3 {
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		require.Len(t, p.Server.Conn.ConnectionState().VerifiedChains, 1)
		pairs = append(pairs, p)
	}
	require.Equal(t, 2, sc.CertificateCacheForTest().VerifyHitsForTest())
	runtime.KeepAlive(pairs)
}

// TestCertificateCacheLimit fills a small cache with live certificates:
// it stops growing at its limit, what does not fit is still parsed, and
// once the certificates are collected the cache takes new ones again.
func TestCertificateCacheLimit(t *testing.T) {
	ders := distinctCertificates(t, 20)
	eight := 0 // the bytes of the first eight encodings, which differ in length
	for _, der := range ders[:8] {
		eight += len(der)
	}
	for _, tc := range []struct {
		name             string
		limit, byteLimit int
	}{
		{"entries", 8, 1 << 20},
		{"bytes", 100, eight},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := fsm.NewCertificateCacheForTest(tc.limit, tc.byteLimit)
			var live []*x509.Certificate
			for _, der := range ders {
				cert, err := cache.Parse(der)
				require.NoError(t, err)
				live = append(live, cert)
			}
			require.Equal(t, 8, cache.Len())
			again, err := cache.Parse(ders[19])
			require.NoError(t, err)
			require.Same(t, live[19], again, "not in this cache, but the process's")
			cached, err := cache.Parse(ders[0])
			require.NoError(t, err)
			require.Same(t, live[0], cached)
			runtime.KeepAlive(live)

			live, again, cached = nil, nil, nil
			require.True(t, waitEmpty(cache), "entries left after collection: %d", cache.Len())
			first, err := cache.Parse(ders[19])
			require.NoError(t, err)
			second, err := cache.Parse(ders[19])
			require.NoError(t, err)
			require.Same(t, first, second, "room again once the old entries went")
		})
	}
}

// TestVerificationWithoutTimeIsNotRemembered: given no time, x509 reads
// the clock itself, which the cache cannot key by, so every handshake
// verifies.
func TestVerificationWithoutTimeIsNotRemembered(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.SessionTicketsDisabled = true
	cc.CertificateCache = fsm.NewCertificateCache()
	var pairs []*memconn.Pair
	for range 2 {
		p := memconn.New(cc, sc)
		p.Now = time.Time{}
		require.NoError(t, p.Handshake())
		pairs = append(pairs, p)
	}
	require.Zero(t, cc.CertificateCache.VerifyHitsForTest())
	require.Zero(t, cc.CertificateCache.VerifiedLenForTest(), "nothing remembered")
	require.Equal(t, 2, cc.CertificateCache.Len(), "parsing is still shared")
	runtime.KeepAlive(pairs)
}
