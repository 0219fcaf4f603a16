package tlsm_test

import (
	"bytes"
	"encoding/binary"

	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/sim"
	"github.com/tlsm/tlsm/internal/testcert"
)

// The simulation properties: for each seed, a TLS and a DTLS connection
// run a random schedule, drawn from the seed, of writes, key updates (TLS
// 1.3) and renegotiations (TLS and DTLS 1.2, started by either side) over
// a link that cuts the stream anywhere (TLS) or loses, duplicates,
// reorders and now and then corrupts datagrams (DTLS). Then the link turns
// clean and the network runs until it is quiet, and:
//
//   - the sides agree: both are open with the same number of handshakes
//     and no handshake running, or both are closed; over DTLS one side may
//     stay open when the other closed while the link was lossy, as its
//     alert may have been lost;
//   - nobody sends a fatal alert unless the link corrupted something;
//   - TLS delivers every byte written exactly once, in order (a prefix of
//     it when the connection closed);
//   - DTLS delivers only messages that were sent, intact, each at most
//     once, and, as the schedule's last messages cross a clean link, those;
//   - every state a Conn is seen in is one the table allows: each change
//     of state between two observations follows the table's edges (one
//     observation may span several transitions: a datagram can carry a
//     whole flight) or goes to Closed;
//   - the heap a batch of runs leaves behind is bounded (simHeapBound).

// simPropMessage bounds the application messages of the schedule: one
// DTLS record each at the default MTU.
const simPropMessage = 1000

// simHeapBound bounds how much the live heap may grow over the whole batch
// of seeds (measured after a GC before the first seed and after the
// last), plus simSubtestHeap per subtest. Each run's Conns, Sim and trace
// are garbage once it ends; what stays is the testing package's record of
// each subtest and the runtime's own caches (+0.6 MB measured over 2,000
// subtests). The runs themselves allocate gigabytes in all, so a leak of
// a few hundred bytes per run would exceed the bound. It is checked only
// when every run passed: a failed subtest keeps its log.
const simHeapBound = 16 << 20

// simSubtestHeap is what the testing package may keep of each passing
// subtest, added to simHeapBound for each.
const simSubtestHeap = 256

// simConnHeapBound bounds the heap two connected Conns (and their Sim)
// hold once the network is quiet: buffers of one record or datagram each
// way, a Reassembler that is empty, session caches of one session, and the
// trace and bookkeeping of the Sim: well under a MiB.
const simConnHeapBound = 1 << 20

// propRun is one run of the properties scenario.
type propRun struct {
	s  *sim.Sim
	tr sim.Transport
	// tls13 is set when the TLS run negotiates TLS 1.3 (key updates)
	// rather than 1.2 (renegotiations).
	tls13   bool
	corrupt bool
	// sent holds what each side wrote successfully: the bytes (TLS) or
	// the messages by id (DTLS).
	sent    [2][]byte
	msgs    [2]map[uint64]string
	lastIDs [2][]uint64 // ids written on the clean link at the end
	nextID  uint64
	// states are the states each side was seen in, in order.
	states [2][]fsm.State
	// lossyEnd is when the link turned clean.
	lossyEnd time.Time
	// closedAt is when each side was first seen closed (zero: never).
	closedAt [2]time.Time
}

// observe notes each side's state if it changed.
func (r *propRun) observe() {
	for _, e := range []*sim.Endpoint{r.s.Client, r.s.Server} {
		st := e.Conn.State()
		if n := len(r.states[e.Side]); n == 0 || r.states[e.Side][n-1] != st {
			r.states[e.Side] = append(r.states[e.Side], st)
		}
		if st == fsm.StateClosed && r.closedAt[e.Side].IsZero() {
			r.closedAt[e.Side] = r.s.Now()
		}
	}
}

