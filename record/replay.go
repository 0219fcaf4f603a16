package record

// ReplayWindowSize is the number of sequence numbers, ending at the highest
// one accepted, that a ReplayWindow remembers.
const ReplayWindowSize = 64

// ReplayWindow is the anti-replay window of RFC 6347 §4.1.2.6 for the
// records of one epoch: a record whose 48-bit sequence number was accepted
// before, is older than the window or exceeds MaxSeq48 is a replay. Use it
// in two steps: Check before the record is decrypted, and Accept only once
// it has authenticated, so that forged records cannot move the window. A
// new epoch needs a new window.
//
// It is a 64-bit mask sliding with the highest sequence number accepted,
// the scheme of pion's replaydetector without its per-record allocation.
// The zero value is ready to use. It is not safe for concurrent use.
type ReplayWindow struct {
	top  uint64 // highest sequence number accepted
	mask uint64 // bit i set: top-i was accepted
	seen bool   // any sequence number accepted
}

// newReplayWindow returns an empty window.
func newReplayWindow() *ReplayWindow { return &ReplayWindow{} }

// Check reports whether seq may be new: not over MaxSeq48, not older than
// the window and not accepted before. It does not change the window.
func (w *ReplayWindow) Check(seq uint64) bool {
	switch {
	case seq > MaxSeq48:
		return false
	case !w.seen || seq > w.top:
		return true
	case w.top-seq >= ReplayWindowSize:
		return false
	}
	return w.mask&(1<<(w.top-seq)) == 0
}

// Next is one past the highest sequence number accepted (0 before any):
// the number a DTLS 1.3 receiver reconstructs the next record's number
// around (RFC 9147 §4.2.2).
func (w *ReplayWindow) Next() uint64 {
	if !w.seen {
		return 0
	}
	return w.top + 1
}

// Newer reports whether seq is higher than every sequence number
// accepted so far (RFC 9146 §6 moves a peer's address only for such a
// record).
func (w *ReplayWindow) Newer(seq uint64) bool {
	return seq <= MaxSeq48 && (!w.seen || seq > w.top)
}

// Accept marks seq as received, sliding the window forward if seq is the
// highest yet. A seq that Check would refuse is left alone, so accepting
// twice is harmless.
func (w *ReplayWindow) Accept(seq uint64) {
	if !w.Check(seq) {
		return
	}
	switch {
	case !w.seen:
		w.top, w.mask, w.seen = seq, 1, true
	case seq > w.top:
		shift := seq - w.top
		if shift >= ReplayWindowSize {
			w.mask = 0
		} else {
			w.mask <<= shift
		}
		w.top = seq
		w.mask |= 1
	default:
		w.mask |= 1 << (w.top - seq)
	}
}
