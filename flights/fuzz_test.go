package flights

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/record"
)

// FuzzUnmarshal decodes arbitrary bodies as the message type typ, in its
// TLS 1.3 form and, where one exists, its TLS 1.2 and DTLS forms. Decoding must
// never panic, and a decoded message must encode to bytes that decode
// again and re-encode identically.
func FuzzUnmarshal(f *testing.F) {
	for _, msgs := range []map[string]message{sampleMessages(), sampleMessages12(), sampleMessagesDTLS()} {
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
	f.Add(byte(0), (&ACK{Records: []RecordNumber{{2, 0}, {3, 7}}}).Append(nil))
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		// A DTLS 1.3 ACK body (no handshake header) that parses encodes
		// back to the same bytes.
		var ack ACK
		if ack.Unmarshal(body) == nil {
			require.Equal(t, body, ack.Append(nil))
		}
		for _, newMsg := range []func(MsgType) message{newMessage, newMessage12, newMessageDTLS} {
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

// Limits of the Reassembler that FuzzReassembly drives.
const (
	fuzzMaxMessage  = 600
	fuzzMaxBuffered = 1500
)

// FuzzReassembly reads arbitrary bytes as a sequence of DTLS handshake
// fragments, skipping a byte wherever no fragment parses, and feeds them to
// a Reassembler. It must never panic, Buffered must stay within
// maxBuffered + ReassemblyCost(maxMessage) and in proportion to the bytes
// the fragments carried, errors must be alerts, and
// every message released must be in order and in well-formed
// whole-message form.
func FuzzReassembly(f *testing.F) {
	var flight []byte
	for i, m := range []message{sampleClientHello(), &ServerHelloDone{}, &Finished{VerifyData: fill(0xf0, 12)}} {
		flight = ToDTLS(flight, m.Append(nil), uint16(i))
	}
	f.Add(flight)
	var pieces [][]byte
	for i, m := range []message{sampleServerKeyExchange(), &ServerHelloDone{}, sampleCertificate()} {
		AppendFragments(nil, ToDTLS(nil, m.Append(nil), uint16(i)), 100, func(frag []byte) {
			pieces = append(pieces, frag)
		})
	}
	f.Add(bytes.Join(pieces, nil))
	for i, j := 0, len(pieces)-1; i < j; i, j = i+1, j-1 {
		pieces[i], pieces[j] = pieces[j], pieces[i]
	}
	f.Add(bytes.Join(pieces, []byte{0xff}))
	f.Add(cat(AppendFragment(nil, frag(0, 4, 0, []byte{1, 2})), AppendFragment(nil, frag(0, 4, 1, []byte{3, 4}))))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReassembler(fuzzMaxMessage, fuzzMaxBuffered)
		bound := fuzzMaxBuffered + ReassemblyCost(fuzzMaxMessage)
		sent, fragments := 0, 0 // what is held follows the bytes and fragments added
		for len(data) > 0 {
			fr, rest, err := ParseFragment(data)
			if err != nil {
				data = data[1:]
				continue
			}
			data = rest
			next := r.NextSeq()
			old, err := r.Add(fr)
			if err != nil {
				require.Equal(t, record.AlertIllegalParameter, err)
				require.False(t, old)
			} else {
				require.Equal(t, fr.Seq < next, old)
			}
			require.LessOrEqual(t, r.Buffered(), bound)
			sent, fragments = sent+len(fr.Data), fragments+1
			require.LessOrEqual(t, r.Buffered(), heldBound(sent, fragments))
			require.Equal(t, r.footprints(), r.Buffered())
			for {
				typ, body, raw, ok := r.Next()
				if !ok {
					break
				}
				whole, rest, err := ParseFragment(raw)
				require.NoError(t, err)
				require.Empty(t, rest)
				require.Equal(t, Fragment{Type: typ, Length: uint32(len(body)), Seq: next, Data: body}, whole)
				next++
				require.Equal(t, next, r.NextSeq())
			}
		}
	})
}
