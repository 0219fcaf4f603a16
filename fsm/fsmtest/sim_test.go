package fsmtest_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/fsm/fsmtest"
	"github.com/tlsm/tlsm/internal/testcert"
)

var (
	flagSeed  = flag.Uint64("sim.seed", 1, "first seed of the seeded tests")
	flagSeeds = flag.Uint64("sim.seeds", 200, "how many seeds the seeded tests run")
)

// configs returns fresh configurations with seeded randomness for one run,
// and the epoch at which their certificate is valid. It sets the global
// random source to the seed (see fsmtest.Deterministic).
//
// The certificate is Ed25519 and made, once per process, from a global
// random source of seed 0, so that it has the same size in every process
// (its contents differ: its validity comes from the real clock); an ECDSA
// signature's size would vary. The trace records sizes, so a seed gives
// the same trace in every process, and a failing seed can be run again.
func configs(t *testing.T, seed uint64) (client, server *fsm.Config, epoch time.Time) {
	fsmtest.Deterministic(t, 0)
	cert := testcert.MustNew(testcert.Ed25519)
	fsmtest.Deterministic(t, seed)
	server = &fsm.Config{
		Rand:         fsmtest.Rand(seed, fsmtest.Server),
		Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}},
	}
	client = &fsm.Config{Rand: fsmtest.Rand(seed, fsmtest.Client), RootCAs: cert.CAPool, ServerName: "localhost"}
	return client, server, cert.Leaf.NotBefore.Add(time.Hour)
}

// hostile is the datagram link of the loss tests.
var hostile = fsmtest.Link{
	Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond,
	Loss: 0.3, Duplicate: 0.2, Reorder: 0.3, ReorderDelay: 100 * time.Millisecond,
	MTU: 300,
}

// seeds runs f as a subtest seed=N for each seed the flags select.
func seeds(t *testing.T, f func(t *testing.T, seed uint64)) {
	for seed := *flagSeed; seed < *flagSeed+*flagSeeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			fsmtest.ReportSeed(t, seed)
			f(t, seed)
		})
	}
}

func TestDTLSHandshakeHostileLink(t *testing.T) {
	var runs, timeouts, retransmits int
	var total fsmtest.Stats
	seeds(t, func(t *testing.T, seed uint64) {
		cc, sc, epoch := configs(t, seed)
		cc.MTU, sc.MTU = 300, 300
		s := fsmtest.New(seed, fsmtest.DTLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: hostile})
		s.LogTrace(t, 60)
		err := s.Handshake()
		runs++
		retransmits += s.Client.Retransmits + s.Server.Retransmits
		for _, side := range []fsmtest.Side{fsmtest.Client, fsmtest.Server} {
			st := s.Stats(side)
			require.Zero(t, st.TooBig, "the Conns keep to the MTU")
			total.Sent += st.Sent
			total.Lost += st.Lost
			total.Duplicated += st.Duplicated
			total.Reordered += st.Reordered
		}
		if errors.Is(err, fsm.ErrHandshakeTimeout) {
			// Eight losses of one flight in a row end the handshake.
			timeouts++
			return
		}
		require.NoError(t, err)
		require.Equal(t, 1, s.Client.Handshakes)
		require.Equal(t, 1, s.Server.Handshakes)
		require.True(t, s.Quiet())
		require.Zero(t, s.Client.Deadline, "no timer left once done")
		require.Empty(t, s.Client.SentAlerts)
		require.Empty(t, s.Server.SentAlerts)
	})
	t.Logf("%d handshakes, %d timed out; %d datagrams sent, %d lost, %d duplicated, %d reordered; %d flights sent again",
		runs, timeouts, total.Sent, total.Lost, total.Duplicated, total.Reordered, retransmits)
	require.LessOrEqual(t, timeouts*50, max(runs, 50), "at most 2%% of handshakes time out")
}

