package fsmtest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/fsm/fsmtest"
)

// cidSim returns a connected DTLS Sim over a clean link, with Connection
// IDs of the given lengths (a negative length: no ConnectionIDs).
func cidSim(t *testing.T, seed uint64, clientCID, serverCID int, opts fsmtest.Options) *fsmtest.Sim {
	cc, sc, epoch := configs(t, seed)
	if clientCID >= 0 {
		cc.ConnectionIDs = &fsm.ConnectionIDs{Length: clientCID}
	}
	if serverCID >= 0 {
		sc.ConnectionIDs = &fsm.ConnectionIDs{Length: serverCID}
	}
	opts.Epoch = epoch
	if opts.Link == (fsmtest.Link{}) {
		opts.Link = fsmtest.Link{Delay: 10 * time.Millisecond}
	}
	s := fsmtest.New(seed, fsmtest.DTLS, cc, sc, opts)
	s.LogTrace(t, 60)
	require.NoError(t, s.Handshake())
	return s
}

// TestDTLSRebindWithCIDs: after the client's NAT rebinds, what the server
// sends to the old address is lost, until the client's next datagram
// reaches the server by its Connection ID and moves it; then data flows
// both ways again. Whatever length the client asks for, 0 included.
func TestDTLSRebindWithCIDs(t *testing.T) {
	for _, clientCID := range []int{0, 1, 8} {
		s := cidSim(t, 1, clientCID, 4, fsmtest.Options{})
		require.True(t, s.Server.Conn.ConnectionState().ConnectionIDNegotiated)
		require.Equal(t, fsmtest.ClientAddr, s.Addr(fsmtest.Client))

		to := s.Rebind()
		require.Equal(t, fsmtest.ClientAddr+1, to)
		require.Equal(t, to, s.Addr(fsmtest.Client))
		require.NoError(t, s.Write(fsmtest.Server, []byte("lost")))
		require.NoError(t, s.Run())
		require.Empty(t, s.Client.Messages)
		require.Equal(t, 1, s.Stats(fsmtest.Server).Gone)

		require.NoError(t, s.Write(fsmtest.Client, []byte("from the new address")))
		require.NoError(t, s.Run())
		require.Equal(t, to, s.PeerAddr(), "the server follows the client")
		require.NoError(t, s.Write(fsmtest.Server, []byte("found")))
		require.NoError(t, s.Run())
		require.Equal(t, "from the new address", string(s.Server.Received))
		require.Equal(t, "found", string(s.Client.Received))
		require.Equal(t, []fsmtest.Addr{fsmtest.ClientAddr, to}, s.PeerAddrs())
		r := s.Routing()
		require.Equal(t, 1, r.Moves)
		require.Positive(t, r.ByCID)
		require.Zero(t, r.FrontDoor)
	}
}

// TestDTLSRebindWithoutCIDs: without Connection IDs the server routes by
// address only. After the client rebinds, its datagrams meet the front
// door, which drops them (they hold no ClientHello), and the server keeps
// sending to the old address, where its datagrams are lost: the
// connection stops delivering either way, and neither side notices. The
// same when the client asks for CIDs and the server does not, or the
// server asks for none.
func TestDTLSRebindWithoutCIDs(t *testing.T) {
	for _, cids := range [][2]int{{-1, -1}, {4, -1}, {-1, 4}, {4, 0}} {
		s := cidSim(t, 2, cids[0], cids[1], fsmtest.Options{})
		s.Rebind()
		require.NoError(t, s.Write(fsmtest.Client, []byte("to the front door")))
		require.NoError(t, s.Write(fsmtest.Server, []byte("to the old address")))
		require.NoError(t, s.Run())
		require.Empty(t, s.Server.Messages, "%v", cids)
		require.Empty(t, s.Client.Messages)
		require.Equal(t, fsmtest.ClientAddr, s.PeerAddr())
		r := s.Routing()
		require.Equal(t, 1, r.FrontDoor)
		require.Zero(t, r.Verify+r.Accepted+r.Moves)
		require.Equal(t, 1, s.Stats(fsmtest.Server).Gone)
		require.False(t, s.Client.Closed || s.Server.Closed)
	}
}

