package fsm

import (
	"crypto/x509"
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
// alive; the entries of collected certificates are swept out as new ones
// come, at a cost proportional to the entries added. Parsed certificates
// are shared by all the caches of the process too, as crypto/tls shares
// them between its connections: a new cache parses a certificate only
// when nothing live holds one of the same bytes. Connections that share
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
	// certStores and verifiedStores count the stores tried since each
	// map was last swept of dead entries, certsKept and verifiedKept the
	// entries the sweep kept.
	certStores, verifiedStores int
	certsKept, verifiedKept    int
}

// sweepFloor is how many stores a map takes before its first sweep.
const sweepFloor = 64

// processCertificates shares parsed certificates between all the caches
// of the process; its verification half is unused.
var processCertificates = NewCertificateCache()

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
	cert := processCertificates.lookup(der)
	if cert == nil {
		var err error
		if cert, err = x509.ParseCertificate([]byte(key)); err != nil {
			return nil, err
		}
		processCertificates.store(key, cert)
	}
	cc.store(key, cert)
	return cert, nil
}

// Len returns the number of live parsed certificates held.
func (cc *CertificateCache) Len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.sweepCertsLocked()
	return len(cc.certs)
}

func (cc *CertificateCache) lookup(der []byte) *x509.Certificate {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.certs[string(der)].Value()
}

// store adds cert under key, unless the cache is full.
func (cc *CertificateCache) store(key string, cert *x509.Certificate) {
	ptr := weak.Make(cert)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.certStores++; cc.certStores >= max(sweepFloor, cc.certsKept) {
		cc.sweepCertsLocked()
	}
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
}

// sweepCertsLocked removes the entries of collected certificates. Stores
// call it once they outnumber the entries the last sweep kept, so that
// the map holds at most twice the entries that sweep kept (and
// sweepFloor more), and each store pays for a bounded share of a sweep.
// Entries that die after a sweep stay until stores or Len sweep again.
func (cc *CertificateCache) sweepCertsLocked() {
	for key, ptr := range cc.certs {
		if ptr.Value() == nil {
			delete(cc.certs, key)
			cc.bytes -= len(key)
		}
	}
	cc.certStores, cc.certsKept = 0, len(cc.certs)
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
	if cc.verifiedStores++; cc.verifiedStores >= max(sweepFloor, cc.verifiedKept) {
		cc.sweepVerifiedLocked()
	}
	if _, had := cc.verified[key]; !had && len(cc.verified) >= cc.limit {
		return
	}
	cc.verified[key] = e
}

// sweepVerifiedLocked removes the verifications of collected leaves, as
// sweepCertsLocked does.
func (cc *CertificateCache) sweepVerifiedLocked() {
	for key := range cc.verified {
		if key.leaf.Value() == nil {
			delete(cc.verified, key)
		}
	}
	cc.verifiedStores, cc.verifiedKept = 0, len(cc.verified)
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