func TestTLSHandshakeSegmented(t *testing.T) {
	seeds(t, func(t *testing.T, seed uint64) {
		cc, sc, epoch := configs(t, seed)
		link := fsmtest.Link{Delay: 5 * time.Millisecond, Jitter: 20 * time.Millisecond, MaxSegment: int(1 + seed%64)}
		// Options the stream ignores: it is reliable.
		link.Loss, link.Duplicate, link.Reorder, link.MTU = 0.5, 0.5, 0.5, 100
		s := fsmtest.New(seed, fsmtest.TLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: link})
		s.LogTrace(t, 60)
		require.NoError(t, s.Handshake())
		require.Greater(t, s.Stats(fsmtest.Server).Delivered, s.Stats(fsmtest.Server).Sent, "cut into segments")
		msg := bytes.Repeat([]byte("segmented "), 1000)
		require.NoError(t, s.Write(fsmtest.Client, msg))
		require.NoError(t, s.Write(fsmtest.Server, msg[:77]))
		require.NoError(t, s.Run())
		require.Equal(t, msg, s.Server.Received)
		require.Equal(t, msg[:77], s.Client.Received)
		st := s.Stats(fsmtest.Client)
		require.Zero(t, st.Lost+st.Duplicated+st.Reordered+st.TooBig+st.Corrupted)
	})
}

// run is one lossy run of a transport whose trace the determinism test
// compares.
func run(t *testing.T, seed uint64, tr fsmtest.Transport) []string {
	cc, sc, epoch := configs(t, seed)
	cc.MTU, sc.MTU = 400, 400
	link := hostile
	link.Loss, link.MTU = 0.2, 400
	s := fsmtest.New(seed, tr, cc, sc, fsmtest.Options{Epoch: epoch, Link: link})
	if err := s.Handshake(); err == nil {
		for i := range 20 {
			require.NoError(t, s.Write(fsmtest.Side(i%2), bytes.Repeat([]byte{byte(i)}, 100+i)))
			require.NoError(t, s.RunFor(3*time.Millisecond))
		}
		require.NoError(t, s.Do(fsmtest.Client, (*fsm.Conn).Close))
		require.NoError(t, s.Run())
	}
	return append([]string(nil), s.Trace()...)
}

func TestDeterminism(t *testing.T) {
	for _, tr := range []fsmtest.Transport{fsmtest.TLS, fsmtest.DTLS} {
		t.Run(tr.String(), func(t *testing.T) {
			seed := *flagSeed
			fsmtest.ReportSeed(t, seed)
			a := run(t, seed, tr)
			b := run(t, seed, tr)
			require.Greater(t, len(a), 50)
			require.Equal(t, strings.Join(a, "\n"), strings.Join(b, "\n"), "same seed, same trace")
			c := run(t, seed+1, tr)
			require.NotEqual(t, a, c, "another seed, another run")
			if tr == fsmtest.DTLS {
				joined := strings.Join(a, "\n")
				for _, want := range []string{" drop ", " duplicate ", " hold ", "retransmit"} {
					require.Contains(t, joined, want, "the run exercised the impairments")
				}
			}
		})
	}
}

// TestLinkMTU: datagrams above the link's MTU are dropped, so a Conn that
// sends larger ones never completes its handshake.
func TestLinkMTU(t *testing.T) {
	cc, sc, epoch := configs(t, 1)
	s := fsmtest.New(1, fsmtest.DTLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: fsmtest.Link{MTU: 250}})
	require.ErrorIs(t, s.Handshake(), fsm.ErrHandshakeTimeout)
	require.Positive(t, s.Stats(fsmtest.Server).TooBig)
	require.Zero(t, s.Server.Handshakes)
}

// lastEpoch returns the epoch of the last record of a DTLS datagram, or
// -1 if it is malformed.
func lastEpoch(d []byte) int {
	epoch := -1
	for len(d) >= 13 {
		epoch = int(d[3])<<8 | int(d[4])
		n := 13 + (int(d[11])<<8 | int(d[12]))
		if n > len(d) {
			return -1
		}
		d = d[n:]
	}
	return epoch
}

