// Package testcert generates throw-away X.509 certificates for tests.
//
// Every certificate is created at run time: a fresh CA of the requested key
// kind signs a leaf valid for DNS:localhost and IP:127.0.0.1. Nothing is
// fetched and no private key is ever checked in. Results are cached per kind
// for the lifetime of the process, because RSA key generation is slow.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Kind selects the public-key algorithm used for both the CA and the leaf.
type Kind int

const (
	// ECDSAP256 is ECDSA on NIST P-256 (ecdsa_secp256r1_sha256).
	ECDSAP256 Kind = iota
	// ECDSAP384 is ECDSA on NIST P-384 (ecdsa_secp384r1_sha384).
	ECDSAP384
	// RSA2048 is a 2048-bit RSA key, intended for RSA-PSS signatures.
	RSA2048
	// Ed25519 is an Ed25519 key.
	Ed25519
)

const numKinds = 4

// Kinds lists every supported Kind, in declaration order.
var Kinds = []Kind{ECDSAP256, ECDSAP384, RSA2048, Ed25519}

// String returns a short human-readable name for k.
func (k Kind) String() string {
	switch k {
	case ECDSAP256:
		return "ECDSA-P256"
	case ECDSAP384:
		return "ECDSA-P384"
	case RSA2048:
		return "RSA-2048"
	case Ed25519:
		return "Ed25519"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Cert is a leaf certificate together with the CA that issued it.
type Cert struct {
	// Kind is the key algorithm of both the leaf and the CA.
	Kind Kind
	// CertDER holds the DER certificate chain: leaf first, then the CA.
	CertDER [][]byte
	// Key is the leaf's private key.
	Key crypto.Signer
	// Leaf is the parsed leaf certificate.
	Leaf *x509.Certificate
	// CA is the parsed self-signed CA certificate.
	CA *x509.Certificate
	// CAPool is a pool containing only CA, for use as RootCAs or ClientCAs.
	CAPool *x509.CertPool
	// CertPEM is the PEM-encoded chain (leaf, then CA).
	CertPEM []byte
	// KeyPEM is the PEM-encoded PKCS#8 leaf private key.
	KeyPEM []byte
	// CAPEM is the PEM-encoded CA certificate.
	CAPEM []byte
}

type cacheEntry struct {
	once sync.Once
	cert *Cert
	err  error
}

var cache [numKinds]cacheEntry

// New returns a leaf certificate of the given kind for DNS:localhost and
// IP:127.0.0.1, signed by a fresh CA of the same kind. Both are valid from one
// hour ago until 24 hours from now. The leaf carries both the server and the
// client authentication extended key usages.
//
// Results are cached per kind: every call with the same kind in one process
// returns the same *Cert, which callers must treat as read-only.
func New(kind Kind) (*Cert, error) {
	if kind < 0 || int(kind) >= len(cache) {
		return nil, fmt.Errorf("testcert: unknown kind %v", kind)
	}
	e := &cache[kind]
	e.once.Do(func() { e.cert, e.err = generate(kind) })
	return e.cert, e.err
}

// NewClientCert returns a certificate usable for TLS client authentication.
// Every leaf produced by this package carries ExtKeyUsageClientAuth as well
// as ExtKeyUsageServerAuth, so this is the same as New.
func NewClientCert(kind Kind) (*Cert, error) {
	return New(kind)
}

// MustNew is like New but panics on error. It is meant for test setup.
func MustNew(kind Kind) *Cert {
	c, err := New(kind)
	if err != nil {
		panic(err)
	}
	return c
}

func newKey(kind Kind) (crypto.Signer, error) {
	switch kind {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("testcert: unknown kind %v", kind)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func generate(kind Kind) (*Cert, error) {
	caKey, err := newKey(kind)
	if err != nil {
		return nil, err
	}
	leafKey, err := newKey(kind)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notBefore, notAfter := now.Add(-time.Hour), now.Add(24*time.Hour)

	caSerial, err := serial()
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          caSerial,
		Subject:               pkix.Name{Organization: []string{"tlsm test"}, CommonName: "tlsm test CA " + kind.String()},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: create CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	leafSerial, err := serial()
	if err != nil {
		return nil, err
	}
	keyUsage := x509.KeyUsageDigitalSignature
	if kind == RSA2048 {
		// Allows RSA key exchange in TLS 1.2 peers; harmless for TLS 1.3.
		keyUsage |= x509.KeyUsageKeyEncipherment
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          leafSerial,
		Subject:               pkix.Name{Organization: []string{"tlsm test"}, CommonName: "localhost"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: create leaf: %w", err)
	}
	return assemble(kind, caDER, leafDER, ca, leafKey)
}

// assemble makes a Cert of a CA and a leaf it signed.
func assemble(kind Kind, caDER, leafDER []byte, ca *x509.Certificate, leafKey crypto.Signer) (*Cert, error) {
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, err
	}

	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), caPEM...)
	return &Cert{
		Kind:    kind,
		CertDER: [][]byte{leafDER, caDER},
		Key:     leafKey,
		Leaf:    leaf,
		CA:      ca,
		CAPool:  pool,
		CertPEM: certPEM,
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CAPEM:   caPEM,
	}, nil
}

// TLSCertificate returns c as a tls.Certificate carrying the full chain
// (leaf, then CA), the private key and the parsed leaf.
func (c *Cert) TLSCertificate() tls.Certificate {
	return tls.Certificate{
		Certificate: c.CertDER,
		PrivateKey:  c.Key,
		Leaf:        c.Leaf,
	}
}

// WriteFiles writes the certificate chain (leaf, then CA), the PKCS#8 private
// key and the CA certificate as PEM files into dir, and returns their paths.
// The key file is written with mode 0600.
func (c *Cert) WriteFiles(dir string) (certFile, keyFile, caFile string, err error) {
	if c == nil {
		return "", "", "", errors.New("testcert: nil Cert")
	}
	base := "cert-" + c.Kind.fileTag()
	certFile = filepath.Join(dir, base+".pem")
	keyFile = filepath.Join(dir, base+"-key.pem")
	caFile = filepath.Join(dir, base+"-ca.pem")
	if err = os.WriteFile(certFile, c.CertPEM, 0o644); err != nil {
		return "", "", "", err
	}
	if err = os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		return "", "", "", err
	}
	if err = os.WriteFile(caFile, c.CAPEM, 0o644); err != nil {
		return "", "", "", err
	}
	return certFile, keyFile, caFile, nil
}

func (k Kind) fileTag() string {
	switch k {
	case ECDSAP256:
		return "ecdsa-p256"
	case ECDSAP384:
		return "ecdsa-p384"
	case RSA2048:
		return "rsa2048"
	case Ed25519:
		return "ed25519"
	default:
		return fmt.Sprintf("kind%d", int(k))
	}
}

// FixedTime is a moment inside the validity of the Fixed certificates.
var FixedTime = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

var fixed struct {
	once sync.Once
	cert *Cert
	err  error
}

// Fixed returns an Ed25519 leaf for DNS:localhost and its CA, made from
// fixed key seeds, serial numbers and validity (2020 to 2120), so that
// every process gets the same bytes. Ed25519 signatures are deterministic
// too, so a handshake with seeded randomness and a fixed clock replays
// exactly: fuzz corpora hold such recorded handshakes. Check it at
// FixedTime. Like New's, the result is shared and read-only.
func Fixed() *Cert {
	fixed.once.Do(func() { fixed.cert, fixed.err = generateFixed() })
	if fixed.err != nil {
		panic(fixed.err)
	}
	return fixed.cert
}

func generateFixed() (*Cert, error) {
	seed := func(label string) []byte {
		s := make([]byte, ed25519.SeedSize)
		copy(s, "tlsm fixed test key: "+label)
		return s
	}
	caKey := ed25519.NewKeyFromSeed(seed("CA"))
	leafKey := ed25519.NewKeyFromSeed(seed("leaf"))
	notBefore := time.Date(2020, time.January, 1, 0, 0, 0, 0, time.UTC)
	notAfter := time.Date(2120, time.January, 1, 0, 0, 0, 0, time.UTC)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"tlsm test"}, CommonName: "tlsm fixed test CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: create fixed CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{Organization: []string{"tlsm test"}, CommonName: "localhost"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("testcert: create fixed leaf: %w", err)
	}
	return assemble(Ed25519, caDER, leafDER, ca, leafKey)
}
