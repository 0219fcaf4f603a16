package flights

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/record"
)

// flight returns three encoded messages of different sizes.
func flight() [][]byte {
	return [][]byte{
		sampleClientHello().Append(nil),
		(&Finished{VerifyData: fill(0xf0, 32)}).Append(nil),
		(&EndOfEarlyData{}).Append(nil),
		sampleCertificate().Append(nil),
	}
}

// drain returns copies of every complete message r holds.
func drain(t *testing.T, r *Reader) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		typ, body, raw, ok, err := r.Next()
		require.NoError(t, err)
		if !ok {
			return out
		}
		require.Equal(t, MsgType(raw[0]), typ)
		require.Equal(t, raw[4:], body)
		out = append(out, append([]byte(nil), raw...))
	}
}

func TestReaderByteAtATime(t *testing.T) {
	msgs := flight()
	stream := cat(msgs...)
	r := NewReader(1 << 16)
	var got [][]byte
	consumed := 0
	for i := range stream {
		r.Write(stream[i : i+1])
		for _, m := range drain(t, r) {
			got = append(got, m)
			consumed += len(m)
		}
		require.Equal(t, i+1-consumed, r.Buffered())
	}
	require.Equal(t, msgs, got)
	require.Zero(t, r.Buffered())
}

func TestReaderSeveralPerWrite(t *testing.T) {
	msgs := flight()
	r := NewReader(1 << 16)
	r.Write(cat(msgs...))
	require.Equal(t, msgs, drain(t, r))
	require.Zero(t, r.Buffered())

	// Records that each end in the middle of a message.
	stream := cat(msgs...)
	var got [][]byte
	for len(stream) > 0 {
		n := min(len(stream), 70)
		r.Write(stream[:n])
		stream = stream[n:]
		got = append(got, drain(t, r)...)
	}
	require.Equal(t, msgs, got)
	require.Zero(t, r.Buffered())
}

func TestReaderOversize(t *testing.T) {
	r := NewReader(100)
	r.Write([]byte{byte(TypeCertificate), 0, 0})
	_, _, _, ok, err := r.Next()
	require.False(t, ok)
	require.NoError(t, err)
	require.Equal(t, 3, r.Buffered())

	r.Write([]byte{101}) // the header is complete: reject before the body
	_, _, _, ok, err = r.Next()
	require.False(t, ok)
	require.Equal(t, record.AlertIllegalParameter, err)
	_, _, _, _, err = r.Next()
	require.Equal(t, record.AlertIllegalParameter, err, "the error sticks")

	r.Reset()
	require.Zero(t, r.Buffered())
	r.Write(cat([]byte{byte(TypeFinished), 0, 0, 100}, fill(1, 100)))
	typ, body, _, ok, err := r.Next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, TypeFinished, typ)
	require.Len(t, body, 100)
}

func TestReaderEmptyBody(t *testing.T) {
	r := NewReader(0)
	r.Write([]byte{byte(TypeEndOfEarlyData), 0, 0, 0})
	typ, body, raw, ok, err := r.Next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, TypeEndOfEarlyData, typ)
	require.Empty(t, body)
	require.Len(t, raw, 4)
}

func TestReaderBoundedMemory(t *testing.T) {
	msg := (&Finished{VerifyData: fill(0xf0, 48)}).Append(nil)
	r := NewReader(64)
	// Feed many messages, each split across two writes, so that every
	// write leaves a partial message behind.
	for i := 0; i < 1000; i++ {
		r.Write(msg[:10])
		drain(t, r)
		r.Write(msg[10:])
		require.Len(t, drain(t, r), 1)
	}
	require.LessOrEqual(t, cap(r.buf), 4*len(msg))
}

func TestReaderNoAllocs(t *testing.T) {
	msgs := flight()
	stream := cat(msgs...)
	r := NewReader(1 << 16)
	r.Write(stream) // grow the buffer once
	drain(t, r)
	allocs := testing.AllocsPerRun(100, func() {
		for i := 0; i < len(stream); i += 100 {
			r.Write(stream[i:min(i+100, len(stream))])
			for {
				_, _, _, ok, _ := r.Next()
				if !ok {
					break
				}
			}
		}
	})
	require.Zero(t, allocs)
}

// TestReaderRelease checks that Release keeps a partial message and drops
// only an empty buffer, after which reading goes on.
func TestReaderRelease(t *testing.T) {
	msg := (&Finished{VerifyData: fill(0xf0, 32)}).Append(nil)
	r := NewReader(0)
	r.Write(msg)
	r.Write(msg[:5])
	require.Len(t, drain(t, r), 1)
	r.Release()
	require.Equal(t, 5, r.Buffered(), "a partial message is kept")
	r.Write(msg[5:])
	require.Equal(t, [][]byte{msg}, drain(t, r))
	r.Release()
	require.Nil(t, r.buf)
	r.Write(msg)
	require.Equal(t, [][]byte{msg}, drain(t, r))
}

// TestReaderCertificateLimit: Certificate messages have a limit of their
// own; other messages keep the Reader's.
func TestReaderCertificateLimit(t *testing.T) {
	msg := func(typ MsgType, n int) []byte {
		return append([]byte{byte(typ), byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, n)...)
	}
	r := NewReader(100)
	r.SetCertificateLimit(1000)
	r.Write(msg(TypeCertificate, 1000))
	typ, body, _, ok, err := r.Next()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, TypeCertificate, typ)
	require.Len(t, body, 1000)
	for _, m := range [][]byte{msg(TypeCertificate, 1001), msg(TypeFinished, 101)} {
		r := NewReader(100)
		r.SetCertificateLimit(1000)
		r.Write(m[:4])
		_, _, _, _, err := r.Next()
		require.Equal(t, record.AlertIllegalParameter, err, "refused from its header")
	}
}
