package record

import "encoding/binary"

// StreamReader cuts a byte stream into records. Bytes may arrive split at
// any point, one at a time if need be. It holds at most one incomplete
// record beyond what the caller has written and not yet consumed.
type StreamReader struct {
	buf   []byte
	start int
	// MaxFragment is the largest fragment length accepted; a longer one is
	// a record_overflow. Zero means MaxCiphertext13.
	MaxFragment int
}

// Write appends stream bytes. Records returned earlier by Next stay valid
// (though the buffer may move) until Compact.
func (r *StreamReader) Write(p []byte) {
	r.buf = append(r.buf, p...)
}

// Compact drops consumed bytes, invalidating every record returned so far.
// Call it when those records are no longer referenced.
func (r *StreamReader) Compact() {
	if r.start == 0 {
		return
	}
	n := copy(r.buf, r.buf[r.start:])
	r.buf = r.buf[:n]
	r.start = 0
}

// Release drops the buffer when it holds no partial record, invalidating
// every record returned so far; the next Write allocates a new one.
func (r *StreamReader) Release() {
	if r.Buffered() == 0 {
		r.buf, r.start = nil, 0
	}
}

// Buffered returns the number of bytes held that do not yet form a record.
func (r *StreamReader) Buffered() int { return len(r.buf) - r.start }

// Next returns the next complete record. ok is false when more bytes are
// needed. err is AlertRecordOverflow for a length beyond the limit and
// AlertUnexpectedMessage for an unknown content type.
func (r *StreamReader) Next() (rec Record, ok bool, err error) {
	b := r.buf[r.start:]
	if len(b) < HeaderLen {
		return Record{}, false, nil
	}
	typ := ContentType(b[0])
	switch typ {
	case TypeChangeCipherSpec, TypeAlert, TypeHandshake, TypeApplicationData:
	default:
		return Record{}, false, AlertUnexpectedMessage
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	limit := r.MaxFragment
	if limit == 0 {
		limit = MaxCiphertext13
	}
	if n > limit {
		return Record{}, false, AlertRecordOverflow
	}
	if len(b) < HeaderLen+n {
		return Record{}, false, nil
	}
	rec = Record{
		Type:    typ,
		Version: binary.BigEndian.Uint16(b[1:3]),
		Header:  b[:HeaderLen:HeaderLen],
		Payload: b[HeaderLen : HeaderLen+n : HeaderLen+n],
	}
	r.start += HeaderLen + n
	return rec, true, nil
}

// Reset drops every buffered byte.
func (r *StreamReader) Reset() {
	r.buf = r.buf[:0]
	r.start = 0
}
