package fsm

import (
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/record"
)

// SealForTest protects a handshake payload under c's current write keys,
// for tests that inject messages the API cannot produce.
func (c *Conn) SealForTest(payload []byte) []byte {
	out := len(c.out)
	if err := c.layer.writeRecord(record.TypeHandshake, payload); err != nil {
		panic(err)
	}
	b := append([]byte(nil), c.out[out:]...)
	c.out = c.out[:out]
	return b
}

// VerifyDataForTest returns the client's verify_data of the last
// handshake, which a renegotiation ClientHello carries.
func (c *Conn) VerifyDataForTest() []byte { return c.reneg.clientVerify }

// WriteStateForTest returns c's current write protection, nil before
// keys are set, and over datagrams the epoch it belongs to and the
// sequence number of the next record. A copy of the state (the struct
// holds no references to mutable data) protects records as c would.
func (c *Conn) WriteStateForTest() (st *cipher.State, epoch uint16, seq uint64) {
	switch l := c.layer.(type) {
	case *streamLayer:
		return l.writeKeys, 0, 0
	case *datagramLayer:
		return l.write.st, l.write.epoch, l.write.seq
	}
	panic("unknown layer")
}

// SealAppDataForTest protects one application data record under c's
// current write keys, however short, without sending it.
func (c *Conn) SealAppDataForTest(payload []byte) []byte {
	st := c.layer.writeState()
	var out []byte
	var err error
	if c.version == VersionTLS12 {
		out, err = record.Seal12(nil, st, record.TypeApplicationData, VersionTLS12, payload)
	} else {
		out, err = record.Seal13(nil, st, record.TypeApplicationData, payload, 0)
	}
	if err != nil {
		panic(err)
	}
	return out
}

// SealDatagramRecordForTest protects one DTLS record under c's current
// write epoch without sending it.
func (c *Conn) SealDatagramRecordForTest(typ record.ContentType, payload []byte) []byte {
	l := c.layer.(*datagramLayer)
	out := len(c.out)
	if err := l.seal(l.write, typ, payload); err != nil {
		panic(err)
	}
	b := append([]byte(nil), c.out[out:]...)
	c.out = c.out[:out]
	return b
}

// ForgetSecureRenegotiationForTest makes c behave as if the peer had not
// negotiated RFC 5746, which no real peer of the tests does.
func (c *Conn) ForgetSecureRenegotiationForTest() { c.reneg.secure = false }

// VerifyHitsForTest returns how many verifications cc answered from memory.
func (cc *CertificateCache) VerifyHitsForTest() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.hits
}

// CertificateCacheForTest returns the cache c's connections use.
func (c *Config) CertificateCacheForTest() *CertificateCache { return c.certificates() }

// NewCertificateCacheForTest returns a cache of at most limit entries and
// byteLimit bytes of encodings.
func NewCertificateCacheForTest(limit, byteLimit int) *CertificateCache {
	cc := NewCertificateCache()
	cc.limit, cc.byteLimit = limit, byteLimit
	return cc
}

// EntriesForTest returns how many parsed certificates cc holds, live or
// not yet swept.
func (cc *CertificateCache) EntriesForTest() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.certs)
}

// VerifiedLenForTest returns how many verifications of live leaves cc
// remembers.
func (cc *CertificateCache) VerifiedLenForTest() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.sweepVerifiedLocked()
	return len(cc.verified)
}

// ForgetExtendedMasterSecretForTest makes c's TLS 1.2 session look as if
// the peer had not offered extended master secret, which no peer at hand
// omits.
func (c *Conn) ForgetExtendedMasterSecretForTest() { c.tls12.ems = false }

// SetAuthFailureLimitForTest replaces MaxAuthFailures for c's Conns.
func (c *Config) SetAuthFailureLimitForTest(n uint64) { c.authFailureLimit = n }

// VerifyLeafForTest is the chain verification of a peer's certificates.
var VerifyLeafForTest = verifyLeaf

// HandshakeRetainedForTest reports what a datagram Conn still holds of
// its handshakes: the messages of flights it could send again, counting
// those left behind in the flight's storage, and whether it keeps DTLS
// 1.3 handshake read keys (epoch 2) as its previous epoch.
func (c *Conn) HandshakeRetainedForTest() (messages int, handshakeReadKeys bool) {
	l := c.layer.(*datagramLayer)
	for _, it := range l.flight[:cap(l.flight)] {
		if it.msg != nil || it.epoch != nil {
			messages++
		}
	}
	return messages, l.prevRead != nil && l.prevRead.sn != nil && l.prevRead.epoch == 2
}
