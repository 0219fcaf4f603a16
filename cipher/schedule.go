package cipher

import (
	"crypto"
	"encoding/binary"
	"hash"
)

// ExpandLabel is HKDF-Expand-Label from RFC 8446 §7.1.
func ExpandLabel(h crypto.Hash, secret []byte, label string, context []byte, length int) []byte {
	if length > 255*h.Size() {
		panic("cipher: HKDF output too long") // a programming error
	}
	info := make([]byte, 0, 2+1+6+len(label)+1+len(context)+1)
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	info = append(info, 0) // the block counter
	m := newMAC(h, secret)
	out := make([]byte, 0, (length+h.Size()-1)/h.Size()*h.Size())
	var prev []byte
	for i := byte(1); len(out) < length; i++ {
		// T(i) = HMAC(secret, T(i-1) || info || i), RFC 5869 §2.3.
		info[len(info)-1] = i
		out = m.sum(out, prev, info)
		prev = out[len(out)-h.Size():]
	}
	return out[:length]
}

// Extract is HKDF-Extract. A nil secret means a string of HashLen zeros.
func Extract(h crypto.Hash, secret, salt []byte) []byte {
	if secret == nil {
		secret = make([]byte, h.Size())
	}
	if salt == nil {
		salt = make([]byte, h.Size())
	}
	return newMAC(h, salt).sum(nil, secret, nil)
}

// mac is HMAC (RFC 2104) keyed once and computed on demand, with fewer
// allocations than crypto/hmac for the short, one-shot computations of a
// key schedule, where they add up: the handshake runs dozens.
type mac struct {
	inner, outer hash.Hash
	bs           int       // the hash block size
	pad          [256]byte // key XOR ipad, then key XOR opad; SHA-384 blocks are 128 bytes
}

func newMAC(h crypto.Hash, key []byte) *mac {
	m := &mac{inner: h.New(), outer: h.New()}
	bs := m.inner.BlockSize()
	if len(key) > bs {
		m.inner.Write(key)
		key = m.inner.Sum(nil)
		m.inner.Reset()
	}
	m.bs = bs
	copy(m.pad[:bs], key)
	copy(m.pad[bs:], key)
	for i := range bs {
		m.pad[i] ^= 0x36
		m.pad[bs+i] ^= 0x5c
	}
	return m
}

// sum appends HMAC(key, a || b) to dst.
func (m *mac) sum(dst, a, b []byte) []byte {
	bs := m.bs
	m.inner.Reset()
	m.inner.Write(m.pad[:bs])
	m.inner.Write(a)
	m.inner.Write(b)
	m.outer.Reset()
	m.outer.Write(m.pad[bs : 2*bs])
	m.outer.Write(m.inner.Sum(dst[len(dst):]))
	return m.outer.Sum(dst)
}

// DeriveSecret is Derive-Secret from RFC 8446 §7.1, taking the transcript
// hash (not the messages).
func DeriveSecret(h crypto.Hash, secret []byte, label string, transcriptHash []byte) []byte {
	return ExpandLabel(h, secret, label, transcriptHash, h.Size())
}

// emptyHash returns Hash("") for h.
func emptyHash(h crypto.Hash) []byte {
	return h.New().Sum(nil)
}

// Schedule is the TLS 1.3 key schedule as it advances from the early secret
// to the handshake secret to the master secret.
type Schedule struct {
	hash   crypto.Hash
	secret []byte
}

// NewSchedule starts a key schedule from the early secret; psk may be nil.
func NewSchedule(h crypto.Hash, psk []byte) *Schedule {
	return &Schedule{hash: h, secret: Extract(h, psk, nil)}
}

// Hash returns the schedule's hash function.
func (s *Schedule) Hash() crypto.Hash { return s.hash }

// Secret returns the current stage's secret.
func (s *Schedule) Secret() []byte { return s.secret }

// advance moves to the next stage, mixing in ikm (nil for zeros).
func (s *Schedule) advance(ikm []byte) {
	derived := DeriveSecret(s.hash, s.secret, "derived", emptyHash(s.hash))
	s.secret = Extract(s.hash, ikm, derived)
}

// ToHandshake moves from the early secret to the handshake secret using the
// (EC)DHE shared secret.
func (s *Schedule) ToHandshake(sharedSecret []byte) { s.advance(sharedSecret) }

// ToMaster moves from the handshake secret to the master secret.
func (s *Schedule) ToMaster() { s.advance(nil) }

// Derive returns Derive-Secret(current, label, transcriptHash).
func (s *Schedule) Derive(label string, transcriptHash []byte) []byte {
	return DeriveSecret(s.hash, s.secret, label, transcriptHash)
}

// Labels of the TLS 1.3 secrets (RFC 8446 §7.1).
const (
	LabelExternalBinder    = "ext binder"
	LabelResumptionBinder  = "res binder"
	LabelClientEarly       = "c e traffic"
	LabelClientHandshake   = "c hs traffic"
	LabelServerHandshake   = "s hs traffic"
	LabelClientApplication = "c ap traffic"
	LabelServerApplication = "s ap traffic"
	LabelExporterMaster    = "exp master"
	LabelResumptionMaster  = "res master"
)

// FinishedMAC computes verify_data for a Finished message from the traffic
// secret of its sender and the transcript hash up to (not including) it.
func FinishedMAC(h crypto.Hash, trafficSecret, transcriptHash []byte) []byte {
	key := ExpandLabel(h, trafficSecret, "finished", nil, h.Size())
	return newMAC(h, key).sum(nil, transcriptHash, nil)
}

// NextTrafficSecret derives application_traffic_secret_N+1 (RFC 8446 §7.2).
func NextTrafficSecret(h crypto.Hash, secret []byte) []byte {
	return ExpandLabel(h, secret, "traffic upd", nil, h.Size())
}

// TrafficKeys derives the record key and IV from a TLS 1.3 traffic secret.
func TrafficKeys(s *Suite, secret []byte) (key, iv []byte) {
	key = ExpandLabel(s.Hash, secret, "key", nil, s.KeyLen)
	iv = ExpandLabel(s.Hash, secret, "iv", nil, NonceLen)
	return key, iv
}

// ExportKeyingMaterial is the TLS 1.3 exporter (RFC 8446 §7.5).
func ExportKeyingMaterial(h crypto.Hash, exporterMaster []byte, label string, context []byte, length int) []byte {
	secret := DeriveSecret(h, exporterMaster, label, emptyHash(h))
	ch := h.New()
	ch.Write(context)
	return ExpandLabel(h, secret, "exporter", ch.Sum(nil), length)
}
