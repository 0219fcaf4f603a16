package tlsm_test

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/fsm/fsmtest"
	"github.com/tlsm/tlsm/internal/testcert"
)

// dtlsSimSeeds is how many seeds TestDTLSSimLossy runs: -sim.seeds when it
// is given, else 1,000 (100 with -short). The other lossy scenarios keep
// the flag's own default.
func dtlsSimSeeds() uint64 {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "sim.seeds" })
	switch {
	case given:
		return *simSeeds
	case testing.Short():
		return 100
	}
	return 1000
}

// simMaxRetransmits is Config.MaxRetransmits in TestDTLSSimLossy. With the
// default of 7, a flight exchange fails when 8 tries in a row lose the
// flight or the answer: at 40% loss each way a try gets through and back
// with probability about 0.6², so that is 0.64⁸ ≈ 3% per exchange at the
// worst loss, and 5 of the 1,000 default seeds (182, 629, 699, 868, 979)
// time out. With 20 it is 0.64²¹ ≈ 10⁻⁴ at the worst loss, and no seed of
// the default range times out (the slowest, 699, takes 14 client timer
// expiries and 6 min of virtual time, which costs nothing).
const simMaxRetransmits = 20

// dtlsSimMessages is how many application messages each side sends after
// the handshake of TestDTLSSimLossy.
const dtlsSimMessages = 12

// dtlsSimKeyUpdateEvery: over DTLS 1.3, one message in about this many
// is preceded by a key update of its sender.
const dtlsSimKeyUpdateEvery = 8

// TestDTLSSimLossy runs a DTLS 1.2 handshake and then application data
// over the simulator, for many seeds. Each seed draws its link: loss from
// 0 to 40% (none for one seed in ten), duplication, reordering, jitter and
// an MTU from 300 to 1200 bytes, which the Conns keep to. Every handshake
// completes; each message carries a unique id, and no id is delivered
// twice or unsent; without loss every message arrives.
func TestDTLSSimLossy(t *testing.T) { runDTLSSimLossy(t, fsm.VersionTLS12) }

// TestDTLS13SimLossy is TestDTLSSimLossy over DTLS 1.3, with key updates
// from both sides as the messages flow, each of which completes, and 2%
// of the datagrams corrupted: a handshake may then fail, cleanly, and
// only for it.
func TestDTLS13SimLossy(t *testing.T) { runDTLSSimLossy(t, fsm.VersionTLS13) }

