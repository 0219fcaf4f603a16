package dtls

import "net"

// DemuxConns returns how many Conns a listener's demultiplexer holds.
func DemuxConns(ln net.Listener) int {
	l := ln.(*listener)
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// BatchCounts are the system calls of a socket read and written a batch
// of datagrams at a time, the datagrams they carried, and the reads that
// found nothing.
type BatchCounts struct {
	RecvCalls, Received, EmptyReads, SendCalls, Sent uint64
}

// ConnBatchCounts returns the counts of the socket c reads and writes in
// batches (a listener Conn's is the listener's); ok is false when c reads
// and writes a datagram at a time.
func ConnBatchCounts(c *Conn) (counts BatchCounts, ok bool) { return countsOf(c.batch) }

// ListenerBatchCounts is ConnBatchCounts for a listener's socket.
func ListenerBatchCounts(ln net.Listener) (counts BatchCounts, ok bool) {
	return countsOf(ln.(*listener).batch)
}

// countsOf returns the counts of s; ok is false when there is none.
func countsOf(s *batchSocket) (counts BatchCounts, ok bool) {
	if s == nil {
		return counts, false
	}
	n := s.counts()
	return BatchCounts{n.recvCalls, n.received, n.emptyReads, n.sendCalls, n.sent}, true
}

// SendBufferForTest returns the capacity of the buffers c keeps for the
// datagrams it sends.
func SendBufferForTest(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cap(c.pending.buf) + cap(c.spare.buf) + 8*(cap(c.pending.ends)+cap(c.spare.ends))
}
