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

// SealRecordForTest protects one record of type typ carrying payload under
// c's current write keys, as the peer of a Conn expects it, and returns it
// without sending it. It advances the write sequence number but nothing
// else: it is how tests make records a Conn would never send (a
// change_cipher_spec after the handshake, a stray handshake message). The
// payload must fit one record (for DTLS, one datagram). Before keys are
// set the record is in plaintext.
func (c *Conn) SealRecordForTest(typ record.ContentType, payload []byte) ([]byte, error) {
	switch l := c.layer.(type) {
	case *streamLayer:
		switch {
		case l.writeKeys == nil:
			return record.AppendPlain(nil, typ, l.plainRecordVersion(), payload), nil
		case c.version == VersionTLS12:
			return record.Seal12(nil, l.writeKeys, typ, VersionTLS12, payload)
		default:
			return record.Seal13(nil, l.writeKeys, typ, payload, 0)
		}
	case *datagramLayer:
		es := l.write
		version := c.transport.recordVersion(c.state)
		defer func() { es.seq++ }()
		if es.st == nil {
			return record.AppendDTLSPlain(nil, typ, version, es.epoch, es.seq, payload), nil
		}
		return record.SealDTLS12(nil, es.st, typ, version, es.epoch, es.seq, payload)
	}
	panic("unknown layer")
}

// SealAppDataForTest protects one application data record under c's
// current write keys, however short, without sending it.
func (c *Conn) SealAppDataForTest(payload []byte) []byte {
	st := c.layer.writeState()
	var out []byte
	var err error
	if c.version == VersionTLS12 {
		out, err = record.Seal12(nil, st, record.TypeApplicationData, VersionTLS12, payload)
	} else {
		out, err = record.Seal13(nil, st, record.TypeApplicationData, payload, 0)
	}
	if err != nil {
		panic(err)
	}
	return out
}

// SealDatagramRecordForTest protects one DTLS record under c's current
// write epoch without sending it.
func (c *Conn) SealDatagramRecordForTest(typ record.ContentType, payload []byte) []byte {
	l := c.layer.(*datagramLayer)
	out := len(c.out)
	if err := l.seal(l.write, typ, payload); err != nil {
		panic(err)
	}
	b := append([]byte(nil), c.out[out:]...)
	c.out = c.out[:out]
	return b
}
