package fsmtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/tlsm/tlsm/fsm"
)

// Options configure a Sim.
type Options struct {
	// Epoch is where the virtual clock starts; zero means DefaultEpoch.
	// Certificates are verified at the virtual time, so it must lie within
	// their validity.
	Epoch time.Time
	// Link shapes both directions, unless Return is set.
	Link Link
	// Return, when set, shapes what the server sends to the client.
	Return *Link
	// PeerID is the client's first address, ClientAddr, as the DTLS
	// server's Conn sees it (bound into its cookie); nil means "sim
	// client". The front door sees other addresses as Addr.String.
	PeerID []byte
	// MaxSteps bounds the items a Run processes; zero means
	// DefaultMaxSteps.
	MaxSteps int
	// MaxTime bounds the virtual time since the epoch; zero means
	// DefaultMaxTime.
	MaxTime time.Duration
	// Tamper, when set, sees a copy of everything a side transmits (a
	// whole datagram, or a whole stream write before it is cut) and
	// returns what goes on the link instead; nil drops it.
	Tamper func(from Side, b []byte) []byte
	// Replay is the probability that an attacker who sees the client's
	// datagrams sends the server a copy of one, from AttackerAddr, after
	// the link's delay and up to ReplayDelay more (DTLS). It copies only
	// datagrams the server's Conn has taken, and that advanced it: old
	// ones, which must never move the server to the attacker's address.
	// A copy that beats its original there would be a new datagram as far
	// as the server can tell (RFC 9146 §6); the Sim makes none.
	Replay float64
	// ReplayDelay bounds the extra delay of a copy; zero means
	// DefaultReplayDelay.
	ReplayDelay time.Duration
}

// Run limits.
const (
	DefaultMaxSteps = 1_000_000
	DefaultMaxTime  = time.Hour
)

// Errors of Run and Handshake.
var (
	// ErrStepLimit: Run processed Options.MaxSteps items without the
	// network going quiet.
	ErrStepLimit = errors.New("sim: step limit reached")
	// ErrTimeLimit: the next item is due after Options.MaxTime.
	ErrTimeLimit = errors.New("sim: time limit reached")
	// ErrStalled: the network went quiet with a handshake incomplete and
	// no error on either side.
	ErrStalled = errors.New("sim: handshake stalled")
)

// Endpoint is one side of a Sim: its Conn and what it has seen. The Sim
// fills it as it drains the Conn's events; tests read it.
type Endpoint struct {
	Side Side
	Conn *fsm.Conn
	// Received is all application data delivered (EventData), in order;
	// Messages holds each EventData on its own (for DTLS, one record each).
	Received []byte
	Messages [][]byte
	// Handshakes counts EventHandshakeDone; Done keeps those events.
	Handshakes int
	Done       []fsm.Event
	// Alerts lists alerts received, SentAlerts alerts sent.
	Alerts, SentAlerts []fsm.Alert
	// Closed is set by EventClosed, with its error in CloseErr.
	Closed   bool
	CloseErr error
	// Err is the last error a Conn call returned.
	Err error
	// Retransmits counts EventRetransmit; Timeouts counts timers fired.
	Retransmits, Timeouts int
	// Deadline is the pending timer (EventTimer), zero when none.
	Deadline time.Time

	timerGen uint64
}

// Sim drives a client and a server Conn over a Network.
type Sim struct {
	*Network
	Client, Server *Endpoint

	lis      demux
	maxSteps int
	maxTime  time.Duration
}

// New returns a Sim of two fresh Conns of the transport for the two
// configurations, over links shaped by opts, with every choice of the
// network drawn from seed. Nothing happens until Start (or Handshake).
func New(seed uint64, transport Transport, client, server *fsm.Config, opts Options) *Sim {
	s := &Sim{
		Network:  newNetwork(seed, transport, opts),
		lis:      newDemux(server, opts),
		maxSteps: opts.MaxSteps,
		maxTime:  opts.MaxTime,
	}
	if s.maxSteps <= 0 {
		s.maxSteps = DefaultMaxSteps
	}
	if s.maxTime <= 0 {
		s.maxTime = DefaultMaxTime
	}
	s.Client = &Endpoint{Side: Client}
	s.Server = &Endpoint{Side: Server}
	if transport == DTLS {
		peer := opts.PeerID
		if peer == nil {
			peer = []byte("sim client")
		}
		s.Client.Conn = fsm.NewDTLSClient(client)
		s.Server.Conn = fsm.NewDTLSServer(server, peer)
	} else {
		s.Client.Conn = fsm.NewClient(client)
		s.Server.Conn = fsm.NewServer(server)
	}
	return s
}

