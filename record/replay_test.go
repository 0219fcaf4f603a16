package record

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReplayWindow(t *testing.T) {
	for name, w := range map[string]*ReplayWindow{"new": newReplayWindow(), "zero": {}} {
		// Sequence 0 is new in an empty window.
		require.True(t, w.Check(0), name)
		w.Accept(0)
		require.False(t, w.Check(0), name)

		// Check alone changes nothing.
		require.True(t, w.Check(100), name)
		require.True(t, w.Check(100), name)
		require.True(t, w.Check(37), name)

		w.Accept(100)
		require.False(t, w.Check(100), "duplicate")
		require.False(t, w.Check(0), "now beyond the window")
		require.False(t, w.Check(36), "beyond the window")
		require.True(t, w.Check(37), "oldest in the window")

		// In-window, out of order: accepted once.
		for _, seq := range []uint64{99, 37, 60, 98} {
			require.True(t, w.Check(seq), "%s %d", name, seq)
			w.Accept(seq)
			require.False(t, w.Check(seq), "%s %d", name, seq)
		}
		// Accepting again, or accepting without a Check, is harmless.
		w.Accept(60)
		w.Accept(61)
		require.False(t, w.Check(61))
		require.True(t, w.Check(62))

		// A record that failed authentication is never accepted.
		require.True(t, w.Check(1000))
		require.True(t, w.Check(101), "the window did not move")

		// The 48-bit limit.
		require.True(t, w.Check(MaxSeq48))
		require.False(t, w.Check(MaxSeq48+1))
		w.Accept(MaxSeq48 + 1)
		require.True(t, w.Check(101), "an impossible seq moves nothing")
		w.Accept(MaxSeq48)
		require.False(t, w.Check(MaxSeq48))
		require.True(t, w.Check(MaxSeq48-63))
		require.False(t, w.Check(MaxSeq48-64))
		require.False(t, w.Check(101))
	}
}

// replayModel is the window as RFC 6347 §4.1.2.6 describes it, kept the
// plain way: every sequence number ever accepted and the highest of them.
type replayModel struct {
	seen   map[uint64]bool
	latest uint64
}

func (m *replayModel) check(seq uint64) bool {
	return seq <= MaxSeq48 && !m.seen[seq] && seq+ReplayWindowSize > m.latest
}

func (m *replayModel) accept(seq uint64) {
	if !m.check(seq) {
		return
	}
	m.seen[seq] = true
	m.latest = max(m.latest, seq)
}

func TestReplayWindowModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	outcomes := map[bool]int{}
	highest := uint64(0)
	for round := range 20 {
		w := newReplayWindow()
		m := &replayModel{seen: map[uint64]bool{}}
		base := uint64(0)
		if round%4 == 3 {
			base = MaxSeq48 - 5000
		}
		for i := range 5000 {
			var seq uint64
			switch r := rng.IntN(100); {
			case r < 2: // a jump far ahead
				seq = m.latest + 64 + uint64(rng.IntN(1000))
			case r < 4: // garbage
				seq = rng.Uint64()
			default: // near the head, either side
				head := max(base, m.latest)
				seq = head + uint64(rng.IntN(80)) - 70
				if seq > head+10 { // wrapped below zero
					seq = uint64(rng.IntN(10))
				}
			}
			want := m.check(seq)
			require.Equal(t, want, w.Check(seq), "round %d step %d seq %d latest %d", round, i, seq, m.latest)
			outcomes[want]++
			// Three in four records authenticate; sometimes another
			// record's Check comes in between, sometimes none at all.
			switch rng.IntN(8) {
			case 0, 1:
				continue
			case 2:
				other := m.latest - uint64(rng.IntN(100))
				require.Equal(t, m.check(other), w.Check(other))
			case 3:
				seq = m.latest - uint64(rng.IntN(100)) // accept without a Check
			}
			m.accept(seq)
			w.Accept(seq)
		}
		highest = max(highest, m.latest)
	}
	require.Greater(t, outcomes[true], 20000, "new records")
	require.Greater(t, outcomes[false], 20000, "replays")
	require.Equal(t, uint64(MaxSeq48), highest, "the 48-bit end was reached")
}

func TestReplayWindowAllocs(t *testing.T) {
	w := newReplayWindow()
	seq := uint64(0)
	allocs := testing.AllocsPerRun(100, func() {
		seq++
		if !w.Check(seq) {
			t.Fatal(seq)
		}
		w.Accept(seq)
		if w.Check(seq) {
			t.Fatal(seq)
		}
	})
	require.LessOrEqual(t, allocs, 1.0, "the detector's closure, once")
}
