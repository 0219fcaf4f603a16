package fsm

import (
	"crypto/x509"
	"slices"
	"sync"
	"time"
	"weak"
)

// MaxCachedCertificates bounds the entries of a CertificateCache.
const MaxCachedCertificates = 1 << 14

// minCertificateSweep is the size below which a CertificateCache does not
// look for dead entries.
const minCertificateSweep = 64

// CertificateCache shares parsed peer certificates, and the chains they
// were verified to, between connections.
//
// A peer that presents DER bytes seen before gets the *x509.Certificate
// parsed the first time, for as long as any connection still holds it.
// A chain of those same certificates, verified before against the same
// roots for the same name and key usage, is not verified again while the
// connection's time is within the validity of every certificate of the
// chains found then: x509 verification is a function of exactly those
// inputs, and a CertPool can gain certificates but never lose them.
// Verification failures are not remembered. Config.VerifyPeerCertificate
// and the handshake signature are checked on every handshake.
//
// The cache keeps only weak references, so it never keeps a certificate
// alive, and it forgets dead entries as it grows. Connections that share
// a certificate share one *x509.Certificate, which must be treated as
// read-only. A CertificateCache is safe for concurrent use; make one with
// NewCertificateCache.
type CertificateCache struct {
	mu       sync.Mutex
	certs    map[string]weak.Pointer[x509.Certificate]
	sweepAt  int
	verified map[verifyKey]*verifiedEntry
	vSweepAt int
	limit    int // entries of each map; MaxCachedCertificates
	hits     int // verifications answered from the cache, for tests
}

// verifyKey is what a verification depends on besides the intermediates
// and the time.
type verifyKey struct {
	leaf  weak.Pointer[x509.Certificate]
	roots *x509.CertPool
	name  string
	usage x509.ExtKeyUsage
}

// verifiedEntry is one successful verification.
type verifiedEntry struct {
	intermediates []weak.Pointer[x509.Certificate]
	chains        [][]weak.Pointer[x509.Certificate]
	from, until   time.Time // the intersection of the chains' validity
}

// NewCertificateCache returns an empty cache.
func NewCertificateCache() *CertificateCache {
	return &CertificateCache{
		certs:    make(map[string]weak.Pointer[x509.Certificate]),
		sweepAt:  minCertificateSweep,
		verified: make(map[verifyKey]*verifiedEntry),
		vSweepAt: minCertificateSweep,
		limit:    MaxCachedCertificates,
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
	if len(cc.certs) < cc.limit {
		cc.certs[key] = weak.Make(cert)
	}
}

// verifiedChains returns the chains certs were verified to before with the
// same roots, name and usage, or nil when that verification is not known
// to hold at now.
func (cc *CertificateCache) verifiedChains(certs []*x509.Certificate, roots *x509.CertPool, name string, usage x509.ExtKeyUsage, now time.Time) [][]*x509.Certificate {
	key := verifyKey{leaf: weak.Make(certs[0]), roots: roots, name: name, usage: usage}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e := cc.verified[key]
	if e == nil || now.Before(e.from) || now.After(e.until) || !sameCertificates(e.intermediates, certs[1:]) {
		return nil
	}
	chains := make([][]*x509.Certificate, len(e.chains))
	for i, weakChain := range e.chains {
		chains[i] = make([]*x509.Certificate, len(weakChain))
		for j, p := range weakChain {
			if chains[i][j] = p.Value(); chains[i][j] == nil {
				delete(cc.verified, key)
				return nil
			}
		}
	}
	cc.hits++
	return chains
}

// rememberVerified records that certs verified to chains.
func (cc *CertificateCache) rememberVerified(certs []*x509.Certificate, roots *x509.CertPool, name string, usage x509.ExtKeyUsage, chains [][]*x509.Certificate) {
	e := &verifiedEntry{intermediates: weakPointers(certs[1:]), chains: make([][]weak.Pointer[x509.Certificate], len(chains))}
	for i, chain := range chains {
		e.chains[i] = weakPointers(chain)
		for _, cert := range chain {
			if e.from.IsZero() || cert.NotBefore.After(e.from) {
				e.from = cert.NotBefore
			}
			if e.until.IsZero() || cert.NotAfter.Before(e.until) {
				e.until = cert.NotAfter
			}
		}
	}
	key := verifyKey{leaf: weak.Make(certs[0]), roots: roots, name: name, usage: usage}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.verified) >= cc.vSweepAt {
		for k := range cc.verified {
			if k.leaf.Value() == nil {
				delete(cc.verified, k)
			}
		}
		cc.vSweepAt = max(2*len(cc.verified), minCertificateSweep)
	}
	if len(cc.verified) < cc.limit {
		cc.verified[key] = e
	}
}

func weakPointers(certs []*x509.Certificate) []weak.Pointer[x509.Certificate] {
	out := make([]weak.Pointer[x509.Certificate], len(certs))
	for i, c := range certs {
		out[i] = weak.Make(c)
	}
	return out
}

// sameCertificates reports whether ps point to exactly certs, in order.
func sameCertificates(ps []weak.Pointer[x509.Certificate], certs []*x509.Certificate) bool {
	return slices.EqualFunc(ps, certs, func(p weak.Pointer[x509.Certificate], c *x509.Certificate) bool {
		return p == weak.Make(c)
	})
}
