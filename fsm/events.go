package fsm

import (
	"strconv"
	"time"

	"github.com/tlsm/tlsm/flights"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventNone: the queue is empty.
	EventNone EventKind = iota
	// EventTransmit: send Data to the peer, in order.
	EventTransmit
	// EventData: Data is application data from the peer.
	EventData
	// EventMessageSent: a handshake message of type Message was queued.
	EventMessageSent
	// EventMessageReceived: a handshake message of type Message was accepted.
	EventMessageReceived
	// EventHandshakeDone: a handshake completed; Version, Suite, Group,
	// Resumed and Handshake (the count on this connection) describe it.
	EventHandshakeDone
	// EventAlertSent: we sent Alert at Level.
	EventAlertSent
	// EventAlertReceived: the peer sent Alert at Level.
	EventAlertReceived
	// EventClosed: no more data will be delivered. Err is nil after the
	// peer's close_notify, else the fatal error.
	EventClosed
	// EventKeyUpdateSent: we sent a KeyUpdate of type KeyUpdate and now
	// protect with the next traffic secret.
	EventKeyUpdateSent
	// EventKeyUpdateReceived: the peer sent a KeyUpdate of type KeyUpdate.
	EventKeyUpdateReceived
	// EventTimer: call HandleTimeout at Deadline; a zero Deadline clears
	// the timer (datagrams only).
	EventTimer
	// EventRetransmit: the last flight was sent again (datagrams only).
	EventRetransmit
	// EventRenegotiationRequested: a HelloRequest was sent (server) or
	// received (client).
	EventRenegotiationRequested
	// EventRenegotiationStarted: a renegotiation handshake began; for a
	// client, Resumed says whether it offers the current session.
	EventRenegotiationStarted
	// EventPathValidated: the peer answered our PathChallenge (RFC 9853):
	// it receives at the address the challenge went to.
	EventPathValidated
)

var eventNames = [...]string{"none", "transmit", "data", "message_sent", "message_received",
	"handshake", "alert_sent", "alert_received", "closed", "key_update_sent",
	"key_update_received", "timer", "retransmit", "renegotiation_requested",
	"renegotiation_started", "path_validated"}

// String returns a short lower-case name for the kind.
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// MessageType is a handshake message's type (RFC 8446 §4, RFC 5246 §7.4,
// RFC 6347 §4.3.2), as EventMessageSent and EventMessageReceived report.
type MessageType = flights.MsgType

// The handshake messages a Conn sends and receives.
const (
	MessageHelloRequest        = flights.TypeHelloRequest
	MessageClientHello         = flights.TypeClientHello
	MessageServerHello         = flights.TypeServerHello
	MessageHelloVerifyRequest  = flights.TypeHelloVerifyRequest
	MessageNewSessionTicket    = flights.TypeNewSessionTicket
	MessageEncryptedExtensions = flights.TypeEncryptedExtensions
	MessageCertificate         = flights.TypeCertificate
	MessageServerKeyExchange   = flights.TypeServerKeyExchange
	MessageCertificateRequest  = flights.TypeCertificateRequest
	MessageServerHelloDone     = flights.TypeServerHelloDone
	MessageCertificateVerify   = flights.TypeCertificateVerify
	MessageClientKeyExchange   = flights.TypeClientKeyExchange
	MessageFinished            = flights.TypeFinished
	MessageKeyUpdate           = flights.TypeKeyUpdate
)

// Event is one output of a Conn. Only the fields of its Kind are set. Data
// aliases the Conn's buffers (or, for data from HandleDatagram, the
// datagram given to it): it is valid until the next call to a Conn method
// other than NextEvent.
type Event struct {
	Kind      EventKind
	Data      []byte
	Message   MessageType
	Level     AlertLevel
	Alert     Alert
	Version   uint16
	Suite     uint16
	Group     CurveID // of EventHandshakeDone: the key exchange group
	Resumed   bool
	Handshake int
	KeyUpdate KeyUpdateType
	Deadline  time.Time
	Err       error
}

// eventQueue is a FIFO of events reused across calls; it allocates only when
// it grows.
type eventQueue struct {
	q    []Event
	head int
}

func (e *eventQueue) push(ev Event) {
	if e.q == nil {
		e.q = make([]Event, 0, eventQueueStart)
	}
	e.q = append(e.q, ev)
}

// eventQueueStart is the capacity a queue starts with: a handshake flight
// or a burst of records rarely needs more.
const eventQueueStart = 8

func (e *eventQueue) pop() Event {
	if e.head == len(e.q) {
		return Event{}
	}
	ev := e.q[e.head]
	e.q[e.head] = Event{}
	e.head++
	return ev
}

func (e *eventQueue) empty() bool { return e.head == len(e.q) }

func (e *eventQueue) reset() {
	e.q = e.q[:0]
	e.head = 0
}
