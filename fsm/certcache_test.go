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
// keeps none, and checks that the cache does not grow with them.
func TestCertificateCacheForgetsDeadEntries(t *testing.T) {
	cache := fsm.NewCertificateCache()
	ders := distinctCertificates(t, 1000)
	for i, der := range ders {
		_, err := cache.Parse(der)
		require.NoError(t, err)
		if i%100 == 99 {
			runtime.GC()
		}
	}
	require.Less(t, cache.Len(), 300, "dead entries are swept as the cache grows")
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
	require.True(t, a != c, "a Config's own cache starts empty")
	require.Equal(t, a.Raw, c.Raw)
	require.Equal(t, 2, cc.CertificateCache.Len(), "leaf and CA of the chain")
	runtime.KeepAlive(a)
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
// it stops growing at its limit, and what does not fit is still parsed.
func TestCertificateCacheLimit(t *testing.T) {
	cache := fsm.NewCertificateCacheForTest(8)
	ders := distinctCertificates(t, 20)
	var live []*x509.Certificate
	for _, der := range ders {
		cert, err := cache.Parse(der)
		require.NoError(t, err)
		live = append(live, cert)
	}
	require.Equal(t, 8, cache.Len())
	again, err := cache.Parse(ders[19])
	require.NoError(t, err)
	require.True(t, again != live[19], "not remembered: parsed afresh")
	require.Equal(t, live[19].Raw, again.Raw)
	cached, err := cache.Parse(ders[0])
	require.NoError(t, err)
	require.Same(t, live[0], cached)
	runtime.KeepAlive(live)
}
