package cipher

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
)

// Labels is the prefix HKDF-Expand-Label puts before every label: TLS
// 1.3's "tls13 " (RFC 8446 §7.1) or DTLS 1.3's "dtls13" (RFC 9147 §5.9),
// which keeps the keys of the two protocols apart. The TLS 1.3 key
// schedule's functions are its methods.
type Labels string

// The label prefixes of TLS 1.3 and DTLS 1.3.
const (
	TLS13Labels  Labels = "tls13 "
	DTLS13Labels Labels = "dtls13"
)

// ExpandLabel is HKDF-Expand-Label from RFC 8446 §7.1.
func (l Labels) ExpandLabel(h crypto.Hash, secret []byte, label string, context []byte, length int) []byte {
	return l.appendExpandLabel(make([]byte, 0, (length+h.Size()-1)/h.Size()*h.Size()), h, secret, label, context, length)
}

// appendExpandLabel appends HKDF-Expand-Label to dst and returns the
// output, which starts at len(dst). Whole hash blocks are appended before
// the output is cut to length, so a caller that wants no allocation gives
// dst room for them.
func (l Labels) appendExpandLabel(dst []byte, h crypto.Hash, secret []byte, label string, context []byte, length int) []byte {
	if length > 255*h.Size() {
		panic("cipher: HKDF output too long") // a programming error
	}
	var infoBuf [128]byte // TLS labels and contexts fit; longer ones move to the heap
	info := infoBuf[:0]
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(l)+len(label)))
	info = append(info, l...)
	info = append(info, label...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	info = append(info, 0) // the block counter
	m := newMAC(h, secret)
	out := dst[len(dst):]
	var prev []byte
	for i := byte(1); len(out) < length; i++ {
		// T(i) = HMAC(secret, T(i-1) || info || i), RFC 5869 §2.3.
		info[len(info)-1] = i
		out = m.sum(out, prev, info)
		prev = out[len(out)-h.Size():]
	}
	return out[:length]
}

// extract is HKDF-Extract. A nil secret means a string of HashLen zeros.
func extract(h crypto.Hash, secret, salt []byte) []byte {
	return appendExtract(nil, h, secret, salt)
}

// appendExtract appends HKDF-Extract to dst.
func appendExtract(dst []byte, h crypto.Hash, secret, salt []byte) []byte {
	var zeros [64]byte
	if secret == nil {
		secret = zeros[:h.Size()]
	}
	if salt == nil {
		salt = zeros[:h.Size()]
	}
	m := newMAC(h, salt)
	return m.sum(dst, secret, nil)
}

// mac is HMAC (RFC 2104) keyed once and computed on demand. A key schedule
// runs dozens of short HMACs per handshake; hashing them in one shot from a
// stack buffer makes them allocation-free, where crypto/hmac allocates
// two hash states and their pads for every key.
type mac struct {
	h   crypto.Hash
	bs  int       // the hash block size
	pad [256]byte // key XOR ipad, then key XOR opad; SHA-384 blocks are 128 bytes
}

func newMAC(h crypto.Hash, key []byte) mac {
	m := mac{h: h, bs: blockSize(h)}
	if len(key) > m.bs {
		var digest [64]byte
		key = hashOnce(h, digest[:0], key)
	}
	copy(m.pad[:m.bs], key)
	copy(m.pad[m.bs:2*m.bs], key)
	// Eight bytes at a time: the pads are set up for every key of the
	// schedule, and a byte loop was the schedule's largest cost after
	// the hashing itself.
	const ipad, opad = 0x3636363636363636, 0x5c5c5c5c5c5c5c5c
	for i := 0; i < m.bs; i += 8 {
		in, out := m.pad[i:i+8], m.pad[m.bs+i:m.bs+i+8]
		binary.NativeEndian.PutUint64(in, binary.NativeEndian.Uint64(in)^ipad)
		binary.NativeEndian.PutUint64(out, binary.NativeEndian.Uint64(out)^opad)
	}
	return m
}

// sum appends HMAC(key, a || b) to dst.
func (m *mac) sum(dst, a, b []byte) []byte {
	var buf [512]byte
	var inner [64]byte
	msg := append(append(append(buf[:0], m.pad[:m.bs]...), a...), b...)
	innerSum := hashOnce(m.h, inner[:0], msg)
	msg = append(append(buf[:0], m.pad[m.bs:2*m.bs]...), innerSum...)
	return hashOnce(m.h, dst, msg)
}

// blockSize is the input block size of h.
func blockSize(h crypto.Hash) int {
	switch h {
	case crypto.SHA256:
		return sha256.BlockSize
	case crypto.SHA384:
		return sha512.BlockSize
	}
	panic("cipher: no TLS 1.3 suite uses " + h.String()) // a programming error
}

// hashOnce appends the h digest of data to dst. The one-shot functions of
// the two hashes TLS 1.3 suites use keep data on the caller's stack.
func hashOnce(h crypto.Hash, dst, data []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(data)
		return append(dst, d[:]...)
	case crypto.SHA384:
		d := sha512.Sum384(data)
		return append(dst, d[:]...)
	}
	panic("cipher: no TLS 1.3 suite uses " + h.String()) // a programming error
}

