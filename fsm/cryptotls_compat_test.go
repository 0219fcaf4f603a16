package fsm_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

// TestX509KeyPair: PEM loads as crypto/tls's X509KeyPair does, and a
// crypto/tls Certificate converts; a key that cannot sign is refused.
func TestX509KeyPair(t *testing.T) {
	for _, kind := range []testcert.Kind{testcert.ECDSAP256, testcert.RSA2048, testcert.Ed25519} {
		cert := testcert.MustNew(kind)
		pair, err := fsm.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		require.NoError(t, err, kind)
		require.Len(t, pair.Certificate, 2)
		cc, _ := configs(t, kind)
		p := memconn.New(cc, &fsm.Config{Certificates: []fsm.Certificate{pair}})
		require.NoError(t, p.Handshake(), kind)
		require.True(t, cert.Leaf.Equal(p.Client.Conn.ConnectionState().PeerCertificates[0]))

		std := cert.TLSCertificate()
		std.SupportedSignatureAlgorithms = []gotls.SignatureScheme{gotls.PSSWithSHA256}
		conv, err := fsm.CertificateFromTLS(&std)
		require.NoError(t, err)
		require.Equal(t, []uint16{uint16(gotls.PSSWithSHA256)}, conv.SupportedSignatureAlgorithms)
	}
	_, err := fsm.X509KeyPair([]byte("not PEM"), nil)
	require.Error(t, err)
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, err = fsm.CertificateFromTLS(&gotls.Certificate{Certificate: [][]byte{{1}}, PrivateKey: x})
	require.ErrorContains(t, err, "not a crypto.Signer")
}

// TestGetCertificateFromTLS: a callback written for crypto/tls (as
// autocert's) chooses the certificate from crypto/tls's ClientHelloInfo,
// which carries what the client offered.
func TestGetCertificateFromTLS(t *testing.T) {
	ecdsaCert, rsaCert := testcert.MustNew(testcert.ECDSAP256), testcert.MustNew(testcert.RSA2048)
	var seen *gotls.ClientHelloInfo
	get := func(hello *gotls.ClientHelloInfo) (*gotls.Certificate, error) {
		seen = hello
		c := rsaCert.TLSCertificate()
		if hello.ServerName == "ecdsa.test" {
			c = ecdsaCert.TLSCertificate()
		}
		return &c, nil
	}
	sc := &fsm.Config{GetCertificate: fsm.GetCertificateFromTLS(get)}
	for _, version := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		cc := &fsm.Config{RootCAs: ecdsaCert.CAPool, ServerName: "ecdsa.test", MaxVersion: version, InsecureSkipVerify: true}
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		require.True(t, ecdsaCert.Leaf.Equal(p.Client.Conn.ConnectionState().PeerCertificates[0]))
		require.Equal(t, "ecdsa.test", seen.ServerName)
		require.Contains(t, seen.SupportedVersions, version)
		require.NotEmpty(t, seen.CipherSuites)
		require.Contains(t, seen.SupportedCurves, gotls.X25519)
		require.Contains(t, seen.SignatureSchemes, gotls.ECDSAWithP256AndSHA256)
	}
}

// TestGetConfigForClient: a server's Config is chosen per ClientHello;
// an error fails the handshake with internal_error.
func TestGetConfigForClient(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	chosen := &fsm.Config{Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}, NextProtos: []string{"h2"}}
	var names []string
	sc := &fsm.Config{GetConfigForClient: func(hello *fsm.ClientHelloInfo) (*fsm.Config, error) {
		names = append(names, hello.ServerName)
		if hello.ServerName == "refused.test" {
			return nil, errors.New("no such site")
		}
		return chosen, nil
	}}
	cc := &fsm.Config{RootCAs: cert.CAPool, ServerName: "localhost", NextProtos: []string{"h2"}}
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	require.Equal(t, "h2", p.Client.Conn.ConnectionState().NegotiatedProtocol)

	cc2 := &fsm.Config{RootCAs: cert.CAPool, ServerName: "refused.test"}
	p = memconn.New(cc2, sc)
	require.Error(t, p.Handshake())
	require.ErrorIs(t, p.Client.Conn.Err(), fsm.AlertInternalError)
	require.ErrorContains(t, p.Server.Conn.Err(), "no such site")
	require.Equal(t, []string{"localhost", "refused.test"}, names)
}

