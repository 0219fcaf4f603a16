package fsm_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// The ACKs of DTLS 1.3 (RFC 9147 §7): a flight sends again only what
// the peer did not acknowledge, stops once all of it is acknowledged,
// and an ACK during the handshake may not name a later epoch than its
// own.

// midHandshake13 is a DTLS 1.3 pair whose server has sent its flight
// (ServerHello to Finished), cut small by the MTU, which waits undelivered
// in the client's inbox.
func midHandshake13(t *testing.T) *dtPair {
	p := newDTPair(t, func(cc, sc *fsm.Config) {
		cc.CipherSuites = nil
		cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
		sc.InsecureSkipHelloVerify = true
		sc.MTU = 300
		// ECDH alone: the ServerHello, with no ML-KEM ciphertext, fits
		// the first datagram, so that the client has the handshake keys
		// whatever else of the flight it misses.
		cc.CurvePreferences = []fsm.CurveID{fsm.X25519}
	})
	p.start()
	p.step(p.server)
	require.NotEmpty(t, p.client.inbox)
	return p
}

// handshakeRecords13 counts the protected (epoch 2) records of datagrams.
func handshakeRecords13(t *testing.T, datagrams [][]byte) int {
	n := 0
	for _, rn := range recordNumbers13(t, datagrams) {
		if rn.Epoch == 2 {
			n++
		}
	}
	return n
}

// recordNumbers13 lists the numbers of the records of a first
// transmission: a plaintext record's from its header, a protected one's
// by its place, each epoch counting from 0.
func recordNumbers13(t *testing.T, datagrams [][]byte) []flights.RecordNumber {
	var rns []flights.RecordNumber
	var protected uint64
	for _, d := range datagrams {
		for len(d) > 0 {
			if !record.IsDTLS13Ciphertext(d[0]) {
				rec, rest, err := record.ParseDTLSRecord(d)
				require.NoError(t, err)
				rns = append(rns, flights.RecordNumber{Epoch: uint64(rec.Epoch), Seq: rec.Seq})
				d = rest
				continue
			}
			_, rest, err := record.ParseDTLS13Record(d, 0)
			require.NoError(t, err)
			rns = append(rns, flights.RecordNumber{Epoch: 2, Seq: protected})
			protected++
			d = rest
		}
	}
	return rns
}

// clientHandshakeACK is an ACK of records of the server's epoch 2 by
// their numbers, as the client would send it under its handshake keys.
func (p *dtPair) clientHandshakeACK(seqs ...uint64) []byte {
	var rns []flights.RecordNumber
	for _, s := range seqs {
		rns = append(rns, flights.RecordNumber{Epoch: 2, Seq: s})
	}
	return p.clientHandshakeACKOf(rns...)
}

