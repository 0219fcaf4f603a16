package fsm

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// MaxHandshakeMessage is the largest handshake message accepted (bytes of
// body), but for a Certificate over TLS.
const MaxHandshakeMessage = 1 << 16

// MaxCertificateMessage is the largest Certificate message a TLS Conn
// accepts: long chains are legitimate, and crypto/tls takes as much. Over
// DTLS a Certificate is bound by MaxHandshakeMessage, as what is
// reassembled costs more.
const MaxCertificateMessage = 256 << 10

// MaxQueuedOutput bounds the bytes a Conn holds for transmit events the
// caller has not drained: a Write beyond it fails with ErrOutputFull until
// the caller drains the events.
const MaxQueuedOutput = 4 << 20

// Conn is a sans-I/O TLS connection. Feed it with Start, HandleData and API
// calls; drain its output with NextEvent. A Conn is not safe for concurrent
// use.
//
// Failure has one rule: Err reports the error that closed the Conn, and
// it never changes once set. Start and the Handle* methods return that
// same error (nil while the Conn is open), and the EventClosed they queue
// carries it too; a close_notify from the peer closes with none. Errors
// that refuse a call without touching the connection (ErrNotStarted,
// ErrWrongTransport, ErrHandshakeIncomplete, ...) are the call's alone:
// Err does not report them.
type Conn struct {
	// layerEnv is what the Conn shares with its record layer; the rest
	// is the state machine's alone.
	layerEnv

	layer      layer
	transcript flights.Transcript
	// readGen counts read key changes, and sentGen the handshake messages
	// we send, so that a handshake message can be checked to end its
	// record when it changes the keys or draws our answer.
	readGen int
	sentGen int

	// msgBuf is where handshake messages are built (see sendBuilt).
	msgBuf []byte

	suite      *cipher.Suite
	alpn       string
	serverName string
	random     [32]byte // the client random, for the key log
	peerCerts  []*x509.Certificate
	chains     [][]*x509.Certificate

	tls12 secrets12
	tls13 secrets13
	ku    keyUpdateState
	reneg renegotiationState
	// idleRecords counts records in a row that made no progress.
	idleRecords int

	err error

	hooks *adapterHooks // what SetCallbackContext gave, for the callbacks
	path  *pathCheck    // the return routability check, when negotiated

	// The small fields, together so that they pack (a Conn stays within
	// its allocation size class, 896 bytes with Go's malloc header).
	group       CurveID // the last handshake's key exchange group (see ConnectionState)
	srtpProfile uint16  // the DTLS-SRTP profile negotiated
	started     bool
	resumed     bool // the last handshake resumed a session
	retried     bool // the last handshake had a HelloRetryRequest
	sentClose   bool
	recvClose   bool
	// releaseWhenDrained is set by a completed handshake: the caller's
	// draining the events releases the handshake's buffers.
	releaseWhenDrained bool
}

// layerEnv is what a Conn shares with its record layer, which holds a
// pointer to it: the view the layer reads, the output both write, and
// how the layer fails the Conn.
type layerEnv struct {
	layerView
	output
	failer failer // the Conn itself
}

// layerView is what a record layer may know of the Conn above it, given
// to it as one value it reads and never writes: the settings, the clock,
// and the phase of the connection — its state (whose properties, beside
// the transition table, say what a record or fragment means there), the
// version, whether a handshake runs, how many completed, and whether a
// HelloRequest of ours waits for its answer.
type layerView struct {
	cfg       *Config
	transport *transport
	isClient  bool
	peerID    []byte // DTLS server: the client's address, for cookies
	now       time.Time

	state      State
	version    uint16
	hs         *handshake // the handshake under way; layers ask only if there is one
	handshakes int
	// helloRequestSent is set while a HelloRequest we sent waits for
	// the client's ClientHello, postHandshakeUnacked while a DTLS 1.3
	// post-handshake message of ours (a KeyUpdate, a NewSessionTicket)
	// waits for its ACK, and lastFlightUnacked while a DTLS 1.3 client's
	// last flight of the handshake does; each is sent again on the timer
	// (RFC 9147 §5.8.4, §7, §8).
	helloRequestSent     bool
	postHandshakeUnacked bool
	lastFlightUnacked    bool
}

// handshaking reports whether a handshake is under way.
func (v *layerView) handshaking() bool { return v.hs != nil }

// failer is how a record layer fails its Conn.
type failer interface{ fail(err error) }

// output is where a Conn and its record layer put what they produce:
// events, and the bytes transmit events point into.
type output struct {
	// out holds every byte produced since the queue was last drained;
	// outMark is where the bytes not yet in a transmit event begin.
	out     []byte
	outMark int
	events  eventQueue
}

