package flights

import (
	"bytes"
	"math/bits"
)

// ReassemblyWindow is how many messages, counting from NextSeq, a
// Reassembler buffers; fragments of later messages are dropped.
const ReassemblyWindow = 8

// Reassembler collects the fragments of incoming DTLS handshake messages
// (RFC 6347 §4.2.2) and releases whole messages in message_seq order.
// Fragments may arrive out of order, duplicated or overlapping.
//
// Memory is bounded: a message being reassembled costs ReassemblyCost of
// its length, for its buffer and a bitmap of the bytes received. Buffered
// never exceeds maxBuffered + ReassemblyCost(maxMessage): the message
// NextSeq is always accepted, so that progress is possible, and messages
// after it only while the total stays within maxBuffered.
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

// pendingMessage is a message being reassembled. buf holds the DTLS
// whole-message header, the body and a bitmap with one bit per body byte
// received; buf is nil when the slot is free.
type pendingMessage struct {
	typ      MsgType
	length   int
	received int // body bytes received
	buf      []byte
}

// ReassemblyCost is the number of bytes a Reassembler holds for a message
// whose body is length bytes long: the 12-byte header, the body and one bit
// per body byte.
func ReassemblyCost(length int) int {
	return DTLSHeaderLen + length + (length+7)/8
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

// Add takes one fragment and copies its data. old is true when f.Seq is
// before NextSeq: a retransmission of a message already delivered, which
// may mean that the peer lost the caller's last flight.
//
// Fragments of messages at NextSeq+ReassemblyWindow or later, and
// fragments that would start a message beyond the memory bound, are
// dropped without error; the peer retransmits them. Duplicate and
// overlapping fragments are merged.
//
// Errors: record.AlertDecodeError when f is not a valid fragment (see
// ParseFragment); record.AlertIllegalParameter when f.Length exceeds
// maxMessage, when f's Type or Length differs from earlier fragments of
// the same message, or when f's data differs from bytes already received.
// A fragment that fails has no effect.
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
	if p.buf != nil {
		if p.typ != f.Type || p.length != int(f.Length) {
			return false, errIllegal
		}
		if p.conflicts(int(f.Offset), f.Data) {
			return false, errIllegal
		}
	} else {
		if len(f.Data) == 0 && f.Length > 0 {
			return false, nil // nothing to keep
		}
		cost := ReassemblyCost(int(f.Length))
		if f.Seq != r.next && r.buffered+cost > r.maxBuffered {
			return false, nil
		}
		r.buffered += cost
		p.start(f)
	}
	p.fill(int(f.Offset), f.Data)
	return false, nil
}

// Next returns the next message in order if it is complete: its type, its
// body and raw, its DTLS whole-message form (the 12-byte header with
// fragment_offset 0 and fragment_length equal to the length, then the
// body), which is what enters the transcript. body and raw remain valid
// until the next call to Add, Next, SetNextSeq or Reset.
func (r *Reassembler) Next() (typ MsgType, body, raw []byte, ok bool) {
	p := &r.slots[r.next%ReassemblyWindow]
	if p.buf == nil || p.received != p.length {
		return 0, nil, nil, false
	}
	n := DTLSHeaderLen + p.length
	raw = p.buf[:n:n]
	typ = p.typ
	r.buffered -= ReassemblyCost(p.length)
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
// Next has not returned, as counted by ReassemblyCost.
func (r *Reassembler) Buffered() int {
	return r.buffered
}

// Reset discards everything buffered and expects message_seq 0 next.
func (r *Reassembler) Reset() {
	r.SetNextSeq(0)
}

// start makes p hold the message that f is a fragment of, with no bytes
// received yet.
func (p *pendingMessage) start(f Fragment) {
	length := int(f.Length)
	buf := appendDTLSHeader(make([]byte, 0, ReassemblyCost(length)), f.Type, f.Length, f.Seq, 0, f.Length)
	*p = pendingMessage{typ: f.Type, length: length, buf: buf[:cap(buf)]}
}

// body returns the body being reassembled.
func (p *pendingMessage) body() []byte {
	return p.buf[DTLSHeaderLen : DTLSHeaderLen+p.length]
}

// bitmap returns the received bitmap: bit i%8 of byte i/8 is set when body
// byte i has been received.
func (p *pendingMessage) bitmap() []byte {
	return p.buf[DTLSHeaderLen+p.length:]
}

// conflicts reports whether data, placed at off, differs from a byte
// already received.
func (p *pendingMessage) conflicts(off int, data []byte) bool {
	body, bm := p.body(), p.bitmap()
	for i := 0; i < len(data); {
		j := off + i
		if j%8 == 0 && len(data)-i >= 8 {
			switch bm[j/8] {
			case 0:
				i += 8
				continue
			case 0xff:
				if !bytes.Equal(body[j:j+8], data[i:i+8]) {
					return true
				}
				i += 8
				continue
			}
		}
		if bm[j/8]&(1<<(j%8)) != 0 && body[j] != data[i] {
			return true
		}
		i++
	}
	return false
}

// fill stores data at off and marks it received. Bytes already received
// are overwritten with the same values, which conflicts has checked.
func (p *pendingMessage) fill(off int, data []byte) {
	body, bm := p.body(), p.bitmap()
	copy(body[off:], data)
	end := off + len(data)
	for j := off; j < end; {
		if j%8 == 0 && end-j >= 8 {
			p.received += 8 - bits.OnesCount8(bm[j/8])
			bm[j/8] = 0xff
			j += 8
			continue
		}
		if mask := byte(1) << (j % 8); bm[j/8]&mask == 0 {
			bm[j/8] |= mask
			p.received++
		}
		j++
	}
}
