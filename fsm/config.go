package fsm

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/record"
)

// Protocol versions.
const (
	VersionTLS12 = record.VersionTLS12
	VersionTLS13 = record.VersionTLS13
)

// VersionName returns "TLS1.3", "TLS1.2" and so on.
func VersionName(v uint16) string {
	switch v {
	case VersionTLS13:
		return "TLS1.3"
	case VersionTLS12:
		return "TLS1.2"
	case record.VersionTLS11:
		return "TLS1.1"
	case record.VersionTLS10:
		return "TLS1.0"
	case record.VersionDTLS12:
		return "DTLS1.2"
	case record.VersionDTLS13:
		return "DTLS1.3"
	case record.VersionDTLS10:
		return "DTLS1.0"
	}
	return "unknown"
}

// CurveID names a key exchange group.
type CurveID uint16

// String returns the group's name as crypto/tls spells it, or its code
// point in hex.
func (id CurveID) String() string {
	switch id {
	case CurveP256:
		return "CurveP256"
	case CurveP384:
		return "CurveP384"
	case X25519:
		return "X25519"
	case SecP256r1MLKEM768:
		return "SecP256r1MLKEM768"
	case X25519MLKEM768:
		return "X25519MLKEM768"
	case SecP384r1MLKEM1024:
		return "SecP384r1MLKEM1024"
	}
	return fmt.Sprintf("CurveID(%#04x)", uint16(id))
}

// Supported key exchange groups: ECDH, and the hybrids of ECDH and
// ML-KEM (draft-ietf-tls-ecdhe-mlkem, with crypto/tls's code points),
// which only (D)TLS 1.3 uses.
const (
	CurveP256          CurveID = 23
	CurveP384          CurveID = 24
	X25519             CurveID = 29
	SecP256r1MLKEM768  CurveID = 0x11eb
	X25519MLKEM768     CurveID = 0x11ec
	SecP384r1MLKEM1024 CurveID = 0x11ed
)

// Cipher suites, re-exported from package cipher: TLS 1.3's, then TLS
// 1.2's (ECDHE with an AEAD, the only ones tlsm implements).
const (
	TLS_AES_128_GCM_SHA256       = cipher.TLS_AES_128_GCM_SHA256
	TLS_AES_256_GCM_SHA384       = cipher.TLS_AES_256_GCM_SHA384
	TLS_CHACHA20_POLY1305_SHA256 = cipher.TLS_CHACHA20_POLY1305_SHA256

	TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256       = cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256         = cipher.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384       = cipher.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384         = cipher.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
	TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = cipher.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256   = cipher.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
)

// DTLS-SRTP protection profiles (RFC 5764, RFC 7714).
const (
	SRTP_AES128_CM_HMAC_SHA1_80 uint16 = 0x0001
	SRTP_AES128_CM_HMAC_SHA1_32 uint16 = 0x0002
	SRTP_AEAD_AES_128_GCM       uint16 = 0x0007
	SRTP_AEAD_AES_256_GCM       uint16 = 0x0008
)

// CipherSuiteName returns the IANA name of a cipher suite.
func CipherSuiteName(id uint16) string { return cipher.SuiteName(id) }

// Certificate is a certificate chain and the private key of its leaf.
type Certificate struct {
	// Certificate is the DER chain, leaf first.
	Certificate [][]byte
	// PrivateKey signs with the leaf's key: *ecdsa.PrivateKey,
	// *rsa.PrivateKey, ed25519.PrivateKey, or any crypto.Signer for them.
	PrivateKey crypto.Signer
	// Leaf is the parsed leaf; parsed on use when nil.
	Leaf *x509.Certificate
	// SupportedSignatureAlgorithms, when set, restricts the signature
	// schemes the key signs with to these, preferred in this order (as
	// crypto/tls's field of the same name); nil allows every scheme the
	// key can make.
	SupportedSignatureAlgorithms []uint16
}

