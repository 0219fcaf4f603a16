// Package testconn has net.Conn wrappers that tests use to watch the bytes
// on the wire.
package testconn

import (
	"net"
	"sync"
)

// Tap is a net.Conn that records the bytes read from it and written to
// it, up to Limit bytes each way (0: all of them). It is safe for one
// reader and one writer at once.
type Tap struct {
	net.Conn
	Limit int

	mu            sync.Mutex
	read, written []byte
}

// Read reads from the wrapped Conn and records what it read.
func (t *Tap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.mu.Lock()
	t.read = t.record(t.read, p[:n])
	t.mu.Unlock()
	return n, err
}

// Write records p and writes it to the wrapped Conn.
func (t *Tap) Write(p []byte) (int, error) {
	n, err := t.Conn.Write(p)
	t.mu.Lock()
	t.written = t.record(t.written, p[:n])
	t.mu.Unlock()
	return n, err
}

func (t *Tap) record(dst, p []byte) []byte {
	if t.Limit > 0 {
		p = p[:min(len(p), max(t.Limit-len(dst), 0))]
	}
	return append(dst, p...)
}

// Streams returns copies of the bytes read and written so far.
func (t *Tap) Streams() (read, written []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.read...), append([]byte(nil), t.written...)
}
