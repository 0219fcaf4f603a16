package fsm

// SealForTest protects a handshake payload under c's current write keys,
// for tests that inject messages the API cannot produce.
func (c *Conn) SealForTest(payload []byte) []byte {
	c.hsOut = append(c.hsOut[:0], payload...)
	out := len(c.out)
	if err := c.flushHandshake(); err != nil {
		panic(err)
	}
	b := append([]byte(nil), c.out[out:]...)
	c.out = c.out[:out]
	return b
}
