package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

func tls12Pair(t *testing.T, edit func(cc, sc *fsm.Config)) *memconn.Pair {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	if edit != nil {
		edit(cc, sc)
	}
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	return p
}

// renegotiationLog records renegotiation and handshake events by side.
type renegotiationLog struct {
	requested, started map[string]int
	handshakes         map[string][]fsm.Event
}

func watchRenegotiation(p *memconn.Pair) *renegotiationLog {
	l := &renegotiationLog{requested: map[string]int{}, started: map[string]int{}, handshakes: map[string][]fsm.Event{}}
	p.Trace = func(s *memconn.Side, ev fsm.Event) {
		switch ev.Kind {
		case fsm.EventRenegotiationRequested:
			l.requested[s.Name]++
		case fsm.EventRenegotiationStarted:
			l.started[s.Name]++
		case fsm.EventHandshakeDone:
			l.handshakes[s.Name] = append(l.handshakes[s.Name], ev)
		}
	}
	return l
}

func TestRenegotiateClientFullAndAbbreviated(t *testing.T) {
	p := tls12Pair(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
	log := watchRenegotiation(p)
	c := p.Client.Conn
	require.NoError(t, c.Renegotiate())
	require.True(t, c.RenegotiatePending())
	p.Pump()
	require.True(t, c.RenegotiatePending(), "scheduled, not started before I/O")
	require.NoError(t, p.Write(p.Client, []byte("during")))
	require.False(t, c.RenegotiatePending())
	require.Equal(t, "during", string(p.Server.Received))
	require.Len(t, log.handshakes["client"], 1)
	require.Equal(t, 2, log.handshakes["client"][0].Handshake)
	require.False(t, log.handshakes["client"][0].Resumed, "Renegotiate never resumes")

	p.Now = p.Now.Add(fsm.DefaultMinRenegotiationInterval)
	require.NoError(t, c.RenegotiateAbbreviated())
	require.NoError(t, c.Handshake())
	p.Pump()
	require.Len(t, log.handshakes["server"], 2)
	require.Equal(t, 3, log.handshakes["server"][1].Handshake)
	require.True(t, log.handshakes["server"][1].Resumed, "RenegotiateAbbreviated resumes")
	require.NoError(t, p.Write(p.Server, []byte("after")))
	require.Equal(t, "after", string(p.Client.Received))
}

// TestHelloRequestResumption is the per-transport rule: a TLS client
// answering a HelloRequest resumes the session.
func TestHelloRequestResumesOverTLS(t *testing.T) {
	p := tls12Pair(t, nil)
	log := watchRenegotiation(p)
	s := p.Server.Conn
	require.NoError(t, s.Renegotiate())
	require.True(t, s.RenegotiatePending())
	require.NoError(t, s.Handshake())
	require.True(t, s.RenegotiatePending(), "the request waits for the client's answer")
	p.Pump()
	require.False(t, s.RenegotiatePending())
	require.Equal(t, 1, log.requested["client"])
	require.Len(t, log.handshakes["client"], 1)
	require.True(t, log.handshakes["client"][0].Resumed)
	require.Equal(t, 2, p.Client.Conn.ConnectionState().Handshakes)
}

func TestClientRenegotiationRefusedByDefault(t *testing.T) {
	p := tls12Pair(t, nil)
	require.NoError(t, p.Client.Conn.Renegotiate())
	require.NoError(t, p.Client.Conn.Handshake())
	p.Pump()
	require.Equal(t, []fsm.Alert{100}, p.Client.Alerts) // no_renegotiation
	require.False(t, p.Client.Closed)
	// A refused renegotiation never wedges the connection: the client is
	// back where it was, and data flows both ways.
	require.Equal(t, fsm.StateClientConnected12, p.Client.Conn.State())
	require.NoError(t, p.Write(p.Server, []byte("still here")))
	require.NoError(t, p.Write(p.Client, []byte("me too")))
	require.Equal(t, "still here", string(p.Client.Received))
	require.Equal(t, "me too", string(p.Server.Received))
}

func TestRenegotiationErrors(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	fresh := fsm.NewClient(cc)
	require.ErrorIs(t, fresh.Renegotiate(), fsm.ErrHandshakeIncomplete)

	p13 := memconn.New(cc, sc)
	require.NoError(t, p13.Handshake())
	require.ErrorIs(t, p13.Client.Conn.Renegotiate(), fsm.ErrNotTLS12)
	require.ErrorIs(t, p13.Server.Conn.RenegotiateAbbreviated(), fsm.ErrNotTLS12)

	never := tls12Pair(t, func(cc, sc *fsm.Config) { cc.Renegotiation = fsm.RenegotiateNever })
	require.ErrorIs(t, never.Client.Conn.Renegotiate(), fsm.ErrRenegotiationDisabled)

	closed := tls12Pair(t, nil)
	require.NoError(t, closed.Client.Conn.Close())
	require.ErrorIs(t, closed.Client.Conn.Renegotiate(), fsm.ErrClosed)
}

func TestClientRenegotiationLimits(t *testing.T) {
	p := tls12Pair(t, func(cc, sc *fsm.Config) {
		sc.AllowClientRenegotiation = true
		sc.MaxRenegotiations = 2
	})
	renegotiate := func() {
		require.NoError(t, p.Client.Conn.Renegotiate())
		require.NoError(t, p.Client.Conn.Handshake())
		p.Pump()
	}
	renegotiate()
	require.Empty(t, p.Client.Alerts)
	renegotiate() // too soon
	require.Equal(t, []fsm.Alert{100}, p.Client.Alerts)
	p.Now = p.Now.Add(time.Minute)
	renegotiate()
	require.Equal(t, []fsm.Alert{100}, p.Client.Alerts, "allowed again after the interval")
	q := tls12Pair(t, func(cc, sc *fsm.Config) {
		sc.AllowClientRenegotiation = true
		sc.MaxRenegotiations = 1
	})
	require.NoError(t, q.Client.Conn.Renegotiate())
	require.NoError(t, q.Client.Conn.Handshake())
	q.Pump()
	require.Empty(t, q.Client.Alerts)
	q.Now = q.Now.Add(time.Minute)
	require.NoError(t, q.Client.Conn.Renegotiate())
	require.NoError(t, q.Client.Conn.Handshake())
	q.Pump()
	require.Equal(t, []fsm.Alert{100}, q.Client.Alerts)
}
