package cipher

import (
	"crypto"
	"crypto/aes"
	gocipher "crypto/cipher"

	// Register the hashes the suites use.
	_ "crypto/sha256"
	_ "crypto/sha512"

	"golang.org/x/crypto/chacha20poly1305"
)

// Suite describes one cipher suite.
type Suite struct {
	// ID is the IANA code point.
	ID uint16
	// Name is the IANA name, e.g. "TLS_AES_128_GCM_SHA256".
	Name string
	// Hash is the suite's hash for HKDF and the transcript.
	Hash crypto.Hash
	// KeyLen is the AEAD key length in bytes.
	KeyLen int
	// TLS13 is true for TLS 1.3 suites.
	TLS13 bool
	// ECDSA is true for a TLS 1.2 suite that authenticates with an ECDSA
	// certificate and false for one that uses RSA. It is meaningless for
	// TLS 1.3 suites, which do not fix the certificate type.
	ECDSA bool
	// FixedIVLen is the length of the implicit part of the TLS 1.2 nonce
	// taken from the key block: 4 for AES-GCM (RFC 5288), 12 for
	// ChaCha20-Poly1305 (RFC 7905). Zero for TLS 1.3 suites.
	FixedIVLen int
	// ExplicitNonceLen is the length of the TLS 1.2 nonce part carried in
	// each record: 8 for AES-GCM, 0 for ChaCha20-Poly1305 and TLS 1.3.
	ExplicitNonceLen int

	// chacha is true for ChaCha20-Poly1305 and false for AES-GCM.
	chacha bool
}

// NewAEAD returns the suite's AEAD keyed with key. The AEAD keeps its own
// copy of the key.
func (s *Suite) NewAEAD(key []byte) (gocipher.AEAD, error) {
	if s.chacha {
		return chacha20poly1305.New(key)
	}
	return newGCM(key)
}

// TLS 1.3 cipher suite code points.
const (
	TLS_AES_128_GCM_SHA256       uint16 = 0x1301
	TLS_AES_256_GCM_SHA384       uint16 = 0x1302
	TLS_CHACHA20_POLY1305_SHA256 uint16 = 0x1303
)

func newGCM(key []byte) (gocipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return gocipher.NewGCM(block)
}

var suites = []*Suite{
	{ID: TLS_AES_128_GCM_SHA256, Name: "TLS_AES_128_GCM_SHA256", Hash: crypto.SHA256, KeyLen: 16, TLS13: true},
	{ID: TLS_AES_256_GCM_SHA384, Name: "TLS_AES_256_GCM_SHA384", Hash: crypto.SHA384, KeyLen: 32, TLS13: true},
	{ID: TLS_CHACHA20_POLY1305_SHA256, Name: "TLS_CHACHA20_POLY1305_SHA256", Hash: crypto.SHA256, KeyLen: 32, TLS13: true, chacha: true},

	{ID: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, Name: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Hash: crypto.SHA256, KeyLen: 16, ECDSA: true, FixedIVLen: 4, ExplicitNonceLen: 8},
	{ID: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, Name: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Hash: crypto.SHA256, KeyLen: 16, FixedIVLen: 4, ExplicitNonceLen: 8},
	{ID: TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, Name: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Hash: crypto.SHA384, KeyLen: 32, ECDSA: true, FixedIVLen: 4, ExplicitNonceLen: 8},
	{ID: TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, Name: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Hash: crypto.SHA384, KeyLen: 32, FixedIVLen: 4, ExplicitNonceLen: 8},
	{ID: TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, Name: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", Hash: crypto.SHA256, KeyLen: 32, ECDSA: true, FixedIVLen: 12, chacha: true},
	{ID: TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, Name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Hash: crypto.SHA256, KeyLen: 32, FixedIVLen: 12, chacha: true},
}

// SuiteByID returns the suite with the given code point, or nil.
func SuiteByID(id uint16) *Suite {
	for _, s := range suites {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// TLS13Suites returns the TLS 1.3 suites in default preference order.
func TLS13Suites() []uint16 {
	return []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256}
}

// SuiteName returns the IANA name of a suite code point, or a hex form.
func SuiteName(id uint16) string {
	if s := SuiteByID(id); s != nil {
		return s.Name
	}
	const hex = "0123456789abcdef"
	return "0x" + string([]byte{hex[id>>12], hex[id>>8&15], hex[id>>4&15], hex[id&15]})
}