// propScenario runs the scenario of seed over tr and returns the run.
func propScenario(t testing.TB, seed uint64, tr sim.Transport, cert *testcert.Cert) *propRun {
	rng := rand.New(rand.NewPCG(seed, uint64(tr)<<32|0x70726f70)) // "prop"
	r := &propRun{tr: tr, msgs: [2]map[uint64]string{{}, {}}, nextID: seed << 20}
	r.tls13 = tr == sim.TLS && rng.IntN(2) == 0
	server := &fsm.Config{
		Rand:                     sim.Rand(seed, sim.Server),
		Certificates:             []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}},
		AllowClientRenegotiation: true,
		MinRenegotiationInterval: time.Duration(rng.IntN(200)) * time.Millisecond,
		MaxRetransmits:           simMaxRetransmits,
	}
	client := &fsm.Config{
		Rand: sim.Rand(seed, sim.Client), RootCAs: cert.CAPool, ServerName: "localhost",
		MaxRetransmits: simMaxRetransmits,
	}
	if !r.tls13 {
		client.MaxVersion = fsm.VersionTLS12
	}
	var link sim.Link
	if tr == sim.TLS {
		link = sim.Link{
			Delay:      time.Duration(rng.IntN(30)) * time.Millisecond,
			Jitter:     time.Duration(rng.IntN(20)) * time.Millisecond,
			MaxSegment: []int{0, 1, 7, 100, 1500}[rng.IntN(5)],
		}
	} else {
		link = sim.Link{
			Delay:        time.Duration(1+rng.IntN(40)) * time.Millisecond,
			Jitter:       time.Duration(rng.IntN(20)) * time.Millisecond,
			Loss:         0.2 * rng.Float64(),
			Duplicate:    0.2 * rng.Float64(),
			Reorder:      0.3 * rng.Float64(),
			ReorderDelay: 80 * time.Millisecond,
		}
		if rng.IntN(3) == 0 {
			link.Corrupt = 0.01
			r.corrupt = true
		}
	}
	opts := sim.Options{Epoch: cert.Leaf.NotBefore.Add(time.Hour), Link: link}
	opts.Tamper = func(_ sim.Side, b []byte) []byte {
		if r.s != nil {
			r.observe()
		}
		return b
	}
	r.s = sim.New(seed, tr, client, server, opts)
	s := r.s
	r.observe()
	if err := s.Start(); err != nil {
		return r
	}
	ops := 8 + rng.IntN(12)
	for range ops {
		side := sim.Side(rng.IntN(2))
		switch k := rng.IntN(10); {
		case k < 6:
			r.write(side, rng)
		case k < 8 && r.tls13:
			typ := fsm.UpdateNotRequested + fsm.KeyUpdateType(rng.IntN(2))
			_ = s.Do(side, func(c *fsm.Conn) error {
				if err := c.KeyUpdate(typ); err != nil {
					return nil // not connected yet, or closed
				}
				return c.Handshake()
			})
		case k < 8:
			abbreviated := rng.IntN(3) == 0
			now := rng.IntN(2) == 0
			_ = s.Do(side, func(c *fsm.Conn) error {
				var err error
				if abbreviated {
					err = c.RenegotiateAbbreviated()
				} else {
					err = c.Renegotiate()
				}
				if err != nil || !now {
					return nil // refused by the API, or left for the next I/O
				}
				return c.Handshake()
			})
		}
		_ = s.RunFor(time.Duration(rng.IntN(60)) * time.Millisecond)
		r.observe()
	}
	// The link turns clean: what is in flight keeps its fate.
	r.lossyEnd = s.Now()
	s.SetLinks(sim.Link{Delay: link.Delay})
	s.Note("clean link")
	_ = s.Run()
	r.observe()
	// A last message each way over the clean link.
	for _, side := range []sim.Side{sim.Client, sim.Server} {
		if id, ok := r.write(side, rng); ok {
			r.lastIDs[side] = append(r.lastIDs[side], id)
		}
	}
	_ = s.Run()
	r.observe()
	return r
}

// write writes a message from side: random bytes after a unique id. It
// reports the id and whether the Conn took it.
func (r *propRun) write(side sim.Side, rng *rand.Rand) (uint64, bool) {
	r.nextID++
	id := r.nextID
	msg := binary.BigEndian.AppendUint64(nil, id)
	for range rng.IntN(simPropMessage - 8) {
		msg = append(msg, byte(rng.Uint32()))
	}
	if err := r.s.Write(side, msg); err != nil {
		return 0, false
	}
	r.sent[side] = append(r.sent[side], msg...)
	r.msgs[side][id] = string(msg)
	return id, true
}