// ClientAuthType is the server's policy for client certificates.
type ClientAuthType int

// Client certificate policies, as in crypto/tls.
const (
	NoClientCert ClientAuthType = iota
	RequestClientCert
	RequireAnyClientCert
	VerifyClientCertIfGiven
	RequireAndVerifyClientCert
)

// Config configures a Conn. Its fields mirror crypto/tls.Config. A Config
// may be shared by many connections and must not be changed while in use.
type Config struct {
	// Rand is the source of every random value; nil means crypto/rand.
	Rand io.Reader
	// Certificates are offered by a server, and by a client when asked.
	Certificates []Certificate
	// GetCertificate, if set, chooses the server certificate; when it
	// returns nil and no error, Certificates are used, as in crypto/tls.
	GetCertificate func(*ClientHelloInfo) (*Certificate, error)
	// GetConfigForClient, if set, is called with each ClientHello a server
	// takes (a first one, or one starting a renegotiation) and may return
	// the Config to use for this connection from then on; nil keeps the
	// current one. As in crypto/tls; an error fails the handshake with
	// internal_error.
	GetConfigForClient func(*ClientHelloInfo) (*Config, error)
	// GetClientCertificate, if set, chooses a client's certificate when
	// the server asks for one, instead of Certificates. As in crypto/tls,
	// it must return a certificate: an empty one (no chain) sends none.
	GetClientCertificate func(*CertificateRequestInfo) (*Certificate, error)
	// VerifyConnection, if set, is called after every handshake, full or
	// resumed, once the peer's certificates are verified (unless
	// verification is off), with the connection's state; an error fails
	// the handshake with bad_certificate (or with the Alert the error
	// wraps, if any). As in crypto/tls.
	VerifyConnection func(ConnectionState) error
	// Time, if set, is the time certificates are checked against and
	// sessions and tickets dated by, instead of the time handed to the
	// Conn's calls (which still drives timers).
	Time func() time.Time
	// RootCAs verify server certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// ClientCAs verify client certificates.
	ClientCAs *x509.CertPool
	// ClientAuth is the server's client certificate policy.
	ClientAuth ClientAuthType
	// ServerName is sent in SNI and verified against the certificate.
	ServerName string
	// InsecureSkipVerify turns off verification of the server certificate.
	InsecureSkipVerify bool
	// VerifyPeerCertificate, if set, is called after normal verification
	// (or instead of it with InsecureSkipVerify); an error aborts the
	// handshake with a bad_certificate alert, or with the Alert it wraps.
	VerifyPeerCertificate func(rawCerts [][]byte, verifiedChains [][]*x509.Certificate) error
	// NextProtos lists ALPN protocols in preference order.
	NextProtos []string
	// CipherSuites lists the enabled suites of TLS 1.3 and TLS 1.2 in
	// preference order; nil means all that tlsm implements.
	CipherSuites []uint16
	// CurvePreferences lists key exchange groups in preference order; nil
	// means, as crypto/tls's default, X25519MLKEM768, SecP256r1MLKEM768,
	// SecP384r1MLKEM1024, X25519, P-256, P-384. A client sends a key share
	// for the first, and when it is a hybrid one for its ECDH half too
	// (X25519 for X25519MLKEM768), so that a server without hybrids need
	// not ask for another. The hybrids are left out of TLS 1.2.
	CurvePreferences []CurveID
	// MinVersion and MaxVersion bound the protocol version; zero means
	// TLS 1.2 and TLS 1.3. Older versions are never negotiated. Over
	// DTLS the versions are named as for TLS (VersionTLS13 is DTLS 1.3),
	// and a zero MaxVersion means DTLS 1.2: DTLS 1.3 is experimental, on
	// only with MaxVersion VersionTLS13 (or MinVersion VersionTLS13).
	MinVersion uint16
	MaxVersion uint16
	// KeyLogWriter receives secrets in NSS key log format, for debugging.
	KeyLogWriter io.Writer
	// MaxKeyUpdatesWithoutData is how many TLS 1.3 post-handshake
	// messages (KeyUpdate, NewSessionTicket) in a row the peer may send with
	// no application data between them before the connection fails with
	// unexpected_message; 0 means DefaultMaxKeyUpdatesWithoutData, negative
	// means no limit.
	MaxKeyUpdatesWithoutData int
	// KeyUpdateAfterRecords is how many records are protected under one
	// TLS 1.3 key before a key update is sent automatically; 0 means
	// DefaultKeyUpdateAfterRecords.
	KeyUpdateAfterRecords uint64

	// SRTPProtectionProfiles lists the DTLS-SRTP profiles (RFC 5764) in
	// preference order: a client offers them in use_srtp, a server picks
	// the first one the client offers.
	SRTPProtectionProfiles []uint16

	// MTU is the largest datagram a DTLS Conn sends; zero means DefaultMTU.
	MTU int
	// RetransmitTimeout and MaxRetransmitTimeout bound the DTLS flight
	// timer; MaxRetransmits is how many times a flight is resent before
	// the handshake fails. Zero means the defaults.
	RetransmitTimeout    time.Duration
	MaxRetransmitTimeout time.Duration
	MaxRetransmits       int
	// InsecureSkipHelloVerify makes a DTLS server skip the cookie
	// exchange, keeping state for any ClientHello.
	InsecureSkipHelloVerify bool
	// CookieSecrets are the keys of a DTLS server's HelloVerifyRequest
	// cookies: the first makes them, all are accepted, so a caller rotates
	// secrets by prepending. Servers that share them accept each other's
	// cookies (several processes behind one address). When empty, secrets
	// are drawn from Rand and rotated every CookieRotation.
	CookieSecrets [][32]byte
	// ConnectionIDs, when set, negotiates DTLS 1.2 Connection IDs (RFC
	// 9146) in both roles; nil leaves them off.
	ConnectionIDs *ConnectionIDs

	// Renegotiation is the TLS/DTLS 1.2 renegotiation policy; the zero
	// value answers every HelloRequest, as OpenSSL does.
	Renegotiation RenegotiationSupport
	// AllowClientRenegotiation lets a server take renegotiations its
	// clients start, within MaxRenegotiations per connection and at most one
	// per MinRenegotiationInterval (zero means the defaults). Otherwise it
	// answers them with a warning no_renegotiation alert and carries on,
	// up to MaxRefusedRenegotiations times a connection.
	AllowClientRenegotiation bool
	MaxRenegotiations        int
	MinRenegotiationInterval time.Duration

	// RequireSecureRenegotiation refuses TLS 1.2 peers that do not support
	// RFC 5746 secure renegotiation, with a handshake_failure alert. By
	// default they may connect but can never renegotiate.
	RequireSecureRenegotiation bool

	// SessionTicketsDisabled turns off session tickets: a server neither
	// issues nor accepts them (TLS 1.2 RFC 5077 tickets and TLS 1.3 PSK
	// tickets), a client does not ask for them.
	SessionTicketsDisabled bool
	// SessionTicketKeys encrypt session tickets: the first encrypts, all
	// decrypt, so a caller rotates keys by prepending. When empty, keys are
	// drawn from Rand on first use and rotated every TicketKeyRotation.
	SessionTicketKeys [][32]byte
	// ClientSessionCache keeps a client's sessions by server name; nil
	// means a bounded LRU cache shared by the connections of this Config
	// (crypto/tls resumes nothing when it is nil). NoSessionCache turns
	// a client's resumption off.
	ClientSessionCache SessionCache
	// ServerSessionCache keeps a server's TLS 1.2 sessions by session ID;
	// nil means a bounded LRU cache shared by the connections of this Config.
	ServerSessionCache SessionCache
	// CertificateCache remembers the peers' parsed certificates and the
	// chains they were verified to; nil means one shared by the
	// connections of this Config. Parsed certificates are also shared by
	// all the caches of the process while a connection holds them.
	CertificateCache *CertificateCache

	// mu guards the state made on first use.
	mu            sync.Mutex
	autoKeys      []ticketKey
	fixedKeys     []ticketKey
	clientCache   SessionCache
	serverCache   SessionCache
	certCache     *CertificateCache
	cookieKeys    [][32]byte
	cookieCreated time.Time

	// authFailureLimit replaces MaxAuthFailures in tests.
	authFailureLimit uint64
}

