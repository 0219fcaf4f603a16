// Package fsmtest is a deterministic network simulator for testing code
// built on fsm, in the spirit of net/http/httptest: a test, a fuzzer or a
// deterministic simulation harness runs a client and a server fsm.Conn to
// completion, under loss and attack, and a failing seed runs again the
// same way. New makes a Sim; Handshake, Write, Do, Run and RunFor drive
// it; Trace, Stats and the Endpoints report what happened.
//
// A Sim joins a client and a server fsm.Conn, over TLS (a byte stream) or DTLS
// (datagrams), through links that delay, cut, lose, duplicate, reorder and
// corrupt what they carry, on a virtual clock. Over DTLS the sides have
// addresses: the client's NAT may rebind (Rebind), the server's side
// routes datagrams as dtls's listener does, by Connection ID or source
// address, with fsm.VerifyHello at its front door, and an attacker may
// replay old datagrams from an address of its own (Options.Replay).
//
// Nothing in it sleeps, starts a goroutine or reads the real clock: time
// is a time.Time that starts at Options.Epoch and jumps from one scheduled
// event to the next, and every random choice of the network comes from one
// PCG generator seeded by the caller. The same seed therefore gives the same
// run, and the same trace, byte for byte, provided the Conns are
// deterministic too:
//
//   - each Config.Rand is a seeded reader, such as Rand(seed, side), and
//     each run uses fresh Configs (a Config keeps session caches, ticket
//     and cookie keys across connections);
//   - the test calls Deterministic(t, seed) (testing/cryptotest's
//     SetGlobalRandom) before the run, because since Go 1.26 some crypto
//     calls (ECDSA and RSA signing among them) ignore the reader they are
//     given and use the global source;
//   - the certificates have the same sizes. The network's choices (where
//     a stream is cut, which bit is flipped) depend on sizes, and the trace
//     records sizes, not contents. Certificates from internal/testcert are
//     made once per process with their validity taken from the real clock,
//     so their contents differ between processes; their sizes do not if
//     they are Ed25519 (an ECDSA signature has a variable DER length) and
//     made under cryptotest.SetGlobalRandom with a fixed seed (their serial
//     number is random). The tests of this package and of the module root
//     do both, so a seed gives the same trace in every process, and a
//     failing seed runs again the same way. With other certificates,
//     identity holds within one process only.
//
// Options.Epoch must lie inside the certificates' validity, as they are
// verified at the virtual time (e.g. Leaf.NotBefore plus an hour).
//
// A failing seeded test reports how to run it again with ReportSeed: the
// one-line go test command for that seed.
package fsmtest

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"time"
)

// Transport selects TLS over a byte stream or DTLS over datagrams.
type Transport uint8

// Transports.
const (
	// TLS: the Conns are fsm.NewClient/NewServer and the link is a
	// reliable byte stream, cut at random points.
	TLS Transport = iota
	// DTLS: the Conns are fsm.NewDTLSClient/NewDTLSServer and the link
	// carries datagrams, which it may lose, duplicate, reorder or corrupt.
	DTLS
)

// String returns "TLS" or "DTLS".
func (t Transport) String() string {
	if t == DTLS {
		return "DTLS"
	}
	return "TLS"
}

// Side names one end of the simulated connection.
type Side uint8

// Sides.
const (
	Client Side = iota
	Server
)

// String returns "client" or "server".
func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// Peer returns the other side.
func (s Side) Peer() Side { return 1 - s }

// DefaultReorderDelay is the largest extra delay of a reordered datagram
// when Link.ReorderDelay is zero.
const DefaultReorderDelay = 50 * time.Millisecond

// Link shapes what one side sends to the other. The zero Link delivers
// everything at once, intact.
//
// On a stream (TLS) only Delay, Jitter, MaxSegment and Corrupt apply: a
// stream is reliable and ordered, so Loss, Duplicate, Reorder and MTU are
// ignored there (the TCP below would have repaired them). Corrupt on a
// stream models an attacker, since TCP checksums catch noise: set it only
// in hostile tests.
type Link struct {
	// Delay is the fixed one-way delay; Jitter adds a uniform random
	// delay in [0, Jitter). A stream keeps its order whatever the jitter.
	Delay, Jitter time.Duration
	// Loss is the probability that a datagram is dropped.
	Loss float64
	// Duplicate is the probability that a datagram is delivered twice;
	// each copy has its own delay and its own chance of loss.
	Duplicate float64
	// Reorder is the probability that a datagram is held back by a random
	// extra delay in [0, ReorderDelay), so that later ones overtake it.
	Reorder float64
	// ReorderDelay bounds the extra delay; zero means DefaultReorderDelay.
	ReorderDelay time.Duration
	// Corrupt is the probability that a datagram, or a stream segment,
	// has one random bit flipped.
	Corrupt float64
	// MTU drops datagrams larger than it; zero means no limit.
	MTU int
	// MaxSegment bounds the size of the segments a stream is cut into;
	// zero cuts each transmission at random points anywhere (every
	// segment is 1 to all of the remaining bytes, uniformly).
	MaxSegment int
}

