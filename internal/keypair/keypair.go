// Package keypair reads a certificate chain and its key from PEM files,
// for the LoadX509KeyPair of packages tls and dtls (package fsm reads no
// files).
package keypair

import (
	"os"

	"github.com/tlsm/tlsm/fsm"
)

// Load reads certFile and keyFile and parses them with fsm.X509KeyPair.
func Load(certFile, keyFile string) (fsm.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return fsm.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return fsm.Certificate{}, err
	}
	return fsm.X509KeyPair(certPEM, keyPEM)
}