// tableReach[s] is the set of states reachable from s by one or more edges
// of fsm.Table().
var tableReach = func() map[fsm.State]map[fsm.State]bool {
	next := map[fsm.State][]fsm.State{}
	for _, tr := range fsm.Table() {
		next[tr.From] = append(next[tr.From], tr.To...)
	}
	reach := map[fsm.State]map[fsm.State]bool{}
	for from := range next {
		seen := map[fsm.State]bool{}
		queue := slices.Clone(next[from])
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			if !seen[s] {
				seen[s] = true
				queue = append(queue, next[s]...)
			}
		}
		reach[from] = seen
	}
	return reach
}()

// tableEdge reports whether one transition of the table leads from a to b.
func tableEdge(a, b fsm.State) bool {
	for _, tr := range fsm.Table() {
		if tr.From == a && slices.Contains(tr.To, b) {
			return true
		}
	}
	return false
}

// propStats sums what the checks saw over the seeds.
type propStats struct {
	runs, connected, closed, lossyClosures, handshakes int
	directSteps, pathSteps                             int
	bytes, messages, dtlsLost                          int
}

// check asserts the properties of a run that ended.
func (r *propRun) check(t *testing.T, st *propStats) {
	t.Helper()
	s := r.s
	c, sv := s.Client, s.Server
	st.runs++

	// No state the table does not allow.
	for side, states := range r.states {
		start := fsm.StateClientStart
		if sim.Side(side) == sim.Server {
			start = fsm.StateServerStart
		}
		require.Equal(t, start, states[0])
		for i := 1; i < len(states); i++ {
			a, b := states[i-1], states[i]
			switch {
			case b == fsm.StateClosed:
			case tableEdge(a, b):
				st.directSteps++
			case tableReach[a][b]:
				st.pathSteps++
			default:
				t.Fatalf("%s: %s -> %s is no path of the table (states %v)", sim.Side(side), a, b, states)
			}
		}
	}

	// Fatal alerts only from corruption; warnings are no_renegotiation
	// (a renegotiation too soon after the last) and close_notify.
	if !r.corrupt {
		for _, e := range []*sim.Endpoint{c, sv} {
			require.NoError(t, e.CloseErr, "%s closed over an uncorrupted link", e.Side)
			for _, a := range e.SentAlerts {
				require.Contains(t, []fsm.Alert{100, 0}, a, "%s sent %v", e.Side, a)
			}
		}
	}

	// Agreement.
	cClosed, sClosed := c.Conn.State() == fsm.StateClosed, sv.Conn.State() == fsm.StateClosed
	switch {
	case cClosed && sClosed:
		st.closed++
	case !cClosed && !sClosed:
		st.connected++
		require.Equal(t, c.Handshakes, sv.Handshakes, "handshakes")
		require.Equal(t, c.Handshakes, c.Conn.ConnectionState().Handshakes)
		require.Positive(t, c.Handshakes)
		require.True(t, s.Quiet(), "the network is quiet")
		require.True(t, c.Conn.HandshakeComplete() && sv.Conn.HandshakeComplete())
		require.False(t, c.Conn.RenegotiatePending() && sv.Conn.RenegotiatePending(), "a renegotiation left hanging")
		st.handshakes += c.Handshakes
	default:
		closed := c
		if sClosed {
			closed = sv
		}
		require.Equal(t, sim.DTLS, r.tr, "one side closed over TLS: %v", closed.CloseErr)
		require.True(t, r.closedAt[closed.Side].Before(r.lossyEnd) || r.closedAt[closed.Side].Equal(r.lossyEnd),
			"%s closed on the clean link (%v) and its peer did not learn", closed.Side, closed.CloseErr)
		st.lossyClosures++
	}

	// Delivery.
	for _, to := range []*sim.Endpoint{c, sv} {
		from := to.Side.Peer()
		if r.tr == sim.TLS {
			if to.Conn.State() != fsm.StateClosed {
				require.Equal(t, len(r.sent[from]), len(to.Received), "%s received all bytes", to.Side)
			}
			require.True(t, bytes.HasPrefix(r.sent[from], to.Received), "%s: every byte once, in order", to.Side)
			st.bytes += len(to.Received)
			continue
		}
		seen := map[uint64]bool{}
		for _, m := range to.Messages {
			require.GreaterOrEqual(t, len(m), 8, "%s: a whole message per record", to.Side)
			id := binary.BigEndian.Uint64(m)
			want, ok := r.msgs[from][id]
			require.True(t, ok, "%s: id %#x never sent", to.Side, id)
			require.Equal(t, want, string(m), "%s: id %#x altered", to.Side, id)
			require.False(t, seen[id], "%s: id %#x delivered twice", to.Side, id)
			seen[id] = true
		}
		if !cClosed && !sClosed {
			for _, id := range r.lastIDs[from] {
				require.True(t, seen[id], "%s: the message sent on the clean link arrived", to.Side)
			}
		}
		st.messages += len(seen)
		st.dtlsLost += len(r.msgs[from]) - len(seen)
	}
}

