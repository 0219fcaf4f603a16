package fsm

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"time"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// CookieRotation is how often a Config draws a new DTLS cookie secret
// when Config.CookieSecrets is empty; a cookie made with the previous
// secret is still accepted.
const CookieRotation = 5 * time.Minute

// cookieSecrets returns the cookie secrets: the first makes cookies, all
// are accepted. They are Config.CookieSecrets when set; otherwise the
// current and the previous ones drawn from Rand, a new one every
// CookieRotation. The slice returned is never changed.
func (c *Config) cookieSecrets(now time.Time) ([][32]byte, error) {
	if len(c.CookieSecrets) > 0 {
		return c.CookieSecrets, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cookieKeys) == 0 || now.Sub(c.cookieCreated) >= CookieRotation {
		var key [32]byte
		if _, err := io.ReadFull(c.rand(), key[:]); err != nil {
			return nil, err
		}
		c.cookieKeys = append([][32]byte{key}, c.cookieKeys[:min(len(c.cookieKeys), 1)]...)
		c.cookieCreated = now
	}
	return c.cookieKeys, nil
}

// helloCookie binds the fields at the start of a ClientHello, which its
// first fragment carries, and the peer's address to a secret (RFC 6347
// §4.2.1), so that a server need keep no state until a client proves it
// receives at its address. The client repeats them in the hello that
// carries the cookie. It is HMAC-SHA256, computed on the stack.
func helloCookie(key *[32]byte, peerID []byte, f *flights.HelloCookieFields) [sha256.Size]byte {
	var pad [sha256.BlockSize]byte
	var room [sha256.BlockSize + 128]byte
	msg := room[:sha256.BlockSize]
	copy(pad[:], key[:])
	for i := range pad {
		msg[i] = pad[i] ^ 0x36
	}
	for _, part := range [][]byte{peerID, f.Random, f.SessionID} {
		msg = binary.BigEndian.AppendUint16(msg, uint16(len(part)))
		msg = append(msg, part...)
	}
	inner := sha256.Sum256(msg)
	msg = room[:sha256.BlockSize]
	for i := range pad {
		msg[i] = pad[i] ^ 0x5c
	}
	return sha256.Sum256(append(msg, inner[:]...))
}

// cookieValid reports whether a ClientHello from peerID, starting with f,
// carries a cookie made with the current or the previous secret (or the
// server skips the exchange).
func (c *Config) cookieValid(now time.Time, peerID []byte, f *flights.HelloCookieFields) bool {
	if c.InsecureSkipHelloVerify {
		return true
	}
	keys, err := c.cookieSecrets(now)
	if err != nil {
		return false
	}
	for i := range keys {
		want := helloCookie(&keys[i], peerID, f)
		if hmac.Equal(f.Cookie, want[:]) {
			return true
		}
	}
	return false
}

// retryState is what a DTLS 1.3 server needs to go on from a second
// ClientHello when it sent the HelloRetryRequest without keeping state
// (RFC 8446 §4.2.2, RFC 9147 §5.1): the suite and the group it chose for
// the first hello, whether it asked for a key share of that group,
// whether the first hello offered a PSK it would resume, and the first
// hello's transcript hash.
type retryState struct {
	suite     uint16
	group     CurveID
	askShare  bool
	psk       bool
	helloHash []byte
}

// retryCookieFormat is the first byte of a retry cookie: the version of
// its layout, which is the format byte, the suite (2 bytes), the group
// (2), flags (1: bit 0 askShare, bit 1 psk), the hash's length (1) and
// the hash, then an HMAC-SHA256 of all that and the client's address.
const retryCookieFormat = 1

// retryCookieLabel separates the MACs of retry cookies from those of
// HelloVerifyRequest cookies, made with the same secrets.
const retryCookieLabel = "tlsm dtls13 retry cookie"

// retryCookie is the cookie of a DTLS 1.3 HelloRetryRequest to peerID:
// st in the clear, bound to the address by a MAC under the current
// cookie secret. The second ClientHello echoes it in its cookie
// extension, and any Conn of the Config can go on from it.
func (c *Config) retryCookie(now time.Time, peerID []byte, st *retryState) ([]byte, error) {
	keys, err := c.cookieSecrets(now)
	if err != nil {
		return nil, err
	}
	var flags byte
	if st.askShare {
		flags |= 1
	}
	if st.psk {
		flags |= 2
	}
	cookie := []byte{retryCookieFormat}
	cookie = binary.BigEndian.AppendUint16(cookie, st.suite)
	cookie = binary.BigEndian.AppendUint16(cookie, uint16(st.group))
	cookie = append(cookie, flags, byte(len(st.helloHash)))
	cookie = append(cookie, st.helloHash...)
	return append(cookie, retryCookieMAC(&keys[0], peerID, cookie)...), nil
}

// retryCookieMAC is the MAC of a retry cookie's fields from peerID.
func retryCookieMAC(key *[32]byte, peerID, fields []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(retryCookieLabel))
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(peerID))))
	m.Write(peerID)
	m.Write(fields)
	return m.Sum(nil)
}

