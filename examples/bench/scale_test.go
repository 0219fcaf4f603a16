package main

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/benchsuite"
)

// TestMain lets the scale figures run this test binary as their server
// process, as they run the bench command.
func TestMain(m *testing.M) {
	if served, err := serveScaleIfAsked(); served {
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestScaleFigures runs the scale figures small: every server, in a
// process of its own, takes every connection; tlsm's without a
// goroutine per connection, pion's with one or more.
func TestScaleFigures(t *testing.T) {
	const conns = 200
	res, err := runScale(scaleOptions{conns: conns, inFlight: 16, idle: 200 * time.Millisecond})
	require.NoError(t, err)
	libraries := []string{benchsuite.ScaleTLSM, benchsuite.ScalePion, benchsuite.ScaleTLS, benchsuite.ScaleGoTLS,
		benchsuite.ScaleTLSM, benchsuite.ScaleTLSMSingle}
	require.Len(t, res, len(libraries))
	for i, library := range libraries {
		s := res[i]
		require.Equal(t, library, s.Library)
		require.Equal(t, conns, s.Conns)
		require.Positive(t, s.HandshakesPerSec, library)
		require.Positive(t, s.ServerCPUPerHandshake, library)
		require.Positive(t, s.BytesPerConn, library)
	}
	require.Less(t, res[0].GoroutinesPerConn, 0.05)
	require.GreaterOrEqual(t, res[1].GoroutinesPerConn, 1.0)
	require.Less(t, res[2].GoroutinesPerConn, 0.05)
	require.Equal(t, res[0], res[4], "tlsm's DTLS server is measured once")
	require.Less(t, res[5].GoroutinesPerConn, 0.05)

	var out bytes.Buffer
	writeScale(&out, res)
	require.Contains(t, out.String(), "200 DTLS 1.2 associations on one server socket")
	require.Contains(t, out.String(), "200 TLS 1.3 connections over TCP to one listener")
	require.Contains(t, out.String(), "server memory per idle connection")
	require.Contains(t, out.String(), "dtls.Listen a datagram per system call")
}