// TestDTLSRebindDuringHandshake: a client whose NAT rebinds right after its
// first ClientHello misses the server's answer; its next ClientHello comes
// from a new address, and the front door answers it with a
// HelloVerifyRequest of its own. The hello with that cookie would make a
// new association, which the Sim does not model: it drops it, and the
// client gives up with ErrHandshakeTimeout while the server's Conn for
// the first address waits on.
func TestDTLSRebindDuringHandshake(t *testing.T) {
	cc, sc, epoch := configs(t, 3)
	cc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
	sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
	s := fsmtest.New(3, fsmtest.DTLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: fsmtest.Link{Delay: 10 * time.Millisecond}})
	s.LogTrace(t, 60)
	require.NoError(t, s.Start())
	s.Rebind()
	require.NoError(t, s.Run())
	require.ErrorIs(t, s.Client.CloseErr, fsm.ErrHandshakeTimeout)
	r := s.Routing()
	require.Equal(t, 1, r.Verify)
	require.Equal(t, r.FrontDoor-1, r.Accepted, "every hello after the first has a valid cookie")
	require.Positive(t, r.Accepted)
	require.Zero(t, s.Server.Handshakes)
	require.False(t, s.Server.Closed)
	require.Equal(t, fsmtest.ClientAddr, s.PeerAddr())
}

// TestDTLSReplayNeverMoves: an attacker who replays the client's old
// datagrams from an address of its own reaches the server's Conn by the
// Connection ID they carry, and never moves it there, before or after a
// rebinding: only the client's new datagrams do. Nothing is delivered
// twice.
func TestDTLSReplayNeverMoves(t *testing.T) {
	var replays int
	seeds(t, func(t *testing.T, seed uint64) {
		link := fsmtest.Link{Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond, Reorder: 0.3}
		s := cidSim(t, seed, int(seed%3), 1+int(seed%8), fsmtest.Options{Link: link, Replay: 0.5, ReplayDelay: 300 * time.Millisecond})
		for i := range 30 {
			if i%10 == 9 {
				s.RebindAfter(time.Duration(seed%7) * time.Millisecond)
			}
			require.NoError(t, s.Write(fsmtest.Side(i%2), []byte{byte(i)}))
			require.NoError(t, s.RunFor(15*time.Millisecond))
		}
		require.NoError(t, s.Write(fsmtest.Client, []byte("last")))
		require.NoError(t, s.Run())
		require.Equal(t, s.Addr(fsmtest.Client), s.PeerAddr())
		require.NotContains(t, s.PeerAddrs(), fsmtest.AttackerAddr)
		require.Equal(t, 3, s.Rebinds())
		seen := map[string]bool{}
		for _, m := range s.Server.Messages {
			require.False(t, seen[string(m)], "%q twice", m)
			seen[string(m)] = true
		}
		require.True(t, seen["last"])
		require.Positive(t, s.Routing().Replays)
		replays += s.Routing().Replays
	})
	t.Logf("%d replays, none followed", replays)
}

// TestRebindOverTLS: a stream has no addresses here.
func TestRebindOverTLS(t *testing.T) {
	cc, sc, epoch := configs(t, 1)
	s := fsmtest.New(1, fsmtest.TLS, cc, sc, fsmtest.Options{Epoch: epoch})
	require.Panics(t, func() { s.Rebind() })
	require.Panics(t, func() { s.RebindAfter(time.Second) })
}

