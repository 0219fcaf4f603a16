package fsm_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// dtls13Link is a dgramLink whose client and server enable DTLS 1.3.
func dtls13Link(t *testing.T, edit func(cc, sc *fsm.Config)) *dgramLink {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	// TODO(dtls13): the server's stateless HelloRetryRequest cookie.
	sc.InsecureSkipHelloVerify = true
	if edit != nil {
		edit(cc, sc)
	}
	return newDgramLink(t, cc, sc)
}

// TestDTLS13Handshake: a client and a server that enable DTLS 1.3
// negotiate it, exchange data both ways, and report it.
func TestDTLS13Handshake(t *testing.T) {
	l := dtls13Link(t, nil)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	for _, s := range []*dgramSide{l.client, l.server} {
		require.Equal(t, 1, s.done, "handshakes")
		require.NoError(t, s.conn.Err())
		require.Equal(t, record.VersionDTLS13, s.conn.ConnectionState().Version)
	}
	_, err := l.client.conn.Write(l.now, []byte("to the server"))
	require.NoError(t, err)
	_, err = l.server.conn.Write(l.now, []byte("to the client"))
	require.NoError(t, err)
	l.run(t, 100)
	require.Equal(t, "to the server", string(l.server.received))
	require.Equal(t, "to the client", string(l.client.received))
}

// TestDTLS13LostFinished: when the client's Finished is lost, the server
// sends its flight again, and the client answers with its Finished, the
// NewSessionTicket that came with the server's flight notwithstanding (it
// closed the client's flight, which was then never resent).
func TestDTLS13LostFinished(t *testing.T) {
	l := dtls13Link(t, nil)
	lost := false
	l.drop = func(from *dgramSide, d []byte) bool {
		if from == l.client && l.client.done == 1 && !lost {
			lost = true
			return true
		}
		return false
	}
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.True(t, lost)
	require.Equal(t, 1, l.server.done, "server handshakes")
	require.Contains(t, l.client.events, fsm.EventRetransmit, "the client sent its Finished again")
}
