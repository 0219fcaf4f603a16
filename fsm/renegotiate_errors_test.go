package fsm_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// TestRenegotiationWithoutRFC5746: with a peer that did not negotiate
// secure renegotiation, the API refuses to start one, and a client
// answers a HelloRequest with a warning no_renegotiation.
func TestRenegotiationWithoutRFC5746(t *testing.T) {
	p := tls12Pair(t, nil)
	p.Client.Conn.ForgetSecureRenegotiationForTest()
	require.ErrorIs(t, p.Client.Conn.Renegotiate(), fsm.ErrNoSecureRenegotiation)
	require.ErrorIs(t, p.Client.Conn.RenegotiateAbbreviated(), fsm.ErrNoSecureRenegotiation)
	require.NoError(t, p.Server.Conn.Renegotiate())
	require.NoError(t, p.Server.Conn.Handshake(p.Now))
	p.Pump()
	require.Equal(t, []fsm.Alert{record.AlertNoRenegotiation}, p.Server.Alerts)
	require.False(t, p.Server.Conn.RenegotiatePending(), "the refusal answers the request")
	require.NoError(t, p.Write(p.Server, []byte("still fine")))
	require.Equal(t, "still fine", string(p.Client.Received))
}
