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
