package fsm

import (
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// readRecords processes every complete record buffered.
func (c *Conn) readRecords() error {
	for c.state != StateClosed && !c.recvClose {
		rec, ok, err := c.in.Next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if err := c.handleRecord(rec); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) handleRecord(rec record.Record) error {
	if rec.Type == record.TypeChangeCipherSpec && c.version != VersionTLS12 {
		return c.handleChangeCipherSpec(rec.Payload)
	}
	typ, payload := rec.Type, rec.Payload
	if c.readKeys != nil {
		var err error
		if c.version == VersionTLS12 {
			payload, err = record.Open12(c.readKeys, rec)
		} else {
			typ, payload, err = record.Open13(c.readKeys, rec)
		}
		if err != nil {
			return err
		}
	} else {
		if typ == record.TypeApplicationData {
			return alertf(record.AlertUnexpectedMessage, "application data before keys are set")
		}
		if len(payload) > record.MaxPlaintext {
			return record.AlertRecordOverflow
		}
	}
	if c.hsIn.Buffered() > 0 && typ != record.TypeHandshake {
		return alertf(record.AlertUnexpectedMessage, "%s record inside a handshake message", typ)
	}
	switch typ {
	case record.TypeChangeCipherSpec:
		if len(payload) != 1 || payload[0] != 1 {
			return alertf(record.AlertUnexpectedMessage, "bad change_cipher_spec")
		}
		return c.dispatch(InChangeCipherSpec, message{})
	case record.TypeHandshake:
		return c.handleHandshake(payload)
	case record.TypeAlert:
		return c.handleAlert(payload)
	case record.TypeApplicationData:
		return c.dispatch(InApplicationData, message{body: payload})
	}
	return alertf(record.AlertUnexpectedMessage, "protected %s record", typ)
}

// handleChangeCipherSpec drops the compatibility-mode change_cipher_spec
// (RFC 8446 §5) and refuses any other.
func (c *Conn) handleChangeCipherSpec(payload []byte) error {
	if len(payload) != 1 || payload[0] != 1 {
		return alertf(record.AlertUnexpectedMessage, "bad change_cipher_spec")
	}
	if c.hsIn.Buffered() > 0 {
		return alertf(record.AlertUnexpectedMessage, "change_cipher_spec inside a handshake message")
	}
	if c.connected() || c.state == StateServerStart || c.state == StateClientStart {
		return alertf(record.AlertUnexpectedMessage, "change_cipher_spec outside the handshake")
	}
	return nil
}

func (c *Conn) handleHandshake(payload []byte) error {
	if len(payload) == 0 {
		return alertf(record.AlertUnexpectedMessage, "empty handshake record")
	}
	c.hsIn.Write(payload)
	for c.state != StateClosed {
		typ, body, raw, ok, err := c.hsIn.Next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		in, known := inputFor(typ, body)
		if !known {
			return alertf(record.AlertUnexpectedMessage, "%s in state %s", typ, c.state)
		}
		keys := c.readKeys
		c.events.push(Event{Kind: EventMessageReceived, Message: typ})
		if err := c.dispatch(in, message{body: body, raw: raw}); err != nil {
			return err
		}
		if c.readKeys != keys && c.hsIn.Buffered() > 0 {
			return alertf(record.AlertUnexpectedMessage, "%s not at a record boundary", typ)
		}
	}
	return nil
}

func (c *Conn) handleAlert(payload []byte) error {
	if len(payload) != 2 {
		return alertf(record.AlertDecodeError, "alert of %d bytes", len(payload))
	}
	level, desc := record.AlertLevel(payload[0]), record.Alert(payload[1])
	if level != record.LevelWarning && level != record.LevelFatal {
		return alertf(record.AlertIllegalParameter, "alert level %d", level)
	}
	c.events.push(Event{Kind: EventAlertReceived, Level: level, Alert: desc})
	switch desc {
	case record.AlertCloseNotify:
		c.recvClose = true
		if !c.connected() {
			c.closeWith(&AlertError{Level: level, Description: desc, Received: true})
			return nil
		}
		c.events.push(Event{Kind: EventClosed})
		if c.sentClose {
			c.state = StateClosed
		}
		return nil
	case record.AlertUserCanceled:
		if level == record.LevelWarning {
			return nil
		}
	}
	if c.version == VersionTLS12 && level == record.LevelWarning {
		return nil
	}
	// In TLS 1.3 every other alert is fatal, whatever its level.
	return &AlertError{Level: level, Description: desc, Received: true}
}

// sendAlert queues an alert record.
func (c *Conn) sendAlert(level AlertLevel, desc Alert) {
	if err := c.writeRecords(record.TypeAlert, []byte{byte(level), byte(desc)}); err != nil {
		return
	}
	c.events.push(Event{Kind: EventAlertSent, Level: level, Alert: desc})
}

// writeRecords frames payload into records of at most MaxPlaintext bytes,
// protected when write keys are set.
func (c *Conn) writeRecords(typ record.ContentType, payload []byte) error {
	for len(payload) > 0 {
		n := min(len(payload), record.MaxPlaintext)
		var err error
		switch {
		case c.writeKeys == nil:
			c.out = record.AppendPlain(c.out, typ, c.plainRecordVersion(), payload[:n])
		case c.version == VersionTLS12:
			c.out, err = record.Seal12(c.out, c.writeKeys, typ, VersionTLS12, payload[:n])
		default:
			c.out, err = record.Seal13(c.out, c.writeKeys, typ, payload[:n], 0)
		}
		if err != nil {
			return err
		}
		payload = payload[n:]
	}
	return nil
}

func (c *Conn) plainRecordVersion() uint16 {
	if c.state == StateClientStart {
		return c.transport.InitialRecordVersion
	}
	return record.VersionTLS12
}

// sendMessage queues a handshake message, adding it to the transcript.
func (c *Conn) sendMessage(raw []byte) {
	c.addTranscript(raw)
	c.hsOut = append(c.hsOut, raw...)
	c.events.push(Event{Kind: EventMessageSent, Message: flights.MsgType(raw[0])})
}

// addTranscript adds a handshake message to the transcript and, until the
// version is known to be TLS 1.3, to the raw message log that a TLS 1.2
// CertificateVerify signs.
func (c *Conn) addTranscript(raw []byte) {
	c.transcript.Write(raw)
	if c.hs != nil && c.version != VersionTLS13 {
		c.hs.messages = append(c.hs.messages, raw...)
	}
}

// flushHandshake frames the queued handshake messages under the current
// write keys.
func (c *Conn) flushHandshake() error {
	if len(c.hsOut) == 0 {
		return nil
	}
	err := c.writeRecords(record.TypeHandshake, c.hsOut)
	c.hsOut = c.hsOut[:0]
	return err
}

// setWriteKeys frames what is queued under the old keys, then switches.
func (c *Conn) setWriteKeys(secret []byte) error {
	if err := c.flushHandshake(); err != nil {
		return err
	}
	st, err := cipher.NewTrafficState(c.suite, secret)
	if err != nil {
		return err
	}
	c.writeKeys = st
	return nil
}

func (c *Conn) setReadKeys(secret []byte) error {
	st, err := cipher.NewTrafficState(c.suite, secret)
	if err != nil {
		return err
	}
	c.readKeys = st
	return nil
}