// runDTLSSimLossy is the body of TestDTLSSimLossy for one DTLS version.
func runDTLSSimLossy(t *testing.T, version uint16) {
	// As in TestScenarios: an Ed25519 certificate made under a fixed
	// global random source has the same size in every process, so that a
	// seed runs the same way when run again.
	fsmtest.Deterministic(t, 0)
	cert := testcert.MustNew(testcert.Ed25519)
	n := dtlsSimSeeds()
	var (
		runs, retransmits, lostMsgs, sentMsgs int
		keyUpdates, corruptFailures           int
		total                                 fsmtest.Stats
		slowest                               time.Duration
		slowestSeed                           uint64
	)
	for seed := *simSeed; seed < *simSeed+n; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			fsmtest.ReportSeed(t, seed)
			fsmtest.Deterministic(t, seed)
			rng := rand.New(rand.NewPCG(seed, 0x64746c73)) // "dtls"
			link := fsmtest.Link{
				Delay:        time.Duration(1+rng.IntN(50)) * time.Millisecond,
				Jitter:       time.Duration(rng.IntN(20)) * time.Millisecond,
				Loss:         0.4 * rng.Float64(),
				Duplicate:    0.3 * rng.Float64(),
				Reorder:      0.4 * rng.Float64(),
				ReorderDelay: 100 * time.Millisecond,
				MTU:          300 + rng.IntN(901),
			}
			if seed%10 == 0 {
				link.Loss = 0
			}
			if version == fsm.VersionTLS13 {
				link.Corrupt = dtlsSimCorrupt
			}
			s := lossySim(t, seed, cert, link, version)
			if err := s.Handshake(); err != nil {
				// Only a corrupted hello, in the clear, may end it.
				failedCleanly(t, s, err)
				corruptFailures++
				return
			}
			require.Equal(t, 1, s.Client.Handshakes)
			require.Equal(t, 1, s.Server.Handshakes)
			if version == fsm.VersionTLS13 {
				// The default groups: the hybrid, its hello in fragments.
				require.Equal(t, fsm.X25519MLKEM768, s.Client.Conn.ConnectionState().CurveID)
				require.Equal(t, fsm.X25519MLKEM768, s.Server.Conn.ConnectionState().CurveID)
			}
			hsTime := s.Elapsed()

			ids := newIDs(seed)
			asked := 0
			for i := range 2 * dtlsSimMessages {
				side := fsmtest.Side(i % 2)
				if version == fsm.VersionTLS13 && rng.IntN(dtlsSimKeyUpdateEvery) == 0 {
					// A key update from either side, now and then,
					// requested or not, as the messages flow.
					typ := fsm.UpdateNotRequested + fsm.KeyUpdateType(rng.IntN(2))
					require.NoError(t, s.Do(side, func(c *fsm.Conn, _ time.Time) error { return c.KeyUpdate(typ) }))
					asked++
				}
				require.NoError(t, s.Write(side, ids.next(side, rng)))
				require.NoError(t, s.RunFor(time.Duration(rng.IntN(5))*time.Millisecond))
			}
			require.NoError(t, s.Run())
			if version == fsm.VersionTLS13 {
				completeKeyUpdates(t, s)
			}
			for _, to := range []*fsmtest.Endpoint{s.Client, s.Server} {
				got := ids.check(t, to)
				corrupted := s.Stats(fsmtest.Client).Corrupted + s.Stats(fsmtest.Server).Corrupted
				if link.Loss == 0 && asked == 0 && corrupted == 0 {
					// With key updates, a record reordered behind two of
					// them finds its epoch's keys retired, and is
					// dropped (RFC 9147 §8 allows it); a corrupted one
					// is dropped too.
					require.Equal(t, dtlsSimMessages, got, "%s: without loss every message arrives", to.Side)
				}
				lostMsgs += dtlsSimMessages - got
			}
			sentMsgs += 2 * dtlsSimMessages
			keyUpdates += asked

			require.True(t, s.Quiet())
			require.Zero(t, s.Client.Deadline, "no timer left once done")
			for _, e := range []*fsmtest.Endpoint{s.Client, s.Server} {
				require.Empty(t, e.SentAlerts, e.Side)
				require.False(t, e.Closed, e.Side)
				require.Zero(t, s.Stats(e.Side).TooBig, "the Conns keep to the MTU")
			}
			runs++
			retransmits += s.Client.Retransmits + s.Server.Retransmits
			for _, side := range []fsmtest.Side{fsmtest.Client, fsmtest.Server} {
				st := s.Stats(side)
				total.Sent += st.Sent
				total.Lost += st.Lost
				total.Duplicated += st.Duplicated
				total.Reordered += st.Reordered
				total.Corrupted += st.Corrupted
			}
			if hsTime > slowest {
				slowest, slowestSeed = hsTime, seed
			}
		})
	}
	t.Logf("%d seeds: %d handshakes completed; %d datagrams sent, %d lost, %d duplicated, %d reordered; "+
		"%d flights sent again; slowest handshake %v (seed %d); %d of %d messages lost, none twice; %d key updates asked, all completed; "+
		"%d datagrams corrupted, %d handshakes failed cleanly for it",
		n, runs, total.Sent, total.Lost, total.Duplicated, total.Reordered, retransmits, slowest, slowestSeed, lostMsgs, sentMsgs, keyUpdates,
		total.Corrupted, corruptFailures)
}

