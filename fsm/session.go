package fsm

import (
	"container/list"
	"crypto/aes"
	gocipher "crypto/cipher"
	"crypto/sha256"
	"crypto/x509"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Session is what resuming a connection needs. A client keeps one per
// server name; a server keeps TLS 1.2 sessions by ID, or hands them to the
// client inside an encrypted ticket.
type Session struct {
	Version uint16
	Suite   uint16
	// Secret is the TLS 1.2 master secret or the TLS 1.3 resumption PSK.
	Secret []byte
	// EMS is true when the TLS 1.2 session used extended master secret.
	EMS bool
	// Group is the key exchange group of the TLS 1.2 handshake that made
	// the session, which a resumption reports again.
	Group CurveID
	// CreatedAt and Lifetime bound the session's use.
	CreatedAt time.Time
	Lifetime  time.Duration
	// PeerCertificates are the peer's certificates, leaf first.
	PeerCertificates []*x509.Certificate
	ALPN             string
	// SessionID (TLS 1.2) or Ticket (TLS 1.2 and 1.3) name the session to
	// the server; AgeAdd obfuscates a TLS 1.3 ticket's age.
	SessionID []byte
	Ticket    []byte
	AgeAdd    uint32
}

// valid reports whether s may still be used at now.
func (s *Session) valid(now time.Time) bool {
	return s != nil && now.Before(s.CreatedAt.Add(s.Lifetime)) && !now.Before(s.CreatedAt.Add(-time.Minute))
}

// SessionCache stores sessions. Implementations must be safe for
// concurrent use.
type SessionCache interface {
	// Get returns the session stored under key.
	Get(key string) (*Session, bool)
	// Put stores s under key; a nil s removes the entry.
	Put(key string, s *Session)
}

// Session defaults.
const (
	// DefaultSessionCacheSize is the capacity of the default caches.
	DefaultSessionCacheSize = 256
	// SessionLifetime is how long sessions and tickets are accepted, the
	// most RFC 8446 allows.
	SessionLifetime = 7 * 24 * time.Hour
	// TicketKeyRotation is how often automatic ticket keys are replaced;
	// old keys still decrypt until SessionLifetime has passed.
	TicketKeyRotation = 24 * time.Hour
)

type lruEntry struct {
	key string
	s   *Session
}

// lruCache is a SessionCache holding at most capacity sessions, evicting
// the least recently used.
type lruCache struct {
	mu       sync.Mutex
	capacity int
	order    *list.List
	entries  map[string]*list.Element
}

// NewLRUSessionCache returns a SessionCache of at most capacity sessions
// (DefaultSessionCacheSize when capacity < 1).
func NewLRUSessionCache(capacity int) SessionCache {
	if capacity < 1 {
		capacity = DefaultSessionCacheSize
	}
	return &lruCache{capacity: capacity, order: list.New(), entries: map[string]*list.Element{}}
}

func (c *lruCache) Get(key string) (*Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).s, true
}

func (c *lruCache) Put(key string, s *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		if s == nil {
			c.order.Remove(e)
			delete(c.entries, key)
			return
		}
		e.Value.(*lruEntry).s = s
		c.order.MoveToFront(e)
		return
	}
	if s == nil {
		return
	}
	c.entries[key] = c.order.PushFront(&lruEntry{key: key, s: s})
	for c.order.Len() > c.capacity {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*lruEntry).key)
	}
}

// ensureCaches makes the default caches; the caller holds c.mu.
func (c *Config) ensureCaches() {
	if c.clientCache == nil {
		c.clientCache = NewLRUSessionCache(DefaultSessionCacheSize)
	}
	if c.serverCache == nil {
		c.serverCache = NewLRUSessionCache(DefaultSessionCacheSize)
	}
	if c.certCache == nil {
		c.certCache = NewCertificateCache()
	}
}

// certificates returns the configured certificate cache, or the default.
func (c *Config) certificates() *CertificateCache {
	if c.CertificateCache != nil {
		return c.CertificateCache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ensureCaches()
	return c.certCache
}

// caches returns the configured caches, or the defaults.
func (c *Config) caches() (client, server SessionCache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ensureCaches()
	client, server = c.ClientSessionCache, c.ServerSessionCache
	if client == nil {
		client = c.clientCache
	}
	if server == nil {
		server = c.serverCache
	}
	return client, server
}

// ticketKey is one session ticket encryption key.
type ticketKey struct {
	name    [16]byte
	aead    gocipher.AEAD
	created time.Time
}

func newTicketKey(secret [32]byte, created time.Time) ticketKey {
	name := sha256.Sum256(append([]byte("tlsm ticket key name "), secret[:]...))
	key := sha256.Sum256(append([]byte("tlsm ticket key "), secret[:]...))
	block, _ := aes.NewCipher(key[:])
	aead, _ := gocipher.NewGCM(block)
	k := ticketKey{aead: aead, created: created}
	copy(k.name[:], name[:])
	return k
}

// ticketKeys returns the keys in use at now, first the one that encrypts,
// rotating automatic keys when the newest is older than TicketKeyRotation.
func (c *Config) ticketKeys(now time.Time) ([]ticketKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.SessionTicketKeys) > 0 {
		if len(c.fixedKeys) != len(c.SessionTicketKeys) {
			c.fixedKeys = c.fixedKeys[:0]
			for _, k := range c.SessionTicketKeys {
				c.fixedKeys = append(c.fixedKeys, newTicketKey(k, now))
			}
		}
		return c.fixedKeys, nil
	}
	if len(c.autoKeys) == 0 || now.Sub(c.autoKeys[0].created) >= TicketKeyRotation {
		var secret [32]byte
		if _, err := io.ReadFull(c.rand(), secret[:]); err != nil {
			return nil, err
		}
		keys := []ticketKey{newTicketKey(secret, now)}
		for _, k := range c.autoKeys {
			if now.Sub(k.created) < SessionLifetime+TicketKeyRotation {
				keys = append(keys, k)
			}
		}
		c.autoKeys = keys
	}
	return c.autoKeys, nil
}

