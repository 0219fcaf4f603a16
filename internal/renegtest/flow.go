package renegtest

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/peers"
)

// ClientHello2 marks a renegotiation's ClientHello in -trace output.
var ClientHello2 = Mark{S: "ClientHello, Length=", N: 2}

// Sync reads in the foreground, for the steps before a test starts its
// background reader.
type Sync struct{ R io.Reader }

// Expect reads len(want) bytes, which must be want.
func (s Sync) Expect(t testing.TB, want string) {
	t.Helper()
	got := make([]byte, len(want))
	_, err := io.ReadFull(s.R, got)
	require.NoError(t, err, "tlsm read")
	require.Equal(t, want, string(got), "tlsm read")
}

// PingPong checks application data both ways between tlsm (writing to w,
// reading through r) and an s_server or s_client p, which prints what it
// reads and sends its standard input.
func PingPong(t testing.TB, p *peers.Proc, w io.Writer, r Expecter, tag string) {
	t.Helper()
	_, err := w.Write([]byte("to-peer-" + tag + "\n"))
	require.NoError(t, err)
	p.WaitOutput(t, "to-peer-"+tag+"\n", Wait)
	p.Send("from-peer-" + tag)
	r.Expect(t, "from-peer-"+tag+"\n")
}

// CheckHandshakes checks the handshakes tlsm completed: n in all, the
// first not resumed, the last resumed or not. A listener's Conn may have
// been watched only after its first handshake: its log starts at the
// second.
func CheckHandshakes(t testing.TB, log *Log, n int, resumed bool) {
	t.Helper()
	hs := log.Handshakes()
	require.NotEmpty(t, hs, "tlsm handshakes")
	if hs[0].Handshake == 1 {
		assert.False(t, hs[0].Resumed, "first handshake resumed")
		hs = hs[1:]
	}
	require.Len(t, hs, n-1, "tlsm renegotiations")
	for i, ev := range hs {
		assert.Equal(t, i+2, ev.Handshake, "handshake number")
	}
	if n > 1 {
		assert.Equal(t, resumed, hs[n-2].Resumed, "handshake %d resumed", n)
	}
}

// CheckTrace checks the messages of a renegotiation in openssl's trace:
// a ClientHello, a ServerHello and both Finished, and Certificate
// messages (and the key exchange) only in a full handshake.
func CheckTrace(t testing.TB, msgs []Msg, opensslIsServer, full bool) {
	t.Helper()
	assert.True(t, Has(msgs, !opensslIsServer, "ClientHello"), "ClientHello in %v", msgs)
	assert.True(t, Has(msgs, opensslIsServer, "ServerHello"), "ServerHello in %v", msgs)
	assert.Equal(t, full, Has(msgs, opensslIsServer, "Certificate"), "server Certificate in %v", msgs)
	assert.Equal(t, full, Has(msgs, opensslIsServer, "ServerKeyExchange"), "ServerKeyExchange in %v", msgs)
	assert.Equal(t, full, Has(msgs, !opensslIsServer, "ClientKeyExchange"), "ClientKeyExchange in %v", msgs)
	assert.True(t, Finished(msgs), "Finished both ways in %v", msgs)
}

// countAfter counts s in out after the marker.
func countAfter(out string, marker Mark, s string) int {
	i := Index(out, marker)
	if i < 0 {
		return 0
	}
	return strings.Count(out[i:], s)
}

// WaitCount waits until s occurs n times after marker in p's output.
func WaitCount(t testing.TB, p *peers.Proc, marker Mark, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for countAfter(p.Stdout(), marker, s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("openssl: %d× %q after %v not seen within %v", n, s, marker, Wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