// TestDTLSRebindStrandsAbbreviatedHandshake pins down the one way the
// simulation properties find for a connection with Connection IDs to lose
// its client to an address change. In an abbreviated handshake the
// client's Finished is the last flight, which it sends again only when the
// server's comes again. When that flight is lost and the client moves
// before the server sends its own again, the server sends it to the old
// address, where it is lost, and cannot read what the client now sends
// under the new keys, which it has not switched to, so it never follows
// the client (fsm.Conn.DatagramAdvanced stays false): it gives up with
// ErrHandshakeTimeout, while the client, one handshake ahead, stays open.
// Without the address change the server's retransmission repairs the
// loss (what the client sent meanwhile is lost: the server drops records
// of an epoch it has not reached).
func TestDTLSRebindStrandsAbbreviatedHandshake(t *testing.T) {
	for _, rebind := range []bool{false, true} {
		cc, sc, epoch := configs(t, 4)
		cc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
		sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
		sc.AllowClientRenegotiation = true
		var s *fsmtest.Sim
		dropped := false
		tamper := func(from fsmtest.Side, b []byte) []byte {
			if from == fsmtest.Client && s.Client.Handshakes == 2 && !dropped {
				dropped = true // the client's CCS and Finished
				return nil
			}
			return b
		}
		s = fsmtest.New(4, fsmtest.DTLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: fsmtest.Link{Delay: 10 * time.Millisecond}, Tamper: tamper})
		s.LogTrace(t, 60)
		require.NoError(t, s.Handshake())
		require.NoError(t, s.Do(fsmtest.Client, func(c *fsm.Conn, now time.Time) error {
			if err := c.RenegotiateAbbreviated(); err != nil {
				return err
			}
			return c.Handshake(now)
		}))
		require.NoError(t, s.RunFor(500*time.Millisecond))
		require.True(t, dropped)
		require.True(t, s.Client.Done[1].Resumed)
		require.Equal(t, 1, s.Server.Handshakes, "the server waits for the client's Finished")
		if rebind {
			s.Rebind()
		}
		require.NoError(t, s.Write(fsmtest.Client, []byte("under the new keys")))
		require.NoError(t, s.Run())
		if !rebind {
			require.Equal(t, 2, s.Server.Handshakes)
			require.Empty(t, s.Server.Received, "a record of an epoch the server had not reached")
			require.NoError(t, s.Write(fsmtest.Client, []byte("again")))
			require.NoError(t, s.Run())
			require.Equal(t, "again", string(s.Server.Received))
			continue
		}
		require.ErrorIs(t, s.Server.CloseErr, fsm.ErrHandshakeTimeout)
		require.False(t, s.Client.Closed)
		require.Equal(t, 2, s.Client.Handshakes)
		require.Empty(t, s.Server.Received)
		require.Equal(t, []fsmtest.Addr{fsmtest.ClientAddr}, s.PeerAddrs(), "the server never follows")
		require.Positive(t, s.Routing().ByCID, "the client's datagrams reach the server's Conn")
	}
}

// TestDTLSFinishedAloneWithCID: with client certificates the client's
// second flight is long, and at some MTUs its Finished, the first record
// in the Connection ID format, starts a datagram of its own. The server
// has not completed its first handshake then, so its CID is not yet
// known to route by: the datagram goes by its source address, and the
// handshake completes.
func TestDTLSFinishedAloneWithCID(t *testing.T) {
	found := 0
	for mtu := 900; mtu < 1100 && found < 3; mtu++ {
		cc, sc, epoch := configs(t, 5)
		cc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
		sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
		cc.Certificates = sc.Certificates
		sc.ClientAuth = fsm.RequireAnyClientCert
		cc.MTU, sc.MTU = mtu, mtu
		var s *fsmtest.Sim
		alone := false
		tamper := func(from fsmtest.Side, b []byte) []byte {
			const typeConnectionID = 25
			alone = alone || from == fsmtest.Client && b[0] == typeConnectionID && s.Server.Handshakes == 0
			return b
		}
		s = fsmtest.New(5, fsmtest.DTLS, cc, sc, fsmtest.Options{Epoch: epoch, Link: fsmtest.Link{Delay: time.Millisecond}, Tamper: tamper})
		require.NoError(t, s.Handshake(), "MTU %d", mtu)
		if alone {
			found++
			require.Positive(t, s.Routing().ByAddr)
		}
	}
	require.Equal(t, 3, found, "MTUs at which the Finished starts a datagram")
}
