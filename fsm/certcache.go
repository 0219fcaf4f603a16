package fsm

import (
	"crypto/x509"
	"runtime"
	"slices"
	"sync"
	"time"
	"weak"
)

// Bounds of a CertificateCache: it holds at most MaxCachedCertificates
// parsed certificates, whose encodings take at most
// MaxCachedCertificateBytes, and as many verified chains.
const (
	MaxCachedCertificates     = 1 << 14
	MaxCachedCertificateBytes = 8 << 20
)

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
// alive, and an entry goes when its certificate is collected (a cleanup
// the runtime runs after the garbage collector). Connections that share
// a certificate share one *x509.Certificate, which must be treated as
// read-only. A CertificateCache keeps the root pools it has verified
// against; a certificate that is itself in such a pool stays cached while
// the cache lives. A CertificateCache is safe for concurrent use; make one
// with NewCertificateCache.
type CertificateCache struct {
	mu        sync.Mutex
	certs     map[string]weak.Pointer[x509.Certificate]
	bytes     int // the length of the keys of certs
	verified  map[verifyKey]*verifiedEntry
	limit     int // entries of each map; MaxCachedCertificates
	byteLimit int // MaxCachedCertificateBytes
	hits      int // verifications answered from the cache, for tests
}

// certRef names a parsed certificate's entry for the cleanup that removes
// it, unless it has been replaced since.
type certRef struct {
	key string
	ptr weak.Pointer[x509.Certificate]
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
		certs:     make(map[string]weak.Pointer[x509.Certificate]),
		verified:  make(map[verifyKey]*verifiedEntry),
		limit:     MaxCachedCertificates,
		byteLimit: MaxCachedCertificateBytes,
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

// Len returns the number of parsed certificates held, live or not yet
// forgotten.
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

// store adds cert under key, unless the cache is full, and arranges for
// the entry to go when cert does.
func (cc *CertificateCache) store(key string, cert *x509.Certificate) {
	ptr := weak.Make(cert)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	old, had := cc.certs[key]
	switch {
	case had && old.Value() != nil:
		return // another connection parsed it at the same time
	case !had && (len(cc.certs) >= cc.limit || cc.bytes+len(key) > cc.byteLimit):
		return
	case !had:
		cc.bytes += len(key)
	}
	cc.certs[key] = ptr
	runtime.AddCleanup(cert, cc.forget, certRef{key: key, ptr: ptr})
}

// forget removes a parsed certificate's entry once it has been collected.
func (cc *CertificateCache) forget(ref certRef) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.certs[ref.key] == ref.ptr {
		delete(cc.certs, ref.key)
		cc.bytes -= len(ref.key)
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
				return nil // a new verification replaces the entry
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
	_, had := cc.verified[key]
	if !had && len(cc.verified) >= cc.limit {
		return
	}
	cc.verified[key] = e
	if !had {
		// One cleanup per key: the key names the leaf, and whatever entry
		// the key holds when the leaf goes, goes with it.
		runtime.AddCleanup(certs[0], cc.forgetVerified, key)
	}
}

// forgetVerified removes the verification of a leaf that has been
// collected.
func (cc *CertificateCache) forgetVerified(key verifyKey) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.verified, key)
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