// clientHandshakeACKOf is an ACK of rns under the client's handshake keys.
func (p *dtPair) clientHandshakeACKOf(rns ...flights.RecordNumber) []byte {
	secret := secretFrom(p.t, p.keyLog, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
	return sealUnder(p.t, cipher.SuiteByID(cipher.TLS_AES_128_GCM_SHA256), secret, 2, 40, record.TypeACK, ackOf(rns...))
}

// fireServerTimer runs the server's retransmission timer and returns what
// it sent.
func (p *dtPair) fireServerTimer(t *testing.T) [][]byte {
	require.False(t, p.server.deadline.IsZero(), "the server's timer is set")
	before := len(p.client.inbox)
	p.now = p.server.deadline
	p.server.deadline = p.now.Add(0)
	require.NoError(t, p.server.conn.HandleTimeout(p.now))
	p.drain(p.server)
	return p.client.inbox[before:]
}

// TestDTLS13PartialACK: an ACK of part of the server's flight leaves the
// rest to be sent again, and only the rest; the handshake completes.
func TestDTLS13PartialACK(t *testing.T) {
	p := midHandshake13(t)
	first := append([][]byte(nil), p.client.inbox...)
	sent := handshakeRecords13(t, first)
	require.Greater(t, sent, 3, "the flight in several records")

	p.inject(p.server, p.clientHandshakeACK(0, 1, 2))
	resent := p.fireServerTimer(t)
	require.Equal(t, sent-3, handshakeRecords13(t, resent), "only what the ACK left out is sent again")

	p.run() // both transmissions reach the client

	require.Equal(t, 1, p.client.done)
	require.Equal(t, 1, p.server.done)
}

// TestDTLS13FullACK: an ACK of the whole flight stops its retransmission
// (RFC 9147 §7.2 "MUST cancel"): the timer is cleared, nothing is resent.
func TestDTLS13FullACK(t *testing.T) {
	p := midHandshake13(t)
	evs := p.inject(p.server, p.clientHandshakeACKOf(recordNumbers13(t, p.client.inbox)...))
	require.Equal(t, 1, countKind(evs, fsm.EventTimer))
	require.True(t, p.server.deadline.IsZero(), "the timer is cleared")
	require.NoError(t, p.server.conn.Err())
	p.run()
	require.Equal(t, 1, p.client.done)
	require.Equal(t, 1, p.server.done)
}

// TestDTLS13HandshakeACKOfLaterEpoch: during the handshake both sides move
// through the same epochs, so an ACK naming a record of an epoch later
// than its own is illegal_parameter (RFC 9147 §7.2).
func TestDTLS13HandshakeACKOfLaterEpoch(t *testing.T) {
	p := midHandshake13(t)
	secret := secretFrom(p.t, p.keyLog, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
	ack := ackOf(flights.RecordNumber{Epoch: 3, Seq: 0})
	p.inject(p.server, sealUnder(t, cipher.SuiteByID(cipher.TLS_AES_128_GCM_SHA256), secret, 2, 40, record.TypeACK, ack))
	checkDTLSClosedWith(t, p.server, fsm.AlertIllegalParameter, false)
}

// TestDTLS13ClientLastFlightUntilACK: the client's last flight of the
// handshake must be acknowledged (RFC 9147 §7): with the server's ACK of
// it lost, and nothing else from the server, the client sends it again
// on its timer until the ACK comes; then it knows the server completed,
// and its key update goes out with no data from the server.
func TestDTLS13ClientLastFlightUntilACK(t *testing.T) {
	l := dtls13Link(t, func(_, sc *fsm.Config) { sc.SessionTicketsDisabled = true })
	lost := false
	l.drop = func(from *dgramSide, d []byte) bool {
		if from == l.server && l.server.done == 1 && !lost {
			lost = true // the ACK of the client's Finished
			return true
		}
		return false
	}
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.True(t, lost)
	doneAt := slices.Index(l.client.events, fsm.EventHandshakeDone)
	require.Contains(t, l.client.events[doneAt:], fsm.EventRetransmit, "the Finished sent again")
	require.True(t, l.client.deadline.IsZero(), "no timer once acknowledged")

	require.NoError(t, l.client.conn.KeyUpdate(fsm.UpdateNotRequested))
	require.NoError(t, l.client.conn.Handshake(l.now))
	l.run(t, 100)
	require.Equal(t, []fsm.EventKind{fsm.EventKeyUpdateSent}, keyUpdateKinds(l.client))
	require.Empty(t, l.client.received)
}

// TestDTLS13GapACK: a client that receives the server's flight with a
// datagram missing acknowledges what it has at once (RFC 9147 §7.1); the
// server, taking that ACK, sends the rest at once, and only the rest
// (§7.2): the handshake completes with no timer fired.
func TestDTLS13GapACK(t *testing.T) {
	p := midHandshake13(t)
	flight := p.client.inbox
	p.client.inbox = nil
	require.GreaterOrEqual(t, len(flight), 3)
	evs := p.inject(p.client, append([][]byte{flight[0]}, flight[2:]...)...)
	require.Positive(t, countKind(evs, fsm.EventTransmit), "an ACK of what arrived: %v", eventKinds(evs))
	require.Zero(t, p.client.done)

	start := p.now
	p.now = p.now.Add(fsm.DefaultRetransmitTimeout / 4)
	evs = p.step(p.server)
	require.Equal(t, 1, countKind(evs, fsm.EventRetransmit), "the rest at once: %v", eventKinds(evs))
	resent := handshakeRecords13(t, p.client.inbox)
	require.Less(t, resent, handshakeRecords13(t, flight), "only the rest")
	p.step(p.client)
	require.Equal(t, 1, p.client.done, "no timer needed")
	require.Equal(t, start.Add(fsm.DefaultRetransmitTimeout/4), p.now)
	p.run()
	require.Equal(t, 1, p.server.done)
}
