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
	// tlsForm is set by DropDTLSFields: the DTLS messages written are
	// hashed without their DTLS fields.
	tlsForm bool
}

// Write adds a full handshake message, header included.
func (t *Transcript) Write(raw []byte) {
	if t.tlsForm {
		t.write(raw[:4])
		t.write(raw[DTLSHeaderLen:])
		return
	}
	t.write(raw)
}

func (t *Transcript) write(b []byte) {
	if t.running != nil {
		t.running.Write(b)
		return
	}
	t.pending = append(t.pending, b...)
}

// DropDTLSFields rewrites the messages buffered so far, which must be in
// DTLS form, into TLS form (type and length, then the body), and makes
// Write do the same with the DTLS messages it is given from then on: DTLS
// 1.3 hashes its transcript without message_seq and the fragment fields
// (RFC 9147 §5.2), and a ClientHello is buffered before the version is
// known. It panics after SetHash, or on a buffer that is not whole DTLS
// messages.
func (t *Transcript) DropDTLSFields() {
	if t.running != nil {
		panic("flights: transcript hash already chosen")
	}
	t.tlsForm = true
	out := t.pending[:0] // each message shrinks: written behind where it is read
	for rest := t.pending; len(rest) > 0; {
		if len(rest) < DTLSHeaderLen {
			panic("flights: transcript buffer is not DTLS messages")
		}
		n := int(rest[1])<<16 | int(rest[2])<<8 | int(rest[3])
		msg := rest[:DTLSHeaderLen+n]
		out = append(out, msg[:4]...)
		out = append(out, msg[DTLSHeaderLen:]...)
		rest = rest[DTLSHeaderLen+n:]
	}
	t.pending = out
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
func (t *Transcript) HelloRetry() { t.HelloRetryFrom(t.Sum(nil)) }

// HelloRetryFrom replaces the contents so far by the message_hash
// message of a first ClientHello known only by its hash, digest: a server
// that sent its HelloRetryRequest without keeping state reads the hash
// back from the cookie (RFC 8446 §4.2.2). It panics if SetHash has not
// been called.
func (t *Transcript) HelloRetryFrom(digest []byte) {
	t.running.Reset()
	t.running.Write(appendMessage(nil, TypeMessageHash, func(b *builder) {
		b.addBytes(digest)
	}))
}

// Hash returns the chosen hash function, or 0 before SetHash.
func (t *Transcript) Hash() crypto.Hash {
	return t.h
}

// Reset returns t to its zero state.
func (t *Transcript) Reset() {
	*t = Transcript{}
}