// Stats counts what a link did.
type Stats struct {
	// Sent counts transmissions handed to the link: datagrams, or stream
	// writes (each Conn transmit event).
	Sent int
	// Delivered counts datagrams or stream segments handed to the peer.
	Delivered int
	// Lost, TooBig, Duplicated, Reordered and Corrupted count datagrams
	// (or segments, for Corrupted) the link treated so.
	Lost, TooBig, Duplicated, Reordered, Corrupted int
	// Gone counts datagrams that arrived for an address the receiver no
	// longer has (the client's NAT rebound meanwhile): they are lost.
	Gone int
}

// Network is the virtual clock, the PRNG and the two links between the
// sides, with the queue of what is in flight and of pending timers,
// ordered by (time, sequence number). It knows nothing of fsm; Sim drives
// the Conns over it.
type Network struct {
	transport Transport
	rng       *rand.Rand
	epoch     time.Time
	now       time.Time
	links     [2]Link // indexed by the sending side
	stats     [2]Stats
	queue     itemQueue
	seq       uint64
	// streamTail is the arrival time of the last stream segment in each
	// direction: later segments never arrive before it.
	streamTail [2]time.Time
	tamper     func(from Side, b []byte) []byte
	trace      []string
	// client is the client's current address; rebinds counts its
	// changes.
	client  Addr
	rebinds int
}

// itemKind says what a queued item does when its time comes.
type itemKind uint8

const (
	itemDeliver itemKind = iota // hand data to side to
	itemTimer                   // fire side to's timer of generation gen
	itemRebind                  // give the client a new address
)

type item struct {
	at   time.Time
	seq  uint64
	kind itemKind
	to   Side
	data []byte
	gen  uint64
	// src and dst are a datagram's addresses: where it was sent from and
	// to.
	src, dst Addr
}

// itemQueue is a min-heap of items by (at, seq).
type itemQueue []*item

func (q itemQueue) Len() int { return len(q) }
func (q itemQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q itemQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *itemQueue) Push(x any)   { *q = append(*q, x.(*item)) }
func (q *itemQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}

// newNetwork returns a network with its clock at epoch and links shaped by
// opts.
func newNetwork(seed uint64, t Transport, opts Options) *Network {
	n := &Network{
		transport: t,
		// The second PCG word is fixed: the seed alone names the run.
		rng:    rand.New(rand.NewPCG(seed, 0x746c736d2f73696d)), // "tlsm/sim"
		epoch:  opts.Epoch,
		tamper: opts.Tamper,
		client: ClientAddr,
	}
	if n.epoch.IsZero() {
		n.epoch = DefaultEpoch
	}
	n.now = n.epoch
	n.links[Client] = opts.Link
	n.links[Server] = opts.Link
	if opts.Return != nil {
		n.links[Server] = *opts.Return
	}
	return n
}

// DefaultEpoch is where the virtual clock starts when Options.Epoch is zero.
var DefaultEpoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Now returns the virtual time.
func (n *Network) Now() time.Time { return n.now }

// Elapsed returns the virtual time since the epoch.
func (n *Network) Elapsed() time.Duration { return n.now.Sub(n.epoch) }

// Transport returns the transport the network carries.
func (n *Network) Transport() Transport { return n.transport }

// Link returns the link that carries what from sends.
func (n *Network) Link(from Side) Link { return n.links[from] }

// SetLink changes the link that carries what from sends from now on;
// what is already in flight keeps its fate.
func (n *Network) SetLink(from Side, l Link) { n.links[from] = l }

// SetLinks changes both links.
func (n *Network) SetLinks(l Link) { n.links = [2]Link{l, l} }

// Stats returns the counters of the link that carries what from sends.
func (n *Network) Stats(from Side) Stats { return n.stats[from] }

// Trace returns one line per event so far, oldest first: the time since
// the epoch, who, and what. The caller must not modify it.
func (n *Network) Trace() []string { return n.trace }

// Note adds a line of the caller's own to the trace, at the current time.
func (n *Network) Note(format string, args ...any) {
	n.logf("note "+format, args...)
}

func (n *Network) logf(format string, args ...any) {
	n.trace = append(n.trace, fmt.Sprintf("+%.3fs ", n.now.Sub(n.epoch).Seconds())+fmt.Sprintf(format, args...))
}

