package fsm_test

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// recordingSigner signs with its key and notes each scheme's options.
type recordingSigner struct {
	crypto.Signer
	used []crypto.SignerOpts
}

func (s *recordingSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.used = append(s.used, opts)
	return s.Signer.Sign(rand, digest, opts)
}

// TestCertificateSignatureAlgorithms: Certificate.SupportedSignatureAlgorithms
// restricts the schemes a key signs with, in its order; a scheme the
// version does not allow for the key (PKCS #1 v1.5 in TLS 1.3) is never
// used, and a certificate left without one fails the handshake.
func TestCertificateSignatureAlgorithms(t *testing.T) {
	cases := []struct {
		version  uint16
		restrict []uint16
		hash     crypto.Hash
		pss      bool
	}{
		{fsm.VersionTLS13, nil, crypto.SHA256, true},
		{fsm.VersionTLS13, []uint16{fsm.PSSWithSHA512, fsm.PSSWithSHA256}, crypto.SHA512, true},
		{fsm.VersionTLS13, []uint16{fsm.PKCS1WithSHA256}, 0, false},
		{fsm.VersionTLS12, nil, crypto.SHA256, true},
		{fsm.VersionTLS12, []uint16{fsm.PKCS1WithSHA384, fsm.PSSWithSHA256}, crypto.SHA384, false},
		{fsm.VersionTLS12, []uint16{fsm.ECDSAWithP256AndSHA256}, 0, false},
	}
	for _, tc := range cases {
		cc, sc := configs(t, testcert.RSA2048)
		cc.MaxVersion = tc.version
		signer := &recordingSigner{Signer: sc.Certificates[0].PrivateKey}
		sc.Certificates[0].PrivateKey = signer
		sc.Certificates[0].SupportedSignatureAlgorithms = tc.restrict
		p := memconn.New(cc, sc)
		err := p.Handshake()
		name := fsm.VersionName(tc.version)
		if tc.hash == 0 {
			require.ErrorIs(t, err, record.AlertHandshakeFailure, "%s %#04x", name, tc.restrict)
			continue
		}
		require.NoError(t, err, "%s %#04x", name, tc.restrict)
		require.Len(t, signer.used, 1)
		require.Equal(t, tc.hash, signer.used[0].HashFunc(), "%s %#04x", name, tc.restrict)
		_, pss := signer.used[0].(*rsa.PSSOptions)
		require.Equal(t, tc.pss, pss, "%s %#04x", name, tc.restrict)
	}
}

// TestGetCertificateFallsBack: a GetCertificate that returns no
// certificate and no error leaves the choice to Certificates, as in
// crypto/tls; one that returns an error fails the handshake.
func TestGetCertificateFallsBack(t *testing.T) {
	for _, version := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion = version
		asked := 0
		sc.GetCertificate = func(*fsm.ClientHelloInfo) (*fsm.Certificate, error) {
			asked++
			return nil, nil
		}
		require.NoError(t, memconn.New(cc, sc).Handshake(), fsm.VersionName(version))
		require.Equal(t, 1, asked)

		cc, sc = configs(t, testcert.ECDSAP256) // nothing to resume
		cc.MaxVersion = version
		sc.GetCertificate = func(*fsm.ClientHelloInfo) (*fsm.Certificate, error) {
			return nil, errors.New("no")
		}
		require.ErrorIs(t, memconn.New(cc, sc).Handshake(), record.AlertHandshakeFailure, fsm.VersionName(version))
	}
}
