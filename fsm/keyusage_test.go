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