// maxTicket is the longest ticket a NewSessionTicket can carry (a 16-bit
// length, in TLS 1.2 and 1.3).
const maxTicket = 1<<16 - 1

// sealTicket encrypts a session into a ticket: key name, nonce, AEAD. A
// session too large for a ticket (the peer's certificate chain is kept in
// it) gets none: nil.
func (c *Conn) sealTicket(s *Session) ([]byte, error) {
	keys, err := c.cfg.ticketKeys(c.wallTime())
	if err != nil {
		return nil, err
	}
	k := keys[0]
	out := append([]byte(nil), k.name[:]...)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(c.cfg.rand(), nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	plain := marshalSession(s)
	if len(out)+len(plain)+k.aead.Overhead() > maxTicket {
		return nil, nil
	}
	return k.aead.Seal(out, nonce, plain, k.name[:]), nil
}

// openTicket decrypts a ticket; nil means it is not ours, tampered with,
// or malformed.
func (c *Conn) openTicket(ticket []byte) *Session {
	keys, err := c.cfg.ticketKeys(c.wallTime())
	if err != nil || len(ticket) < 16+12 {
		return nil
	}
	for _, k := range keys {
		if [16]byte(ticket[:16]) != k.name {
			continue
		}
		plain, err := k.aead.Open(nil, ticket[16:28], ticket[28:], k.name[:])
		if err != nil {
			return nil
		}
		return unmarshalSession(plain)
	}
	return nil
}

// marshalSession encodes the fields a server needs from a ticket.
func marshalSession(s *Session) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16(s.Version)
	b.AddUint16(s.Suite)
	if s.EMS {
		b.AddUint8(1)
	} else {
		b.AddUint8(0)
	}
	b.AddUint16(uint16(s.Group))
	b.AddUint64(uint64(s.CreatedAt.Unix()))
	b.AddUint32(uint32(s.Lifetime / time.Second))
	b.AddUint32(s.AgeAdd)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.Secret) })
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s.ALPN)) })
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, cert := range s.PeerCertificates {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(cert.Raw) })
		}
	})
	return b.BytesOrPanic()
}

func unmarshalSession(data []byte) *Session {
	s := &Session{}
	in := cryptobyte.String(data)
	var ems uint8
	var created uint64
	var lifetime uint32
	var secret, alpn, certs cryptobyte.String
	if !in.ReadUint16(&s.Version) || !in.ReadUint16(&s.Suite) || !in.ReadUint8(&ems) ||
		!in.ReadUint16((*uint16)(&s.Group)) || !in.ReadUint64(&created) || !in.ReadUint32(&lifetime) || !in.ReadUint32(&s.AgeAdd) ||
		!in.ReadUint8LengthPrefixed(&secret) || !in.ReadUint8LengthPrefixed(&alpn) ||
		!in.ReadUint24LengthPrefixed(&certs) || !in.Empty() {
		return nil
	}
	s.EMS = ems == 1
	s.CreatedAt = time.Unix(int64(created), 0)
	s.Lifetime = time.Duration(lifetime) * time.Second
	s.Secret = append([]byte(nil), secret...)
	s.ALPN = string(alpn)
	for !certs.Empty() {
		var der cryptobyte.String
		if !certs.ReadUint24LengthPrefixed(&der) {
			return nil
		}
		cert, err := x509.ParseCertificate(append([]byte(nil), der...))
		if err != nil {
			return nil
		}
		s.PeerCertificates = append(s.PeerCertificates, cert)
	}
	return s
}

// NoSessionCache stores nothing. As a Config's ClientSessionCache it turns
// the client's resumption off (the nil default is a cache, unlike
// crypto/tls's); as ServerSessionCache, a server's resumption by session
// ID.
var NoSessionCache SessionCache = noSessionCache{}

type noSessionCache struct{}

func (noSessionCache) Get(string) (*Session, bool) { return nil, false }
func (noSessionCache) Put(string, *Session)        {}
