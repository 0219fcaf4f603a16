package fsm

import (
	"bytes"
	"errors"
	"time"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// RenegotiationSupport says which TLS/DTLS 1.2 renegotiations a Conn takes
// part in. The zero value behaves as OpenSSL does: a client answers every
// HelloRequest.
type RenegotiationSupport int

// Renegotiation policies.
const (
	// RenegotiateFreely: a client answers every HelloRequest; the API may
	// start renegotiations.
	RenegotiateFreely RenegotiationSupport = iota
	// RenegotiateOnce: a client answers one HelloRequest per connection.
	RenegotiateOnce
	// RenegotiateNever: no renegotiation at all; a HelloRequest or a
	// renegotiation ClientHello gets a warning no_renegotiation alert
	// (see MaxRefusedRenegotiations).
	RenegotiateNever
)

// Defaults of the server's limits on client-initiated renegotiation.
const (
	// DefaultMaxRenegotiations bounds the renegotiations of one connection.
	DefaultMaxRenegotiations = 16
	// DefaultMinRenegotiationInterval is the least time between two
	// renegotiations a client starts.
	DefaultMinRenegotiationInterval = time.Second
)

// MaxRefusedRenegotiations is how many renegotiations a connection
// refuses with a warning no_renegotiation alert: renegotiation ClientHellos
// a server does not take, HelloRequests a client does not answer. The next
// one gets a fatal unexpected_message alert, which closes the connection:
// a peer told no that often is not renegotiating in good faith, and each
// refusal costs a record in each direction. The bound leaves room for a
// few attempts of a peer that renegotiates on a schedule, and over
// datagrams for requests sent again after a refusal was lost.
const MaxRefusedRenegotiations = 8

// Errors of Renegotiate and RenegotiateAbbreviated.
var (
	// ErrNotTLS12: renegotiation exists only in TLS and DTLS 1.2.
	ErrNotTLS12 = errors.New("tls: renegotiation needs TLS 1.2 or DTLS 1.2")
	// ErrRenegotiationDisabled: the Config forbids renegotiation.
	ErrRenegotiationDisabled = errors.New("tls: renegotiation is disabled")
	// ErrNoSecureRenegotiation: the peer did not negotiate RFC 5746, so
	// renegotiating would be unsafe.
	ErrNoSecureRenegotiation = errors.New("tls: the peer does not support secure renegotiation")
)

// renegotiation is a scheduled renegotiation.
type renegotiation uint8

const (
	renegotiationNone renegotiation = iota
	renegotiationFull
	renegotiationAbbreviated
)

// Renegotiate schedules a renegotiation (SSL_renegotiate(3)): a client will
// run a completely new handshake, offering no session; a server will send
// a HelloRequest. It happens on the next Write, HandleData or Handshake, at
// a suitable time.
func (c *Conn) Renegotiate() error { return c.scheduleRenegotiation(renegotiationFull) }

// RenegotiateAbbreviated is Renegotiate, except that a client offers the
// current session so that the server may resume it
// (SSL_renegotiate_abbreviated(3)). On a server it is Renegotiate.
func (c *Conn) RenegotiateAbbreviated() error {
	return c.scheduleRenegotiation(renegotiationAbbreviated)
}

// RenegotiatePending reports whether a renegotiation or a renegotiation
// request was scheduled and not yet acted on (SSL_renegotiate_pending(3)):
// a client's until its ClientHello is sent, a server's until the client
// has answered the HelloRequest.
func (c *Conn) RenegotiatePending() bool {
	return c.reneg.scheduled != renegotiationNone || c.helloRequestSent
}

func (c *Conn) scheduleRenegotiation(r renegotiation) error {
	switch {
	case c.err != nil:
		return c.err
	case c.handshakes == 0:
		return ErrHandshakeIncomplete
	case c.version != VersionTLS12:
		return ErrNotTLS12
	case c.cfg.Renegotiation == RenegotiateNever:
		return ErrRenegotiationDisabled
	case !c.reneg.secure:
		return ErrNoSecureRenegotiation
	case c.sentClose || c.recvClose:
		return ErrClosed
	}
	c.reneg.scheduled = max(c.reneg.scheduled, r)
	return nil
}

// startScheduledRenegotiation acts on a scheduled renegotiation when the
// time is suitable: no handshake running, nothing closed, and the peer
// known to have completed the last handshake. Otherwise it stays
// scheduled.
func (c *Conn) startScheduledRenegotiation() error {
	if c.reneg.scheduled == renegotiationNone || c.hs != nil || !c.connected() || c.sentClose || c.recvClose || !c.reneg.peerCompleted {
		return nil
	}
	return c.dispatch(InRenegotiate, message{})
}

// clientRenegotiate sends the ClientHello of a renegotiation the API asked
// for.
func (c *Conn) clientRenegotiate(message) (State, error) {
	resume := c.reneg.scheduled == renegotiationAbbreviated
	c.reneg.scheduled = renegotiationNone
	return c.startClientRenegotiation(resume)
}

// startClientRenegotiation begins a new TLS 1.2 handshake under the
// current keys, bound to the last one by RFC 5746.
func (c *Conn) startClientRenegotiation(resume bool) (State, error) {
	c.events.push(Event{Kind: EventRenegotiationStarted, Resumed: resume})
	c.transcript.Reset()
	c.layer.beginHandshake()
	offer := versionOffer{versions: []uint16{VersionTLS12}, suites: c.cfg.suitesFor(VersionTLS12)}
	if err := c.sendClientHello(offer, !resume); err != nil {
		return 0, err
	}
	return StateClientWaitServerHello, nil
}

// clientHelloRequest answers a server's HelloRequest: a new handshake,
// resuming the session or not as the transport's rule says (a TLS client
// resumes, a DTLS client does not), or a refusal when the policy says no.
// After a refusal the next HelloRequest begins a handshake again, which
// over datagrams numbers it 0 as this one (RFC 6347 §4.2.2).
func (c *Conn) clientHelloRequest(m message) (State, error) {
	var hr flights.HelloRequest
	if err := hr.Unmarshal(m.body); err != nil {
		return 0, err
	}
	c.events.push(Event{Kind: EventRenegotiationRequested})
	policy := c.cfg.Renegotiation
	if policy == RenegotiateNever || policy == RenegotiateOnce && c.handshakes > 1 || !c.reneg.secure {
		c.layer.beginHandshake()
		return c.refuseRenegotiation()
	}
	c.reneg.scheduled = renegotiationNone
	return c.startClientRenegotiation(c.transport.ResumeOnHelloRequest)
}

// ignoreHelloRequest drops a HelloRequest that arrives during a handshake
// (RFC 5246 §7.4.1.1).
func (c *Conn) ignoreHelloRequest(m message) (State, error) {
	var hr flights.HelloRequest
	if err := hr.Unmarshal(m.body); err != nil {
		return 0, err
	}
	return c.state, nil
}

// serverHelloRequest sends the HelloRequest the API asked for. It is not
// part of any handshake's transcript.
func (c *Conn) serverHelloRequest(message) (State, error) {
	c.reneg.scheduled = renegotiationNone
	c.layer.beginHandshake()
	c.sendPostHandshake((&flights.HelloRequest{}).Append(nil))
	c.helloRequestSent = true
	c.events.push(Event{Kind: EventRenegotiationRequested})
	return c.state, nil
}

// serverRenegotiationHello takes a ClientHello on an established TLS 1.2
// connection: the answer to our HelloRequest, or a client's own
// renegotiation, which is refused unless the Config allows it and the
// limits are kept. A refused hello is not parsed: that it is a ClientHello
// is all a refusal needs to know.
func (c *Conn) serverRenegotiationHello(m message) (State, error) {
	requested := c.helloRequestSent
	c.helloRequestSent = false
	if reason := c.whyRefuseRenegotiation(requested); reason != "" {
		return c.refuseRenegotiation()
	}
	ch, err := c.transport.parseClientHello(bytes.Clone(m.body))
	if err != nil {
		return 0, err
	}
	if err := c.configForClient(ch); err != nil {
		return 0, err
	}
	c.reneg.taken++
	c.reneg.last = c.now
	c.events.push(Event{Kind: EventRenegotiationStarted})
	c.hs = &handshake{hello: ch}
	if version, err := c.chooseVersion(ch); err != nil || version != VersionTLS12 {
		return 0, alertf(record.AlertProtocolVersion, "renegotiation must keep TLS 1.2")
	}
	c.transcript.Reset()
	return c.server12ClientHello(ch, m)
}

// refuseRenegotiation answers a renegotiation request the policy refuses
// with a warning no_renegotiation; past MaxRefusedRenegotiations it fails
// the connection with unexpected_message. (RFC 5246 §7.2.2 makes
// no_renegotiation a warning only; the request is by then inappropriate.)
func (c *Conn) refuseRenegotiation() (State, error) {
	if c.reneg.refused >= MaxRefusedRenegotiations {
		return 0, alertf(record.AlertUnexpectedMessage, "renegotiation asked for again after %d refusals", c.reneg.refused)
	}
	c.reneg.refused++
	c.sendAlert(record.LevelWarning, record.AlertNoRenegotiation)
	return c.state, nil
}

// whyRefuseRenegotiation says why a renegotiation ClientHello is refused,
// or "" when it is taken.
func (c *Conn) whyRefuseRenegotiation(requested bool) string {
	switch {
	case c.cfg.Renegotiation == RenegotiateNever:
		return "renegotiation is disabled"
	case !c.reneg.secure:
		return "the client does not support secure renegotiation"
	case requested:
		return ""
	case !c.cfg.AllowClientRenegotiation:
		return "client-initiated renegotiation is not allowed"
	case c.reneg.taken >= c.cfg.maxRenegotiations():
		return "too many renegotiations"
	case c.reneg.taken > 0 && c.now.Sub(c.reneg.last) < c.cfg.minRenegotiationInterval():
		return "renegotiations too frequent"
	}
	return ""
}

// clientRenegotiationRefused ends a renegotiation the server refused with
// a warning no_renegotiation: the connection carries on as it was.
func (c *Conn) clientRenegotiationRefused(message) (State, error) {
	if c.handshakes == 0 {
		return c.state, nil
	}
	c.hs = nil
	c.layer.beginHandshake()
	return StateClientConnected12, c.releaseHeld()
}

// serverRequestRefused notes that the client declined our HelloRequest.
func (c *Conn) serverRequestRefused(message) (State, error) {
	c.helloRequestSent = false
	c.layer.beginHandshake()
	return c.state, nil
}

// holdDuringRenegotiation reports whether application data must wait:
// once a renegotiation's hellos are exchanged, OpenSSL and crypto/tls take
// no application data until it ends, although RFC 5246 allows it, so
// Write holds it (up to MaxQueuedOutput) and sends it when the
// renegotiation is over.
func (c *Conn) holdDuringRenegotiation() bool {
	return c.hs != nil && c.handshakes > 0
}

// releaseHeld sends the application data held during a renegotiation,
// one Write at a time, so that over datagrams each stays its own record.
func (c *Conn) releaseHeld() error {
	held := c.reneg.held
	c.reneg.held, c.reneg.heldBytes = nil, 0
	for _, p := range held {
		if err := c.writeApplicationData(p); err != nil {
			return err
		}
	}
	return nil
}

// deliverDuringRenegotiation takes application data that arrives while a
// renegotiation runs; during a first handshake it is unexpected.
func (c *Conn) deliverDuringRenegotiation(m message) (State, error) {
	if c.handshakes == 0 {
		return 0, alertf(record.AlertUnexpectedMessage, "application data during the handshake")
	}
	return c.deliver(m)
}

// checkRenegotiationInfo verifies RFC 5746's binding of a hello to the
// previous handshake: empty on a first handshake, the previous verify_data
// on a renegotiation.
func (c *Conn) checkRenegotiationInfo(supported bool, info []byte, fromServer bool) error {
	want := []byte{}
	if c.handshakes > 0 {
		want = append(want, c.reneg.clientVerify...)
		if fromServer {
			want = append(want, c.reneg.serverVerify...)
		}
		if !supported || !bytes.Equal(info, want) {
			return alertf(record.AlertHandshakeFailure, "renegotiation_info does not match the previous handshake")
		}
		return nil
	}
	if supported && len(info) != 0 {
		return alertf(record.AlertHandshakeFailure, "non-empty renegotiation_info in an initial handshake")
	}
	return nil
}

// checkSamePeer refuses a renegotiation in which the peer's certificate
// changed.
func (c *Conn) checkSamePeer(leaf []byte) error {
	if c.handshakes > 0 && len(c.peerCerts) > 0 && !bytes.Equal(c.peerCerts[0].Raw, leaf) {
		return alertf(record.AlertHandshakeFailure, "the peer's certificate changed in a renegotiation")
	}
	return nil
}

func (c *Config) maxRenegotiations() int {
	if c.MaxRenegotiations > 0 {
		return c.MaxRenegotiations
	}
	return DefaultMaxRenegotiations
}

func (c *Config) minRenegotiationInterval() time.Duration {
	if c.MinRenegotiationInterval > 0 {
		return c.MinRenegotiationInterval
	}
	return DefaultMinRenegotiationInterval
}
