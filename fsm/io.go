package fsm

import (
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// readRecords processes every complete record buffered.
func (c *Conn) readRecords() error {
	for c.state != StateClosed && !c.recvClose {
		typ, payload, ok, err := c.layer.nextRecord()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if err := c.handleRecord(typ, payload); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) handleRecord(typ record.ContentType, payload []byte) error {
	if err := c.countIdle(typ, payload); err != nil {
		return err
	}
	if typ == record.TypeChangeCipherSpec && c.compatibilityCCS() {
		return c.handleChangeCipherSpec(payload)
	}
	if c.layer.handshakeBuffered() > 0 && typ != record.TypeHandshake {
		return alertf(record.AlertUnexpectedMessage, "%s record inside a handshake message", typ)
	}
	if (typ == record.TypeApplicationData || typ == record.TypeAlert) && (c.layer.currentKeys() || c.version == VersionTLS13) {
		// Only a peer that has completed the handshake sends these
		// under its new keys — or, with no renegotiation in TLS 1.3,
		// under any of its application keys: a DTLS 1.3 record of the
		// epoch before the peer's KeyUpdate is as good a proof.
		if c.hs == nil && c.handshakes > 0 {
			c.peerHasLastFlight()
		}
	}
	switch typ {
	case record.TypeChangeCipherSpec:
		if len(payload) != 1 || payload[0] != 1 {
			return alertf(record.AlertUnexpectedMessage, "bad change_cipher_spec")
		}
		if c.transport.KeepEarlyChangeCipherSpec && lookup(c.state, InChangeCipherSpec) == nil {
			c.keepEarlyChangeCipherSpec()
			return nil
		}
		return c.dispatch(InChangeCipherSpec, message{})
	case record.TypeHandshake:
		return c.handleHandshakeRecord(payload)
	case record.TypeAlert:
		return c.handleAlert(payload)
	case record.TypeApplicationData:
		if c.transport.DropEarlyApplicationData && lookup(c.state, InApplicationData) == nil {
			return nil
		}
		return c.dispatch(InApplicationData, message{body: payload})
	case record.TypeACK:
		if c.transport.Datagram && c.version == VersionTLS13 {
			return c.handleACK(payload)
		}
	case record.TypeReturnRoutabilityCheck:
		if c.path != nil && c.hs == nil {
			return c.handlePathMessage(payload)
		}
	}
	return alertf(record.AlertUnexpectedMessage, "protected %s record", typ)
}

// handleACK takes a DTLS 1.3 ACK (RFC 9147 §7): what it covers of our
// flight is not sent again, and a flight it covers whole is over, its
// timer stopped. Covering our KeyUpdate, it lets us switch to the next
// keys (RFC 9147 §8); covering a client's last flight of the handshake,
// it says the server completed it.
func (c *Conn) handleACK(payload []byte) error {
	var ack flights.ACK
	if err := ack.Unmarshal(payload); err != nil {
		return alertf(record.AlertDecodeError, "malformed ACK")
	}
	if err := c.checkACKEpochs(ack.Records); err != nil {
		return err
	}
	if !c.layer.acknowledged(ack.Records) || c.hs != nil {
		return nil
	}
	if c.handshakes > 0 {
		c.peerHasLastFlight()
	}
	if c.postHandshakeUnacked {
		c.postHandshakeUnacked = false
		if t := c.ku.sent; t != KeyUpdateNone {
			c.ku.sent = KeyUpdateNone
			return c.switchWriteKeys(t)
		}
	}
	return nil
}

// checkACKEpochs refuses, during the handshake, an ACK of a record of an
// epoch later than the ACK's own (RFC 9147 §7.2): until then both
// directions move through the same epochs, and an ACK goes in the latest
// its sender has. After the handshake each direction's key updates move
// its epoch alone, so an ACK may well be in an earlier epoch than the
// records it acknowledges.
func (c *Conn) checkACKEpochs(records []flights.RecordNumber) error {
	if c.hs == nil {
		return nil
	}
	epoch := c.layer.recordEpoch()
	for _, r := range records {
		if r.Epoch > epoch {
			return alertf(record.AlertIllegalParameter, "an ACK in epoch %d of a record of epoch %d", epoch, r.Epoch)
		}
	}
	return nil
}

// peerHasLastFlight notes that the peer completed the handshake, so has
// the handshake's last flight: a DTLS 1.3 client's stops being sent again.
func (c *Conn) peerHasLastFlight() {
	c.reneg.peerCompleted = true
	if c.lastFlightUnacked {
		c.lastFlightUnacked = false
		c.layer.dropFlight()
		c.layer.dropHandshakeReadKeys()
	}
}

// MaxIdleRecords is how many records in a row may arrive that move
// nothing forward — empty application data, TLS 1.3's compatibility
// change_cipher_spec, alerts that are ignored, renegotiation requests
// that are refused — before the connection fails with unexpected_message.
const MaxIdleRecords = 32

// countIdle counts the records that make no progress and refuses a flood
// of them; application data resets the count. Handshake records are
// counted once handled (handleHandshakeRecord).
func (c *Conn) countIdle(typ record.ContentType, payload []byte) error {
	switch {
	case typ == record.TypeApplicationData && len(payload) > 0:
		c.idleRecords = 0
		return nil
	case typ == record.TypeHandshake:
		return nil
	case typ == record.TypeAlert && len(payload) == 2 && record.Alert(payload[1]) == record.AlertCloseNotify:
		return nil
	}
	return c.idleRecord()
}

// idleRecord counts one record without progress.
func (c *Conn) idleRecord() error {
	c.idleRecords++
	if c.idleRecords > MaxIdleRecords {
		return alertf(record.AlertUnexpectedMessage, "more than %d records in a row without progress", MaxIdleRecords)
	}
	return nil
}

// handleHandshakeRecord takes a handshake record, which is progress and
// resets the idle count, unless it drew a refusal of renegotiation: that
// moves nothing forward, and counts as an idle record.
func (c *Conn) handleHandshakeRecord(payload []byte) error {
	refused := c.reneg.refused
	if err := c.handleHandshake(payload); err != nil {
		return err
	}
	if c.reneg.refused != refused {
		return c.idleRecord()
	}
	c.idleRecords = 0
	return c.readEarlyChangeCipherSpec()
}

// keepEarlyChangeCipherSpec notes a ChangeCipherSpec that arrived during a
// handshake before the messages it follows: datagrams reorder (RFC 6347
// §4.1). It is of the epoch being read, so it is the one that ends it;
// outside a handshake it is dropped.
func (c *Conn) keepEarlyChangeCipherSpec() {
	if c.hs != nil {
		c.hs.dtls.earlyCCS = true
	}
}

// readEarlyChangeCipherSpec reads a kept ChangeCipherSpec once the
// handshake has come to it.
func (c *Conn) readEarlyChangeCipherSpec() error {
	if c.hs == nil || !c.hs.dtls.earlyCCS || lookup(c.state, InChangeCipherSpec) == nil {
		return nil
	}
	c.hs.dtls.earlyCCS = false
	return c.dispatch(InChangeCipherSpec, message{})
}

// compatibilityCCS tells whether a change_cipher_spec would be TLS 1.3's
// compatibility one: under TLS 1.3, or before the version is known over a
// transport that has them. A DTLS client's ChangeCipherSpec before its
// ServerHello is DTLS 1.2's, reordered ahead of a resumption's ServerHello.
func (c *Conn) compatibilityCCS() bool {
	return c.version == VersionTLS13 || c.version == 0 && c.transport.CompatibilityCCS
}

// handleChangeCipherSpec drops the compatibility-mode change_cipher_spec
// (RFC 8446 §5) and refuses any other.
func (c *Conn) handleChangeCipherSpec(payload []byte) error {
	if len(payload) != 1 || payload[0] != 1 {
		return alertf(record.AlertUnexpectedMessage, "bad change_cipher_spec")
	}
	if c.layer.handshakeBuffered() > 0 {
		return alertf(record.AlertUnexpectedMessage, "change_cipher_spec inside a handshake message")
	}
	if c.connected() || property(c.state).start {
		return alertf(record.AlertUnexpectedMessage, "change_cipher_spec outside the handshake")
	}
	return nil
}

func (c *Conn) handleHandshake(payload []byte) error {
	if len(payload) == 0 {
		return alertf(record.AlertUnexpectedMessage, "empty handshake record")
	}
	if err := c.layer.writeHandshake(payload); err != nil {
		return err
	}
	for c.state != StateClosed {
		typ, body, raw, ok, err := c.layer.nextMessage()
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
		gen, sent := c.readGen, c.sentGen
		c.events.push(Event{Kind: EventMessageReceived, Message: typ})
		if err := c.dispatch(in, message{body: body, raw: raw}); err != nil {
			return err
		}
		if (c.readGen != gen || c.sentGen != sent) && c.layer.handshakeBuffered() > 0 {
			// Handshake messages do not span key changes (RFC 8446 §5.1),
			// and none can follow, in its record, a message the peer then
			// waits for us to answer.
			return alertf(record.AlertUnexpectedMessage, "%s not at a record boundary", typ)
		}
	}
	return nil
}

func (c *Conn) handleAlert(payload []byte) error {
	switch len(payload) {
	case 0:
		// RFC 8446 §5.4: an alert record with no content.
		return alertf(record.AlertUnexpectedMessage, "empty alert record")
	case 2:
	default:
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
			c.closeWith(&AlertError{Level: level, Description: desc, Received: true, DTLS: c.transport.Datagram})
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
	if c.version != VersionTLS13 && level == record.LevelWarning {
		// TLS 1.2, or a version not chosen yet: a warning such as
		// unrecognized_name before a ServerHello is ignored (within
		// MaxIdleRecords).
		if desc == record.AlertNoRenegotiation && lookup(c.state, InNoRenegotiation) != nil {
			return c.dispatch(InNoRenegotiation, message{})
		}
		return nil
	}
	// In TLS 1.3 every other alert is fatal, whatever its level.
	return &AlertError{Level: level, Description: desc, Received: true, DTLS: c.transport.Datagram}
}

// sendAlert queues an alert record.
func (c *Conn) sendAlert(level AlertLevel, desc Alert) {
	if err := c.layer.writeRecord(record.TypeAlert, []byte{byte(level), byte(desc)}); err != nil {
		return
	}
	c.events.push(Event{Kind: EventAlertSent, Level: level, Alert: desc})
}

// sendCompatibilityCCS sends the dummy change_cipher_spec of TLS 1.3's
// middlebox compatibility mode (RFC 8446 Appendix D.4), unprotected and
// once per handshake, when the ClientHello carried a legacy_session_id:
// a client before its second ClientHello or its encrypted flight, a
// server right after its HelloRetryRequest or ServerHello. What is queued
// goes out first.
func (c *Conn) sendCompatibilityCCS() error {
	if c.hs.tls13.sentCompatCCS || !c.transport.CompatibilityCCS || len(c.hs.hello.SessionID) == 0 {
		return nil
	}
	c.hs.tls13.sentCompatCCS = true
	if err := c.layer.flush(); err != nil {
		return err
	}
	return c.layer.writeRecord(record.TypeChangeCipherSpec, []byte{1})
}

// sendMessage queues a handshake message, adding it to the transcript.
func (c *Conn) sendMessage(raw []byte) {
	c.sentGen++
	c.addTranscript(c.layer.queueMessage(raw))
	c.events.push(Event{Kind: EventMessageSent, Message: flights.MsgType(raw[0])})
}

// msgBuffer returns the Conn's buffer for building the next message that
// sendBuilt takes, emptied.
func (c *Conn) msgBuffer() []byte { return c.msgBuf[:0] }

// sendBuilt is sendMessage for a message built in msgBuffer, which it
// keeps, grown as it may be, for the next one: sendMessage copies what it
// sends.
func (c *Conn) sendBuilt(raw []byte) {
	c.sendMessage(raw)
	c.msgBuf = raw[:0]
}

// sendPostHandshake queues a message that is not part of the transcript
// (TLS 1.3 NewSessionTicket and KeyUpdate).
func (c *Conn) sendPostHandshake(raw []byte) {
	c.layer.queueMessage(raw)
	c.events.push(Event{Kind: EventMessageSent, Message: flights.MsgType(raw[0])})
}

// addTranscript adds a handshake message to the transcript and, while
// logsMessages12 says so, to the raw message log that a TLS 1.2
// CertificateVerify signs.
func (c *Conn) addTranscript(raw []byte) {
	c.transcript.Write(raw)
	if c.logsMessages12() {
		if c.hs.tls12.messages == nil {
			c.hs.tls12.messages = make([]byte, 0, max(flightSizeHint, len(raw)))
		}
		c.hs.tls12.messages = append(c.hs.tls12.messages, raw...)
	}
}

// logsMessages12 reports whether the handshake under way keeps the raw
// messages for a TLS 1.2 CertificateVerify: until the version is known to
// be TLS 1.3, on a client that has a certificate to offer and on a server
// that asks for one. Others never sign or check one, and keep no copy of
// the handshake (a few KB, most of it the certificate chain).
func (c *Conn) logsMessages12() bool {
	if c.hs == nil || c.version == VersionTLS13 {
		return false
	}
	if c.isClient {
		hasCert := len(c.cfg.Certificates) > 0 || c.cfg.GetClientCertificate != nil
		return hasCert && c.cfg.versionEnabled(c.transport, VersionTLS12)
	}
	return c.cfg.ClientAuth != NoClientCert
}

// setWriteKeys frames what is queued under the old keys, then switches to
// keys from a TLS 1.3 traffic secret.
func (c *Conn) setWriteKeys(secret []byte) error {
	st, sn, err := c.trafficKeys(secret)
	if err != nil {
		return err
	}
	return c.layer.setWriteState(st, sn)
}

// setReadKeys switches to read keys from a TLS 1.3 traffic secret.
func (c *Conn) setReadKeys(secret []byte) error {
	st, sn, err := c.trafficKeys(secret)
	if err != nil {
		return err
	}
	c.setReadState(st, sn)
	return nil
}

// trafficKeys derives the record protection of a TLS 1.3 traffic secret
// and, over DTLS 1.3, the protection of its record numbers.
func (c *Conn) trafficKeys(secret []byte) (*cipher.State, *cipher.RecordNumberKey, error) {
	st, err := c.transport.Labels.NewTrafficState(c.suite, secret)
	if err != nil || !c.transport.Datagram {
		return st, nil, err
	}
	sn, err := c.transport.Labels.NewRecordNumberKey(c.suite, secret)
	return st, sn, err
}

// setReadState switches the read protection.
func (c *Conn) setReadState(st *cipher.State, sn *cipher.RecordNumberKey) {
	c.layer.setReadState(st, sn)
	c.readGen++
}
