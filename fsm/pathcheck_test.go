package fsm_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// pathLink is a connected DTLS pair of the given version with Connection
// IDs both ways, edited by edit.
func pathLink(t *testing.T, version uint16, edit func(cc, sc *fsm.Config)) *dgramLink {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	cc.MaxVersion, sc.MaxVersion = version, version
	sc.InsecureSkipHelloVerify = true
	cc.ConnectionIDs, sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}, &fsm.ConnectionIDs{Length: 8}
	if edit != nil {
		edit(cc, sc)
	}
	l := newDgramLink(t, cc, sc)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, 1, l.client.done)
	return l
}

// answer hands the client a datagram and returns what it sends back.
func (l *dgramLink) answer(t *testing.T, d []byte) [][]byte {
	require.NoError(t, l.client.conn.HandleDatagram(l.now, d))
	l.drain(l.client)
	out := l.server.inbox
	l.server.inbox = nil
	return out
}

// TestPathCheck: with Connection IDs both sides negotiate the return
// routability check (RFC 9853), over DTLS 1.2 and 1.3. The server's
// path_challenge is answered at once with its cookie; the answer to the
// latest challenge, and only that, reports EventPathValidated, once.
func TestPathCheck(t *testing.T) {
	for _, version := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		t.Run(fsm.VersionName(version), func(t *testing.T) {
			l := pathLink(t, version, nil)
			for _, s := range []*dgramSide{l.client, l.server} {
				require.True(t, s.conn.ConnectionState().ReturnRoutabilityCheck)
			}
			first, err := l.server.conn.PathChallenge(l.now)
			require.NoError(t, err)
			second, err := l.server.conn.PathChallenge(l.now) // replaces the first
			require.NoError(t, err)
			stale := l.answer(t, first)
			require.Len(t, stale, 1, "one path_response per challenge")
			fresh := l.answer(t, second)
			require.Len(t, fresh, 1)

			before := len(l.server.events)
			require.NoError(t, l.server.conn.HandleDatagram(l.now, stale[0]))
			l.drain(l.server)
			require.NotContains(t, l.server.events[before:], fsm.EventPathValidated, "the answer to a challenge replaced")
			require.NoError(t, l.server.conn.HandleDatagram(l.now, fresh[0]))
			require.NoError(t, l.server.conn.HandleDatagram(l.now, fresh[0]))
			l.drain(l.server)
			validated := 0
			for _, k := range l.server.events[before:] {
				if k == fsm.EventPathValidated {
					validated++
				}
			}
			require.Equal(t, 1, validated, "reported once")
			require.NoError(t, l.server.conn.Err())
			require.NoError(t, l.client.conn.Err())
		})
	}
}

// TestPathCheckNotNegotiated: a side that skips the check offers and
// accepts none, and PathChallenge says so; without Connection IDs there
// is none either.
func TestPathCheckNotNegotiated(t *testing.T) {
	for name, edit := range map[string]func(cc, sc *fsm.Config){
		"client skips": func(cc, _ *fsm.Config) { cc.ConnectionIDs.SkipReturnRoutabilityCheck = true },
		"server skips": func(_, sc *fsm.Config) { sc.ConnectionIDs.SkipReturnRoutabilityCheck = true },
		"no CIDs":      func(cc, sc *fsm.Config) { cc.ConnectionIDs, sc.ConnectionIDs = nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			l := pathLink(t, fsm.VersionTLS13, edit)
			for _, s := range []*dgramSide{l.client, l.server} {
				require.False(t, s.conn.ConnectionState().ReturnRoutabilityCheck)
				_, err := s.conn.PathChallenge(l.now)
				require.ErrorIs(t, err, fsm.ErrNoPathCheck)
			}
		})
	}
}
