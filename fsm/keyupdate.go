package fsm

import (
	"errors"
	"time"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// KeyUpdateType is the kind of a TLS 1.3 key update, as in OpenSSL's
// SSL_key_update: KeyUpdateNone means none is scheduled.
type KeyUpdateType uint8

// Key update types. Requested asks the peer to update its keys too.
const (
	KeyUpdateNone KeyUpdateType = iota
	UpdateNotRequested
	UpdateRequested
)

// String returns "none", "not_requested" or "requested".
func (t KeyUpdateType) String() string {
	switch t {
	case KeyUpdateNone:
		return "none"
	case UpdateNotRequested:
		return "not_requested"
	case UpdateRequested:
		return "requested"
	}
	return "invalid"
}

// Errors of KeyUpdate.
var (
	// ErrInvalidKeyUpdateType: the type is neither UpdateNotRequested nor
	// UpdateRequested.
	ErrInvalidKeyUpdateType = errors.New("tls: invalid key update type")
	// ErrNotTLS13: the operation needs a TLS 1.3 connection.
	ErrNotTLS13 = errors.New("tls: key updates need TLS 1.3")
)

// Defaults of the key update limits.
const (
	// DefaultMaxKeyUpdatesWithoutData is how many KeyUpdates the peer may
	// send in a row with no application data before we fail.
	DefaultMaxKeyUpdatesWithoutData = 32
	// DefaultKeyUpdateAfterRecords is how many records we protect under one
	// key before updating it: well under AES-GCM's 2^24.5 full-size records
	// (RFC 8446 §5.5).
	DefaultKeyUpdateAfterRecords = 1 << 23
)

// KeyUpdate schedules an update of our sending keys, as SSL_key_update(3):
// it is sent on the next Write, HandleData or Handshake. Requested also asks
// the peer to update its keys. Scheduling twice before it is sent coalesces,
// and requested wins.
func (c *Conn) KeyUpdate(t KeyUpdateType) error {
	switch {
	case t != UpdateNotRequested && t != UpdateRequested:
		return ErrInvalidKeyUpdateType
	case c.err != nil:
		return c.err
	case !c.connected():
		return ErrHandshakeIncomplete
	case c.version != VersionTLS13:
		return ErrNotTLS13
	case c.sentClose:
		return ErrClosed
	}
	c.ku.scheduled = max(c.ku.scheduled, t)
	return nil
}

// PendingKeyUpdate returns the type of the key update that will be sent
// next, or KeyUpdateNone, as SSL_get_key_update_type(3). An answer owed to
// the peer's request counts as UpdateNotRequested. Over DTLS 1.3 a
// KeyUpdate sent stays pending until the peer acknowledges it, when our
// keys change (RFC 9147 §8); one scheduled meanwhile goes out after that.
func (c *Conn) PendingKeyUpdate() KeyUpdateType {
	t := max(c.ku.scheduled, c.ku.sent)
	if c.ku.owed {
		t = max(t, UpdateNotRequested)
	}
	return t
}

// Handshake performs scheduled work at time now, as SSL_do_handshake(3):
// a scheduled key update or the answer owed to the peer's request, or a
// scheduled renegotiation. now dates what it starts: the retransmission
// timer of a DTLS flight, the renegotiation rate limit.
func (c *Conn) Handshake(now time.Time) error {
	c.begin(now)
	if c.err == nil {
		if err := c.runScheduled(true); err != nil {
			c.fail(err)
		}
	}
	c.end()
	return c.err
}

// runScheduled performs the work the API scheduled: a key update, or a
// renegotiation. withOwed includes a key update owed to the peer.
func (c *Conn) runScheduled(withOwed bool) error {
	if err := c.sendScheduledKeyUpdate(withOwed); err != nil {
		return err
	}
	return c.startScheduledRenegotiation()
}

// sendScheduledKeyUpdate sends the scheduled key update, if any. withOwed
// includes the answer owed to a peer's request, which is due only before
// our next application data, so that several requests get one answer.
func (c *Conn) sendScheduledKeyUpdate(withOwed bool) error {
	t := c.ku.scheduled
	if withOwed && c.ku.owed {
		t = max(t, UpdateNotRequested)
	}
	if t == KeyUpdateNone || !c.connected() || c.sentClose {
		return nil
	}
	if c.transport.Datagram && (c.postHandshakeUnacked || !c.reneg.peerCompleted) {
		// DTLS 1.3 has one KeyUpdate outstanding at a time, and none
		// before the peer has completed the handshake (RFC 9147 §8):
		// this one waits, scheduled.
		return nil
	}
	c.ku.scheduled, c.ku.owed = KeyUpdateNone, false
	msg := flights.KeyUpdate{}
	if t == UpdateRequested {
		msg.RequestUpdate = 1
	}
	c.sendPostHandshake(msg.Append(nil))
	if c.transport.Datagram {
		// Over DTLS 1.3 the keys change once the KeyUpdate is
		// acknowledged (handleACK); until then it is sent again on the
		// timer.
		c.postHandshakeUnacked, c.ku.sent = true, t
		return nil
	}
	return c.switchWriteKeys(t)
}

// switchWriteKeys moves our writing to the next traffic secret, for a
// KeyUpdate of type t sent (and, over DTLS 1.3, acknowledged).
func (c *Conn) switchWriteKeys(t KeyUpdateType) error {
	if c.isClient {
		c.tls13.clientAP = c.transport.Labels.NextTrafficSecret(c.suite.Hash, c.tls13.clientAP)
		if err := c.setWriteKeys(c.tls13.clientAP); err != nil {
			return err
		}
	} else {
		c.tls13.serverAP = c.transport.Labels.NextTrafficSecret(c.suite.Hash, c.tls13.serverAP)
		if err := c.setWriteKeys(c.tls13.serverAP); err != nil {
			return err
		}
	}
	c.events.push(Event{Kind: EventKeyUpdateSent, KeyUpdate: t})
	return nil
}

// receiveKeyUpdate switches to the peer's next traffic secret and, when
// asked, owes the peer an update of our own.
func (c *Conn) receiveKeyUpdate(m message) (State, error) {
	var ku flights.KeyUpdate
	if err := ku.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if ku.RequestUpdate > 1 {
		return 0, alertf(record.AlertIllegalParameter, "KeyUpdate request_update %d", ku.RequestUpdate)
	}
	if err := c.countPostHandshake(); err != nil {
		return 0, err
	}
	t := UpdateNotRequested
	if ku.RequestUpdate == 1 {
		t = UpdateRequested
		if !c.sentClose {
			c.ku.owed = true
		}
	}
	var err error
	if c.isClient {
		c.tls13.serverAP = c.transport.Labels.NextTrafficSecret(c.suite.Hash, c.tls13.serverAP)
		err = c.setReadKeys(c.tls13.serverAP)
	} else {
		c.tls13.clientAP = c.transport.Labels.NextTrafficSecret(c.suite.Hash, c.tls13.clientAP)
		err = c.setReadKeys(c.tls13.clientAP)
	}
	if err != nil {
		return 0, err
	}
	c.events.push(Event{Kind: EventKeyUpdateReceived, KeyUpdate: t})
	return c.state, nil
}

// countPostHandshake counts the TLS 1.3 post-handshake messages (KeyUpdate,
// NewSessionTicket) received since the last application data and refuses
// more than Config.MaxKeyUpdatesWithoutData of them.
func (c *Conn) countPostHandshake() error {
	c.ku.inRow++
	if limit := c.cfg.maxKeyUpdatesWithoutData(); limit > 0 && c.ku.inRow > limit {
		return alertf(record.AlertUnexpectedMessage, "more than %d post-handshake messages without application data", limit)
	}
	return nil
}

// scheduleKeyUpdateAtLimit schedules an update once the write key has
// protected its share of records, and refuses to go on when the sequence
// number could wrap.
func (c *Conn) scheduleKeyUpdateAtLimit() {
	if st := c.layer.writeState(); st != nil && c.version == VersionTLS13 && c.layer.writeSeq() >= c.cfg.keyUpdateAfterRecords() {
		c.ku.scheduled = max(c.ku.scheduled, UpdateNotRequested)
	}
}
