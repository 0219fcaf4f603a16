package record

import "encoding/binary"

// StreamReader cuts a byte stream into records. Bytes may arrive split at
// any point, one at a time if need be. It holds at most one incomplete
// record beyond what the caller has written and not yet consumed.
//
// Input given with WriteInPlace is read where it lies, without a copy,
// until Detach: only what is left of it then is copied into the reader's
// own buffer.
type StreamReader struct {
	buf   []byte
	start int
	// ext is input read in place: records are cut from it directly.
	ext []byte
	// MaxFragment is the largest fragment length accepted; a longer one is
	// a record_overflow. Zero means MaxCiphertext13.
	MaxFragment int
}

// Write appends stream bytes. Records returned earlier by Next stay valid
// (though the buffer may move) until Compact.
func (r *StreamReader) Write(p []byte) {
	r.Detach()
	r.buf = append(r.buf, p...)
}

// WriteInPlace is Write for input the caller lends until Detach: records
// are cut from p itself, so that their payloads (decrypted in place,
// perhaps) lie in p. Only what an incomplete record already buffered
// lacks is copied from p, to complete it.
func (r *StreamReader) WriteInPlace(p []byte) {
	r.Detach()
	if p = r.complete(p); len(p) > 0 {
		r.ext = p
	}
}

// complete copies from p into the buffer what the incomplete record at its
// end lacks, as far as p goes, and returns the rest of p. A record over
// the length limit is left for Next to refuse.
func (r *StreamReader) complete(p []byte) []byte {
	tail := r.start // the start of the incomplete record, if any
	for {
		rest := r.buf[tail:]
		if len(rest) < HeaderLen || len(rest) < HeaderLen+int(binary.BigEndian.Uint16(rest[3:5])) {
			break
		}
		tail += HeaderLen + int(binary.BigEndian.Uint16(rest[3:5]))
	}
	for len(p) > 0 && tail < len(r.buf) {
		rest := r.buf[tail:]
		need := HeaderLen
		if len(rest) >= HeaderLen {
			length := int(binary.BigEndian.Uint16(rest[3:5]))
			if length > r.limit() {
				break
			}
			need += length
		}
		if len(rest) >= need {
			break
		}
		take := min(need-len(rest), len(p))
		r.buf = append(r.buf, p[:take]...)
		p = p[take:]
	}
	return p
}

// Detach ends the loan of WriteInPlace: the unread rest of that input, an
// incomplete record or records not yet asked for, is copied into the
// reader's buffer. Records returned from the input stay where they are.
func (r *StreamReader) Detach() {
	if r.ext == nil {
		return
	}
	rest := r.ext
	r.ext = nil
	r.buf = append(r.buf, rest...)
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

// Buffered returns the number of bytes held, buffered or lent, that Next
// has not returned as records.
func (r *StreamReader) Buffered() int { return len(r.buf) - r.start + len(r.ext) }

// Next returns the next complete record. ok is false when more bytes are
// needed. err is AlertRecordOverflow for a length beyond the limit and
// AlertUnexpectedMessage for an unknown content type. Buffered bytes come
// before lent ones.
func (r *StreamReader) Next() (rec Record, ok bool, err error) {
	if r.start < len(r.buf) {
		rec, n, ok, err := r.cut(r.buf[r.start:])
		switch {
		case ok:
			r.start += n
			return rec, true, nil
		case err != nil || r.ext == nil:
			return rec, false, err
		}
		// An incomplete buffered record with lent input after it: only a
		// refused length stops WriteInPlace completing it, and cut has
		// refused that above, so this is not reached; be safe anyway.
		r.Detach()
		return r.Next()
	}
	if r.ext == nil {
		return Record{}, false, nil
	}
	rec, n, ok, err := r.cut(r.ext)
	if ok {
		r.ext = r.ext[n:]
		if len(r.ext) == 0 {
			r.ext = nil
		}
	}
	return rec, ok, err
}

// cut returns the record at the start of b and its length on the wire.
func (r *StreamReader) cut(b []byte) (rec Record, n int, ok bool, err error) {
	if len(b) < HeaderLen {
		return Record{}, 0, false, nil
	}
	typ := ContentType(b[0])
	switch typ {
	case TypeChangeCipherSpec, TypeAlert, TypeHandshake, TypeApplicationData:
	default:
		return Record{}, 0, false, AlertUnexpectedMessage
	}
	length := int(binary.BigEndian.Uint16(b[3:5]))
	if length > r.limit() {
		return Record{}, 0, false, AlertRecordOverflow
	}
	n = HeaderLen + length
	if len(b) < n {
		return Record{}, 0, false, nil
	}
	rec = Record{
		Type:    typ,
		Version: binary.BigEndian.Uint16(b[1:3]),
		Header:  b[:HeaderLen:HeaderLen],
		Payload: b[HeaderLen:n:n],
	}
	return rec, n, true, nil
}

// limit is the largest fragment length accepted.
func (r *StreamReader) limit() int {
	if r.MaxFragment == 0 {
		return MaxCiphertext13
	}
	return r.MaxFragment
}

// Reset drops every buffered byte.
func (r *StreamReader) Reset() {
	r.buf = r.buf[:0]
	r.start = 0
	r.ext = nil
}
