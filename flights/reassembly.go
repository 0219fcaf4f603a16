package flights

import (
	"bytes"
	"slices"
)

// ReassemblyWindow is how many messages, counting from NextSeq, a
// Reassembler buffers; fragments of later messages are dropped.
const ReassemblyWindow = 8

// MaxFragmentRuns bounds the separate runs of bytes a Reassembler keeps
// for one message beyond the part received from its start: a fragment
// that would start one more is dropped (the peer sends it again, and in
// order once its earlier fragments arrive).
const MaxFragmentRuns = 32

// Reassembler collects the fragments of incoming DTLS handshake messages
// (RFC 6347 §4.2.2) and releases whole messages in message_seq order.
// Fragments may arrive out of order, duplicated or overlapping.
//
// Memory follows the bytes that arrived, never the lengths fragments
// claim: a message holds the bytes received from its start in one buffer
// that grows as they arrive (at most doubling what it holds), and the
// bytes received further on as up to MaxFragmentRuns separate runs of
// exactly their size. So a message holds at most DTLSHeaderLen plus twice
// the bytes received of it, and at most ReassemblyCost of its length.
// Buffered never exceeds maxBuffered + ReassemblyCost(maxMessage): the
// message NextSeq is always accepted, so that progress is possible, and
// fragments of messages after it only while the total stays within
// maxBuffered. Each fragment costs time in proportion to its length and
// the runs held.
//
// message_seq is not expected to wrap; a handshake has far fewer than
// 65536 messages.
type Reassembler struct {
	// slots[seq%ReassemblyWindow] holds message seq, for seq in
	// [next, next+ReassemblyWindow).
	slots       [ReassemblyWindow]pendingMessage
	next        uint16
	maxMessage  int
	maxBuffered int
	buffered    int
}

// pendingMessage is a message being reassembled; the slot is free when
// inUse is false. buf holds the DTLS whole-message header, then the body
// bytes received from offset 0 on (nil until there are some, or the body
// is empty); runs holds the bytes received beyond them, in offset order,
// none overlapping another.
type pendingMessage struct {
	inUse  bool
	typ    MsgType
	seq    uint16
	length int
	buf    []byte
	runs   []run
}

// run is the bytes [off, off+len(data)) of a message body.
type run struct {
	off  int
	data []byte
}

func (r run) end() int { return r.off + len(r.data) }

// ReassemblyCost is the most a Reassembler holds for a message whose body
// is length bytes long: the 12-byte header, and twice the body, for a
// start buffer grown by doubling beside the runs received further on.
func ReassemblyCost(length int) int {
	return DTLSHeaderLen + 2*length
}

// NewReassembler returns a Reassembler that expects message_seq 0 first.
// It rejects messages whose body is longer than maxMessage bytes; a
// maxMessage of 0 or less allows the protocol maximum. maxBuffered bounds
// the bytes held for messages after NextSeq (see Reassembler).
func NewReassembler(maxMessage, maxBuffered int) *Reassembler {
	if maxMessage <= 0 || maxMessage > maxHandshakeBody {
		maxMessage = maxHandshakeBody
	}
	return &Reassembler{maxMessage: maxMessage, maxBuffered: max(maxBuffered, 0)}
}

// Add takes one fragment and copies what it holds that is new. old is
// true when f.Seq is before NextSeq: a retransmission of a message
// already delivered, which may mean that the peer lost the caller's last
// flight.
//
// Fragments of messages at NextSeq+ReassemblyWindow or later, fragments
// that would take messages after NextSeq beyond the memory bound, and
// fragments that would take a message beyond MaxFragmentRuns are dropped
// without error; the peer retransmits them. Duplicate and overlapping
// fragments are merged.
//
// Errors: record.AlertDecodeError when f is not a valid fragment (see
// ParseFragment); record.AlertIllegalParameter when f.Length exceeds
// maxMessage, when f's Type or Length differs from earlier fragments of
// the same message, or when f's data differs from bytes already received.
// A fragment that fails or is dropped has no effect.
func (r *Reassembler) Add(f Fragment) (old bool, err error) {
	if !f.valid() {
		return false, errDecode
	}
	if int(f.Length) > r.maxMessage {
		return false, errIllegal
	}
	if f.Seq < r.next {
		return true, nil
	}
	if int(f.Seq) >= int(r.next)+ReassemblyWindow {
		return false, nil
	}
	p := &r.slots[f.Seq%ReassemblyWindow]
	if p.inUse {
		if p.typ != f.Type || p.length != int(f.Length) {
			return false, errIllegal
		}
		if p.conflicts(int(f.Offset), f.Data) {
			return false, errIllegal
		}
	} else if len(f.Data) == 0 && f.Length > 0 {
		return false, nil // nothing to keep
	}
	candidate := *p
	if !candidate.inUse {
		candidate = pendingMessage{inUse: true, typ: f.Type, seq: f.Seq, length: int(f.Length)}
	}
	growth, runs := candidate.cost(int(f.Offset), f.Data)
	if f.Seq != r.next && r.buffered+growth > r.maxBuffered || runs > MaxFragmentRuns {
		return false, nil
	}
	candidate.add(int(f.Offset), f.Data)
	*p = candidate
	r.buffered += growth
	return false, nil
}

