package dtls

import (
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/keypair"
)

// X509KeyPair parses a PEM certificate chain and its private key, as
// crypto/tls's X509KeyPair does.
func X509KeyPair(certPEM, keyPEM []byte) (Certificate, error) {
	return fsm.X509KeyPair(certPEM, keyPEM)
}

// LoadX509KeyPair reads a PEM certificate chain and its private key from
// files, as crypto/tls's LoadX509KeyPair does.
func LoadX509KeyPair(certFile, keyFile string) (Certificate, error) {
	return keypair.Load(certFile, keyFile)
}

// CertificateFromTLS converts a crypto/tls Certificate (see
// fsm.CertificateFromTLS), and GetCertificateFromTLS adapts a crypto/tls
// GetCertificate callback, such as autocert's, to Config.GetCertificate.
var (
	CertificateFromTLS    = fsm.CertificateFromTLS
	GetCertificateFromTLS = fsm.GetCertificateFromTLS
)
