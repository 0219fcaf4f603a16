package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRun: the example serves, fetches over HTTP/2 and over HTTP/1.1,
// and shuts down.
func TestRun(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run("", &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	require.Contains(t, lines[1], `200 OK: hello over HTTP/2.0, TLS 0x304, ALPN "h2"`)
	require.Contains(t, lines[2], `200 OK: hello over HTTP/1.1, TLS 0x304, ALPN "http/1.1"`)
}
