package flights

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzUnmarshal decodes arbitrary bodies as the message type typ, in its
// TLS 1.3 form and, where one exists, its TLS 1.2 form. Decoding must
// never panic, and a decoded message must encode to bytes that decode
// again and re-encode identically.
func FuzzUnmarshal(f *testing.F) {
	for _, msgs := range []map[string]message{sampleMessages(), sampleMessages12()} {
		for _, m := range msgs {
			enc := m.Append(nil)
			f.Add(enc[0], enc[4:])
		}
	}
	for _, s := range []string{rfc8448ClientHello, rfc8448ServerHello, rfc8448EncryptedExtensions} {
		enc := unhex(f, s)
		f.Add(enc[0], enc[4:])
	}
	f.Add(byte(TypeServerHello), shBody(HelloRetryRequestRandom[:], ext(ExtKeyShare, 0, 0x1d)))
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		for _, newMsg := range []func(MsgType) message{newMessage, newMessage12} {
			m := newMsg(MsgType(typ))
			if m == nil || m.Unmarshal(body) != nil {
				continue
			}
			enc := m.Append(nil)
			require.Equal(t, typ, enc[0])
			again := newMsg(MsgType(typ))
			require.NoError(t, again.Unmarshal(enc[4:]))
			require.Equal(t, enc, again.Append(nil))
		}
	})
}