// simPropCert is the certificate of the property runs: Ed25519, made under
// a fixed global random source, so that its size, and so each seed's
// trace, is the same in every process.
func simPropCert(t *testing.T) *testcert.Cert {
	cryptotest.SetGlobalRandom(t, 0)
	return testcert.MustNew(testcert.Ed25519)
}

// TestSimulationProperties runs the properties for -sim.seeds seeds from
// -sim.seed (1,000 by default, 100 with -short), each over TLS and DTLS.
func TestSimulationProperties(t *testing.T) {
	cert := simPropCert(t)
	n := dtlsSimSeeds()
	var st [2]propStats
	before := liveHeapRoot()
	start := time.Now()
	for seed := *simSeed; seed < *simSeed+n; seed++ {
		for _, tr := range transports {
			t.Run(fmt.Sprintf("%s/seed=%d", tr, seed), func(t *testing.T) {
				sim.ReportSeed(t, seed)
				cryptotest.SetGlobalRandom(t, seed)
				var held int64
				measure := seed%100 == 0
				if measure {
					held = liveHeapRoot()
				}
				r := propScenario(t, seed, tr, cert)
				r.s.LogTrace(t, 80)
				r.check(t, &st[tr])
				if measure {
					grew := liveHeapRoot() - held
					runtime.KeepAlive(r)
					require.Less(t, grew, int64(simConnHeapBound), "heap held by one run")
				}
			})
		}
	}
	grew := liveHeapRoot() - before
	for _, tr := range transports {
		s := st[tr]
		t.Logf("%s: %d runs in %v: %d both connected (%d handshakes), %d both closed, %d closed on one side while lossy; "+
			"state changes: %d single edges, %d paths of several; %d bytes, %d messages delivered, %d messages lost",
			tr, s.runs, time.Since(start).Round(time.Millisecond), s.connected, s.handshakes, s.closed, s.lossyClosures,
			s.directSteps, s.pathSteps, s.bytes, s.messages, s.dtlsLost)
	}
	bound := int64(simHeapBound + simSubtestHeap*2*n)
	t.Logf("heap %+d B over the batch (bound %d)", grew, bound)
	if t.Failed() {
		// A failed subtest keeps its log (the last 80 lines of its
		// trace): the bound holds for runs whose properties hold.
		t.Log("some runs failed: the heap bound is not checked")
		return
	}
	require.Less(t, grew, bound)
}

// liveHeapRoot returns the bytes of live heap objects after a full GC.
func liveHeapRoot() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestSimulationPropertiesDeterministic: the same seed gives the same
// trace, byte for byte, for both transports; another seed another.
func TestSimulationPropertiesDeterministic(t *testing.T) {
	cert := simPropCert(t)
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			seed := *simSeed
			sim.ReportSeed(t, seed)
			trace := func(seed uint64) string {
				cryptotest.SetGlobalRandom(t, seed)
				return strings.Join(propScenario(t, seed, tr, cert).s.Trace(), "\n")
			}
			a, b := trace(seed), trace(seed)
			require.Greater(t, strings.Count(a, "\n"), 50)
			require.Equal(t, a, b, "same seed, same trace")
			require.NotEqual(t, a, trace(seed+1))
		})
	}
}
