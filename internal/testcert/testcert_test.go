package testcert

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKinds(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			c, err := New(kind)
			require.NoError(t, err)
			require.Equal(t, kind, c.Kind)
			require.Len(t, c.CertDER, 2)
			assert.Equal(t, c.Leaf.Raw, c.CertDER[0])
			assert.Equal(t, c.CA.Raw, c.CertDER[1])
			assert.True(t, c.CA.IsCA)
			assert.False(t, c.Leaf.IsCA)

			now := time.Now()
			assert.True(t, c.Leaf.NotBefore.Before(now.Add(-50*time.Minute)))
			assert.True(t, c.Leaf.NotAfter.After(now.Add(23*time.Hour)))
			assert.True(t, c.Leaf.NotAfter.Before(now.Add(25*time.Hour)))

			for _, name := range []string{"localhost", "127.0.0.1"} {
				_, err := c.Leaf.Verify(x509.VerifyOptions{
					DNSName:   name,
					Roots:     c.CAPool,
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				})
				assert.NoError(t, err, "verify server auth for %s", name)
			}
			_, err = c.Leaf.Verify(x509.VerifyOptions{
				Roots:     c.CAPool,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			})
			assert.NoError(t, err, "verify client auth")
			assert.Error(t, c.Leaf.VerifyHostname("example.com"))
			assert.True(t, c.Leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)))

			// Leaf key matches the leaf public key.
			pub, ok := c.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
			require.True(t, ok)
			assert.True(t, pub.Equal(c.Leaf.PublicKey))
		})
	}
}

func TestCached(t *testing.T) {
	a, err := New(ECDSAP256)
	require.NoError(t, err)
	b, err := New(ECDSAP256)
	require.NoError(t, err)
	assert.Same(t, a, b)
	cc, err := NewClientCert(ECDSAP256)
	require.NoError(t, err)
	assert.Same(t, a, cc)

	_, err = New(Kind(99))
	assert.Error(t, err)
	assert.Equal(t, "Kind(99)", Kind(99).String())
}

func TestWriteFiles(t *testing.T) {
	_, opensslErr := exec.LookPath("openssl")
	for _, kind := range Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			c, err := New(kind)
			require.NoError(t, err)
			dir := t.TempDir()
			certFile, keyFile, caFile, err := c.WriteFiles(dir)
			require.NoError(t, err)

			pair, err := tls.LoadX509KeyPair(certFile, keyFile)
			require.NoError(t, err)
			require.Len(t, pair.Certificate, 2)
			assert.Equal(t, c.CertDER[0], pair.Certificate[0])
			assert.Equal(t, c.CertDER[1], pair.Certificate[1])

			ca, err := tls.LoadX509KeyPair(caFile, keyFile)
			assert.Error(t, err, "CA file must hold the CA, not the leaf")
			_ = ca

			if opensslErr != nil {
				t.Skip("openssl not installed")
			}
			for _, f := range []string{certFile, caFile} {
				out, err := exec.Command("openssl", "x509", "-in", f, "-noout", "-text").CombinedOutput()
				assert.NoError(t, err, "openssl x509 %s: %s", f, out)
			}
			out, err := exec.Command("openssl", "pkey", "-in", keyFile, "-noout").CombinedOutput()
			assert.NoError(t, err, "openssl pkey: %s", out)
			out, err = exec.Command("openssl", "verify", "-CAfile", caFile, "-purpose", "sslserver", certFile).CombinedOutput()
			assert.NoError(t, err, "openssl verify: %s", out)
		})
	}
}

func TestTLSCertificate(t *testing.T) {
	c, err := New(Ed25519)
	require.NoError(t, err)
	tc := c.TLSCertificate()
	assert.Equal(t, c.CertDER, tc.Certificate)
	assert.Equal(t, c.Leaf, tc.Leaf)
}

// TestFixed checks that Fixed makes the same valid chain every time.
func TestFixed(t *testing.T) {
	c := Fixed()
	again, err := generateFixed()
	require.NoError(t, err)
	require.Equal(t, c.CertDER, again.CertDER)
	require.Equal(t, c.KeyPEM, again.KeyPEM)
	_, err = c.Leaf.Verify(x509.VerifyOptions{
		DNSName:     "localhost",
		Roots:       c.CAPool,
		CurrentTime: FixedTime,
	})
	require.NoError(t, err)
	require.Equal(t, Ed25519, c.Kind)
}