// TestDTLSCorruptRecordDropped: a DTLS record whose protection fails is
// dropped silently (RFC 6347 §4.1.2.7): a corrupted Finished is sent
// again on the timer and the handshake completes; corrupted application
// data is lost, not delivered, and the connection carries on.
func TestDTLSCorruptRecordDropped(t *testing.T) {
	seeds(t, func(t *testing.T, seed uint64) {
		cc, sc, epoch := configs(t, seed)
		var flipped int
		corruptNext := map[fsmtest.Side]bool{fsmtest.Client: true, fsmtest.Server: true}
		tamper := func(from fsmtest.Side, b []byte) []byte {
			// The first datagram of each side that ends in a protected
			// record: its Finished, then (re-armed below) application data.
			if corruptNext[from] && lastEpoch(b) == 1 {
				corruptNext[from] = false
				b[len(b)-1-int(seed%16)] ^= 0x10 // in the ciphertext or tag
				flipped++
			}
			return b
		}
		s := fsmtest.New(seed, fsmtest.DTLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: fsmtest.Link{Delay: time.Millisecond}, Tamper: tamper})
		s.LogTrace(t, 60)
		require.NoError(t, s.Handshake())
		require.Equal(t, 2, flipped)
		require.Positive(t, s.Client.Retransmits+s.Server.Retransmits, "a flight was sent again")
		require.Empty(t, s.Client.SentAlerts)
		require.Empty(t, s.Server.SentAlerts)

		corruptNext[fsmtest.Client] = true
		require.NoError(t, s.Write(fsmtest.Client, []byte("corrupted")))
		require.NoError(t, s.Run())
		require.NoError(t, s.Write(fsmtest.Client, []byte("intact")))
		require.NoError(t, s.Run())
		require.Equal(t, 3, flipped)
		require.Equal(t, "intact", string(s.Server.Received))
		require.Empty(t, s.Server.SentAlerts)
		require.False(t, s.Server.Closed)
	})
}

// TestDTLSRandomCorruption: random bit flips anywhere (headers, epoch 0
// handshake messages, which are not protected) end in a completed
// handshake or a clean failure, never a panic or a hang.
func TestDTLSRandomCorruption(t *testing.T) {
	var done, failed int
	seeds(t, func(t *testing.T, seed uint64) {
		cc, sc, epoch := configs(t, seed)
		link := fsmtest.Link{Delay: time.Millisecond, Corrupt: 0.1}
		s := fsmtest.New(seed, fsmtest.DTLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: link})
		s.LogTrace(t, 60)
		err := s.Handshake()
		if err == nil {
			done++
			return
		}
		failed++
		require.NotErrorIs(t, err, fsmtest.ErrStepLimit)
		require.NotErrorIs(t, err, fsmtest.ErrTimeLimit)
		require.True(t, s.Client.Closed || s.Server.Closed, "a failed handshake closes a side: %v", err)
	})
	t.Logf("%d completed, %d failed cleanly", done, failed)
	require.Positive(t, done)
}

// TestTLSStreamCorruption: a flipped bit in a TLS stream is never
// delivered as data: the connection fails with an alert, bad_record_mac
// when the bit is in a protected record, or waits for bytes a corrupted
// length promised.
func TestTLSStreamCorruption(t *testing.T) {
	alerts := map[fsm.Alert]int{}
	seeds(t, func(t *testing.T, seed uint64) {
		cc, sc, epoch := configs(t, seed)
		s := fsmtest.New(seed, fsmtest.TLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: fsmtest.Link{Delay: time.Millisecond}})
		s.LogTrace(t, 60)
		require.NoError(t, s.Handshake())
		// Hostile from here on: every segment from the client has a bit
		// flipped.
		s.SetLink(fsmtest.Client, fsmtest.Link{Delay: time.Millisecond, Corrupt: 1, MaxSegment: 4096})
		sent := bytes.Repeat([]byte("0123456789"), 2000)
		require.NoError(t, s.Write(fsmtest.Client, sent))
		require.NoError(t, s.Run())
		require.Positive(t, s.Stats(fsmtest.Client).Corrupted)
		require.True(t, bytes.HasPrefix(sent, s.Server.Received), "only intact data is delivered")
		if !s.Server.Closed {
			// A corrupted length left the server waiting for more.
			require.Empty(t, s.Server.SentAlerts)
			alerts[0]++
			return
		}
		var ae *fsm.AlertError
		require.ErrorAs(t, s.Server.CloseErr, &ae)
		require.Equal(t, []fsm.Alert{ae.Description}, s.Server.SentAlerts)
		require.Equal(t, []fsm.Alert{ae.Description}, s.Client.Alerts, "the client learns why")
		require.True(t, s.Client.Closed)
		alerts[ae.Description]++
	})
	t.Logf("outcomes (0 = waiting): %v", alerts)
	require.Positive(t, alerts[20], "bad_record_mac is the common outcome")
}

func TestReproCommand(t *testing.T) {
	require.Equal(t,
		"go test ./fsm/fsmtest -run '^TestX$/^DTLS$/^a-b\\.c$/^seed=3$' -sim.seed=3 -sim.seeds=1 -count=1",
		fsmtest.ReproCommand("TestX/DTLS/a-b.c/seed=3", 3))
}