// chance draws true with probability p; it draws nothing when p <= 0, so
// that enabling one impairment does not shift the others' draws.
func (n *Network) chance(p float64) bool {
	return p > 0 && n.rng.Float64() < p
}

// duration draws a uniform duration in [0, d).
func (n *Network) duration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(n.rng.Int64N(int64(d)))
}

func (n *Network) push(it *item) {
	it.seq = n.seq
	n.seq++
	heap.Push(&n.queue, it)
}

// send puts what from transmitted to dst on the link; data is not
// retained. A stream ignores dst.
func (n *Network) send(from Side, dst Addr, data []byte) {
	b := append([]byte(nil), data...)
	if n.tamper != nil {
		if b = n.tamper(from, b); b == nil {
			n.logf("net %s>%s tampered away %dB", from, from.Peer(), len(data))
			return
		}
	}
	n.stats[from].Sent++
	if n.transport == DTLS {
		n.sendDatagram(from, dst, b)
	} else {
		n.sendStream(from, dst, b)
	}
}

// sendDatagram decides the fate of one datagram to dst and of its
// duplicate. Its source is from's address now.
func (n *Network) sendDatagram(from Side, dst Addr, b []byte) {
	l := &n.links[from]
	st := &n.stats[from]
	dir := from.String() + ">" + from.Peer().String()
	if l.MTU > 0 && len(b) > l.MTU {
		st.TooBig++
		n.logf("net %s drop %dB mtu", dir, len(b))
		return
	}
	copies := 1
	if n.chance(l.Duplicate) {
		st.Duplicated++
		copies = 2
		n.logf("net %s duplicate %dB", dir, len(b))
	}
	for i := range copies {
		if n.chance(l.Loss) {
			st.Lost++
			n.logf("net %s drop %dB loss", dir, len(b))
			continue
		}
		d := b
		if i > 0 {
			d = append([]byte(nil), b...)
		}
		n.corrupt(from, dir, d)
		at := n.now.Add(l.Delay + n.duration(l.Jitter))
		if n.chance(l.Reorder) {
			st.Reordered++
			extra := l.ReorderDelay
			if extra <= 0 {
				extra = DefaultReorderDelay
			}
			at = at.Add(n.duration(extra))
			n.logf("net %s hold %dB until +%.3fs", dir, len(b), at.Sub(n.epoch).Seconds())
		}
		n.push(&item{at: at, kind: itemDeliver, to: from.Peer(), data: d, src: n.Addr(from), dst: dst})
	}
}

// sendStream cuts the bytes into segments that arrive in order.
func (n *Network) sendStream(from Side, dst Addr, b []byte) {
	l := &n.links[from]
	dir := from.String() + ">" + from.Peer().String()
	for len(b) > 0 {
		limit := len(b)
		if l.MaxSegment > 0 {
			limit = min(limit, l.MaxSegment)
		}
		size := 1 + n.rng.IntN(limit)
		seg := b[:size:size]
		b = b[size:]
		n.corrupt(from, dir, seg)
		at := n.now.Add(l.Delay + n.duration(l.Jitter))
		if at.Before(n.streamTail[from]) {
			at = n.streamTail[from]
		}
		n.streamTail[from] = at
		n.push(&item{at: at, kind: itemDeliver, to: from.Peer(), data: seg, src: n.Addr(from), dst: dst})
	}
}

// corrupt flips one random bit of b with the link's probability.
func (n *Network) corrupt(from Side, dir string, b []byte) {
	if len(b) == 0 || !n.chance(n.links[from].Corrupt) {
		return
	}
	bit := n.rng.IntN(8 * len(b))
	b[bit/8] ^= 1 << (bit % 8)
	n.stats[from].Corrupted++
	n.logf("net %s corrupt %dB bit %d", dir, len(b), bit)
}

// setTimer queues a timer for side at deadline, of generation gen.
func (n *Network) setTimer(side Side, deadline time.Time, gen uint64) {
	if deadline.Before(n.now) {
		deadline = n.now
	}
	n.push(&item{at: deadline, kind: itemTimer, to: side, gen: gen})
}

// peek returns the next item without removing it, or nil.
func (n *Network) peek() *item {
	if len(n.queue) == 0 {
		return nil
	}
	return n.queue[0]
}

// discard removes the next item, leaving the clock alone.
func (n *Network) discard() { heap.Pop(&n.queue) }

// pop removes the next item and moves the clock to its time.
func (n *Network) pop() *item {
	it := heap.Pop(&n.queue).(*item)
	if it.at.After(n.now) {
		n.now = it.at
	}
	return it
}
