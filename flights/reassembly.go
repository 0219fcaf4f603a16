package flights

import "bytes"

// ReassemblyWindow is how many messages, counting from NextSeq, a
// Reassembler buffers; fragments of later messages are dropped.
const ReassemblyWindow = 8

// Bytes of a message that arrive beyond those received from its start are
// held in blocks of blockSize bytes, each with a bitmap of the bytes it
// has, found by block number; blockCost is what one is counted as holding:
// its bytes, its bitmap and its share of the map that finds it.
const (
	blockSize = 64
	blockCost = 128
)

// Reassembler collects the fragments of incoming DTLS handshake messages
// (RFC 6347 §4.2.2) and releases whole messages in message_seq order.
// Fragments may arrive in any order, duplicated or overlapping, as small
// as one byte.
//
// Memory follows the bytes that arrived, never the lengths fragments
// claim: a message holds the bytes received from its start in one buffer
// that grows as they arrive (at most doubling what it holds), and the
// bytes received further on in the blocks they fall in, made as bytes
// arrive in them and freed once the start passes them. So a message holds
// at most DTLSHeaderLen, twice the bytes received of it, and two blocks
// (2 × blockCost bytes) per fragment received, and at most
// ReassemblyCost of its length. Buffered never exceeds maxBuffered +
// ReassemblyCost(maxMessage): the message NextSeq is always accepted, so
// that progress is possible, and fragments of messages after it only
// while the total stays within maxBuffered. Each fragment costs time in
// proportion to its length; a message completed out of order is copied
// once more, into one buffer, when it is released.
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
// is empty); blocks holds, by offset/blockSize, the bytes received beyond
// them; received counts the distinct body bytes received.
type pendingMessage struct {
	inUse    bool
	typ      MsgType
	seq      uint16
	length   int
	received int
	buf      []byte
	blocks   map[int]*block
}

// block holds the bytes of a message body at [n*blockSize,
// (n+1)*blockSize) that have arrived: bit i of have is set when data[i]
// has.
type block struct {
	data [blockSize]byte
	have uint64
}

