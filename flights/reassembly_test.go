package flights

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/record"
)

// frag returns a fragment of a message of type Finished.
func frag(seq uint16, length, offset int, data []byte) Fragment {
	return Fragment{Type: TypeFinished, Length: uint32(length), Seq: seq, Offset: uint32(offset), Data: data}
}

// mustAdd adds f and fails unless it is accepted as a current fragment.
func mustAdd(t *testing.T, r *Reassembler, f Fragment) {
	t.Helper()
	old, err := r.Add(f)
	require.NoError(t, err)
	require.False(t, old)
}

// nextBody returns the next message's body, failing when none is ready.
func nextBody(t *testing.T, r *Reassembler) []byte {
	t.Helper()
	_, body, _, ok := r.Next()
	require.True(t, ok)
	return body
}

func TestReassemblerOutOfOrder(t *testing.T) {
	body := pattern(100)
	r := NewReassembler(1000, 1000)
	mustAdd(t, r, frag(0, 100, 60, body[60:]))
	mustAdd(t, r, frag(0, 100, 0, body[:30]))
	_, _, _, ok := r.Next()
	require.False(t, ok)
	require.Equal(t, DTLSHeaderLen+30+2*blockCost, r.Buffered(), "what arrived, not the claimed 100 bytes: bytes 60 to 99 in two blocks")
	mustAdd(t, r, frag(0, 100, 20, body[20:70])) // overlaps both
	typ, got, raw, ok := r.Next()
	require.True(t, ok)
	require.Equal(t, TypeFinished, typ)
	require.Equal(t, body, got)
	require.Equal(t, ToDTLS(nil, (&Finished{VerifyData: body}).Append(nil), 0), raw)
	require.Equal(t, uint16(1), r.NextSeq())
	require.Zero(t, r.Buffered())
	_, _, _, ok = r.Next()
	require.False(t, ok)
}

func TestReassemblerInOrderDelivery(t *testing.T) {
	r := NewReassembler(1000, 1000)
	mustAdd(t, r, frag(2, 3, 0, []byte{2, 2, 2}))
	mustAdd(t, r, frag(1, 1, 0, []byte{1}))
	_, _, _, ok := r.Next()
	require.False(t, ok, "seq 0 is missing")
	mustAdd(t, r, frag(0, 2, 0, []byte{0, 0}))
	require.Equal(t, []byte{0, 0}, nextBody(t, r))
	require.Equal(t, []byte{1}, nextBody(t, r))
	require.Equal(t, []byte{2, 2, 2}, nextBody(t, r))
	require.Equal(t, uint16(3), r.NextSeq())
}