// dtlsSimCorrupt is the share of datagrams the DTLS 1.3 lossy runs
// corrupt: protected records that do not authenticate are dropped, a
// hello in the clear may be refused.
const dtlsSimCorrupt = 0.02

// failedCleanly checks a handshake that failed over a corrupting link:
// some datagram was corrupted, and a side closed with an alert or a
// timeout, nothing else.
func failedCleanly(t *testing.T, s *fsmtest.Sim, err error) {
	t.Helper()
	require.Positive(t, s.Stats(fsmtest.Client).Corrupted+s.Stats(fsmtest.Server).Corrupted, "failed with no corruption: %v", err)
	closed := 0
	for _, e := range []*fsmtest.Endpoint{s.Client, s.Server} {
		if !e.Closed {
			continue
		}
		closed++
		var ae *fsm.AlertError
		require.True(t, errors.As(e.CloseErr, &ae) || errors.Is(e.CloseErr, fsm.ErrHandshakeTimeout), "%s closed with %v", e.Side, e.CloseErr)
	}
	require.Positive(t, closed, "a failed handshake closes a side: %v", err)
}

// completeKeyUpdates has both sides perform what they have scheduled
// (an answer owed to a peer's request waits for the next write or
// Handshake call) until no key update is pending: every one is sent,
// acknowledged and in use, each side's in at most two rounds.
func completeKeyUpdates(t *testing.T, s *fsmtest.Sim) {
	for range 2 {
		for _, side := range []fsmtest.Side{fsmtest.Client, fsmtest.Server} {
			require.NoError(t, s.Do(side, (*fsm.Conn).Handshake))
		}
		require.NoError(t, s.Run())
	}
	for _, e := range []*fsmtest.Endpoint{s.Client, s.Server} {
		require.Equal(t, fsm.KeyUpdateNone, e.Conn.PendingKeyUpdate(), "%s: every key update completes", e.Side)
		require.False(t, e.Closed, e.Side)
	}
}

// lossySim returns a DTLS simulator over link for fresh configurations of
// the seed, with the Conns' MTU the link's and MaxRetransmits raised,
// both ends speaking only the DTLS version given.
func lossySim(t *testing.T, seed uint64, cert *testcert.Cert, link fsmtest.Link, version uint16) *fsmtest.Sim {
	server := &fsm.Config{
		Rand:           fsmtest.Rand(seed, fsmtest.Server),
		Certificates:   []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}},
		MTU:            link.MTU,
		MaxRetransmits: simMaxRetransmits,
		MinVersion:     version, MaxVersion: version,
	}
	client := &fsm.Config{
		Rand: fsmtest.Rand(seed, fsmtest.Client), RootCAs: cert.CAPool, ServerName: "localhost",
		MTU: link.MTU, MaxRetransmits: simMaxRetransmits,
		MinVersion: version, MaxVersion: version,
	}
	s := fsmtest.New(seed, fsmtest.DTLS, client, server, fsmtest.Options{Epoch: cert.Leaf.NotBefore.Add(time.Hour), Link: link})
	s.LogTrace(t, 80)
	return s
}

// msgIDs makes application messages with unique ids and checks what was
// delivered against what was sent.
type msgIDs struct {
	count uint64
	sent  [2]map[uint64]string // by sending side, message by id
}

func newIDs(seed uint64) *msgIDs {
	return &msgIDs{count: seed << 16, sent: [2]map[uint64]string{{}, {}}}
}

// next returns a new message from side: its id, then up to 100 random
// bytes.
func (m *msgIDs) next(side fsmtest.Side, rng *rand.Rand) []byte {
	m.count++
	msg := binary.BigEndian.AppendUint64(nil, m.count)
	for range rng.IntN(101) {
		msg = append(msg, byte(rng.Uint32()))
	}
	m.sent[side][m.count] = string(msg)
	return msg
}

