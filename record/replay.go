package record

import "github.com/pion/transport/v3/replaydetector"

// ReplayWindowSize is the number of sequence numbers, ending at the highest
// one accepted, that a ReplayWindow remembers.
const ReplayWindowSize = 64

// ReplayWindow is the anti-replay window of RFC 6347 §4.1.2.6 for the
// records of one epoch, built on pion's replaydetector: a record whose
// 48-bit sequence number was accepted before, is older than the window or
// exceeds MaxSeq48 is a replay. Use it in two steps: Check before the
// record is decrypted, and Accept only once it has authenticated, so that
// forged records cannot move the window. A new epoch needs a new window.
//
// The zero value is ready to use, as is NewReplayWindow's result. A Check
// that passes costs the detector one small allocation; Accept of the seq
// just checked costs nothing more. A ReplayWindow is not safe for
// concurrent use.
type ReplayWindow struct {
	det replaydetector.ReplayDetector
	// accept marks pendingSeq as received: it is what the detector
	// returned for the latest Check that passed, kept so that Accept of
	// that seq need not consult the detector again. Every Accept clears
	// it, so it is only ever used while the window is as Check saw it.
	// Nil if none.
	accept     func() bool
	pendingSeq uint64
}

// NewReplayWindow returns an empty window.
func NewReplayWindow() *ReplayWindow {
	return &ReplayWindow{det: replaydetector.New(ReplayWindowSize, MaxSeq48)}
}

func (w *ReplayWindow) detector() replaydetector.ReplayDetector {
	if w.det == nil {
		w.det = replaydetector.New(ReplayWindowSize, MaxSeq48)
	}
	return w.det
}

// Check reports whether seq may be new: not over MaxSeq48, not older than
// the window and not accepted before. It does not change the window; call
// Accept only after the record has authenticated.
func (w *ReplayWindow) Check(seq uint64) bool {
	accept, ok := w.detector().Check(seq)
	if ok {
		w.accept, w.pendingSeq = accept, seq
	}
	return ok
}

// Accept marks seq as received, sliding the window forward if seq is the
// highest yet. A seq that Check would now refuse is left alone, so
// accepting twice is harmless.
func (w *ReplayWindow) Accept(seq uint64) {
	accept := w.accept
	w.accept = nil
	if accept == nil || w.pendingSeq != seq {
		var ok bool
		if accept, ok = w.detector().Check(seq); !ok {
			return
		}
	}
	accept()
}
