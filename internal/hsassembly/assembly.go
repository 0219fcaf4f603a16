// Package hsassembly puts DTLS handshake messages together from the
// fragments an observer sees on the wire (RFC 9147 §5.5, RFC 6347
// §4.2.3), for tests and examples that look at handshakes from outside.
package hsassembly

// HeaderLen is the length of a DTLS handshake message header.
const HeaderLen = 12

// maxMessage bounds the messages assembled, maxMessages how many are
// kept; longer ones, and further ones, are ignored.
const (
	maxMessage  = 1 << 16
	maxMessages = 16
)

// Assembler assembles the handshake messages of one direction, each by
// its message_seq, and reports each once, when it is first whole.
type Assembler struct {
	messages map[uint16]*message
}

type message struct {
	typ    byte
	body   []byte
	have   []bool
	filled int
	done   bool
}

// Add takes one fragment, header included. When the fragment completes
// its message, Add returns the message's type and body and true.
// Fragments that are malformed, or disagree with the message begun under
// their message_seq, are ignored.
func (a *Assembler) Add(frag []byte) (typ byte, body []byte, ok bool) {
	if len(frag) < HeaderLen {
		return 0, nil, false
	}
	msgLen := int(frag[1])<<16 | int(frag[2])<<8 | int(frag[3])
	seq := uint16(frag[4])<<8 | uint16(frag[5])
	off := int(frag[6])<<16 | int(frag[7])<<8 | int(frag[8])
	fragLen := int(frag[9])<<16 | int(frag[10])<<8 | int(frag[11])
	if msgLen > maxMessage || off+fragLen > msgLen || len(frag) < HeaderLen+fragLen {
		return 0, nil, false
	}
	if a.messages == nil {
		a.messages = map[uint16]*message{}
	}
	m := a.messages[seq]
	if m == nil && len(a.messages) >= maxMessages {
		return 0, nil, false
	}
	if m == nil {
		m = &message{typ: frag[0], body: make([]byte, msgLen), have: make([]bool, msgLen)}
		a.messages[seq] = m
	}
	if m.done || m.typ != frag[0] || len(m.body) != msgLen {
		return 0, nil, false
	}
	for i := range fragLen {
		if !m.have[off+i] {
			m.have[off+i], m.body[off+i] = true, frag[HeaderLen+i]
			m.filled++
		}
	}
	if m.filled < msgLen {
		return 0, nil, false
	}
	m.done, m.have = true, nil
	return m.typ, m.body, true
}
