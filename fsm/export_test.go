package fsm

import "github.com/tlsm/tlsm/record"

// SealForTest protects a handshake payload under c's current write keys,
// for tests that inject messages the API cannot produce.
func (c *Conn) SealForTest(payload []byte) []byte {
	out := len(c.out)
	if err := c.layer.writeRecord(record.TypeHandshake, payload); err != nil {
		panic(err)
	}
	b := append([]byte(nil), c.out[out:]...)
	c.out = c.out[:out]
	return b
}

// VerifyDataForTest returns the client's verify_data of the last
// handshake, which a renegotiation ClientHello carries.
func (c *Conn) VerifyDataForTest() []byte { return c.clientVerify }