// check asserts that every message delivered to e was sent by its peer,
// intact, and delivered once, and returns how many were.
func (m *msgIDs) check(t *testing.T, e *fsmtest.Endpoint) int {
	t.Helper()
	seen := map[uint64]bool{}
	for _, msg := range e.Messages {
		require.GreaterOrEqual(t, len(msg), 8, "%s: a whole message per record", e.Side)
		id := binary.BigEndian.Uint64(msg)
		want, ok := m.sent[e.Side.Peer()][id]
		require.True(t, ok, "%s: delivered id %#x, never sent by its peer", e.Side, id)
		require.Equal(t, want, string(msg), "%s: id %#x altered", e.Side, id)
		require.False(t, seen[id], "%s: id %#x delivered twice", e.Side, id)
		seen[id] = true
	}
	return len(seen)
}

// TestDTLSSimBlackhole: when nothing arrives, the client sends its
// ClientHello again on a timer that doubles up to its cap, and gives up
// after MaxRetransmits with ErrHandshakeTimeout; the virtual time this
// takes is the sum of the schedule (1+2+4+8+16+32+60+60 s by default).
func TestDTLSSimBlackhole(t *testing.T) {
	fsmtest.Deterministic(t, 0)
	cert := testcert.MustNew(testcert.Ed25519)
	for _, tc := range []struct {
		name  string
		tweak func(*fsm.Config)
		want  time.Duration
	}{
		{"defaults", func(*fsm.Config) {}, 183 * time.Second},
		{"custom", func(c *fsm.Config) {
			c.RetransmitTimeout, c.MaxRetransmitTimeout, c.MaxRetransmits = 100*time.Millisecond, time.Second, 10
		}, (100 + 200 + 400 + 800 + 7*1000) * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := *simSeed
			fsmtest.ReportSeed(t, seed)
			fsmtest.Deterministic(t, seed)
			server := &fsm.Config{Rand: fsmtest.Rand(seed, fsmtest.Server),
				Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}}
			client := &fsm.Config{Rand: fsmtest.Rand(seed, fsmtest.Client), RootCAs: cert.CAPool, ServerName: "localhost"}
			tc.tweak(client)
			s := fsmtest.New(seed, fsmtest.DTLS, client, server, fsmtest.Options{
				Epoch: cert.Leaf.NotBefore.Add(time.Hour),
				Link:  fsmtest.Link{Delay: 20 * time.Millisecond, Loss: 1},
			})
			s.LogTrace(t, 40)
			require.ErrorIs(t, s.Handshake(), fsm.ErrHandshakeTimeout)
			require.ErrorIs(t, s.Client.CloseErr, fsm.ErrHandshakeTimeout)
			require.Equal(t, fsm.StateClosed, s.Client.Conn.State())

			// The schedule, from the configuration's rules: the timer
			// starts at RetransmitTimeout and doubles, capped, on each of
			// MaxRetransmits retransmissions; the next expiry gives up.
			timeout := orDefault(client.RetransmitTimeout, fsm.DefaultRetransmitTimeout)
			ceiling := orDefault(client.MaxRetransmitTimeout, fsm.DefaultMaxRetransmitTimeout)
			retries := orDefault(client.MaxRetransmits, fsm.DefaultMaxRetransmits)
			var schedule time.Duration
			for range retries + 1 {
				schedule += timeout
				timeout = min(2*timeout, ceiling)
			}
			require.Equal(t, tc.want, schedule)
			require.Equal(t, schedule, s.Elapsed())
			require.Equal(t, retries, s.Client.Retransmits)
			require.Equal(t, retries+1, s.Client.Timeouts)
			require.Equal(t, retries+1, s.Stats(fsmtest.Client).Sent, "one ClientHello per try")
			require.Equal(t, retries+1, s.Stats(fsmtest.Client).Lost)
			require.Zero(t, s.Stats(fsmtest.Client).Delivered)
			require.Equal(t, fsm.StateServerStart, s.Server.Conn.State())
		})
	}
}

// orDefault returns v, or def when v is zero, like the Config's defaults.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