// secrets12 are what a TLS 1.2 connection keeps of its last handshake.
type secrets12 struct {
	serverRandom [32]byte // for the exporter
	master       []byte
	ems          bool // extended master secret (RFC 7627) in use
}

// secrets13 are the secrets a TLS 1.3 connection keeps after its
// handshake: the exporter master secret, the application traffic secrets
// (the next generation's come from them, RFC 8446 §7.2) and the
// resumption master secret its tickets derive from.
type secrets13 struct {
	exporter, clientAP, serverAP []byte
	resumptionMaster             []byte
}

// keyUpdateState is TLS 1.3's key update bookkeeping (keyupdate.go).
type keyUpdateState struct {
	scheduled KeyUpdateType // by the API's KeyUpdate
	sent      KeyUpdateType // over DTLS 1.3, the one awaiting its ACK
	owed      bool          // the peer asked for one (update_requested)
	inRow     int           // KeyUpdates received since the last application data
}

// renegotiationState is TLS/DTLS 1.2 renegotiation's bookkeeping
// (renegotiate.go): RFC 5746's verify_data, what the API scheduled, the
// bounds on the peer's requests, and the data held while one runs.
type renegotiationState struct {
	// secure is true when the peer supports RFC 5746; clientVerify and
	// serverVerify are the last handshake's Finished verify_data.
	secure                     bool
	clientVerify, serverVerify []byte
	// scheduled is a renegotiation the API asked for (the HelloRequest
	// that waits for an answer is layerView.helloRequestSent, which the
	// datagram layer times).
	scheduled renegotiation
	// taken counts the renegotiations a server took, refused the peer's
	// requests we refused; last is when the last one started.
	taken, refused int
	last           time.Time
	// peerCompleted is true once the peer is known to have completed the
	// last handshake (see completeHandshake).
	peerCompleted bool
	// session is the client's current TLS 1.2 session, which an
	// abbreviated renegotiation offers.
	session *Session
	// held is application data written during a renegotiation, one entry
	// per Write; heldBytes is its size.
	held      [][]byte
	heldBytes int
	// dtlsCookie is the server's last HelloVerifyRequest cookie, which a
	// DTLS renegotiation ClientHello carries again.
	dtlsCookie []byte
}

// NewClient returns a client Conn over a byte stream.
func NewClient(cfg *Config) *Conn { return newConn(cfg, streamTransport, true) }

// NewServer returns a server Conn over a byte stream.
func NewServer(cfg *Config) *Conn { return newConn(cfg, streamTransport, false) }

// NewDTLSClient returns a DTLS client Conn; feed it with HandleDatagram.
func NewDTLSClient(cfg *Config) *Conn { return newConn(cfg, datagramTransport, true) }

// NewDTLSServer returns a DTLS server Conn for the peer named by peerID
// (its transport address, as bytes), which the HelloVerifyRequest cookie
// is bound to.
func NewDTLSServer(cfg *Config, peerID []byte) *Conn {
	c := newConn(cfg, datagramTransport, false)
	c.peerID = append([]byte(nil), peerID...)
	return c
}

func newConn(cfg *Config, t *transport, isClient bool) *Conn {
	if cfg == nil {
		cfg = &Config{}
	}
	c := &Conn{layerEnv: layerEnv{layerView: layerView{cfg: cfg, transport: t, isClient: isClient}}}
	c.state = StateServerStart
	if isClient {
		c.state = StateClientStart
	}
	c.failer = c
	c.layer = c.transport.newLayer(&c.layerEnv)
	return c
}

// State returns the current state.
func (c *Conn) State() State { return c.state }

// IsClient reports whether c is the client side.
func (c *Conn) IsClient() bool { return c.isClient }

// Err returns the error that closed the connection, or nil.
func (c *Conn) Err() error { return c.err }

// HandshakeComplete reports whether a handshake has completed.
func (c *Conn) HandshakeComplete() bool { return c.handshakes > 0 }

// NextEvent returns the next output event, or an Event of kind EventNone
// when there is none.
func (c *Conn) NextEvent() Event {
	ev := c.events.pop()
	if c.releaseWhenDrained && c.events.empty() {
		c.releaseBuffers()
	}
	return ev
}

// TakeTransmitted hands the caller the bytes of every EventTransmit
// drained since the last call into c, to write without copying them, and
// gives c spare (emptied) to produce into from now on, so that the bytes
// taken stay as they are whatever c is called for next. It returns nil,
// and keeps nothing of spare, while events wait to be drained, on a
// datagram Conn, and when c let go of its output buffer as the events of
// a completed handshake were drained (see NextEvent): the caller then
// writes the Data of the events it drained, which stay valid. Over a
// stream, a caller that takes the output of every call this way and
// hands back the buffer it has written moves records from the sealing to
// the socket without a copy, the buffer keeping its capacity.
func (c *Conn) TakeTransmitted(spare []byte) []byte {
	if !c.events.empty() || c.transport.Datagram || c.outMark == 0 {
		return nil
	}
	out := c.out[:c.outMark] // with its capacity, for the caller to hand back
	c.out, c.outMark = spare[:0], 0
	return out
}