// openRetryCookie returns the state a retry cookie from peerID carries,
// if a current or previous secret of the Config made it for that
// address.
func (c *Config) openRetryCookie(now time.Time, peerID, cookie []byte) (retryState, bool) {
	const fixed = 1 + 2 + 2 + 1 + 1
	if len(cookie) < fixed+sha256.Size || cookie[0] != retryCookieFormat {
		return retryState{}, false
	}
	fields, mac := cookie[:len(cookie)-sha256.Size], cookie[len(cookie)-sha256.Size:]
	if len(fields) != fixed+int(fields[6]) {
		return retryState{}, false
	}
	keys, err := c.cookieSecrets(now)
	if err != nil {
		return retryState{}, false
	}
	for i := range keys {
		if hmac.Equal(mac, retryCookieMAC(&keys[i], peerID, fields)) {
			return retryState{
				suite:     binary.BigEndian.Uint16(fields[1:3]),
				group:     CurveID(binary.BigEndian.Uint16(fields[3:5])),
				askShare:  fields[5]&1 != 0,
				psk:       fields[5]&2 != 0,
				helloHash: bytes.Clone(fields[fixed:]),
			}, true
		}
	}
	return retryState{}, false
}

// appendHelloVerifyRequest appends to dst the record of a
// HelloVerifyRequest for a ClientHello from peerID starting with f, whose
// record and message sequence numbers were recordSeq and msgSeq: the
// answer takes both (RFC 6347 §4.2.1, §4.2.2).
func (c *Config) appendHelloVerifyRequest(dst []byte, now time.Time, peerID []byte, f *flights.HelloCookieFields, recordSeq uint64, msgSeq uint16) ([]byte, error) {
	keys, err := c.cookieSecrets(now)
	if err != nil {
		return dst, err
	}
	cookie := helloCookie(&keys[0], peerID, f)
	hvr := flights.HelloVerifyRequest{Version: record.VersionDTLS10, Cookie: cookie[:]}
	dst = record.AppendDTLSHeader(dst, record.TypeHandshake, record.VersionDTLS12, 0, recordSeq, helloVerifyMessageLen)
	return hvr.AppendDTLS(dst, msgSeq), nil
}

// sendHelloVerifyRequest answers a ClientHello without a valid cookie
// with one, keeping no state: the server stays in ServerStart.
func (c *Conn) sendHelloVerifyRequest(ch *flights.ClientHello) (State, error) {
	c.events.push(Event{Kind: EventMessageSent, Message: flights.TypeHelloVerifyRequest})
	if err := c.layer.sendHelloVerifyRequest(c.cookieFields(ch)); err != nil {
		return 0, err
	}
	return StateServerStart, nil
}

// cookieFields returns the fields of ch a cookie is made of.
func (c *Conn) cookieFields(ch *flights.ClientHello) *flights.HelloCookieFields {
	return &flights.HelloCookieFields{Version: ch.Version, Random: ch.Random, SessionID: ch.SessionID, Cookie: ch.DTLSCookie}
}

// clientHelloVerifyRequest sends the ClientHello again with the server's
// cookie. Neither hello nor the request enters the transcript (RFC 6347
// §4.2.6).
func (c *Conn) clientHelloVerifyRequest(m message) (State, error) {
	if !c.transport.HelloVerify {
		return 0, alertf(record.AlertUnexpectedMessage, "HelloVerifyRequest over %s", c.transport.Name)
	}
	var hvr flights.HelloVerifyRequest
	if err := hvr.Unmarshal(m.body); err != nil {
		return 0, err
	}
	c.hs.dtls.verifyRequests++
	if c.hs.dtls.verifyRequests > maxHelloVerifyRequests {
		return 0, alertf(record.AlertUnexpectedMessage, "more than %d HelloVerifyRequests", maxHelloVerifyRequests)
	}
	hello := *c.hs.hello
	hello.DTLSCookie = bytes.Clone(hvr.Cookie)
	c.reneg.dtlsCookie = hello.DTLSCookie
	c.hs.hello = &hello
	c.transcript.Reset()
	c.hs.tls12.messages = nil
	if err := c.sendHello(&hello); err != nil {
		return 0, err
	}
	return StateClientWaitServerHello, nil
}