// MaxAuthFailures is how many DTLS 1.3 records that fail authentication
// a Conn takes under one read key (RFC 9147 §4.5.3: 2^36 for AES-GCM and
// ChaCha20-Poly1305): past half of it, it asks the peer to update its
// keys; at it, it closes the connection with bad_record_mac, or drops
// the keys of the epoch before the current one.
const MaxAuthFailures = 1 << 36

func (c *Config) maxAuthFailures() uint64 {
	if c.authFailureLimit > 0 {
		return c.authFailureLimit
	}
	return MaxAuthFailures
}

// Clone returns a copy of c that shares its caches and ticket keys, safe
// to change. Copy a Config in use only with Clone.
func (c *Config) Clone() *Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ensureCaches()
	return &Config{
		Rand: c.Rand, Certificates: c.Certificates, GetCertificate: c.GetCertificate,
		GetConfigForClient: c.GetConfigForClient, GetClientCertificate: c.GetClientCertificate,
		VerifyConnection: c.VerifyConnection, Time: c.Time,
		RootCAs: c.RootCAs, ClientCAs: c.ClientCAs, ClientAuth: c.ClientAuth,
		ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify,
		VerifyPeerCertificate: c.VerifyPeerCertificate, NextProtos: c.NextProtos,
		CipherSuites: c.CipherSuites, CurvePreferences: c.CurvePreferences,
		MinVersion: c.MinVersion, MaxVersion: c.MaxVersion, KeyLogWriter: c.KeyLogWriter,
		MaxKeyUpdatesWithoutData: c.MaxKeyUpdatesWithoutData, KeyUpdateAfterRecords: c.KeyUpdateAfterRecords,
		SRTPProtectionProfiles: c.SRTPProtectionProfiles,
		MTU:                    c.MTU, RetransmitTimeout: c.RetransmitTimeout, MaxRetransmitTimeout: c.MaxRetransmitTimeout,
		MaxRetransmits: c.MaxRetransmits, InsecureSkipHelloVerify: c.InsecureSkipHelloVerify,
		CookieSecrets: c.CookieSecrets, ConnectionIDs: c.ConnectionIDs,
		Renegotiation: c.Renegotiation, AllowClientRenegotiation: c.AllowClientRenegotiation,
		MaxRenegotiations: c.MaxRenegotiations, MinRenegotiationInterval: c.MinRenegotiationInterval,
		RequireSecureRenegotiation: c.RequireSecureRenegotiation,
		SessionTicketsDisabled:     c.SessionTicketsDisabled, SessionTicketKeys: c.SessionTicketKeys,
		ClientSessionCache: c.ClientSessionCache, ServerSessionCache: c.ServerSessionCache,
		CertificateCache: c.CertificateCache,
		autoKeys:         c.autoKeys, fixedKeys: c.fixedKeys, clientCache: c.clientCache, serverCache: c.serverCache,
		certCache: c.certCache,
	}
}

