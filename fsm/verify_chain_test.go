package fsm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
)

// issue makes a certificate for key, named subject, signed by parent's
// key (self-signed when parent is nil).
func issue(t *testing.T, subject string, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool) *x509.Certificate {
	t.Helper()
	serial, err := crand.Int(crand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: subject},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: ca,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	require.NoError(t, err)
	return key
}

// TestVerifyChainWithSelfIssued: a peer that sends its trusted root
// verifies, with the chain through the root; a self-issued certificate
// that is not the root (an old CA key certifying its new one, RFC 5280's
// key rollover) still links the leaf to the root that trusts the old key.
func TestVerifyChainWithSelfIssued(t *testing.T) {
	now := time.Now()
	verify := func(certs []*x509.Certificate, root *x509.Certificate) ([][]*x509.Certificate, error) {
		roots := x509.NewCertPool()
		roots.AddCert(root)
		return fsm.VerifyLeafForTest(certs, roots, now, "localhost", x509.ExtKeyUsageServerAuth)
	}

	t.Run("root sent", func(t *testing.T) {
		caKey, leafKey := newKey(t), newKey(t)
		ca := issue(t, "CA", caKey, nil, nil, true)
		leaf := issue(t, "leaf", leafKey, ca, caKey, false)
		chains, err := verify([]*x509.Certificate{leaf, ca}, ca)
		require.NoError(t, err)
		require.Equal(t, [][]*x509.Certificate{{leaf, ca}}, chains)
	})
	t.Run("key rollover", func(t *testing.T) {
		oldKey, newCAKey, leafKey := newKey(t), newKey(t), newKey(t)
		oldCA := issue(t, "CA", oldKey, nil, nil, true)
		newCA := issue(t, "CA", newCAKey, nil, nil, true)
		newWithOld := issue(t, "CA", newCAKey, oldCA, oldKey, true) // self-issued
		leaf := issue(t, "leaf", leafKey, newCA, newCAKey, false)
		chains, err := verify([]*x509.Certificate{leaf, newWithOld}, oldCA)
		require.NoError(t, err)
		require.Len(t, chains, 1)
		require.Equal(t, []*x509.Certificate{leaf, newWithOld, oldCA}, chains[0])
	})
	t.Run("untrusted", func(t *testing.T) {
		caKey, leafKey := newKey(t), newKey(t)
		ca := issue(t, "CA", caKey, nil, nil, true)
		other := issue(t, "other CA", newKey(t), nil, nil, true)
		leaf := issue(t, "leaf", leafKey, ca, caKey, false)
		_, err := verify([]*x509.Certificate{leaf, ca}, other)
		require.ErrorAs(t, err, new(x509.UnknownAuthorityError))
	})
}