// releaseBuffers drops the buffers a handshake grew, once the caller has
// drained its events, so that an idle connection holds only its keys and
// state; the data path grows its own buffers again on first use and keeps
// them. The caller may still be reading the last event's Data, so buffers
// are only let go of, never moved or reused.
func (c *Conn) releaseBuffers() {
	c.releaseWhenDrained = false
	c.events = eventQueue{}
	c.out, c.outMark = nil, 0
	c.msgBuf = nil
	c.layer.release()
}

// begin starts an input or API call: when the caller has drained every
// event, the buffers behind earlier events are reused.
func (c *Conn) begin(now time.Time) {
	if !now.IsZero() {
		c.now = now
	}
	if c.events.empty() {
		c.events.reset()
		c.out = c.out[:0]
		c.outMark = 0
		c.layer.reset()
	}
}

// wallTime is the time certificates are checked against and sessions
// dated by: Config.Time's when set, else the time of the current call.
func (c *Conn) wallTime() time.Time {
	if c.cfg.Time != nil {
		return c.cfg.Time()
	}
	return c.now
}

// end finishes a call: pending handshake messages are framed and what was
// produced becomes transmit events.
func (c *Conn) end() { c.layer.end() }

// cutTransmit makes the bytes produced since the last cut one transmit
// event: the rest of a stream, or one datagram.
func (o *output) cutTransmit() {
	if len(o.out) > o.outMark {
		o.events.push(Event{Kind: EventTransmit, Data: o.out[o.outMark:len(o.out):len(o.out)]})
		o.outMark = len(o.out)
	}
}

// Start begins the handshake. A client sends its ClientHello; a server
// waits for one (a server need not call Start). now is the current time,
// used to check certificate validity.
func (c *Conn) Start(now time.Time) error {
	c.begin(now)
	if c.started {
		return ErrAlreadyStarted
	}
	c.started = true
	if err := c.cfg.validate(c.transport); err != nil {
		// Nothing was sent: the Conn fails without an alert.
		c.closeWith(err)
	} else if c.isClient {
		if err := c.dispatch(InStart, message{}); err != nil {
			c.fail(err)
		}
	}
	c.end()
	return c.err
}

// HandleData consumes bytes received from the peer, which may be cut at any
// point. It returns the error that closed the connection, if any. The
// bytes are copied as needed; data is the caller's again on return.
func (c *Conn) HandleData(now time.Time, data []byte) error {
	if c.transport.Datagram {
		return ErrWrongTransport
	}
	return c.handleInput(now, data, false)
}

// HandleDataInPlace is HandleData without the copy: whole records are
// decrypted where they lie in data, so its bytes change, and the Data of
// the events it produces may point into it. Keep data unchanged until
// those events are drained; then it is the caller's again (only an
// incomplete record at its end is copied, to wait for the rest). An
// adapter with its own read buffer saves a copy of every record this way.
func (c *Conn) HandleDataInPlace(now time.Time, data []byte) error {
	if c.transport.Datagram {
		return ErrWrongTransport
	}
	return c.handleInput(now, data, true)
}

// HandleDatagram consumes one datagram received from the peer (DTLS).
// Records are decrypted in place, so the datagram's bytes change, and the
// Data of the events it produces may point into it: keep the buffer
// unchanged until those events are drained. Then it is the caller's
// again, to read the next datagram into: the Conn keeps copies of what
// it needs later.
func (c *Conn) HandleDatagram(now time.Time, datagram []byte) error {
	if !c.transport.Datagram {
		return ErrWrongTransport
	}
	// Nothing of the datagram before counts for this one, even when the
	// Conn reads no more and takes none of it: DatagramAdvanced must not
	// report the last datagram's progress for a replay of it after the
	// peer's close_notify.
	c.layer.feed(nil, true)
	return c.handleInput(now, datagram, true)
}

// HandleTimeout tells the Conn the time; when a timer it asked for
// (EventTimer) has expired, it retransmits its last flight (DTLS).
func (c *Conn) HandleTimeout(now time.Time) error {
	c.begin(now)
	if c.state == StateClosed {
		return c.err
	}
	if err := c.layer.handleTimeout(now); err != nil {
		c.closeWith(err)
	}
	c.end()
	return c.err
}