// ReassemblyCost is the most a Reassembler holds for a message whose body
// is length bytes long: the 12-byte header and the body, in the buffer
// for the bytes received from its start, beside a block for each
// blockSize bytes of it.
func ReassemblyCost(length int) int {
	return DTLSHeaderLen + length + (length/blockSize+1)*blockCost
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
// Fragments of messages at NextSeq+ReassemblyWindow or later, and
// fragments that would take messages after NextSeq beyond the memory
// bound, are dropped without error; the peer retransmits them. Duplicate
// and overlapping fragments are merged.
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
	candidate := *p
	if p.inUse {
		if p.typ != f.Type || p.length != int(f.Length) {
			return false, errIllegal
		}
		if p.conflicts(int(f.Offset), f.Data) {
			return false, errIllegal
		}
	} else if len(f.Data) == 0 && f.Length > 0 {
		return false, nil // nothing to keep
	} else {
		candidate = pendingMessage{inUse: true, typ: f.Type, seq: f.Seq, length: int(f.Length)}
	}
	growth := candidate.growth(int(f.Offset), f.Data)
	if f.Seq != r.next && r.buffered+growth > r.maxBuffered {
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
	if !p.inUse || p.received != p.length {
		return 0, nil, nil, false
	}
	raw = p.whole()
	typ = p.typ
	r.buffered -= p.footprint()
	*p = pendingMessage{}
	r.next++
	return typ, raw[DTLSHeaderLen:], raw, true
}

// InOrder reports whether f continues what has arrived: a fragment of
// the next message that starts at or before the end of its bytes
// received from offset 0 on. A fragment of a later message, or one
// past a gap, is out of order (RFC 9147 §7.1 calls for an ACK then).
func (r *Reassembler) InOrder(f Fragment) bool {
	if f.Seq != r.next {
		return f.Seq < r.next
	}
	p := &r.slots[r.next%ReassemblyWindow]
	have := 0
	if p.inUse {
		have = p.prefix()
	}
	return int(f.Offset) <= have
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

// footprint is what p is counted as holding.
func (p *pendingMessage) footprint() int { return cap(p.buf) + len(p.blocks)*blockCost }

// blockRange returns the numbers of the blocks that bytes [off, end) fall
// in: [first, last).
func blockRange(off, end int) (first, last int) {
	if end <= off {
		return 0, 0
	}
	return off / blockSize, (end + blockSize - 1) / blockSize
}

// conflicts reports whether data, placed at off, differs from a byte
// already received.
func (p *pendingMessage) conflicts(off int, data []byte) bool {
	if pre := p.prefix(); off < pre {
		n := min(len(data), pre-off)
		if !bytes.Equal(p.buf[DTLSHeaderLen+off:DTLSHeaderLen+off+n], data[:n]) {
			return true
		}
	}
	first, last := blockRange(off, off+len(data))
	for n := first; n < last; n++ {
		b := p.blocks[n]
		if b == nil {
			continue
		}
		lo, hi := max(off, n*blockSize), min(off+len(data), (n+1)*blockSize)
		for i := lo; i < hi; i++ {
			if b.has(i-n*blockSize) && b.data[i-n*blockSize] != data[i-off] {
				return true
			}
		}
	}
	return false
}

// growth returns how many bytes adding data at off would add to what p
// holds (less when blocks are freed).
func (p *pendingMessage) growth(off int, data []byte) int {
	end := off + len(data)
	if p.extends(off, end) {
		growth := p.startCapacity(end) - cap(p.buf)
		if len(p.blocks) == 0 {
			return growth
		}
		first, last := passedBlocks(p.prefix(), end)
		for n := first; n < last; n++ {
			if p.blocks[n] != nil {
				growth -= blockCost
			}
		}
		return growth
	}
	if off <= p.prefix() {
		return 0
	}
	growth := 0
	first, last := blockRange(off, end)
	for n := first; n < last; n++ {
		if p.blocks[n] == nil {
			growth += blockCost
		}
	}
	return growth
}

// extends reports whether bytes [off, end) join those received from the
// start and take them further (or, the first time, start them: the buffer
// then gets its header, even for an empty body).
func (p *pendingMessage) extends(off, end int) bool {
	pre := p.prefix()
	return off <= pre && (end > pre || p.buf == nil)
}

// passedBlocks returns the blocks that the bytes received from the start
// pass when they go from pre to end: [first, last).
func passedBlocks(pre, end int) (first, last int) {
	return pre / blockSize, end / blockSize
}

// add stores the bytes of data, placed at off, that p does not hold yet;
// conflicts has checked the ones it does, and growth the memory.
func (p *pendingMessage) add(off int, data []byte) {
	end := off + len(data)
	pre := p.prefix()
	if off > pre {
		p.addToBlocks(off, data)
		return
	}
	if !p.extends(off, end) {
		return
	}
	p.received += p.newBytes(pre, end)
	if size := p.startCapacity(end); size > cap(p.buf) {
		buf := make([]byte, len(p.buf), size)
		copy(buf, p.buf)
		if p.buf == nil {
			appendDTLSHeader(buf[:0], p.typ, uint32(p.length), p.seq, 0, uint32(p.length))
			buf = buf[:DTLSHeaderLen]
		}
		p.buf = buf
	}
	p.buf = append(p.buf, data[min(pre-off, len(data)):]...)
	first, last := passedBlocks(pre, end)
	for n := first; n < last; n++ {
		delete(p.blocks, n)
	}
}

// newBytes counts the bytes in [lo, hi), beyond the start, that no block
// holds.
func (p *pendingMessage) newBytes(lo, hi int) int {
	count := hi - lo
	if len(p.blocks) == 0 {
		return count
	}
	first, last := blockRange(lo, hi)
	for n := first; n < last; n++ {
		if b := p.blocks[n]; b != nil {
			for i := max(lo, n*blockSize); i < min(hi, (n+1)*blockSize); i++ {
				if b.has(i - n*blockSize) {
					count--
				}
			}
		}
	}
	return count
}

// addToBlocks stores data, placed at off beyond the start, in its blocks.
func (p *pendingMessage) addToBlocks(off int, data []byte) {
	end := off + len(data)
	first, last := blockRange(off, end)
	for n := first; n < last; n++ {
		b := p.blocks[n]
		if b == nil {
			if p.blocks == nil {
				p.blocks = map[int]*block{}
			}
			b = &block{}
			p.blocks[n] = b
		}
		for i := max(off, n*blockSize); i < min(end, (n+1)*blockSize); i++ {
			if j := i - n*blockSize; !b.has(j) {
				b.data[j] = data[i-off]
				b.have |= 1 << j
				p.received++
			}
		}
	}
}

// has reports whether byte i of the block has arrived.
func (b *block) has(i int) bool { return b.have&(1<<i) != 0 }

// whole returns the complete message in whole-message form: buf when
// every byte came from the start on, else buf's bytes and the blocks'
// copied into one buffer.
func (p *pendingMessage) whole() []byte {
	pre := p.prefix()
	if pre == p.length {
		return p.buf[:len(p.buf):len(p.buf)]
	}
	raw := make([]byte, DTLSHeaderLen+p.length)
	appendDTLSHeader(raw[:0], p.typ, uint32(p.length), p.seq, 0, uint32(p.length))
	copy(raw[DTLSHeaderLen:], p.buf[min(len(p.buf), DTLSHeaderLen):])
	first, last := blockRange(pre, p.length)
	for n := first; n < last; n++ {
		b := p.blocks[n]
		lo := max(pre, n*blockSize)
		copy(raw[DTLSHeaderLen+lo:DTLSHeaderLen+min(p.length, (n+1)*blockSize)], b.data[lo-n*blockSize:])
	}
	return raw
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