// Rand returns a deterministic random reader for one side of a run, for
// Config.Rand: a ChaCha8 stream keyed by the seed and the side.
func Rand(seed uint64, side Side) io.Reader {
	var key [32]byte
	copy(key[:], "tlsm/sim Config.Rand ")
	key[23] = byte(side)
	binary.LittleEndian.PutUint64(key[24:], seed)
	return rand.NewChaCha8(key)
}

// Endpoint returns the endpoint of side.
func (s *Sim) Endpoint(side Side) *Endpoint {
	if side == Server {
		return s.Server
	}
	return s.Client
}

// Start starts the client's handshake at the current virtual time.
func (s *Sim) Start() error {
	return s.call(s.Client, "start", func(c *fsm.Conn) error { return c.Start(s.now) })
}

// Handshake starts the client and runs until the network is quiet. It
// returns nil when both sides completed a handshake, else the first error
// found: Run's, the client's, the server's, or ErrStalled.
func (s *Sim) Handshake() error {
	if err := s.Start(); err != nil {
		return err
	}
	if err := s.Run(); err != nil {
		return err
	}
	switch {
	case s.Client.Handshakes > 0 && s.Server.Handshakes > 0:
		return nil
	case s.Client.Err != nil:
		return s.Client.Err
	case s.Server.Err != nil:
		return s.Server.Err
	case s.Client.CloseErr != nil:
		return s.Client.CloseErr
	case s.Server.CloseErr != nil:
		return s.Server.CloseErr
	}
	return ErrStalled
}

// Write writes data on side's Conn at the current virtual time. It does
// not run the network: call Run or RunFor.
func (s *Sim) Write(side Side, data []byte) error {
	return s.call(s.Endpoint(side), fmt.Sprintf("write %dB", len(data)), func(c *fsm.Conn) error {
		_, err := c.Write(s.now, data)
		return err
	})
}

// Do calls f with side's Conn and the current virtual time (KeyUpdate,
// Close, Handshake, ...), then takes the Conn's events, and returns f's
// error. It does not run the network.
func (s *Sim) Do(side Side, f func(c *fsm.Conn, now time.Time) error) error {
	return s.call(s.Endpoint(side), "call", func(c *fsm.Conn) error { return f(c, s.now) })
}

// call runs f on e's Conn and drains the events it produced.
func (s *Sim) call(e *Endpoint, what string, f func(*fsm.Conn) error) error {
	s.logf("%s %s", e.Side, what)
	err := f(e.Conn)
	if err != nil {
		e.Err = err
		s.logf("%s %s error: %v", e.Side, what, err)
	}
	s.drain(e)
	return err
}

// Run processes deliveries and timers in order until nothing is in flight
// and no timer is pending. It first takes the events of calls made on the
// Conns directly rather than through Write or Do. It returns ErrStepLimit or ErrTimeLimit when a
// limit of Options stops it first.
func (s *Sim) Run() error { return s.run(time.Time{}) }

// RunFor runs like Run but stops before anything due after d from now,
// and then moves the clock to now+d, so that a test can pace its calls.
func (s *Sim) RunFor(d time.Duration) error {
	until := s.now.Add(d)
	if err := s.run(until); err != nil {
		return err
	}
	if until.After(s.now) {
		s.now = until
	}
	return nil
}

// Quiet reports whether nothing is in flight and no timer is pending.
func (s *Sim) Quiet() bool { return s.next() == nil }

// next returns the next live item, discarding timers that were reset or
// cleared since they were queued.
func (s *Sim) next() *item {
	for {
		it := s.peek()
		if it == nil || it.kind != itemTimer || it.gen == s.Endpoint(it.to).timerGen {
			return it
		}
		s.discard()
	}
}

func (s *Sim) run(until time.Time) error {
	// Events of calls made on the Conns directly are taken first.
	s.drain(s.Client)
	s.drain(s.Server)
	limit := s.epoch.Add(s.maxTime)
	for steps := 0; ; steps++ {
		it := s.next()
		if it == nil || (!until.IsZero() && it.at.After(until)) {
			return nil
		}
		if it.at.After(limit) {
			s.logf("sim time limit")
			return ErrTimeLimit
		}
		if steps >= s.maxSteps {
			s.logf("sim step limit")
			return ErrStepLimit
		}
		s.step(s.pop())
	}
}

