package flights

import (
	"crypto"
	"hash"
)

// Transcript is the running handshake hash (RFC 8446 §4.4.1). Until the
// hash function is known, which happens with the ServerHello, it buffers
// the messages. The zero value is ready to use.
type Transcript struct {
	h       crypto.Hash
	running hash.Hash
	pending []byte
	sum     [64]byte // where Digest puts its result
}

// Write adds a full handshake message, header included.
func (t *Transcript) Write(raw []byte) {
	if t.running != nil {
		t.running.Write(raw)
		return
	}
	t.pending = append(t.pending, raw...)
}

// SetHash selects the hash function and feeds it the buffered messages,
// which are then released. Calling it again with the same hash does
// nothing; with another hash, or with an unavailable one, it panics.
func (t *Transcript) SetHash(h crypto.Hash) {
	if t.running != nil {
		if h != t.h {
			panic("flights: transcript hash already chosen")
		}
		return
	}
	t.h = h
	t.running = h.New()
	t.running.Write(t.pending)
	t.pending = nil
}

// Digest returns the hash of the messages so far without changing the
// state, in a buffer of the Transcript's that the next Digest overwrites:
// use it at once, or copy it. It panics if SetHash has not been called.
func (t *Transcript) Digest() []byte { return t.Sum(t.sum[:0]) }

// Sum appends the hash of the messages so far to dst without changing the
// state. It panics if SetHash has not been called.
func (t *Transcript) Sum(dst []byte) []byte {
	if t.running == nil {
		panic("flights: transcript hash not chosen")
	}
	return t.running.Sum(dst)
}

// SumWith returns the hash of the messages so far followed by extra (a
// truncated ClientHello, for PSK binders) without changing the state.
// Before SetHash it hashes the buffered messages with h.
func (t *Transcript) SumWith(h crypto.Hash, extra []byte) []byte {
	if t.running == nil {
		d := h.New()
		d.Write(t.pending)
		d.Write(extra)
		return d.Sum(nil)
	}
	cloner, ok := t.running.(hash.Cloner)
	if !ok {
		panic("flights: transcript hash cannot be cloned")
	}
	d, err := cloner.Clone()
	if err != nil {
		panic("flights: " + err.Error())
	}
	d.Write(extra)
	return d.Sum(nil)
}

// HelloRetry replaces the contents so far, which must be exactly the first
// ClientHello, by a synthetic message_hash message holding their hash, as
// required after a HelloRetryRequest. It panics if SetHash has not been
// called.
func (t *Transcript) HelloRetry() {
	digest := t.Sum(nil)
	t.running.Reset()
	msg := appendMessage(nil, TypeMessageHash, func(b *builder) {
		b.addBytes(digest)
	})
	t.running.Write(msg)
}

// Hash returns the chosen hash function, or 0 before SetHash.
func (t *Transcript) Hash() crypto.Hash {
	return t.h
}

// Reset returns t to its zero state.
func (t *Transcript) Reset() {
	*t = Transcript{}
}
