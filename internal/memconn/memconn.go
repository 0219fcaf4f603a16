// Package memconn wires two fsm.Conns together in memory, with no sockets
// and no goroutines, for tests, benchmarks and the demo.
package memconn

import (
	"errors"
	"time"

	"github.com/tlsm/tlsm/fsm"
)

// Side is one end of a Pair and what it has seen.
type Side struct {
	Name string
	Conn *fsm.Conn
	// Received collects application data delivered to this side.
	Received []byte
	// Handshakes counts EventHandshakeDone.
	Handshakes int
	// Closed is set by EventClosed; CloseErr is its error.
	Closed   bool
	CloseErr error
	// Alerts lists alerts received (EventAlertReceived).
	Alerts []fsm.Alert
	// SentAlerts lists alerts sent.
	SentAlerts []fsm.Alert
	// Err is the last error returned by the Conn.
	Err error

	pending []byte // bytes transmitted to this side, not yet fed
	spare   []byte // the buffer of pending bytes fed before, for reuse
}

// Pair is a client and a server joined by an in-memory byte stream.
type Pair struct {
	Client, Server *Side
	// Now is the time handed to the Conns.
	Now time.Time
	// Chunk, when set, returns how many of n pending bytes to feed at once
	// (1 feeds a byte at a time); nil feeds everything.
	Chunk func(n int) int
	// Trace, when set, sees every event as it is drained.
	Trace func(s *Side, ev fsm.Event)
	// Tamper, when set, may rewrite bytes in flight from s to the peer.
	Tamper func(from *Side, b []byte) []byte
}

// New returns a pair of fresh Conns for the two configurations.
func New(client, server *fsm.Config) *Pair {
	a := &struct {
		pair           Pair
		client, server Side
	}{ // one allocation for the three
		client: Side{Name: "client", Conn: fsm.NewClient(client)},
		server: Side{Name: "server", Conn: fsm.NewServer(server)},
	}
	a.pair = Pair{Client: &a.client, Server: &a.server, Now: time.Now()}
	return &a.pair
}

// ErrStalled reports that neither side can make progress.
var ErrStalled = errors.New("memconn: no progress")

// Handshake starts the client and pumps until both sides have completed a
// handshake, or one has closed.
func (p *Pair) Handshake() error {
	if err := p.Client.Conn.Start(p.Now); err != nil {
		return err
	}
	p.Pump()
	if p.Client.Handshakes == 0 || p.Server.Handshakes == 0 {
		if p.Client.Err != nil {
			return p.Client.Err
		}
		if p.Server.Err != nil {
			return p.Server.Err
		}
		return ErrStalled
	}
	return nil
}

// Pump moves bytes both ways until nothing is left to move.
func (p *Pair) Pump() {
	for {
		p.drain(p.Client, p.Server)
		p.drain(p.Server, p.Client)
		if len(p.Client.pending) == 0 && len(p.Server.pending) == 0 {
			return
		}
		p.feed(p.Client)
		p.feed(p.Server)
	}
}

// DropBuffers lets go of the buffers the pair itself keeps for reuse, so
// that what an idle pair holds is its Conns' state.
func (p *Pair) DropBuffers() {
	for _, s := range []*Side{p.Client, p.Server} {
		s.spare = nil
	}
}

// feed hands pending bytes to s, in chunks if Chunk is set.
func (p *Pair) feed(s *Side) {
	in := s.pending
	s.pending = nil
	for rest := in; len(rest) > 0; {
		n := len(rest)
		if p.Chunk != nil {
			n = max(1, min(n, p.Chunk(n)))
		}
		chunk := rest[:n]
		rest = rest[n:]
		if err := s.Conn.HandleData(p.Now, chunk); err != nil {
			s.Err = err
		}
		p.drain(s, p.peer(s))
	}
	if s.pending == nil {
		s.spare = in[:0] // HandleData copied what it keeps
	}
}

func (p *Pair) peer(s *Side) *Side {
	if s == p.Client {
		return p.Server
	}
	return p.Client
}

// drain takes every event of from, moving transmitted bytes to to.
func (p *Pair) drain(from, to *Side) {
	for {
		ev := from.Conn.NextEvent()
		if ev.Kind == fsm.EventNone {
			return
		}
		if p.Trace != nil {
			p.Trace(from, ev)
		}
		switch ev.Kind {
		case fsm.EventTransmit:
			b := ev.Data
			if p.Tamper != nil {
				b = p.Tamper(from, append([]byte(nil), b...))
			}
			if to.pending == nil {
				to.pending, to.spare = to.spare, nil
			}
			to.pending = append(to.pending, b...)
		case fsm.EventData:
			from.Received = append(from.Received, ev.Data...)
		case fsm.EventHandshakeDone:
			from.Handshakes++
		case fsm.EventAlertReceived:
			from.Alerts = append(from.Alerts, ev.Alert)
		case fsm.EventAlertSent:
			from.SentAlerts = append(from.SentAlerts, ev.Alert)
		case fsm.EventClosed:
			from.Closed, from.CloseErr = true, ev.Err
		}
	}
}

// Write writes p from s and pumps.
func (p *Pair) Write(s *Side, b []byte) error {
	if _, err := s.Conn.Write(p.Now, b); err != nil {
		return err
	}
	p.Pump()
	return nil
}
