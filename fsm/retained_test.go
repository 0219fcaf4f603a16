package fsm_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
)

// TestDTLS13IdleRetainsNoFlight: once a DTLS 1.3 handshake is over and
// acknowledged, neither end keeps a flight to send again, nor the client
// the handshake's read keys: the server acknowledged its Finished, so
// nothing more comes under them. The server keeps its handshake read
// keys, to acknowledge again a Finished the client resends when the
// acknowledgement is lost.
func TestDTLS13IdleRetainsNoFlight(t *testing.T) {
	l := dtls13Link(t, nil)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, 1, l.client.done)
	messages, readKeys := l.client.conn.HandshakeRetainedForTest()
	require.Zero(t, messages, "client: messages of flights kept")
	require.False(t, readKeys, "client: handshake read keys kept")
	messages, readKeys = l.server.conn.HandshakeRetainedForTest()
	require.Zero(t, messages, "server: messages of flights kept")
	require.True(t, readKeys, "server: handshake read keys, for a resent Finished")
}

// TestDTLS12IdleRetainsLastFlightOnly: after a full DTLS 1.2 handshake
// the client, whose flight the server's last one answered, keeps none;
// the server keeps its last flight, which the client may ask for again.
func TestDTLS12IdleRetainsLastFlightOnly(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	l := newDgramLink(t, cc, sc)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, 1, l.client.done)
	messages, _ := l.client.conn.HandshakeRetainedForTest()
	require.Zero(t, messages, "client: messages of flights kept")
	messages, _ = l.server.conn.HandshakeRetainedForTest()
	require.Positive(t, messages, "server: its last flight")
}
