package flights

import (
	"slices"

	"github.com/tlsm/tlsm/record"
	"golang.org/x/crypto/cryptobyte"
)

// maxHandshakeBody is the largest body a 24-bit length can announce.
const maxHandshakeBody = 1<<24 - 1

// Reader reassembles handshake messages from record payloads: a message
// may span records and a record may hold several messages.
type Reader struct {
	buf     []byte // buf[off:] is data not yet returned by Next
	off     int
	max     int
	maxCert int // the limit of Certificate messages
	err     error
}

// NewReader returns a Reader that rejects messages whose body is longer
// than maxMessage bytes. A maxMessage of 0 or less allows the protocol
// maximum.
func NewReader(maxMessage int) *Reader {
	if maxMessage <= 0 || maxMessage > maxHandshakeBody {
		maxMessage = maxHandshakeBody
	}
	return &Reader{max: maxMessage, maxCert: maxMessage}
}

// SetCertificateLimit lets Certificate messages, which carry certificate
// chains of any length, be up to n bytes long instead of the Reader's
// limit.
func (r *Reader) SetCertificateLimit(n int) {
	r.maxCert = min(max(n, 0), maxHandshakeBody)
}

// Write appends one record's payload. The data is copied. It invalidates
// the slices the previous Next returned. After Next has reported an error
// the data is dropped.
func (r *Reader) Write(p []byte) {
	if r.err != nil {
		return
	}
	if r.off > 0 {
		n := copy(r.buf, r.buf[r.off:])
		r.buf = r.buf[:n]
		r.off = 0
	}
	r.buf = append(r.buf, p...)
}

// Grow makes room for n more bytes, so that Writes of that many do not
// regrow the buffer one step at a time.
func (r *Reader) Grow(n int) {
	r.buf = slices.Grow(r.buf, n)
}

// Release drops the buffer when it holds no partial message, invalidating
// the slices Next returned; the next Write allocates a new one.
func (r *Reader) Release() {
	if r.Buffered() == 0 {
		r.buf, r.off = nil, 0
	}
}

// Next returns the next complete message: its type, its body and raw, the
// 4-byte header followed by the body, as the transcript needs it. ok is
// false when no complete message is buffered. err is
// record.AlertIllegalParameter once a header announces a body longer than
// the Reader's limit (for a Certificate, its own limit); the Reader then
// stays failed until Reset. body and
// raw remain valid until the next Write or Reset.
func (r *Reader) Next() (typ MsgType, body, raw []byte, ok bool, err error) {
	if r.err != nil {
		return 0, nil, nil, false, r.err
	}
	s := cryptobyte.String(r.buf[r.off:])
	var t uint8
	var length uint32
	if !s.ReadUint8(&t) || !s.ReadUint24(&length) {
		return 0, nil, nil, false, nil
	}
	if int(length) > r.max && (MsgType(t) != TypeCertificate || int(length) > r.maxCert) {
		r.err = record.AlertIllegalParameter
		return 0, nil, nil, false, r.err
	}
	if !s.ReadBytes(&body, int(length)) {
		return 0, nil, nil, false, nil
	}
	raw = r.consume(len(r.buf) - r.off - len(s))
	return MsgType(t), body, raw, true, nil
}

// consume returns the next n buffered bytes and marks them as read.
func (r *Reader) consume(n int) []byte {
	raw := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	if r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
	}
	return raw
}

// Buffered returns how many bytes of an incomplete message are held. It
// must be 0 whenever the record keys change.
func (r *Reader) Buffered() int {
	return len(r.buf) - r.off
}

// Reset discards buffered data and any error, keeping the buffer for reuse.
func (r *Reader) Reset() {
	r.buf, r.off, r.err = r.buf[:0], 0, nil
}
