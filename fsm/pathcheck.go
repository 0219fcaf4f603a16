package fsm

import (
	"crypto/subtle"
	"errors"
	"io"
	"time"

	"github.com/tlsm/tlsm/record"
)

// The return routability check of RFC 9853: with Connection IDs, a
// record may come from a new address, and a side that sees its peer move
// there checks that the peer receives at that address before sending
// there: it sends a path_challenge carrying 8 random bytes to the new
// address, and moves only when a path_response echoing them comes back.
// The Conn makes the challenge (PathChallenge), answers the peer's, and
// reports EventPathValidated; where datagrams go is its caller's business.
// Both sides offer it with the connection_id extension unless
// ConnectionIDs.SkipReturnRoutabilityCheck.

// The messages of the return_routability_check content type.
const (
	pathChallenge = 0
	pathResponse  = 1
	pathDrop      = 2
	// pathMessageLen is a message's length: its type and an 8-byte cookie.
	pathMessageLen = 1 + 8
)

// PathCheckTimeout is how long a path_challenge waits for its answer
// when nothing is known of the new path's round trip (RFC 9853 §7.5):
// the caller gives up on the new address after it.
const PathCheckTimeout = time.Second

// pathCheck is a Conn's return routability check, made when the
// handshake negotiated it.
type pathCheck struct {
	cookie      [8]byte
	outstanding bool
}

var (
	errNoDatagrams = errors.New("fsm: not over datagrams")
	// ErrNoPathCheck is PathChallenge's error when the handshake did not
	// negotiate the return routability check, or has not completed.
	ErrNoPathCheck = errors.New("fsm: no return routability check on this connection")
)

// offersPathCheck reports whether our hello offers the return
// routability check: with Connection IDs, unless the Config skips it.
func (c *Conn) offersPathCheck() bool {
	return c.wantsConnectionID() && !c.cfg.ConnectionIDs.SkipReturnRoutabilityCheck
}

// PathChallenge starts a return routability check (RFC 9853): it returns
// a datagram holding a path_challenge, protected under the current keys,
// for the caller to send to the peer's new address, not to the current
// one. When the peer's path_response comes back (from wherever), the
// Conn reports EventPathValidated; a new challenge replaces the one
// before. now dates nothing yet; it is there for the contract that every
// call that sends takes the time.
func (c *Conn) PathChallenge(now time.Time) ([]byte, error) {
	c.begin(now)
	defer c.end()
	if c.path == nil || !c.connected() || c.err != nil {
		return nil, ErrNoPathCheck
	}
	if _, err := io.ReadFull(c.cfg.rand(), c.path.cookie[:]); err != nil {
		return nil, err
	}
	c.path.outstanding = true
	msg := append([]byte{pathChallenge}, c.path.cookie[:]...)
	return c.layer.sealAlone(record.TypeReturnRoutabilityCheck, msg)
}

// handlePathMessage takes a return_routability_check record: a
// challenge is answered with its cookie, at once and once; a response or
// a drop ends our challenge when it echoes its cookie, the response
// reporting EventPathValidated; anything else is dropped (RFC 9853 §5,
// §7.4).
func (c *Conn) handlePathMessage(payload []byte) error {
	if len(payload) == 0 {
		return alertf(record.AlertDecodeError, "empty return_routability_check")
	}
	typ := payload[0]
	if typ > pathDrop {
		return c.idleRecord() // a message type of the future
	}
	if len(payload) != pathMessageLen {
		return alertf(record.AlertDecodeError, "return_routability_check of %d bytes", len(payload))
	}
	cookie := payload[1:]
	switch {
	case typ == pathChallenge:
		return c.layer.writeRecord(record.TypeReturnRoutabilityCheck, append([]byte{pathResponse}, cookie...))
	case !c.path.outstanding || subtle.ConstantTimeCompare(cookie, c.path.cookie[:]) != 1:
		return c.idleRecord()
	}
	c.path.outstanding = false
	if typ == pathResponse {
		c.events.push(Event{Kind: EventPathValidated})
	}
	return nil
}
