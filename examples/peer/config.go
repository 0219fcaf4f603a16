package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/tlsm/tlsm/fsm"
)

// parseVersion maps "1.2" and "1.3" to protocol versions.
func parseVersion(flagName, s string) (uint16, error) {
	switch s {
	case "1.2":
		return fsm.VersionTLS12, nil
	case "1.3":
		return fsm.VersionTLS13, nil
	}
	return 0, fmt.Errorf("-%s %q: want 1.2 or 1.3", flagName, s)
}

// buildConfig turns the flags into a core Config. The returned function
// closes the key log file, if any.
func buildConfig(o *options) (*fsm.Config, func(), error) {
	nop := func() {}
	cfg := &fsm.Config{}
	var err error
	if cfg.MinVersion, err = parseVersion("min", o.minVer); err != nil {
		return nil, nop, err
	}
	if cfg.MaxVersion, err = parseVersion("max", o.maxVer); err != nil {
		return nil, nop, err
	}
	if cfg.MinVersion > cfg.MaxVersion {
		return nil, nop, fmt.Errorf("-min %s is above -max %s", o.minVer, o.maxVer)
	}

	switch {
	case o.certFile != "":
		cert, err := loadKeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, nop, err
		}
		cfg.Certificates = []fsm.Certificate{*cert}
	case o.listen != "":
		cert, err := selfSigned()
		if err != nil {
			return nil, nop, err
		}
		cfg.Certificates = []fsm.Certificate{*cert}
	}

	var roots *x509.CertPool
	if o.caFile != "" {
		if roots, err = loadPool(o.caFile); err != nil {
			return nil, nop, err
		}
	}
	if o.connect != "" {
		cfg.RootCAs = roots
		cfg.InsecureSkipVerify = o.insecure
		cfg.ServerName = o.serverName
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(o.connect)
			if err != nil {
				return nil, nop, fmt.Errorf("-connect %q: %v", o.connect, err)
			}
			cfg.ServerName = host
		}
	} else if roots != nil {
		// A server given roots asks for a client certificate and verifies
		// it; with -insecure too it takes any certificate.
		cfg.ClientCAs = roots
		cfg.ClientAuth = fsm.RequireAndVerifyClientCert
		if o.insecure {
			cfg.ClientAuth = fsm.RequireAnyClientCert
		}
	}
	if o.dtls && !o.maxSet && cfg.MinVersion <= fsm.VersionTLS12 {
		// DTLS 1.3 is experimental: on only when asked for.
		cfg.MaxVersion = fsm.VersionTLS12
	}
	cfg.MTU = o.mtu
	if o.cid >= 0 {
		if !o.dtls || o.cid > fsm.MaxConnectionIDLength {
			return nil, nop, fmt.Errorf("-cid %d: needs -dtls and at most %d bytes", o.cid, fsm.MaxConnectionIDLength)
		}
		cfg.ConnectionIDs = &fsm.ConnectionIDs{Length: o.cid}
	}
	// Renegotiation exists only in TLS and DTLS 1.2.
	cfg.AllowClientRenegotiation = o.clientRenegotiation
	if o.noRenegotiation {
		cfg.Renegotiation = fsm.RenegotiateNever
	}

	if o.keylog == "" {
		return cfg, nop, nil
	}
	f, err := os.OpenFile(o.keylog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nop, err
	}
	cfg.KeyLogWriter = f
	return cfg, func() { f.Close() }, nil
}

// loadPool reads PEM certificates to trust.
func loadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return pool, nil
}

// loadKeyPair reads a PEM certificate chain (leaf first) and its PEM
// private key: PKCS#8, SEC 1 ("EC PRIVATE KEY", as openssl ecparam
// writes) or PKCS#1.
func loadKeyPair(certFile, keyFile string) (*fsm.Certificate, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	cert := &fsm.Certificate{}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, block.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificates", certFile)
	}
	if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
		return nil, fmt.Errorf("%s: %v", certFile, err)
	}

	data, err = os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	for cert.PrivateKey == nil {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM private key", keyFile)
		}
		switch block.Type {
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
			if cert.PrivateKey, err = parseKey(block.Bytes); err != nil {
				return nil, fmt.Errorf("%s: %v", keyFile, err)
			}
		}
	}
	pub, ok := cert.PrivateKey.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.Leaf.PublicKey) {
		return nil, fmt.Errorf("%s does not match the certificate in %s", keyFile, certFile)
	}
	return cert, nil
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
		return s, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("cannot parse the private key")
}

// selfSigned makes a throw-away ECDSA P-256 server certificate for
// localhost and 127.0.0.1.
func selfSigned() (*fsm.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &fsm.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
