package fsm_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

// keyUpdates records the key update events of a pair.
type keyUpdates struct {
	sent, received map[string][]fsm.KeyUpdateType
}

func traceKeyUpdates(p *memconn.Pair) *keyUpdates {
	k := &keyUpdates{sent: map[string][]fsm.KeyUpdateType{}, received: map[string][]fsm.KeyUpdateType{}}
	p.Trace = func(s *memconn.Side, ev fsm.Event) {
		switch ev.Kind {
		case fsm.EventKeyUpdateSent:
			k.sent[s.Name] = append(k.sent[s.Name], ev.KeyUpdate)
		case fsm.EventKeyUpdateReceived:
			k.received[s.Name] = append(k.received[s.Name], ev.KeyUpdate)
		}
	}
	return k
}

func connectedPair(t testing.TB) *memconn.Pair {
	cc, sc := configs(t, testcert.ECDSAP256)
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	return p
}

func TestKeyUpdateScheduledThenSentOnWrite(t *testing.T) {
	p := connectedPair(t)
	ku := traceKeyUpdates(p)
	c := p.Client.Conn
	require.NoError(t, c.KeyUpdate(fsm.UpdateNotRequested))
	require.Equal(t, fsm.UpdateNotRequested, c.PendingKeyUpdate())
	p.Pump()
	require.Empty(t, ku.sent["client"], "scheduled, not sent before I/O")
	require.NoError(t, c.KeyUpdate(fsm.UpdateRequested))
	require.NoError(t, c.KeyUpdate(fsm.UpdateNotRequested))
	require.Equal(t, fsm.UpdateRequested, c.PendingKeyUpdate(), "requested wins")
	require.NoError(t, p.Write(p.Client, []byte("after")))
	require.Equal(t, fsm.KeyUpdateNone, c.PendingKeyUpdate())
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateRequested}, ku.sent["client"])
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateRequested}, ku.received["server"])
	require.Equal(t, "after", string(p.Server.Received))
	// The server owes an answer, sent before its next application data.
	require.Equal(t, fsm.UpdateNotRequested, p.Server.Conn.PendingKeyUpdate())
	require.NoError(t, p.Write(p.Server, []byte("reply")))
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateNotRequested}, ku.sent["server"])
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateNotRequested}, ku.received["client"])
	require.Equal(t, "reply", string(p.Client.Received))
}

func TestKeyUpdateHandshakeForcesIt(t *testing.T) {
	p := connectedPair(t)
	ku := traceKeyUpdates(p)
	require.NoError(t, p.Server.Conn.KeyUpdate(fsm.UpdateNotRequested))
	require.NoError(t, p.Server.Conn.Handshake(p.Now))
	p.Pump()
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateNotRequested}, ku.sent["server"])
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateNotRequested}, ku.received["client"])
	require.Empty(t, ku.sent["client"], "not_requested needs no answer")
}

func TestKeyUpdateHandleDataPerformsScheduled(t *testing.T) {
	p := connectedPair(t)
	ku := traceKeyUpdates(p)
	require.NoError(t, p.Client.Conn.KeyUpdate(fsm.UpdateNotRequested))
	require.NoError(t, p.Client.Conn.HandleData(p.Now, nil))
	p.Pump()
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateNotRequested}, ku.sent["client"])
}

func TestKeyUpdateManyRequestsOneAnswer(t *testing.T) {
	p := connectedPair(t)
	ku := traceKeyUpdates(p)
	for i := 0; i < 5; i++ {
		require.NoError(t, p.Client.Conn.KeyUpdate(fsm.UpdateRequested))
		require.NoError(t, p.Client.Conn.Handshake(p.Now))
		p.Pump()
	}
	require.Len(t, ku.received["server"], 5)
	require.Empty(t, ku.sent["server"])
	require.NoError(t, p.Write(p.Server, []byte("x")))
	require.NoError(t, p.Write(p.Server, []byte("y")))
	require.Equal(t, []fsm.KeyUpdateType{fsm.UpdateNotRequested}, ku.sent["server"], "exactly one answer")
	require.Equal(t, "xy", string(p.Client.Received))
}

func TestKeyUpdateRefusals(t *testing.T) {
	p := connectedPair(t)
	require.ErrorIs(t, p.Client.Conn.KeyUpdate(fsm.KeyUpdateNone), fsm.ErrInvalidKeyUpdateType)
	require.ErrorIs(t, p.Client.Conn.KeyUpdate(fsm.KeyUpdateType(9)), fsm.ErrInvalidKeyUpdateType)

	cc, sc := configs(t, testcert.ECDSAP256)
	fresh := fsm.NewClient(cc)
	require.ErrorIs(t, fresh.KeyUpdate(fsm.UpdateRequested), fsm.ErrHandshakeIncomplete)
	require.NoError(t, fresh.Start(p.Now))
	require.ErrorIs(t, fresh.KeyUpdate(fsm.UpdateRequested), fsm.ErrHandshakeIncomplete)
	_ = sc

	require.NoError(t, p.Client.Conn.Close(p.Now))
	require.ErrorIs(t, p.Client.Conn.KeyUpdate(fsm.UpdateRequested), fsm.ErrClosed)
}

