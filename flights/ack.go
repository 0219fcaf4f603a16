package flights

import (
	"encoding/binary"

	"golang.org/x/crypto/cryptobyte"
)

// RecordNumber names a DTLS 1.3 record: its full epoch and sequence
// number (RFC 9147 §4).
type RecordNumber struct {
	Epoch, Seq uint64
}

// Less orders record numbers as an ACK lists them.
func (r RecordNumber) Less(o RecordNumber) bool {
	return r.Epoch < o.Epoch || r.Epoch == o.Epoch && r.Seq < o.Seq
}

// MaxACKRecords is how many record numbers one ACK can carry, as its
// list's 16-bit length allows.
const MaxACKRecords = (1<<16 - 1) / 16

// ACK is the body of a DTLS 1.3 ACK record (RFC 9147 §7): the records of
// the current flight received and processed, in increasing order. It is a
// content type of its own, not a handshake message, and stays out of the
// transcript.
type ACK struct {
	Records []RecordNumber
}

// Append appends the ACK's wire form to b; past MaxACKRecords, the
// first MaxACKRecords are sent (the rest are acknowledged next time).
func (m *ACK) Append(b []byte) []byte {
	records := m.Records[:min(len(m.Records), MaxACKRecords)]
	b = binary.BigEndian.AppendUint16(b, uint16(16*len(records)))
	for _, r := range records {
		b = binary.BigEndian.AppendUint64(b, r.Epoch)
		b = binary.BigEndian.AppendUint64(b, r.Seq)
	}
	return b
}

// Unmarshal parses an ACK body: a whole number of record numbers,
// nothing after. Their order is not checked (the RFC asks senders for
// increasing order; a receiver loses nothing by taking any). Records is
// appended to, so a caller may hand it a reused slice.
func (m *ACK) Unmarshal(body []byte) error {
	m.Records = m.Records[:0]
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() || len(list)%16 != 0 {
		return errDecode
	}
	for !list.Empty() {
		var r RecordNumber
		list.ReadUint64(&r.Epoch)
		list.ReadUint64(&r.Seq)
		m.Records = append(m.Records, r)
	}
	return nil
}
