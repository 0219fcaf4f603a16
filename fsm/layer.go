package fsm

import (
	"errors"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// layer is the transport's framing below the state machine: records and
// their protection, handshake message framing and, over datagrams,
// flights and their retransmission. Each transport makes its own; the
// state machine above it is the same for both.
type layer interface {
	// reset runs when the caller has drained every event, so the buffers
	// behind earlier events may be reused.
	reset()
	// release runs when the Conn drops its output buffer after a
	// handshake; it drops the buffers that hold nothing, without moving
	// any, to be grown again on use.
	release()
	// feed takes input: a piece of the byte stream, or one datagram.
	// When lent, records may be read in data itself until end.
	feed(data []byte, lent bool)
	// nextRecord returns the next record's content type and plaintext.
	// ok is false when the input is used up.
	nextRecord() (typ record.ContentType, payload []byte, ok bool, err error)
	// writeHandshake takes the payload of a handshake record.
	writeHandshake(payload []byte) error
	// nextMessage returns the next whole handshake message; raw is the form
	// the transcript takes.
	nextMessage() (typ flights.MsgType, body, raw []byte, ok bool, err error)
	// handshakeBuffered is the number of bytes of handshake messages held
	// that must not straddle a key change.
	handshakeBuffered() int
	// queueMessage queues a handshake message given in TLS framing and
	// returns the form the transcript takes.
	queueMessage(raw []byte) []byte
	// writeRecord protects and queues one payload of any length.
	writeRecord(typ record.ContentType, payload []byte) error
	// flush frames the queued handshake messages.
	flush() error
	// setWriteState flushes, then protects what follows under st;
	// setReadState unprotects what follows with st. sn, set only over
	// DTLS 1.3, protects the record numbers of the new epoch.
	setWriteState(st *cipher.State, sn *cipher.RecordNumberKey) error
	setReadState(st *cipher.State, sn *cipher.RecordNumberKey)
	// writeState is the current write protection, nil before keys;
	// writeSeq the sequence number of its next record.
	writeState() *cipher.State
	writeSeq() uint64
	// acknowledged takes a DTLS 1.3 ACK's records and reports whether
	// they cover our whole current flight, which then ends; dropFlight
	// ends it when the peer's answer acknowledges it; recordEpoch is the
	// epoch of the record being read.
	acknowledged(records []flights.RecordNumber) bool
	dropFlight()
	// dropHandshakeReadKeys lets go of the read keys of a DTLS 1.3
	// handshake once the peer has our last flight.
	dropHandshakeReadKeys()
	recordEpoch() uint64
	// takeRekeyWanted reports, once, that too many records failed
	// authentication under the read key (DTLS 1.3).
	takeRekeyWanted() bool
	// sealAlone returns one protected record as a datagram of its own,
	// outside the output (DTLS).
	sealAlone(typ record.ContentType, payload []byte) ([]byte, error)
	// end finishes a call, turning what was produced into transmit events.
	end()
	// sendHelloVerifyRequest answers a ClientHello starting with f with a
	// DTLS HelloVerifyRequest, outside any flight and the transcript.
	sendHelloVerifyRequest(f *flights.HelloCookieFields) error
	// handleTimeout acts on the retransmission timer.
	handleTimeout(now time.Time) error
	// newHandshake starts the message numbering of a new handshake
	// (DTLS: message_seq starts at 0 in each handshake). The last flight
	// is kept: the peer may still ask for it again.
	newHandshake()
	// beginHandshake is newHandshake when we start a new handshake (or a
	// request for one): the last flight is over.
	beginHandshake()
	// handshakeDone is newHandshake when a handshake completes.
	handshakeDone()
	// currentKeys reports whether the record nextRecord returned last was
	// protected with the current read keys (DTLS also takes the previous
	// epoch's).
	currentKeys() bool
	// setConnectionIDs sets the DTLS Connection IDs (RFC 9146) of the
	// protected epochs: local in the records we read, peer in the ones we
	// send, each empty for none; connectionIDs returns them, and whether
	// they were negotiated.
	setConnectionIDs(local, peer []byte)
	connectionIDs() (local, peer []byte, on bool)
	// skipEarlyData lets records of declined TLS 1.3 early data, up to
	// limit bytes, be dropped unread.
	skipEarlyData(limit int)
	// advanced reports whether the last datagram fed carried a record
	// authenticated under the current keys and newer than all before it.
	advanced() bool
}

// flightSizeHint is the room a stream layer makes, in the first
// handshake, for a flight of handshake messages in each direction: a
// server's flight with a short certificate chain fits without regrowing.
// Later messages (tickets, key updates) are small and grow what they need.
const flightSizeHint = 2048

// streamLayer frames TLS over a reliable byte stream.
type streamLayer struct {
	env       *layerEnv // its view read, never written
	in        record.StreamReader
	hsIn      *flights.Reader
	hsOut     []byte
	readKeys  *cipher.State
	writeKeys *cipher.State
	// earlySkip is how many more bytes of declined TLS 1.3 early data
	// may be skipped (see skipEarlyData).
	earlySkip int
}

func newStreamLayer(env *layerEnv) layer {
	l := &streamLayer{env: env, hsIn: flights.NewReader(MaxHandshakeMessage)}
	l.hsIn.SetCertificateLimit(MaxCertificateMessage)
	l.in.MaxFragment = record.MaxCiphertext13
	return l
}

func (l *streamLayer) reset() { l.in.Compact() }

func (l *streamLayer) release() {
	l.in.Release()
	l.hsIn.Release()
	if len(l.hsOut) == 0 {
		l.hsOut = nil
	}
}

func (l *streamLayer) feed(data []byte, lent bool) {
	if lent {
		l.in.WriteInPlace(data)
	} else {
		l.in.Write(data)
	}
}

func (l *streamLayer) nextRecord() (record.ContentType, []byte, bool, error) {
	for {
		typ, payload, ok, err := l.readRecord()
		if err == errEarlyDataSkipped {
			continue
		}
		return typ, payload, ok, err
	}
}

// errEarlyDataSkipped marks a record of declined early data, dropped.
var errEarlyDataSkipped = errors.New("fsm: early data skipped")

// readRecord returns the next record's content type and plaintext.
func (l *streamLayer) readRecord() (record.ContentType, []byte, bool, error) {
	if l.env.version == VersionTLS12 {
		l.in.MaxFragment = record.MaxCiphertext12
	}
	rec, ok, err := l.in.Next()
	if err != nil || !ok {
		return 0, nil, ok, err
	}
	if err := l.checkVersion(rec.Version); err != nil {
		return 0, nil, false, err
	}
	if rec.Type == record.TypeChangeCipherSpec && l.env.version != VersionTLS12 {
		// TLS 1.3's compatibility change_cipher_spec is never protected.
		return rec.Type, rec.Payload, true, nil
	}
	switch {
	case l.readKeys == nil:
		if rec.Type == record.TypeApplicationData {
			return 0, nil, false, l.skipEarly(rec, alertf(record.AlertUnexpectedMessage, "application data before keys are set"))
		}
		if len(rec.Payload) > record.MaxPlaintext {
			return 0, nil, false, record.AlertRecordOverflow
		}
		return rec.Type, rec.Payload, true, nil
	case l.env.version == VersionTLS12:
		payload, err := record.Open12(l.readKeys, rec)
		return rec.Type, payload, err == nil, err
	default:
		typ, payload, err := record.Open13(l.readKeys, rec)
		if err != nil {
			return 0, nil, false, l.skipEarly(rec, err)
		}
		l.earlySkip = 0 // the client has moved on to keys we have
		return typ, payload, true, nil
	}
}

// checkVersion checks a record's legacy version: any TLS one (0x03xx)
// until the version is chosen, which a first ClientHello may use for
// compatibility; then TLS 1.2's under TLS 1.2, and anything under TLS 1.3,
// which ignores the field (RFC 8446 §5.1).
func (l *streamLayer) checkVersion(v uint16) error {
	switch l.env.version {
	case 0:
		if v>>8 == 3 {
			return nil
		}
	case VersionTLS12:
		if v == record.VersionTLS12 {
			return nil
		}
	default:
		return nil
	}
	return alertf(record.AlertProtocolVersion, "record version %#04x", v)
}

// skipEarlyData lets the next records that cannot be read, up to limit
// bytes, be dropped: a TLS 1.3 server that declines the early data a
// ClientHello announced skips it (RFC 8446 §4.2.10).
func (l *streamLayer) skipEarlyData(limit int) { l.earlySkip = limit }

// skipEarly drops rec, protected early data we cannot read, within the
// budget skipEarlyData set; otherwise it returns err.
func (l *streamLayer) skipEarly(rec record.Record, err error) error {
	if l.earlySkip == 0 || rec.Type != record.TypeApplicationData || len(rec.Payload) > l.earlySkip {
		return err
	}
	l.earlySkip -= len(rec.Payload)
	return errEarlyDataSkipped
}

func (l *streamLayer) writeHandshake(payload []byte) error {
	if l.env.handshakes == 0 && l.hsIn.Buffered() == 0 {
		l.hsIn.Grow(flightSizeHint)
	}
	l.hsIn.Write(payload)
	return nil
}

func (l *streamLayer) nextMessage() (flights.MsgType, []byte, []byte, bool, error) {
	return l.hsIn.Next()
}

func (l *streamLayer) handshakeBuffered() int { return l.hsIn.Buffered() }

func (l *streamLayer) queueMessage(raw []byte) []byte {
	if l.hsOut == nil && l.env.handshakes == 0 {
		l.hsOut = make([]byte, 0, max(flightSizeHint, len(raw)))
	}
	l.hsOut = append(l.hsOut, raw...)
	return raw
}

// writeRecord frames payload into records of at most MaxPlaintext bytes,
// protected when write keys are set.
func (l *streamLayer) writeRecord(typ record.ContentType, payload []byte) error {
	for len(payload) > 0 {
		n := min(len(payload), record.MaxPlaintext)
		var err error
		switch {
		case l.writeKeys == nil:
			l.env.out = record.AppendPlain(l.env.out, typ, l.plainRecordVersion(), payload[:n])
		case l.env.version == VersionTLS12:
			l.env.out, err = record.Seal12(l.env.out, l.writeKeys, typ, VersionTLS12, payload[:n])
		default:
			l.env.out, err = record.Seal13(l.env.out, l.writeKeys, typ, payload[:n], 0)
		}
		if err != nil {
			return err
		}
		payload = payload[n:]
	}
	return nil
}

func (l *streamLayer) plainRecordVersion() uint16 {
	return l.env.transport.recordVersion(l.env.state)
}

func (l *streamLayer) flush() error {
	if len(l.hsOut) == 0 {
		return nil
	}
	err := l.writeRecord(record.TypeHandshake, l.hsOut)
	l.hsOut = l.hsOut[:0]
	return err
}

func (l *streamLayer) setWriteState(st *cipher.State, _ *cipher.RecordNumberKey) error {
	if err := l.flush(); err != nil {
		return err
	}
	l.writeKeys = st
	return nil
}

func (l *streamLayer) setReadState(st *cipher.State, _ *cipher.RecordNumberKey) { l.readKeys = st }

func (l *streamLayer) writeState() *cipher.State { return l.writeKeys }

func (l *streamLayer) writeSeq() uint64 {
	if l.writeKeys == nil {
		return 0
	}
	return l.writeKeys.Seq()
}

func (l *streamLayer) acknowledged([]flights.RecordNumber) bool { return false }

// dropFlight does nothing: a stream has no flights.
func (l *streamLayer) dropFlight() {}

// dropHandshakeReadKeys does nothing: a stream keeps no previous keys.
func (l *streamLayer) dropHandshakeReadKeys() {}

// recordEpoch is 0: a stream has no epochs.
func (l *streamLayer) recordEpoch() uint64 { return 0 }

// takeRekeyWanted is false: over a stream a record that fails
// authentication ends the connection.
func (l *streamLayer) takeRekeyWanted() bool { return false }

// sealAlone fails: a stream has no datagrams.
func (l *streamLayer) sealAlone(record.ContentType, []byte) ([]byte, error) {
	return nil, errNoDatagrams
}

// sendHelloVerifyRequest fails: a stream has no cookie exchange.
func (l *streamLayer) sendHelloVerifyRequest(*flights.HelloCookieFields) error {
	return alertf(record.AlertInternalError, "HelloVerifyRequest over a stream")
}

// newHandshake does nothing: TLS handshake messages carry no numbers.
func (l *streamLayer) newHandshake() {}

// beginHandshake does nothing either.
func (l *streamLayer) beginHandshake() {}

// handshakeDone does nothing either.
func (l *streamLayer) handshakeDone() {}

// currentKeys is always true: a stream has one epoch at a time.
func (l *streamLayer) currentKeys() bool { return true }

// setConnectionIDs does nothing: CIDs are a datagram matter.
func (l *streamLayer) setConnectionIDs(_, _ []byte) {}

func (l *streamLayer) connectionIDs() (_, _ []byte, _ bool) { return }

// advanced is false: a stream has no datagrams.
func (l *streamLayer) advanced() bool { return false }

// handleTimeout does nothing: a stream needs no timers.
func (l *streamLayer) handleTimeout(time.Time) error { return nil }

// end makes everything produced one transmit event.
func (l *streamLayer) end() {
	l.in.Detach() // the input lent to this call goes back to the caller
	if err := l.flush(); err != nil {
		l.env.failer.fail(err)
	}
	l.env.cutTransmit()
}