func (c *Config) retransmitTimeout() time.Duration {
	if c.RetransmitTimeout > 0 {
		return c.RetransmitTimeout
	}
	return DefaultRetransmitTimeout
}

func (c *Config) maxRetransmitTimeout() time.Duration {
	if c.MaxRetransmitTimeout > 0 {
		return c.MaxRetransmitTimeout
	}
	return DefaultMaxRetransmitTimeout
}

func (c *Config) maxRetransmits() int {
	if c.MaxRetransmits > 0 {
		return c.MaxRetransmits
	}
	return DefaultMaxRetransmits
}

func (c *Config) maxKeyUpdatesWithoutData() int {
	if c.MaxKeyUpdatesWithoutData == 0 {
		return DefaultMaxKeyUpdatesWithoutData
	}
	return c.MaxKeyUpdatesWithoutData
}

func (c *Config) keyUpdateAfterRecords() uint64 {
	if c.KeyUpdateAfterRecords == 0 {
		return DefaultKeyUpdateAfterRecords
	}
	return c.KeyUpdateAfterRecords
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

// suitesFor returns the enabled suites of one version, in preference order;
// the caller must not change the slice.
func (c *Config) suitesFor(version uint16) []uint16 {
	if len(c.CipherSuites) == 0 {
		if version == VersionTLS13 {
			return defaultSuites13
		}
		return defaultSuites12
	}
	var out []uint16
	for _, id := range c.CipherSuites {
		if s := cipher.SuiteByID(id); s != nil && s.TLS13 == (version == VersionTLS13) {
			out = append(out, id)
		}
	}
	return out
}

// versionEnabled reports whether v is within [MinVersion, MaxVersion],
// carried by transport t, and has enabled suites.
func (c *Config) versionEnabled(t *transport, v uint16) bool {
	lo, hi := c.versionRange(t)
	return v >= lo && v <= hi && v <= t.MaxVersion && c.hasSuiteFor(v)
}

// hasSuiteFor reports whether a suite of version is enabled.
func (c *Config) hasSuiteFor(version uint16) bool {
	if len(c.CipherSuites) == 0 {
		return true
	}
	for _, id := range c.CipherSuites {
		if s := cipher.SuiteByID(id); s != nil && s.TLS13 == (version == VersionTLS13) {
			return true
		}
	}
	return false
}

// The suites enabled by default, which callers of suitesFor only read.
var (
	defaultSuites13 = cipher.TLS13Suites()
	defaultSuites12 = cipher.TLS12Suites()
)

// versionOffer is what a client offers: versions, highest first, and the
// suites of all of them.
type versionOffer struct {
	versions []uint16
	suites   []uint16
}

func (o versionOffer) has(v uint16) bool { return slices.Contains(o.versions, v) }

// offeredVersions returns the versions a client offers over t: those in
// [MinVersion, MaxVersion] that tlsm implements and has suites for.
func (c *Config) offeredVersions(t *transport) versionOffer {
	var o versionOffer
	for _, v := range []uint16{VersionTLS13, VersionTLS12} {
		if c.versionEnabled(t, v) {
			o.versions = append(o.versions, v)
			o.suites = append(o.suites, c.suitesFor(v)...)
		}
	}
	return o
}

var defaultCurves = []CurveID{X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, CurveP256, CurveP384}

func (c *Config) curves() []CurveID {
	if len(c.CurvePreferences) > 0 {
		return c.CurvePreferences
	}
	return defaultCurves
}

// clientCurves are the groups a ClientHello lists: without the hybrids
// when it offers no TLS 1.3.
func (c *Config) clientCurves(tls13 bool) []CurveID {
	curves := c.curves()
	if tls13 {
		return curves
	}
	classical := make([]CurveID, 0, len(curves))
	for _, id := range curves {
		if curveOf(id) != nil {
			classical = append(classical, id)
		}
	}
	return classical
}

// versionRange is [MinVersion, MaxVersion] over t, with the defaults:
// TLS 1.2 up to t's DefaultMaxVersion, or up to MinVersion when that is
// higher.
func (c *Config) versionRange(t *transport) (lo, hi uint16) {
	lo, hi = c.MinVersion, c.MaxVersion
	if lo == 0 {
		lo = VersionTLS12
	}
	if hi == 0 {
		hi = max(t.DefaultMaxVersion, lo)
	}
	return lo, hi
}