// Next returns the next message in order if it is complete: its type, its
// body and raw, its DTLS whole-message form (the 12-byte header with
// fragment_offset 0 and fragment_length equal to the length, then the
// body), which is what enters the transcript. body and raw remain valid
// until the next call to Add, Next, SetNextSeq or Reset.
func (r *Reassembler) Next() (typ MsgType, body, raw []byte, ok bool) {
	p := &r.slots[r.next%ReassemblyWindow]
	if !p.inUse || p.prefix() != p.length {
		return 0, nil, nil, false
	}
	raw = p.buf[:len(p.buf):len(p.buf)]
	typ = p.typ
	r.buffered -= cap(p.buf)
	*p = pendingMessage{}
	r.next++
	return typ, raw[DTLSHeaderLen:], raw, true
}

// NextSeq returns the message_seq of the next message Next will return.
func (r *Reassembler) NextSeq() uint16 {
	return r.next
}

// SetNextSeq discards everything buffered and makes seq the next expected
// message_seq, for example in a server that answered a ClientHello
// statelessly and continues with the ClientHello that follows.
func (r *Reassembler) SetNextSeq(seq uint16) {
	r.slots = [ReassemblyWindow]pendingMessage{}
	r.buffered = 0
	r.next = seq
}

// Buffered returns how many bytes the Reassembler holds for messages that
// Next has not returned: the capacity of the buffers that hold them.
func (r *Reassembler) Buffered() int {
	return r.buffered
}

// Reset discards everything buffered and expects message_seq 0 next.
func (r *Reassembler) Reset() {
	r.SetNextSeq(0)
}

// prefix is how many body bytes have been received from offset 0 on.
func (p *pendingMessage) prefix() int { return max(len(p.buf)-DTLSHeaderLen, 0) }

// conflicts reports whether data, placed at off, differs from a byte
// already received.
func (p *pendingMessage) conflicts(off int, data []byte) bool {
	if pre := p.prefix(); off < pre {
		n := min(len(data), pre-off)
		if !bytes.Equal(p.buf[DTLSHeaderLen+off:DTLSHeaderLen+off+n], data[:n]) {
			return true
		}
	}
	end := off + len(data)
	for _, r := range p.runs {
		if lo, hi := max(off, r.off), min(end, r.end()); lo < hi &&
			!bytes.Equal(r.data[lo-r.off:hi-r.off], data[lo-off:hi-off]) {
			return true
		}
	}
	return false
}

// cost returns how many bytes adding data at off would add to what p
// holds, and how many runs p would hold then.
func (p *pendingMessage) cost(off int, data []byte) (growth, runs int) {
	if off <= p.prefix() {
		reach, absorbed := p.reach(off + len(data))
		growth = p.startCapacity(reach) - cap(p.buf)
		for _, r := range p.runs[:absorbed] {
			growth -= len(r.data)
		}
		return growth, len(p.runs) - absorbed
	}
	end := off + len(data)
	p.eachGap(off, end, func(lo, hi int) {
		growth += hi - lo
		runs++
	})
	return growth, len(p.runs) + runs
}

// add stores the bytes of data, placed at off, that p does not hold yet;
// conflicts has checked the ones it does.
func (p *pendingMessage) add(off int, data []byte) {
	end := off + len(data)
	if off > p.prefix() {
		var gaps []run
		p.eachGap(off, end, func(lo, hi int) {
			gaps = append(gaps, run{off: lo, data: append([]byte(nil), data[lo-off:hi-off]...)})
		})
		p.runs = append(p.runs, gaps...)
		slices.SortFunc(p.runs, func(a, b run) int { return a.off - b.off })
		return
	}
	reach, absorbed := p.reach(end)
	if size := p.startCapacity(reach); size > cap(p.buf) {
		buf := make([]byte, len(p.buf), size)
		copy(buf, p.buf)
		if p.buf == nil {
			appendDTLSHeader(buf[:0], p.typ, uint32(p.length), p.seq, 0, uint32(p.length))
			buf = buf[:DTLSHeaderLen]
		}
		p.buf = buf
	}
	pre := p.prefix()
	p.buf = p.buf[:DTLSHeaderLen+reach]
	if end > pre {
		copy(p.buf[DTLSHeaderLen+pre:], data[pre-off:])
	}
	for _, r := range p.runs[:absorbed] {
		copy(p.buf[DTLSHeaderLen+r.off:], r.data)
	}
	p.runs = slices.Delete(p.runs, 0, absorbed)
}

// reach returns where the bytes held from offset 0 on would end once
// bytes up to end join them, and how many runs they would take in.
func (p *pendingMessage) reach(end int) (reach, absorbed int) {
	reach = max(end, p.prefix())
	for absorbed < len(p.runs) && p.runs[absorbed].off <= reach {
		reach = max(reach, p.runs[absorbed].end())
		absorbed++
	}
	return reach, absorbed
}

// startCapacity is the capacity buf needs to hold the body up to reach:
// what it has when enough, else at least twice what it holds, never more
// than the whole message.
func (p *pendingMessage) startCapacity(reach int) int {
	need := DTLSHeaderLen + reach
	if need <= cap(p.buf) {
		return cap(p.buf)
	}
	return min(DTLSHeaderLen+p.length, max(need, DTLSHeaderLen+2*p.prefix()))
}

// eachGap calls f for each range within [off, end) that no run holds,
// in offset order.
func (p *pendingMessage) eachGap(off, end int, f func(lo, hi int)) {
	pos := off
	for _, r := range p.runs {
		if r.end() <= pos {
			continue
		}
		if r.off >= end {
			break
		}
		if r.off > pos {
			f(pos, r.off)
		}
		pos = r.end()
	}
	if pos < end {
		f(pos, end)
	}
}
