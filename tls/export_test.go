package tls

// BufferedForTest returns the number of bytes of application data kept
// for Read.
func (c *Conn) BufferedForTest() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.plain) - c.plainOff
}

// MaxBufferedPlain is maxBufferedPlain, for the tests.
const MaxBufferedPlain = maxBufferedPlain

// ProgressForTest returns the count of inputs to the core and Reads of
// buffered data.
func (c *Conn) ProgressForTest() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.progress
}

// AwaitProgressForTest is awaitProgress, as a Write waiting since
// progress seq calls it.
func (c *Conn) AwaitProgressForTest(seq uint64) error {
	return c.awaitProgress(seq)
}

// SocketReadsForTest returns the read system calls of a Conn that reads
// its socket through its RawConn: those that found data or the end of
// the stream, and those that found nothing; ok is false for other Conns.
func (c *Conn) SocketReadsForTest() (reads, empty uint64, ok bool) {
	if c.raw == nil {
		return 0, 0, false
	}
	reads, empty = c.raw.counts()
	return reads, empty, true
}
