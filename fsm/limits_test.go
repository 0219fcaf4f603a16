package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// TestLimitIdleRecords: empty application data records are allowed, but
// not more than MaxIdleRecords in a row.
func TestLimitIdleRecords(t *testing.T) {
	for _, v := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		p := connectedPair(t)
		if v == fsm.VersionTLS12 {
			p = tls12Pair(t, nil)
		}
		// Interleaved with data, any number of empty records is fine.
		for i := 0; i < 3*fsm.MaxIdleRecords; i++ {
			payload := []byte{}
			if i%10 == 0 {
				payload = []byte("x")
			}
			require.NoError(t, p.Server.Conn.HandleData(p.Now, p.Client.Conn.SealAppDataForTest(payload)))
		}
		require.False(t, p.Server.Closed)
		// A flood is refused.
		var flood []byte
		for i := 0; i <= fsm.MaxIdleRecords; i++ {
			flood = append(flood, p.Client.Conn.SealAppDataForTest(nil)...)
		}
		err := p.Server.Conn.HandleData(p.Now, flood)
		require.ErrorIs(t, err, fsm.Alert(10), fsm.VersionName(v))
	}
}

// TestLimitPostHandshakeMessages: the limit on KeyUpdates also covers
// NewSessionTickets.
func TestLimitPostHandshakeMessages(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxKeyUpdatesWithoutData = 4
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	var flood []byte
	for i := 0; i < 5; i++ {
		flood = append(flood, p.Server.Conn.SealForTest(newSessionTicket())...)
	}
	err := p.Client.Conn.HandleData(p.Now, flood)
	require.ErrorIs(t, err, fsm.Alert(10))
}

// TestLimitQueuedOutput: a caller that never drains its events is stopped
// at MaxQueuedOutput instead of growing the buffer without end.
func newSessionTicket() []byte {
	return (&flights.NewSessionTicket{Lifetime: 60, Nonce: []byte{1}, Ticket: []byte("ticket")}).Append(nil)
}

func TestLimitQueuedOutput(t *testing.T) {
	p := connectedPair(t)
	c := p.Client.Conn
	chunk := make([]byte, 1<<20)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = c.Write(p.Now, chunk)
	}
	require.ErrorIs(t, err, fsm.ErrOutputFull)
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
	}
	_, err = c.Write(p.Now, chunk)
	require.NoError(t, err, "draining the events frees the queue")
}

// TestLimitRecordsPerDatagram: records past MaxRecordsPerDatagram in one
// datagram are dropped.
func TestLimitRecordsPerDatagram(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	l := newDgramLink(t, cc, sc)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	var d []byte
	for i := 0; i < fsm.MaxRecordsPerDatagram+10; i++ {
		d = append(d, l.client.conn.SealDatagramRecordForTest(record.TypeApplicationData, []byte{byte(i)})...)
	}
	require.NoError(t, l.server.conn.HandleDatagram(l.now, d))
	l.drain(l.server)
	require.Len(t, l.server.received, fsm.MaxRecordsPerDatagram)
}

// TestLimitFragmentsPerDatagram: handshake fragments past
// MaxFragmentsPerDatagram in one datagram are dropped, so a datagram
// cannot make a receiver do work in proportion to anything but its
// size, and a bounded part of that.
func TestLimitFragmentsPerDatagram(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	now := time.Now()
	client := fsm.NewDTLSClient(cc)
	require.NoError(t, client.Start(now))
	rec, _, err := record.ParseDTLSRecord(nextTransmit(t, client))
	require.NoError(t, err)
	// junk fragments come first: HelloRequests, which a server ignores.
	withJunk := func(junk int) []byte {
		var payload []byte
		for range junk {
			payload = flights.AppendFragment(payload, flights.Fragment{Type: flights.TypeHelloRequest})
		}
		payload = append(payload, rec.Payload...)
		return record.AppendDTLSPlain(nil, record.TypeHandshake, record.VersionDTLS10, 0, rec.Seq, payload)
	}
	answers := func(d []byte) bool {
		s := fsm.NewDTLSServer(sc, []byte("192.0.2.1:4444"))
		require.NoError(t, s.HandleDatagram(now, d))
		for ev := s.NextEvent(); ev.Kind != fsm.EventNone; ev = s.NextEvent() {
			if ev.Kind == fsm.EventTransmit {
				return true
			}
		}
		return false
	}
	require.True(t, answers(withJunk(fsm.MaxFragmentsPerDatagram-1)), "the ClientHello is the last fragment allowed")
	require.False(t, answers(withJunk(fsm.MaxFragmentsPerDatagram)), "the ClientHello is one fragment too many")
}