// step processes one item.
func (s *Sim) step(it *item) {
	e := s.Endpoint(it.to)
	switch it.kind {
	case itemDeliver:
		switch {
		case s.gone(it):
		case s.transport == DTLS && e.Side == Server:
			s.route(it)
		default:
			s.feed(e, it)
		}
	case itemTimer:
		e.Deadline = time.Time{}
		e.Timeouts++
		s.logf("%s timeout", e.Side)
		if err := e.Conn.HandleTimeout(s.now); err != nil {
			e.Err = err
		}
	case itemRebind:
		s.Rebind()
	}
	s.drain(e)
}

// feed hands a datagram or stream segment to e's Conn.
func (s *Sim) feed(e *Endpoint, it *item) {
	if e.Side == Server && it.src != s.lis.peer {
		s.logf("%s recv %dB from %s", e.Side, len(it.data), it.src)
	} else {
		s.logf("%s recv %dB", e.Side, len(it.data))
	}
	if it.src != AttackerAddr {
		s.stats[e.Side.Peer()].Delivered++
	}
	var err error
	if s.transport == DTLS {
		err = e.Conn.HandleDatagram(s.now, it.data)
	} else {
		err = e.Conn.HandleData(s.now, it.data)
	}
	if err != nil {
		e.Err = err
	}
}

// drain takes every event of e's Conn into the trace and the endpoint,
// putting transmissions on the link and timers in the queue.
func (s *Sim) drain(e *Endpoint) {
	for {
		ev := e.Conn.NextEvent()
		if ev.Kind == fsm.EventNone {
			return
		}
		s.logf("%s %s", e.Side, s.describe(ev))
		switch ev.Kind {
		case fsm.EventTransmit:
			s.send(e.Side, s.dst(e.Side), ev.Data)
		case fsm.EventData:
			msg := append([]byte(nil), ev.Data...)
			e.Received = append(e.Received, msg...)
			e.Messages = append(e.Messages, msg)
		case fsm.EventHandshakeDone:
			e.Handshakes++
			e.Done = append(e.Done, ev)
			s.noteCID(e)
		case fsm.EventAlertReceived:
			e.Alerts = append(e.Alerts, ev.Alert)
		case fsm.EventAlertSent:
			e.SentAlerts = append(e.SentAlerts, ev.Alert)
		case fsm.EventClosed:
			e.Closed, e.CloseErr = true, ev.Err
		case fsm.EventRetransmit:
			e.Retransmits++
		case fsm.EventTimer:
			e.timerGen++
			e.Deadline = ev.Deadline
			if !ev.Deadline.IsZero() {
				s.setTimer(e.Side, ev.Deadline, e.timerGen)
			}
		}
	}
}

// describe formats an event's kind and fields for the trace.
func (s *Sim) describe(ev fsm.Event) string {
	k := ev.Kind.String()
	switch ev.Kind {
	case fsm.EventTransmit, fsm.EventData:
		return fmt.Sprintf("%s %dB", k, len(ev.Data))
	case fsm.EventMessageSent, fsm.EventMessageReceived:
		return k + " " + ev.Message.String()
	case fsm.EventHandshakeDone:
		return fmt.Sprintf("%s #%d %s %s resumed=%t", k, ev.Handshake,
			fsm.VersionName(ev.Version), fsm.CipherSuiteName(ev.Suite), ev.Resumed)
	case fsm.EventAlertSent, fsm.EventAlertReceived:
		return fmt.Sprintf("%s %s %s", k, ev.Level, ev.Alert)
	case fsm.EventClosed:
		if ev.Err == nil {
			return k + " ok"
		}
		return fmt.Sprintf("%s %v", k, ev.Err)
	case fsm.EventKeyUpdateSent, fsm.EventKeyUpdateReceived:
		return k + " " + ev.KeyUpdate.String()
	case fsm.EventTimer:
		if ev.Deadline.IsZero() {
			return k + " cleared"
		}
		return fmt.Sprintf("%s at +%.3fs", k, ev.Deadline.Sub(s.epoch).Seconds())
	}
	return k
}
