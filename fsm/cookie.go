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

// CookieRotation is how often the DTLS cookie secret changes; a cookie
// made with the previous secret is still accepted.
const CookieRotation = 5 * time.Minute

// cookieSecret is one HelloVerifyRequest cookie key.
type cookieSecret struct {
	key     [32]byte
	created time.Time
}

// cookieSecrets returns the current and the previous cookie secrets,
// drawing a new one from Rand every CookieRotation.
func (c *Config) cookieSecrets(now time.Time) ([]cookieSecret, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cookieKeys) == 0 || now.Sub(c.cookieKeys[0].created) >= CookieRotation {
		s := cookieSecret{created: now}
		if _, err := io.ReadFull(c.rand(), s.key[:]); err != nil {
			return nil, err
		}
		c.cookieKeys = append([]cookieSecret{s}, c.cookieKeys[:min(len(c.cookieKeys), 1)]...)
	}
	return c.cookieKeys, nil
}

// cookie binds a ClientHello's fixed fields and the peer's address to a
// secret (RFC 6347 §4.2.1), so that a server need keep no state until a
// client proves it receives at its address.
func (c *Conn) cookie(key [32]byte, ch *flights.ClientHello) []byte {
	mac := hmac.New(sha256.New, key[:])
	var n [2]byte
	for _, part := range [][]byte{c.peerID, ch.Random, ch.SessionID} {
		binary.BigEndian.PutUint16(n[:], uint16(len(part)))
		mac.Write(n[:])
		mac.Write(part)
	}
	for _, s := range ch.CipherSuites {
		binary.BigEndian.PutUint16(n[:], s)
		mac.Write(n[:])
	}
	return mac.Sum(nil)
}

// cookieValid reports whether the ClientHello carries a cookie we made
// (or the server skips the exchange).
func (c *Conn) cookieValid(ch *flights.ClientHello) bool {
	if c.cfg.InsecureSkipHelloVerify {
		return true
	}
	keys, err := c.cfg.cookieSecrets(c.now)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if hmac.Equal(ch.DTLSCookie, c.cookie(k.key, ch)) {
			return true
		}
	}
	return false
}

// sendHelloVerifyRequest answers a ClientHello without a valid cookie
// with one, keeping no state: the server stays in ServerStart.
func (c *Conn) sendHelloVerifyRequest(ch *flights.ClientHello) (State, error) {
	keys, err := c.cfg.cookieSecrets(c.now)
	if err != nil {
		return 0, err
	}
	hvr := flights.HelloVerifyRequest{Version: record.VersionDTLS10, Cookie: c.cookie(keys[0].key, ch)}
	c.events.push(Event{Kind: EventMessageSent, Message: flights.TypeHelloVerifyRequest})
	if err := c.layer.sendStateless(hvr.Append(nil)); err != nil {
		return 0, err
	}
	return StateServerStart, nil
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
	c.hs.verifyRequests++
	if c.hs.verifyRequests > maxHelloVerifyRequests {
		return 0, alertf(record.AlertUnexpectedMessage, "more than %d HelloVerifyRequests", maxHelloVerifyRequests)
	}
	hello := *c.hs.hello
	hello.DTLSCookie = bytes.Clone(hvr.Cookie)
	c.dtlsCookie = hello.DTLSCookie
	c.hs.hello = &hello
	c.transcript.Reset()
	c.hs.messages = nil
	c.sendMessage(c.bindHello(&hello))
	return StateClientWaitServerHello, nil
}

// VerifyHello is the stateless front door of a DTLS server (RFC 6347
// §4.2.1): given the first datagram from peerID, it returns either a
// HelloVerifyRequest to send back (reply) and no Conn, or accept = true
// when the datagram holds a ClientHello with a valid cookie, in which case
// the caller makes a Conn with NewDTLSServer and feeds it that datagram.
// Anything else gets neither. Nothing is kept between calls.
func VerifyHello(cfg *Config, peerID []byte, now time.Time, datagram []byte) (reply []byte, accept bool) {
	c := NewDTLSServer(cfg, peerID)
	c.verifyOnly = true
	c.HandleDatagram(now, datagram)
	if c.cookieAccepted {
		return nil, true
	}
	for ev := c.NextEvent(); ev.Kind != EventNone; ev = c.NextEvent() {
		if ev.Kind == EventTransmit && c.state == StateServerStart {
			reply = append(reply, ev.Data...)
		}
	}
	return reply, false
}

// maxHelloVerifyRequests bounds the cookie exchanges of one handshake.
const maxHelloVerifyRequests = 4
