package fsm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// keyAgreementCert is a self-signed ECDSA certificate whose keyUsage
// allows key agreement only: usable for ECDH, not to sign a handshake.
func keyAgreementCert(t *testing.T) fsm.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageKeyAgreement,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	return fsm.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestKeyUsageEnforced: a peer whose certificate's keyUsage does not
// allow digitalSignature cannot sign its way through a handshake, server
// or client, TLS 1.2 or 1.3, even when its chain is not verified.
func TestKeyUsageEnforced(t *testing.T) {
	for _, v := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion, cc.InsecureSkipVerify = v, true
		sc.Certificates = []fsm.Certificate{keyAgreementCert(t)}
		p := memconn.New(cc, sc)
		require.ErrorIs(t, p.Handshake(), record.AlertIllegalParameter, "server certificate, %s", fsm.VersionName(v))
		require.ErrorIs(t, p.Client.Conn.Err(), record.AlertIllegalParameter)

		cc, sc = configs(t, testcert.ECDSAP256)
		cc.MaxVersion = v
		cc.Certificates = []fsm.Certificate{keyAgreementCert(t)}
		sc.ClientAuth = fsm.RequireAnyClientCert
		p = memconn.New(cc, sc)
		require.Error(t, p.Handshake(), "client certificate, %s", fsm.VersionName(v))
		require.ErrorIs(t, p.Server.Conn.Err(), record.AlertIllegalParameter)
	}
}

// TestLongCertificateChain: a TLS Certificate message may be longer than
// MaxHandshakeMessage, up to MaxCertificateMessage, both ways; one above
// that is refused.
func TestLongCertificateChain(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	chain := func(copies int) [][]byte {
		c := [][]byte{cert.CertDER[0]}
		for range copies {
			c = append(c, cert.CA.Raw) // extra copies of the CA: verification ignores them
		}
		return c
	}
	copies := fsm.MaxHandshakeMessage/len(cert.CA.Raw) + 10
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.Certificates = []fsm.Certificate{{Certificate: chain(copies), PrivateKey: cert.Key}}
	cc.Certificates = sc.Certificates
	sc.ClientAuth, sc.ClientCAs = fsm.RequireAndVerifyClientCert, cert.CAPool
	cc.RootCAs = cert.CAPool
	require.NoError(t, memconn.New(cc, sc).Handshake(), "chains of %d certificates", copies+1)

	sc.Certificates = []fsm.Certificate{{Certificate: chain(fsm.MaxCertificateMessage / len(cert.CA.Raw)), PrivateKey: cert.Key}}
	p := memconn.New(cc, sc)
	require.Error(t, p.Handshake())
	require.ErrorIs(t, p.Client.Conn.Err(), record.AlertIllegalParameter)
}

// TestTicketForLongClientChain: a session whose client certificate chain
// is too long for a ticket gets none (TLS 1.3) or an empty one (TLS 1.2,
// whose ServerHello promised one), instead of a server panicking on a
// ticket longer than its 16-bit length.
func TestTicketForLongClientChain(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	chain := [][]byte{cert.CertDER[0]}
	for total := 0; total < 1<<16; total += len(cert.CA.Raw) {
		chain = append(chain, cert.CA.Raw)
	}
	for _, v := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion = v
		cc.Certificates = []fsm.Certificate{{Certificate: chain, PrivateKey: cert.Key}}
		sc.ClientAuth, sc.ClientCAs = fsm.RequireAndVerifyClientCert, cert.CAPool
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake(), fsm.VersionName(v))
		require.NoError(t, p.Write(p.Client, []byte("ping")))
		require.Equal(t, "ping", string(p.Server.Received))
	}
}

// oneSession is a session cache holding one session for every server.
type oneSession struct{ s *fsm.Session }

func (c oneSession) Get(string) (*fsm.Session, bool) { return c.s, true }
func (c oneSession) Put(string, *fsm.Session)        {}

// TestOversizedCachedTicket: a session whose ticket (the server's choice)
// is too long to fit a ClientHello is not offered; the client connects
// without it instead of failing, or panicking, on every connection.
func TestOversizedCachedTicket(t *testing.T) {
	for _, v := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		cc, sc := configs(t, testcert.ECDSAP256)
		suite := fsm.TLS_AES_128_GCM_SHA256
		if v == fsm.VersionTLS12 {
			suite = suite12
			cc.MaxVersion = v
		}
		cc.ClientSessionCache = oneSession{&fsm.Session{
			Version: v, Suite: suite, Secret: make([]byte, 48), EMS: true,
			CreatedAt: time.Now(), Lifetime: time.Hour, Ticket: make([]byte, 1<<16-1),
		}}
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake(), fsm.VersionName(v))
		require.False(t, p.Client.Conn.ConnectionState().DidResume)
	}
}

// TestTLS12CertificateConstraints: in TLS 1.2 an ECDSA certificate must be
// on a curve the client listed in supported_groups (RFC 8422 §5.1), as
// the server picks its certificate and as the client checks the server's,
// and a client sends no certificate of a type the CertificateRequest does
// not list (RFC 5246 §7.4.6).
func TestTLS12CertificateConstraints(t *testing.T) {
	ch := goodHello(t)
	ch.SupportedVersions, ch.KeyShares, ch.PSKModes = nil, nil, nil
	ch.CipherSuites = []uint16{suite12}
	ch.SupportedGroups = []uint16{uint16(fsm.X25519), uint16(fsm.CurveP384)}
	ch.ExtendedMasterSecret, ch.SecureRenegotiationSupported, ch.ECPointFormats = true, true, []uint8{0}
	v := newServerVictim(t)
	v.feed(hsRecord(ch.Append(nil)))
	require.ErrorIs(t, v.conn.Err(), record.AlertHandshakeFailure, "the server's only certificate is on P-256")

	c, s := newClient12Victim(t, func(c *fsm.Config) { c.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP384} })
	c.feed(s.flight())
	require.ErrorIs(t, c.conn.Err(), record.AlertIllegalParameter, "the server's certificate is on P-256")

	rsa := testcert.MustNew(testcert.RSA2048)
	c, s = newClient12Victim(t, func(c *fsm.Config) {
		c.Certificates = []fsm.Certificate{{Certificate: rsa.CertDER, PrivateKey: rsa.Key}}
	})
	cr := flights.CertificateRequest12{CertificateTypes: []byte{64}, SignatureAlgorithms: []uint16{fsm.PKCS1WithSHA256, ecdsaP256SHA256}}
	out := c.feed(hsRecord(s.serverHello(), s.certificate(), s.serverKeyExchange(nil), cr.Append(nil), serverHelloDone()))
	require.NoError(t, c.conn.Err())
	require.Greater(t, len(out), record.HeaderLen+4)
	require.Equal(t, byte(flights.TypeCertificate), out[record.HeaderLen])
	var sent flights.Certificate12
	n := int(out[record.HeaderLen+1])<<16 | int(out[record.HeaderLen+2])<<8 | int(out[record.HeaderLen+3])
	require.NoError(t, sent.Unmarshal(out[record.HeaderLen+4:record.HeaderLen+4+n]))
	require.Empty(t, sent.Certificates, "an RSA certificate to a request for ECDSA ones")
}