// deriveSecret is Derive-Secret from RFC 8446 §7.1, taking the transcript
// hash (not the messages).
func (l Labels) deriveSecret(h crypto.Hash, secret []byte, label string, transcriptHash []byte) []byte {
	return l.ExpandLabel(h, secret, label, transcriptHash, h.Size())
}

// The hashes of the empty string, which Derive-Secret uses for "derived"
// and the exporter.
var (
	emptySHA256 = sha256.Sum256(nil)
	emptySHA384 = sha512.Sum384(nil)
)

// emptyHash returns Hash("") for h; the caller must not change it.
func emptyHash(h crypto.Hash) []byte {
	if h == crypto.SHA384 {
		return emptySHA384[:]
	}
	if h == crypto.SHA256 {
		return emptySHA256[:]
	}
	return h.New().Sum(nil)
}

// Schedule is the TLS 1.3 key schedule as it advances from the early secret
// to the handshake secret to the master secret.
type Schedule struct {
	labels Labels
	hash   crypto.Hash
	buf    [64]byte // holds each stage's secret in turn, hash.Size() bytes
}

// NewSchedule starts a key schedule from the early secret; psk may be nil.
func (l Labels) NewSchedule(h crypto.Hash, psk []byte) *Schedule {
	s := &Schedule{labels: l, hash: h}
	appendExtract(s.buf[:0], h, psk, nil)
	return s
}

// Hash returns the schedule's hash function.
func (s *Schedule) Hash() crypto.Hash { return s.hash }

// Secret returns the current stage's secret, which the next stage
// overwrites.
func (s *Schedule) Secret() []byte { return s.secret() }

// secret is the current stage's secret.
func (s *Schedule) secret() []byte { return s.buf[:s.hash.Size()] }

// advance moves to the next stage, mixing in ikm (nil for zeros).
func (s *Schedule) advance(ikm []byte) {
	var buf [64]byte
	derived := s.labels.appendExpandLabel(buf[:0], s.hash, s.secret(), "derived", emptyHash(s.hash), s.hash.Size())
	appendExtract(s.buf[:0], s.hash, ikm, derived)
}

// ToHandshake moves from the early secret to the handshake secret using the
// (EC)DHE shared secret.
func (s *Schedule) ToHandshake(sharedSecret []byte) { s.advance(sharedSecret) }

// ToMaster moves from the handshake secret to the master secret.
func (s *Schedule) ToMaster() { s.advance(nil) }

// Derive returns Derive-Secret(current, label, transcriptHash).
func (s *Schedule) Derive(label string, transcriptHash []byte) []byte {
	return s.labels.deriveSecret(s.hash, s.secret(), label, transcriptHash)
}

// AppendDerive appends Derive-Secret(current, label, transcriptHash) to
// dst and returns it as a slice of its own length and capacity: several
// secrets can share one allocation, given room for Hash().Size() bytes
// each.
func (s *Schedule) AppendDerive(dst []byte, label string, transcriptHash []byte) []byte {
	n := s.hash.Size()
	out := s.labels.appendExpandLabel(dst, s.hash, s.secret(), label, transcriptHash, n)
	return out[:n:n]
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
func (l Labels) FinishedMAC(h crypto.Hash, trafficSecret, transcriptHash []byte) []byte {
	return l.AppendFinishedMAC(nil, h, trafficSecret, transcriptHash)
}

// AppendFinishedMAC is FinishedMAC appending to dst.
func (l Labels) AppendFinishedMAC(dst []byte, h crypto.Hash, trafficSecret, transcriptHash []byte) []byte {
	var buf [64]byte
	key := l.appendExpandLabel(buf[:0], h, trafficSecret, "finished", nil, h.Size())
	m := newMAC(h, key)
	return m.sum(dst, transcriptHash, nil)
}

// NextTrafficSecret derives application_traffic_secret_N+1 (RFC 8446 §7.2).
func (l Labels) NextTrafficSecret(h crypto.Hash, secret []byte) []byte {
	return l.ExpandLabel(h, secret, "traffic upd", nil, h.Size())
}

// trafficKeys derives the record key and IV from a TLS 1.3 traffic secret.
func (l Labels) trafficKeys(s *Suite, secret []byte) (key, iv []byte) {
	key = l.ExpandLabel(s.Hash, secret, "key", nil, s.KeyLen)
	iv = l.ExpandLabel(s.Hash, secret, "iv", nil, nonceLen)
	return key, iv
}

// ExportKeyingMaterial is the TLS 1.3 exporter (RFC 8446 §7.5).
func (l Labels) ExportKeyingMaterial(h crypto.Hash, exporterMaster []byte, label string, context []byte, length int) []byte {
	secret := l.deriveSecret(h, exporterMaster, label, emptyHash(h))
	ch := h.New()
	ch.Write(context)
	return l.ExpandLabel(h, secret, "exporter", ch.Sum(nil), length)
}