// handleInput takes input; lent is true when the caller lets records be
// read and decrypted in data itself.
func (c *Conn) handleInput(now time.Time, data []byte, lent bool) error {
	if c.isClient && !c.started {
		return ErrNotStarted
	}
	c.begin(now)
	if c.state == StateClosed || c.recvClose {
		return c.err
	}
	c.started = true
	if err := c.runScheduled(false); err != nil {
		c.fail(err)
		c.end()
		return c.err
	}
	c.layer.feed(data, lent)
	if err := c.readRecords(); err != nil {
		c.fail(err)
	}
	if c.layer.takeRekeyWanted() && c.err == nil && c.version == VersionTLS13 && c.connected() {
		c.ku.scheduled = UpdateRequested
	}
	if c.err == nil {
		// The input may have made the time suitable for scheduled work:
		// the peer showed it completed the handshake, or (DTLS 1.3)
		// acknowledged the KeyUpdate that held the next one back.
		if err := c.runScheduled(false); err != nil {
			c.fail(err)
		}
	}
	c.end()
	return c.err
}

// Write protects p as application data at time now, which dates what
// it starts (a scheduled key update or renegotiation, a retransmission
// timer). It fails before the handshake completes and after Close.
func (c *Conn) Write(now time.Time, p []byte) (int, error) {
	c.begin(now)
	switch {
	case c.err != nil:
		return 0, c.err
	case c.sentClose:
		return 0, ErrClosed
	case c.handshakes == 0:
		return 0, ErrHandshakeIncomplete
	case len(c.out)+c.reneg.heldBytes > MaxQueuedOutput:
		return 0, ErrOutputFull
	}
	if err := c.writeApplicationData(p); err != nil {
		c.fail(err)
		c.end()
		return 0, c.err
	}
	c.end()
	return len(p), nil
}

// Close sends close_notify at time now. Data from the peer is still
// delivered until the peer closes too. Closing before the handshake
// completes abandons it.
func (c *Conn) Close(now time.Time) error {
	c.begin(now)
	if c.sentClose || c.state == StateClosed {
		return nil
	}
	c.sentClose = true
	if err := c.layer.flush(); err == nil {
		c.sendAlert(record.LevelWarning, record.AlertCloseNotify)
	}
	switch {
	case !c.connected():
		c.closeWith(ErrClosed)
	case c.recvClose:
		c.state = StateClosed
	}
	c.end()
	return nil
}

// writeApplicationData protects p, sending any scheduled or owed key update
// first and again whenever a key reaches its record limit.
func (c *Conn) writeApplicationData(p []byte) error {
	for {
		c.scheduleKeyUpdateAtLimit()
		if err := c.runScheduled(true); err != nil {
			return err
		}
		if c.holdDuringRenegotiation() {
			c.reneg.held = append(c.reneg.held, bytes.Clone(p))
			c.reneg.heldBytes += len(p)
			return nil
		}
		n := min(len(p), record.MaxPlaintext)
		if err := c.layer.writeRecord(record.TypeApplicationData, p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}

func (c *Conn) connected() bool { return property(c.state).connected }

func (c *Conn) closeWith(err error) {
	c.state = StateClosed
	c.err = err
	c.hs = nil
	c.events.push(Event{Kind: EventClosed, Err: err})
}

// fail closes the connection after a fatal error, sending the alert the
// error calls for unless it was the peer's alert.
func (c *Conn) fail(err error) {
	if c.state == StateClosed {
		return
	}
	var ae *AlertError
	if errors.As(err, &ae) && ae.Received {
		c.closeWith(err)
		return
	}
	desc := record.AlertInternalError
	errors.As(err, &desc)
	c.sendAlert(record.LevelFatal, desc)
	c.closeWith(&AlertError{Level: record.LevelFatal, Description: desc, Err: err, DTLS: c.transport.Datagram})
}

// protocolError is a failure with the alert it calls for, a reason, and
// the error behind it when there is one (a certificate verification's, a
// callback's).
type protocolError struct {
	alert Alert
	msg   string
	cause error
}

func (e *protocolError) Error() string { return e.msg }

// Unwrap gives errors.Is and errors.As both the alert and the cause.
func (e *protocolError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.alert}
	}
	return []error{e.alert, e.cause}
}

// alertf returns an error that fails the connection with alert a.
func alertf(a Alert, format string, args ...any) error {
	return &protocolError{alert: a, msg: fmt.Sprintf(format, args...)}
}

// dispatch runs the transition for input in from the current state.
func (c *Conn) dispatch(in Input, m message) error {
	t := lookup(c.state, in)
	if t == nil {
		return alertf(record.AlertUnexpectedMessage, "%s in state %s", in, c.state)
	}
	next, err := t.handle(c, m)
	if err != nil {
		return err
	}
	if c.state == StateClosed {
		return nil
	}
	for _, to := range t.To {
		if to == next {
			c.state = next
			return nil
		}
	}
	return alertf(record.AlertInternalError, "undeclared transition %s -%s-> %s", c.state, in, next)
}
