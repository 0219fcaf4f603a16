package tls_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/renegtest"
)

// renegClientHello2 marks a renegotiation ClientHello in -trace output.
var renegClientHello2 = renegtest.Mark{S: "ClientHello, Length=", N: 2}

// renegCountAfter counts s in out after the marker.
func renegCountAfter(out string, marker renegtest.Mark, s string) int {
	i := renegtest.Index(out, marker)
	if i < 0 {
		return 0
	}
	return strings.Count(out[i:], s)
}

// renegSync reads in the foreground, for the steps before a test starts
// its background reader.
type renegSync struct{ r io.Reader }

func (s renegSync) Expect(t testing.TB, want string) {
	t.Helper()
	got := make([]byte, len(want))
	_, err := io.ReadFull(s.r, got)
	require.NoError(t, err, "tlsm read")
	require.Equal(t, want, string(got), "tlsm read")
}

// renegWaitCount waits until s occurs n times after marker in p's output.
func renegWaitCount(t testing.TB, p *peers.Proc, marker renegtest.Mark, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(renegtest.Wait)
	for renegCountAfter(p.Stdout(), marker, s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("openssl: %d× %q after %v not seen within %v", n, s, marker, renegtest.Wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