// TestGetClientCertificate: the client's certificate comes from the
// callback, in both versions; an empty one sends none.
func TestGetClientCertificate(t *testing.T) {
	clientCert, err := testcert.NewClientCert(testcert.ECDSAP256)
	require.NoError(t, err)
	for _, version := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion, cc.ClientSessionCache = version, fsm.NoSessionCache // every handshake full
		sc.ClientAuth, sc.ClientCAs = fsm.RequireAndVerifyClientCert, clientCert.CAPool
		var info *fsm.CertificateRequestInfo
		cc.GetClientCertificate = func(cri *fsm.CertificateRequestInfo) (*fsm.Certificate, error) {
			info = cri
			return &fsm.Certificate{Certificate: clientCert.CertDER, PrivateKey: clientCert.Key}, nil
		}
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake(), fsm.VersionName(version))
		require.True(t, clientCert.Leaf.Equal(p.Server.Conn.ConnectionState().PeerCertificates[0]))
		require.Equal(t, version, info.Version)
		require.NotEmpty(t, info.SignatureSchemes)
		require.NotNil(t, info.Context())

		cc.GetClientCertificate = func(*fsm.CertificateRequestInfo) (*fsm.Certificate, error) { return &fsm.Certificate{}, nil }
		p = memconn.New(cc, sc)
		require.Error(t, p.Handshake())
		require.ErrorIs(t, p.Server.Conn.Err(), map[uint16]fsm.Alert{fsm.VersionTLS13: fsm.AlertCertificateRequired, fsm.VersionTLS12: fsm.AlertHandshakeFailure}[version])
	}
}

// TestVerifyConnection: called after every handshake, full and resumed,
// with the state it reports; its error fails the handshake.
func TestVerifyConnection(t *testing.T) {
	for _, version := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion = version
		var states []fsm.ConnectionState
		cc.VerifyConnection = func(cs fsm.ConnectionState) error {
			states = append(states, cs)
			return nil
		}
		for range 2 {
			require.NoError(t, memconn.New(cc, sc).Handshake())
		}
		require.Len(t, states, 2)
		for i, cs := range states {
			require.True(t, cs.HandshakeComplete)
			require.Equal(t, i == 1, cs.DidResume, "handshake %d", i)
			require.NotEmpty(t, cs.PeerCertificates)
			require.Equal(t, version, cs.Version)
		}
		require.NotEmpty(t, states[0].VerifiedChains)

		mine := errors.New("not this one")
		sc.VerifyConnection = func(fsm.ConnectionState) error { return mine }
		p := memconn.New(cc, sc)
		require.Error(t, p.Handshake())
		require.ErrorIs(t, p.Server.Conn.Err(), mine)
		require.ErrorIs(t, p.Client.Conn.Err(), fsm.AlertBadCertificate)

		// An error that wraps an Alert sends that alert.
		sc.VerifyConnection = func(fsm.ConnectionState) error { return fmt.Errorf("no entry: %w", fsm.AlertAccessDenied) }
		p = memconn.New(cc, sc)
		require.Error(t, p.Handshake())
		require.ErrorIs(t, p.Client.Conn.Err(), fsm.AlertAccessDenied)
		sc.VerifyConnection = nil
	}
}

// TestConfigTime: Config.Time, not the time of the calls, is what the
// certificate is checked against.
func TestConfigTime(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.Time = func() time.Time { return time.Now().Add(50 * 365 * 24 * time.Hour) }
	p := memconn.New(cc, sc)
	require.Error(t, p.Handshake())
	require.ErrorIs(t, p.Client.Conn.Err(), fsm.AlertCertificateExpired)
}

// TestNoSessionCache: a client given NoSessionCache never resumes.
func TestNoSessionCache(t *testing.T) {
	for _, version := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion, cc.ClientSessionCache = version, fsm.NoSessionCache
		for range 2 {
			p := memconn.New(cc, sc)
			require.NoError(t, p.Handshake())
			require.False(t, p.Client.Conn.ConnectionState().DidResume)
		}
	}
}

// TestCallbackContext: the adapters' net.Conn and context reach the
// callbacks, as in crypto/tls.
func TestCallbackContext(t *testing.T) {
	type key struct{}
	cc, sc := configs(t, testcert.ECDSAP256)
	var got context.Context
	certs := sc.Certificates
	sc.Certificates = nil
	sc.GetCertificate = func(hello *fsm.ClientHelloInfo) (*fsm.Certificate, error) {
		got = hello.Context()
		return &certs[0], nil
	}
	p := memconn.New(cc, sc)
	p.Server.Conn.SetCallbackContext(context.WithValue(context.Background(), key{}, "here"), nil)
	require.NoError(t, p.Handshake())
	require.Equal(t, "here", got.Value(key{}))
}

// TestHelloRetryRequestReported: ConnectionState says when a handshake
// took a HelloRetryRequest, as crypto/tls's does, and ToTLS carries it.
func TestHelloRetryRequestReported(t *testing.T) {
	for _, retry := range []bool{false, true} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
		if retry {
			sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
		}
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		for _, c := range []*fsm.Conn{p.Client.Conn, p.Server.Conn} {
			require.Equal(t, retry, c.ConnectionState().HelloRetryRequest)
			require.Equal(t, retry, c.ConnectionState().ToTLS().HelloRetryRequest)
		}
	}
}