// injectKeyUpdate sends a raw KeyUpdate message body from the client
// through the real record layer by replacing the next application data.
func TestKeyUpdateBadValue(t *testing.T) {
	p := connectedPair(t)
	require.NoError(t, p.Client.Conn.KeyUpdate(fsm.UpdateNotRequested))
	p.Tamper = func(from *memconn.Side, b []byte) []byte { return b }
	// Build the tampered message by asking the client to send a KeyUpdate
	// whose value we cannot set through the API: feed it to the server as
	// a handshake message protected under the client's keys.
	wire := sealAsClient(t, p, (&flights.KeyUpdate{RequestUpdate: 2}).Append(nil))
	err := p.Server.Conn.HandleData(p.Now, wire)
	require.ErrorIs(t, err, fsm.Alert(47)) // illegal_parameter
}

func TestKeyUpdateNotAtRecordBoundary(t *testing.T) {
	p := connectedPair(t)
	msg := (&flights.KeyUpdate{RequestUpdate: 0}).Append(nil)
	msg = append(msg, byte(flights.TypeKeyUpdate), 0) // start of another message
	wire := sealAsClient(t, p, msg)
	err := p.Server.Conn.HandleData(p.Now, wire)
	require.ErrorIs(t, err, fsm.Alert(10)) // unexpected_message
}

func TestKeyUpdateFlood(t *testing.T) {
	for _, limit := range []int{0, 3} {
		cc, sc := configs(t, testcert.ECDSAP256)
		sc.MaxKeyUpdatesWithoutData = limit
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		want := limit
		if want == 0 {
			want = fsm.DefaultMaxKeyUpdatesWithoutData
		}
		for i := 0; i < want; i++ {
			require.NoError(t, p.Client.Conn.KeyUpdate(fsm.UpdateNotRequested))
			require.NoError(t, p.Client.Conn.Handshake(p.Now))
			p.Pump()
			require.False(t, p.Server.Closed, "update %d", i)
		}
		// Application data resets the count.
		require.NoError(t, p.Write(p.Client, []byte("d")))
		for i := 0; i <= want; i++ {
			require.NoError(t, p.Client.Conn.KeyUpdate(fsm.UpdateNotRequested))
			require.NoError(t, p.Client.Conn.Handshake(p.Now))
			p.Pump()
		}
		require.True(t, p.Server.Closed)
		require.ErrorIs(t, p.Server.CloseErr, fsm.Alert(10))
		require.Equal(t, []fsm.Alert{10}, p.Client.Alerts)
	}
}

func TestKeyUpdateAutomaticAtRecordLimit(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.KeyUpdateAfterRecords = 10
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	ku := traceKeyUpdates(p)
	for i := 0; i < 35; i++ {
		require.NoError(t, p.Write(p.Client, []byte{byte(i)}))
	}
	require.Len(t, p.Server.Received, 35)
	require.GreaterOrEqual(t, len(ku.sent["client"]), 3)
	for _, k := range ku.sent["client"] {
		require.Equal(t, fsm.UpdateNotRequested, k)
	}
}

// TestKeyUpdateRandom runs 10,000 key updates of random type from both
// sides interleaved with random writes: every byte arrives once, in order.
func TestKeyUpdateRandom(t *testing.T) {
	p := connectedPair(t)
	rng := rand.New(rand.NewPCG(7, 8))
	p.Chunk = func(n int) int { return 1 + rng.IntN(n) }
	ku := traceKeyUpdates(p)
	want := map[*memconn.Side][]byte{}
	updates := 0
	for updates < 10000 {
		s := p.Client
		if rng.IntN(2) == 0 {
			s = p.Server
		}
		switch rng.IntN(3) {
		case 0, 1:
			require.NoError(t, s.Conn.KeyUpdate(fsm.KeyUpdateType(1+rng.IntN(2))))
			updates++
			if rng.IntN(4) == 0 {
				require.NoError(t, s.Conn.Handshake(p.Now))
			}
		case 2:
			msg := make([]byte, rng.IntN(3000))
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			peer := p.Server
			if s == p.Server {
				peer = p.Client
			}
			want[peer] = append(want[peer], msg...)
			_, err := s.Conn.Write(p.Now, msg)
			require.NoError(t, err)
		}
		p.Pump()
		require.False(t, p.Client.Closed || p.Server.Closed)
	}
	require.Equal(t, want[p.Server], p.Server.Received)
	require.Equal(t, want[p.Client], p.Client.Received)
	total := len(ku.sent["client"]) + len(ku.sent["server"])
	require.Greater(t, total, 1000)
	require.Equal(t, len(ku.sent["client"]), len(ku.received["server"]))
	require.Equal(t, len(ku.sent["server"]), len(ku.received["client"]))
}

// sealAsClient protects payload as a handshake record from the client.
func sealAsClient(t *testing.T, p *memconn.Pair, payload []byte) []byte {
	t.Helper()
	return p.Client.Conn.SealForTest(payload)
}

func TestKeyUpdateRefusedInTLS12(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	require.ErrorIs(t, p.Client.Conn.KeyUpdate(fsm.UpdateNotRequested), fsm.ErrNotTLS13)
	require.Equal(t, fsm.KeyUpdateNone, p.Client.Conn.PendingKeyUpdate())
	// A KeyUpdate message on a TLS 1.2 connection is unexpected.
	wire := sealAsClient(t, p, (&flights.KeyUpdate{}).Append(nil))
	err := p.Server.Conn.HandleData(p.Now, wire)
	require.ErrorIs(t, err, fsm.Alert(10))
}
