package fsmtest

import (
	"bytes"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// Over DTLS, what reaches the server's address goes through a
// demultiplexer that works as a listener does, for one association, the
// server's Conn, which the Sim makes for ClientAddr at the start:
//
//   - a datagram whose first record carries the Conn's Connection ID
//     (known once its first handshake completed; of the length the
//     server's Config asks for) goes to the Conn, whatever its source;
//   - any other datagram goes to the Conn when it comes from the
//     association's address, PeerAddr. This includes one that carries a
//     CID not yet known: a client's Finished that starts a datagram of
//     its own, in the CID format, before the server's first handshake
//     completed;
//   - the rest meets the stateless front door, fsm.VerifyHello, which
//     may answer with a HelloVerifyRequest to the datagram's source. A
//     ClientHello with a valid cookie, from which a listener would make a
//     new Conn, is counted and dropped: the Sim models one association.
//
// The server's Conn sends to PeerAddr, which moves to the source of a
// datagram only when that datagram reached the Conn and advanced it
// (fsm.Conn.DatagramAdvanced, RFC 9146 §6), as a listener's Conn does.
// The association lasts the whole run, where a listener forgets a closed
// Conn: here the closed Conn ignores what comes. And the Sim's client
// never restarts, so no ClientHello of another random comes from
// PeerAddr, which a listener would give to the front door.

// DefaultReplayDelay bounds when an attacker's copy of a datagram
// arrives when Options.ReplayDelay is zero.
const DefaultReplayDelay = time.Second

// Routing counts what the server's demultiplexer did with the datagrams
// that reached the server's address (DTLS).
type Routing struct {
	// ByCID and ByAddr count the datagrams that went to the server's
	// Conn by its Connection ID, and by their source address.
	ByCID, ByAddr int
	// FrontDoor counts datagrams from an address without an association,
	// given to fsm.VerifyHello; Verify counts those it answered with a
	// HelloVerifyRequest, Accepted the ClientHellos with a valid cookie
	// (a new association, which the Sim drops).
	FrontDoor, Verify, Accepted int
	// Moves counts the times the server's Conn followed the client to a
	// new address.
	Moves int
	// Replays counts the copies of old client datagrams an attacker sent
	// (Options.Replay).
	Replays int
}

// demux is the server's side of the addresses: the association and the
// attacker who replays what the client sent.
type demux struct {
	cfg    *fsm.Config
	cidLen int    // the CID length the server's Config asks for
	cid    []byte // the Conn's CID, once its first handshake completed
	peer   Addr
	peers  []Addr
	stats  Routing
	// replay and replayDelay are Options.Replay and ReplayDelay.
	replay      float64
	replayDelay time.Duration
}

func newDemux(cfg *fsm.Config, opts Options) demux {
	d := demux{cfg: cfg, peer: ClientAddr, peers: []Addr{ClientAddr}, replay: opts.Replay, replayDelay: opts.ReplayDelay}
	if cfg != nil && cfg.ConnectionIDs != nil {
		d.cidLen = cfg.ConnectionIDs.Length
	}
	if d.replayDelay <= 0 {
		d.replayDelay = DefaultReplayDelay
	}
	return d
}

// PeerAddr returns the client's address as the server knows it: where
// the server's Conn sends. It starts at ClientAddr and moves only as
// a listener's Conn does (see Routing).
func (s *Sim) PeerAddr() Addr { return s.lis.peer }

// PeerAddrs returns every address PeerAddr has had, oldest first. The
// caller must not modify it.
func (s *Sim) PeerAddrs() []Addr { return s.lis.peers }

// Routing returns the counters of the server's demultiplexer.
func (s *Sim) Routing() Routing { return s.lis.stats }

// dst returns where side sends.
func (s *Sim) dst(side Side) Addr {
	if side == Server {
		return s.lis.peer
	}
	return ServerAddr
}

// route hands a datagram that reached the server's address to its Conn,
// or to the front door, or drops it; the server then follows the client
// when the datagram advanced the Conn from a new address.
func (s *Sim) route(it *item) {
	d := &s.lis
	switch cid, ok := record.ConnectionIDOf(it.data, d.cidLen); {
	case ok && d.cid != nil && bytes.Equal(cid, d.cid):
		d.stats.ByCID++
	case it.src == d.peer:
		d.stats.ByAddr++
	default:
		s.frontDoor(it)
		return
	}
	var copied []byte
	if d.replay > 0 && it.src != AttackerAddr {
		copied = bytes.Clone(it.data) // the Conn may open records in place
	}
	s.feed(s.Server, it)
	if !s.Server.Conn.DatagramAdvanced() {
		return
	}
	if it.src != d.peer {
		s.follow(it.src)
	}
	if copied != nil && s.chance(d.replay) {
		s.replayLater(copied)
	}
}

// follow moves the server's idea of the client's address to to.
func (s *Sim) follow(to Addr) {
	d := &s.lis
	s.logf("server follows the client %s -> %s", d.peer, to)
	d.peer = to
	d.peers = append(d.peers, to)
	d.stats.Moves++
}

// frontDoor gives a datagram from an address without an association to
// fsm.VerifyHello, and sends its answer back to that address.
func (s *Sim) frontDoor(it *item) {
	d := &s.lis
	d.stats.FrontDoor++
	reply, accept := fsm.VerifyHello(d.cfg, []byte(it.src.String()), s.now, it.data)
	switch {
	case len(reply) > 0:
		d.stats.Verify++
		s.logf("server front door %dB from %s: HelloVerifyRequest", len(it.data), it.src)
		s.send(Server, it.src, reply)
	case accept:
		d.stats.Accepted++
		s.logf("server front door %dB from %s: a new connection, dropped (one association)", len(it.data), it.src)
	default:
		s.logf("server front door %dB from %s: dropped", len(it.data), it.src)
	}
}

// replayLater has the attacker send the server a copy of an old client
// datagram, one the server already took, from AttackerAddr.
func (s *Sim) replayLater(b []byte) {
	at := s.now.Add(s.links[Client].Delay + s.duration(s.lis.replayDelay))
	s.lis.stats.Replays++
	s.logf("net attacker copies %dB, replays it at +%.3fs", len(b), at.Sub(s.epoch).Seconds())
	s.push(&item{at: at, kind: itemDeliver, to: Server, data: b, src: AttackerAddr, dst: ServerAddr})
}

// noteCID takes the server Conn's CID once its first handshake completed:
// from then on, datagrams that carry it reach the Conn from anywhere.
func (s *Sim) noteCID(e *Endpoint) {
	if s.transport != DTLS || e.Side != Server || s.lis.cid != nil {
		return
	}
	if cid := e.Conn.ConnectionState().ConnectionID; len(cid) > 0 {
		s.lis.cid = bytes.Clone(cid)
	}
}