func TestReassemblerZeroLength(t *testing.T) {
	r := NewReassembler(1000, 0)
	done := Fragment{Type: TypeServerHelloDone, Seq: 0, Data: nil}
	mustAdd(t, r, done)
	mustAdd(t, r, done) // duplicate
	typ, body, raw, ok := r.Next()
	require.True(t, ok)
	require.Equal(t, TypeServerHelloDone, typ)
	require.Empty(t, body)
	require.Equal(t, []byte{14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, raw)
	old, err := r.Add(done)
	require.NoError(t, err)
	require.True(t, old)

	// An empty fragment of a non-empty message holds nothing.
	mustAdd(t, r, frag(1, 5, 2, nil))
	require.Zero(t, r.Buffered())
}

func TestReassemblerConflicts(t *testing.T) {
	body := pattern(40)
	r := NewReassembler(1000, 1000)
	mustAdd(t, r, frag(0, 40, 8, body[8:20]))

	bad := append([]byte(nil), body[4:24]...)
	bad[10] ^= 1 // body[14], which is held
	_, err := r.Add(frag(0, 40, 4, bad))
	require.Equal(t, record.AlertIllegalParameter, err)

	// A conflict in a whole held byte of the bitmap, at an aligned offset.
	bad = append([]byte(nil), body[8:16]...)
	bad[7] ^= 1
	_, err = r.Add(frag(0, 40, 8, bad))
	require.Equal(t, record.AlertIllegalParameter, err)

	_, err = r.Add(frag(0, 41, 0, body[:1]))
	require.Equal(t, record.AlertIllegalParameter, err, "length differs")
	_, err = r.Add(Fragment{Type: TypeCertificate, Length: 40, Data: body[:1]})
	require.Equal(t, record.AlertIllegalParameter, err, "type differs")

	// Failed fragments had no effect: the held bytes win and the rest
	// completes the message.
	mustAdd(t, r, frag(0, 40, 0, body[:10]))
	mustAdd(t, r, frag(0, 40, 18, body[18:]))
	require.Equal(t, body, nextBody(t, r))

	// A complete, undelivered message still rejects conflicting bytes.
	mustAdd(t, r, frag(1, 2, 0, []byte{1, 2}))
	_, err = r.Add(frag(1, 2, 1, []byte{3}))
	require.Equal(t, record.AlertIllegalParameter, err)
	require.Equal(t, []byte{1, 2}, nextBody(t, r))
}

func TestReassemblerLimits(t *testing.T) {
	r := NewReassembler(100, 0)
	_, err := r.Add(frag(0, 101, 0, []byte{1}))
	require.Equal(t, record.AlertIllegalParameter, err)
	_, err = r.Add(frag(5, 101, 0, []byte{1}))
	require.Equal(t, record.AlertIllegalParameter, err, "checked before the window")
	r.SetNextSeq(3)
	old, err := r.Add(frag(1, 101, 0, []byte{1}))
	require.Equal(t, record.AlertIllegalParameter, err, "checked before the old test")
	require.False(t, old)
	_, err = r.Add(frag(0, 4, 3, []byte{1, 2}))
	require.Equal(t, record.AlertDecodeError, err)
	_, err = r.Add(Fragment{Length: 1 << 24})
	require.Equal(t, record.AlertDecodeError, err)
	require.Zero(t, r.Buffered())

	// maxMessage 0 allows the protocol maximum; a fragment claiming it
	// holds the one block it falls in.
	r = NewReassembler(0, 0)
	mustAdd(t, r, frag(0, 1<<24-1, 1<<24-2, []byte{1}))
	require.Equal(t, blockCost, r.Buffered())
}

func TestReassemblerOldAndWindow(t *testing.T) {
	r := NewReassembler(100, 1<<20)
	r.SetNextSeq(10)
	for _, seq := range []uint16{0, 9} {
		old, err := r.Add(frag(seq, 1, 0, []byte{1}))
		require.NoError(t, err)
		require.True(t, old)
	}
	// seq 10+8 is beyond the window; 10+7 is the last one inside.
	mustAdd(t, r, frag(18, 1, 0, []byte{1}))
	require.Zero(t, r.Buffered())
	mustAdd(t, r, frag(17, 1, 0, []byte{7}))
	require.Equal(t, DTLSHeaderLen+1, r.Buffered())
	mustAdd(t, r, frag(65535, 1, 0, []byte{1}))
	require.Equal(t, DTLSHeaderLen+1, r.Buffered())

	for seq := uint16(10); seq < 17; seq++ {
		mustAdd(t, r, frag(seq, 1, 0, []byte{byte(seq)}))
	}
	for seq := uint16(10); seq < 17; seq++ {
		require.Equal(t, []byte{byte(seq)}, nextBody(t, r))
	}
	// Delivery moved the window: 18 is now accepted.
	mustAdd(t, r, frag(18, 1, 0, []byte{8}))
	require.Equal(t, []byte{7}, nextBody(t, r))
	require.Equal(t, []byte{8}, nextBody(t, r))
	old, err := r.Add(frag(17, 1, 0, []byte{1}))
	require.NoError(t, err)
	require.True(t, old, "conflicting bytes of a delivered message are not checked")

	r.SetNextSeq(1)
	require.Zero(t, r.Buffered())
	mustAdd(t, r, frag(1, 1, 0, []byte{1}))
	r.Reset()
	require.Zero(t, r.Buffered())
	require.Zero(t, r.NextSeq())
	_, _, _, ok := r.Next()
	require.False(t, ok)
}

func TestReassemblerMemoryBound(t *testing.T) {
	const oneByte = DTLSHeaderLen + 1 // a message of which one byte arrived
	r := NewReassembler(1000, 3*oneByte)
	for seq := uint16(1); seq < 8; seq++ {
		mustAdd(t, r, frag(seq, 100, 0, []byte{byte(seq)}))
	}
	// Only three future messages fit; the others were dropped.
	require.Equal(t, 3*oneByte, r.Buffered())
	// The next message is accepted beyond the bound.
	mustAdd(t, r, frag(0, 1000, 0, pattern(1000)))
	require.Equal(t, 3*oneByte+DTLSHeaderLen+1000, r.Buffered())
	require.Equal(t, pattern(1000), nextBody(t, r))
	require.Equal(t, 3*oneByte, r.Buffered())

	// Messages 1 to 3 are held; 4 was dropped and comes back.
	for seq := uint16(1); seq < 4; seq++ {
		mustAdd(t, r, frag(seq, 100, 1, pattern(99)))
		require.Equal(t, append([]byte{byte(seq)}, pattern(99)...), nextBody(t, r))
	}
	mustAdd(t, r, frag(4, 100, 0, pattern(100)))
	require.Equal(t, pattern(100), nextBody(t, r))
	require.Zero(t, r.Buffered())
}

// TestReassemblerHoldsWhatArrived: fragments that claim the largest
// message cost what they carry, wherever they lie and however many
// messages they claim to start, and the buffer of a message that does
// arrive in order grows as it arrives.
func TestReassemblerHoldsWhatArrived(t *testing.T) {
	r := NewReassembler(0, 1<<20)
	sent, fragments := 0, 0
	for seq := range uint16(ReassemblyWindow) {
		for _, off := range []uint32{0, 1 << 12, 1 << 20, 1<<24 - 3} {
			mustAdd(t, r, Fragment{Type: TypeCertificate, Length: 1<<24 - 1, Seq: seq, Offset: off, Data: []byte{1, 2}})
			sent, fragments = sent+2, fragments+1
		}
	}
	require.LessOrEqual(t, r.Buffered(), heldBound(sent, fragments))

	// A message arriving in order, 100 bytes at a time, holds at most
	// twice what arrived.
	body := pattern(5000)
	r = NewReassembler(0, 0)
	for off := 0; off < len(body); off += 100 {
		mustAdd(t, r, frag(0, len(body), off, body[off:off+100]))
		require.LessOrEqual(t, r.Buffered(), DTLSHeaderLen+2*(off+100))
	}
	require.Equal(t, body, nextBody(t, r))
}

// heldBound is the most a Reassembler may hold after fragments carrying
// sent bytes in all: a header per message, twice the bytes, and two
// blocks per fragment.
func heldBound(sent, fragments int) int {
	return ReassemblyWindow*DTLSHeaderLen + 2*sent + 2*blockCost*fragments
}

// TestReassemblerTinyFragmentsShuffled: a message cut into 2-byte
// fragments, each overlapping the next by one byte, each sent twice, all
// shuffled, is whole after one pass, with no retransmission; what is held
// on the way stays within heldBound.
func TestReassemblerTinyFragmentsShuffled(t *testing.T) {
	for trial := range 20 {
		rng := rand.New(rand.NewPCG(2, uint64(trial)))
		body := pattern(500 + rng.IntN(3000))
		var all []Fragment
		for off := 0; off < len(body)-1; off++ {
			f := frag(0, len(body), off, body[off:off+2])
			all = append(all, f, f)
		}
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		r := NewReassembler(0, 0)
		missing := len(body)
		covered := make([]bool, len(body))
		for i, f := range all {
			_, _, _, ok := r.Next()
			require.False(t, ok, "whole with %d bytes missing", missing)
			mustAdd(t, r, f)
			for j := range f.Data {
				if !covered[int(f.Offset)+j] {
					covered[int(f.Offset)+j] = true
					missing--
				}
			}
			if missing == 0 {
				break
			}
			require.LessOrEqual(t, r.Buffered(), heldBound(2*(i+1), i+1))
			require.LessOrEqual(t, r.Buffered(), ReassemblyCost(len(body)))
		}
		require.Equal(t, body, nextBody(t, r))
		require.Zero(t, r.Buffered())
	}
}

// TestReassemblerStartPassesBlocks: bytes held in blocks beyond the start
// are freed as the start passes them, and a message whose last bytes sit
// in blocks is released whole.
func TestReassemblerStartPassesBlocks(t *testing.T) {
	body := pattern(10 * blockSize)
	r := NewReassembler(0, 0)
	mustAdd(t, r, frag(0, len(body), blockSize+1, body[blockSize+1:3*blockSize]))
	mustAdd(t, r, frag(0, len(body), 5*blockSize, body[5*blockSize:]))
	require.Equal(t, 7*blockCost, r.Buffered(), "blocks 1, 2 and 5 to 9")
	mustAdd(t, r, frag(0, len(body), 0, body[:2*blockSize+3]))
	require.Equal(t, DTLSHeaderLen+2*blockSize+3+6*blockCost, r.Buffered(), "block 1 freed")
	_, _, _, ok := r.Next()
	require.False(t, ok)
	mustAdd(t, r, frag(0, len(body), 3*blockSize-1, body[3*blockSize-1:5*blockSize+1]))
	typ, got, raw, ok := r.Next()
	require.True(t, ok)
	require.Equal(t, TypeFinished, typ)
	require.Equal(t, body, got)
	require.Equal(t, ToDTLS(nil, (&Finished{VerifyData: body}).Append(nil), 0), raw)
	require.Zero(t, r.Buffered())
}

// randomPieces returns fragments of body (message seq of type typ) that
// cover it, in random pieces, plus random overlapping and duplicate
// fragments.
func randomPieces(rng *rand.Rand, typ MsgType, seq uint16, body []byte) []Fragment {
	mk := func(a, b int) Fragment {
		return Fragment{Type: typ, Length: uint32(len(body)), Seq: seq, Offset: uint32(a), Data: body[a:b]}
	}
	var out []Fragment
	for a := 0; ; {
		b := min(len(body), a+1+rng.IntN(max(1, len(body)/3)))
		out = append(out, mk(a, b))
		if a = b; a == len(body) {
			break
		}
	}
	for range rng.IntN(4) {
		a := rng.IntN(len(body) + 1)
		out = append(out, mk(a, a+rng.IntN(len(body)-a+1)))
	}
	if rng.IntN(3) == 0 {
		out = append(out, out[rng.IntN(len(out))])
	}
	return out
}

// TestReassemblerRandom reassembles flights of random messages from
// shuffled, duplicated and overlapping fragments, carried several to a
// record through AppendFragment and ParseFragment, under tight and loose
// memory limits. Each round plays the whole flight again, as a
// retransmission would, until every message is delivered.
func TestReassemblerRandom(t *testing.T) {
	const maxMessage = 3000
	retransmitted := 0
	for trial := range 3000 {
		rng := rand.New(rand.NewPCG(1, uint64(trial)))
		base := uint16(rng.IntN(100))
		maxBuffered := 1 << 20
		if trial%2 == 1 {
			maxBuffered = rng.IntN(3 * maxMessage)
		}
		bound := maxBuffered + ReassemblyCost(maxMessage)
		sent, fragments := 0, 0 // data bytes and fragments added
		var bodies [][]byte
		var types []MsgType
		var all []Fragment
		for i := range 1 + rng.IntN(ReassemblyWindow) {
			n := rng.IntN(maxMessage + 1)
			switch rng.IntN(4) {
			case 0:
				n = 0
			case 1:
				n = rng.IntN(20)
			}
			body := make([]byte, n)
			for j := range body {
				body[j] = byte(rng.Uint32())
			}
			typ := MsgType(rng.IntN(30))
			bodies, types = append(bodies, body), append(types, typ)
			all = append(all, randomPieces(rng, typ, base+uint16(i), body)...)
		}
		r := NewReassembler(maxMessage, maxBuffered)
		r.SetNextSeq(base)
		got := 0
		for round := 0; got < len(bodies); round++ {
			require.Less(t, round, len(bodies)+1, "trial %d: no progress", trial)
			if round > 0 {
				retransmitted++
			}
			rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			for i := 0; i < len(all); {
				// Pack up to three fragments into one record.
				var payload []byte
				for k := 1 + rng.IntN(3); k > 0 && i < len(all); k-- {
					payload = AppendFragment(payload, all[i])
					i++
				}
				for len(payload) > 0 {
					f, rest, err := ParseFragment(payload)
					require.NoError(t, err)
					payload = rest
					old, err := r.Add(f)
					require.NoError(t, err, "trial %d", trial)
					require.Equal(t, int(f.Seq) < int(base)+got, old)
					require.LessOrEqual(t, r.Buffered(), bound)
					require.Equal(t, r.footprints(), r.Buffered(), "trial %d", trial)
					sent, fragments = sent+len(f.Data), fragments+1
					require.LessOrEqual(t, r.Buffered(), heldBound(sent, fragments))
					for {
						typ, body, raw, ok := r.Next()
						if !ok {
							break
						}
						require.Equal(t, types[got], typ)
						require.Equal(t, bodies[got], body, "trial %d message %d", trial, got)
						require.Equal(t, ToDTLS(nil, (&rawMessage{typ, bodies[got]}).Append(nil), base+uint16(got)), raw)
						got++
					}
				}
			}
		}
		require.Zero(t, r.Buffered())
		require.Equal(t, base+uint16(len(bodies)), r.NextSeq())
	}
	require.Greater(t, retransmitted, 100, "the memory bound dropped fragments")
}

// rawMessage is a message of any type with an opaque body.
type rawMessage struct {
	typ  MsgType
	body []byte
}

func (m *rawMessage) Append(b []byte) []byte {
	return append(append(b, byte(m.typ), byte(len(m.body)>>16), byte(len(m.body)>>8), byte(len(m.body))), m.body...)
}

// footprints adds up what the messages held count as holding, which
// Buffered must equal.
func (r *Reassembler) footprints() int {
	n := 0
	for i := range r.slots {
		n += r.slots[i].footprint()
	}
	return n
}
