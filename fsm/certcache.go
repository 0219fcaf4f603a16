package fsm

import (
	"crypto/x509"
	"sync"
	"weak"
)

// MaxCachedCertificates bounds the entries of a CertificateCache.
const MaxCachedCertificates = 1 << 14

// minCertificateSweep is the size below which a CertificateCache does not
// look for dead entries.
const minCertificateSweep = 64

// CertificateCache shares parsed peer certificates between connections.
// A peer that presents DER bytes seen before gets the *x509.Certificate
// parsed the first time, for as long as any connection still holds it:
// the cache keeps only weak references, so it never keeps a certificate
// alive, and it forgets dead entries as it grows. Connections that share
// a certificate share one *x509.Certificate, which must be treated as
// read-only. A CertificateCache is safe for concurrent use; make one with
// NewCertificateCache.
type CertificateCache struct {
	mu      sync.Mutex
	certs   map[string]weak.Pointer[x509.Certificate]
	sweepAt int
}

// NewCertificateCache returns an empty cache.
func NewCertificateCache() *CertificateCache {
	return &CertificateCache{
		certs:   make(map[string]weak.Pointer[x509.Certificate]),
		sweepAt: minCertificateSweep,
	}
}

// Parse returns the certificate whose encoding is der, from the cache when
// a live one is there and otherwise parsed from a copy of der (which may
// be reused by the caller afterwards).
func (cc *CertificateCache) Parse(der []byte) (*x509.Certificate, error) {
	if cert := cc.lookup(der); cert != nil {
		return cert, nil
	}
	key := string(der)
	cert, err := x509.ParseCertificate([]byte(key))
	if err != nil {
		return nil, err
	}
	cc.store(key, cert)
	return cert, nil
}

// Len returns the number of entries, live or not yet forgotten.
func (cc *CertificateCache) Len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.certs)
}

func (cc *CertificateCache) lookup(der []byte) *x509.Certificate {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.certs[string(der)].Value()
}

// store adds cert under key. When the map has doubled since the last
// sweep, the entries whose certificates were collected are removed first;
// a map full of live entries takes no more.
func (cc *CertificateCache) store(key string, cert *x509.Certificate) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.certs) >= cc.sweepAt {
		for k, p := range cc.certs {
			if p.Value() == nil {
				delete(cc.certs, k)
			}
		}
		cc.sweepAt = max(2*len(cc.certs), minCertificateSweep)
	}
	if len(cc.certs) < MaxCachedCertificates {
		cc.certs[key] = weak.Make(cert)
	}
}