// VerifyHello is the stateless front door of a DTLS server (RFC 6347
// §4.2.1): given a datagram from peerID, for which there is no Conn yet,
// it returns either a reply to send back and no Conn, or accept = true
// when the datagram starts a ClientHello with a valid cookie, in which
// case the caller makes a Conn with NewDTLSServer and feeds it that
// datagram. Anything else gets neither.
//
// The reply to a DTLS 1.2 ClientHello is a HelloVerifyRequest. It reads
// only the first fragment of the ClientHello, where the cookie lies, so a
// hello too large for one datagram is answered too; the Conn reassembles
// the rest. This allocates nothing but the reply, whatever the datagram
// holds.
//
// With DTLS 1.3 enabled, a ClientHello that offers it, whole in the
// datagram, gets a HelloRetryRequest whose cookie holds what the server
// needs to go on (RFC 9147 §5.1, RFC 8446 §4.2.2), made by a Conn thrown
// away at once; the ClientHello that echoes the cookie is accepted, and
// its Conn goes on from it. A ClientHello in fragments, which might offer
// DTLS 1.3 (a post-quantum key share makes it larger than a datagram),
// is accepted: its Conn reassembles it and checks the address itself, as
// a HelloVerifyRequest would hold a DTLS 1.3 client to DTLS 1.2.
// Nothing is kept between calls.
func VerifyHello(cfg *Config, peerID []byte, now time.Time, datagram []byte) (reply []byte, accept bool) {
	recordSeq, frag, ok := firstHelloFragment(datagram)
	if !ok {
		return nil, false
	}
	f, ok := flights.ParseHelloCookieFields(frag.Data)
	if !ok {
		return nil, false
	}
	if cfg.cookieValid(now, peerID, &f) {
		return nil, true
	}
	if cfg.versionEnabled(datagramTransport, VersionTLS13) {
		if len(frag.Data) != int(frag.Length) {
			return nil, true
		}
		if ch, err := datagramTransport.parseClientHello(frag.Data); err == nil && datagramTransport.offers(ch.SupportedVersions, VersionTLS13) {
			return verifyHello13(cfg, peerID, now, datagram, ch)
		}
	}
	reply, err := cfg.appendHelloVerifyRequest(make([]byte, 0, helloVerifyRecordLen), now, peerID, &f, recordSeq, frag.Seq)
	if err != nil {
		return nil, false
	}
	return reply, false
}

// verifyHello13 is VerifyHello for a whole DTLS 1.3 ClientHello, ch: one
// that echoes a retry cookie made for peerID is accepted, one with
// another cookie dropped, and one without gets the HelloRetryRequest of a
// Conn made for it and thrown away, whose cookie lets the next Conn go on.
func verifyHello13(cfg *Config, peerID []byte, now time.Time, datagram []byte, ch *flights.ClientHello) ([]byte, bool) {
	if ch.Cookie != nil {
		_, ok := cfg.openRetryCookie(now, peerID, ch.Cookie)
		return nil, ok
	}
	c := NewDTLSServer(cfg, peerID)
	if err := c.HandleDatagram(now, datagram); err != nil || c.State() != StateServerWaitClientHelloRetried {
		return nil, false
	}
	var reply []byte
	for ev := c.NextEvent(); ev.Kind != EventNone; ev = c.NextEvent() {
		if ev.Kind == EventTransmit {
			reply = append(reply, ev.Data...)
		}
	}
	return reply, false
}

// helloVerifyMessageLen is the length of a HelloVerifyRequest message
// with our 32-byte cookie: the handshake header, the version and the
// cookie; helloVerifyRecordLen is its record's.
const (
	helloVerifyMessageLen = flights.DTLSHeaderLen + 2 + 1 + sha256.Size
	helloVerifyRecordLen  = record.DTLSHeaderLen + helloVerifyMessageLen
)

// firstHelloFragment finds the first fragment of a ClientHello (offset 0)
// in a datagram's plaintext handshake records, within the bounds the
// datagram layer reads, and the sequence number of its record.
func firstHelloFragment(datagram []byte) (recordSeq uint64, f flights.Fragment, ok bool) {
	fragments := 0
	for records := 0; len(datagram) > 0 && records < MaxRecordsPerDatagram; records++ {
		rec, rest, err := record.ParseDTLSRecord(datagram)
		if err != nil {
			return 0, f, false
		}
		datagram = rest
		if rec.Epoch != 0 || rec.Type != record.TypeHandshake {
			continue
		}
		for payload := rec.Payload; len(payload) > 0 && fragments < MaxFragmentsPerDatagram; fragments++ {
			if f, payload, err = flights.ParseFragment(payload); err != nil {
				break
			}
			if f.Type == flights.TypeClientHello && f.Offset == 0 {
				return rec.Seq, f, true
			}
		}
	}
	return 0, f, false
}

// maxHelloVerifyRequests bounds the cookie exchanges of one handshake.
const maxHelloVerifyRequests = 4

// HelloRandom returns the random of a ClientHello whose first fragment
// datagram carries in plaintext. A demultiplexer that already has a Conn
// for the datagram's source compares it with the random of the hello
// that made the Conn: another random is a new connection from a client
// that restarted on the same address (RFC 6347 §4.2.8), the same one a
// copy of that hello.
func HelloRandom(datagram []byte) (random [32]byte, ok bool) {
	_, frag, ok := firstHelloFragment(datagram)
	if !ok {
		return random, false
	}
	f, ok := flights.ParseHelloCookieFields(frag.Data)
	if !ok {
		return random, false
	}
	return [32]byte(f.Random), true
}
