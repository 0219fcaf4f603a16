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

// keyUpdateKinds returns the key update events of s, in order.
func keyUpdateKinds(s *dgramSide) []fsm.EventKind {
	var out []fsm.EventKind
	for _, k := range s.events {
		if k == fsm.EventKeyUpdateSent || k == fsm.EventKeyUpdateReceived {
			out = append(out, k)
		}
	}
	return out
}

// TestDTLS13KeyUpdate: a DTLS 1.3 key update is scheduled, goes out with
// the next write, and switches the sender's keys only once the peer has
// acknowledged it (RFC 9147 §8); an update_requested is answered with the
// peer's next write. With the first KeyUpdate lost, it is sent again on
// the timer and the update completes; data flows throughout.
func TestDTLS13KeyUpdate(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(map[bool]string{false: "delivered", true: "first lost"}[lose], func(t *testing.T) {
			l := connected13(t) // the server's data shows the client it completed

			dropped := 0
			l.drop = func(from *dgramSide, d []byte) bool {
				if lose && from == l.client && dropped == 0 {
					dropped++
					return true
				}
				return false
			}
			require.NoError(t, l.client.conn.KeyUpdate(fsm.UpdateRequested))
			_, err := l.client.conn.Write(l.now, []byte("one"))
			require.NoError(t, err)
			l.drain(l.client)
			require.NotContains(t, l.client.events, fsm.EventKeyUpdateSent, "keys switched before the ACK")
			require.Equal(t, fsm.UpdateRequested, l.client.conn.PendingKeyUpdate(), "pending until acknowledged")
			l.run(t, 200)
			require.Equal(t, []fsm.EventKind{fsm.EventKeyUpdateSent}, keyUpdateKinds(l.client))
			require.Equal(t, fsm.KeyUpdateNone, l.client.conn.PendingKeyUpdate())
			require.Equal(t, []fsm.EventKind{fsm.EventKeyUpdateReceived}, keyUpdateKinds(l.server))
			require.Equal(t, fsm.UpdateNotRequested, l.server.conn.PendingKeyUpdate(), "the server owes an update")

			_, err = l.server.conn.Write(l.now, []byte("two"))
			require.NoError(t, err)
			l.run(t, 200)
			_, err = l.client.conn.Write(l.now, []byte("three"))
			require.NoError(t, err)
			l.run(t, 200)
			require.Equal(t, []fsm.EventKind{fsm.EventKeyUpdateSent, fsm.EventKeyUpdateReceived}, keyUpdateKinds(l.client))
			require.Equal(t, []fsm.EventKind{fsm.EventKeyUpdateReceived, fsm.EventKeyUpdateSent}, keyUpdateKinds(l.server))
			if !lose {
				require.Equal(t, "onethree", string(l.server.received))
			}
			require.Equal(t, "readytwo", string(l.client.received))
			require.NoError(t, l.client.conn.Err())
			require.NoError(t, l.server.conn.Err())
		})
	}
}

// TestDTLS13Retry: a server that wants another key share asks for it with
// a HelloRetryRequest; the transcript then starts from the first
// ClientHello's hash, without DTLS fields on either side.
func TestDTLS13Retry(t *testing.T) {
	l := dtls13Link(t, func(cc, sc *fsm.Config) {
		cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
		sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	})
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	for _, s := range []*dgramSide{l.client, l.server} {
		require.Equal(t, 1, s.done, "handshakes")
		cs := s.conn.ConnectionState()
		require.True(t, cs.HelloRetryRequest)
		require.Equal(t, fsm.CurveP256, cs.CurveID)
	}
}

// TestDTLS13Resumption: a second connection resumes the first's session
// with a PSK; the binder is computed over the ClientHello without its
// DTLS fields, as the transcript is.
func TestDTLS13Resumption(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	sc.InsecureSkipHelloVerify = true
	for i := range 2 {
		l := newDgramLink(t, cc, sc)
		require.NoError(t, l.client.conn.Start(l.now))
		l.run(t, 100)
		require.Equal(t, 1, l.client.done)
		require.Equal(t, i == 1, l.client.conn.ConnectionState().DidResume, "connection %d", i)
		require.Equal(t, i == 1, l.server.conn.ConnectionState().DidResume, "connection %d", i)
	}
}

// TestDTLS13Cookie: a DTLS 1.3 server that checks addresses answers the
// first ClientHello with a HelloRetryRequest carrying a cookie, and no
// HelloVerifyRequest (RFC 9147 §5.1); the client echoes the cookie and the
// handshake completes, with or without a new key share asked for too.
func TestDTLS13Cookie(t *testing.T) {
	for _, retryGroup := range []bool{false, true} {
		l := dtls13Link(t, func(cc, sc *fsm.Config) {
			sc.InsecureSkipHelloVerify = false
			if retryGroup {
				cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
				sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
			}
		})
		var hvr bool
		l.drop = func(from *dgramSide, d []byte) bool {
			hvr = hvr || from == l.server && len(d) > 13+12 && d[0] == 22 && d[13] == byte(fsm.MessageHelloVerifyRequest)
			return false
		}
		require.NoError(t, l.client.conn.Start(l.now))
		l.run(t, 100)
		require.False(t, hvr, "a HelloVerifyRequest to a DTLS 1.3 client")
		for _, s := range []*dgramSide{l.client, l.server} {
			require.Equal(t, 1, s.done, "handshakes")
			require.True(t, s.conn.ConnectionState().HelloRetryRequest)
			require.Equal(t, record.VersionDTLS13, s.conn.ConnectionState().Version)
		}
	}
}

// TestDTLS13ConnectionIDs: Connection IDs negotiated in the hellos of a
// DTLS 1.3 handshake are carried by every record from the handshake keys
// on (RFC 9147 §9), each side's the one the other asked for.
func TestDTLS13ConnectionIDs(t *testing.T) {
	l := dtls13Link(t, func(cc, sc *fsm.Config) {
		cc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
		sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 8}
	})
	var protected, withCID int
	l.drop = func(from *dgramSide, d []byte) bool {
		if record.IsDTLS13Ciphertext(d[0]) {
			protected++
			if d[0]&0x10 != 0 {
				withCID++
			}
		}
		return false
	}
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	_, err := l.client.conn.Write(l.now, []byte("over CIDs"))
	require.NoError(t, err)
	l.run(t, 100)
	require.Equal(t, "over CIDs", string(l.server.received))
	cs, ss := l.client.conn.ConnectionState(), l.server.conn.ConnectionState()
	require.True(t, cs.ConnectionIDNegotiated)
	require.Len(t, cs.ConnectionID, 4)
	require.Len(t, ss.ConnectionID, 8)
	require.Equal(t, cs.ConnectionID, ss.PeerConnectionID)
	require.Equal(t, ss.ConnectionID, cs.PeerConnectionID)
	require.Positive(t, protected)
	require.Equal(t, protected, withCID, "protected datagrams that start without a CID")
}

// connected13 returns a DTLS 1.3 link whose handshake is done and whose
// sides know the other completed it.
func connected13(t *testing.T) *dgramLink {
	l := dtls13Link(t, nil)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	_, err := l.server.conn.Write(l.now, []byte("ready"))
	require.NoError(t, err)
	l.run(t, 100)
	return l
}

// TestDTLS13KeyUpdatesCross: both sides update their keys at once; each
// side's ACK, sent under its old keys after it took the other's
// KeyUpdate, is still read (it was dropped as a retransmission of the
// previous epoch, and neither update completed).
func TestDTLS13KeyUpdatesCross(t *testing.T) {
	l := connected13(t)
	for _, s := range []*dgramSide{l.client, l.server} {
		require.NoError(t, s.conn.KeyUpdate(fsm.UpdateNotRequested))
		require.NoError(t, s.conn.Handshake(l.now))
	}
	l.run(t, 200)
	for _, s := range []*dgramSide{l.client, l.server} {
		require.Contains(t, s.events, fsm.EventKeyUpdateSent, "updates completed")
		require.Contains(t, s.events, fsm.EventKeyUpdateReceived)
	}
}

// TestDTLS13LostKeyUpdateACK: when the ACK of a KeyUpdate is lost, the
// KeyUpdate sent again (now of the receiver's previous epoch) is
// acknowledged again, and the update completes (it was never
// acknowledged: the retransmissions were dropped as copies).
func TestDTLS13LostKeyUpdateACK(t *testing.T) {
	l := connected13(t)
	lost := false
	l.drop = func(from *dgramSide, d []byte) bool {
		if from == l.server && !lost {
			lost = true // the server's ACK of the client's KeyUpdate
			return true
		}
		return false
	}
	require.NoError(t, l.client.conn.KeyUpdate(fsm.UpdateNotRequested))
	require.NoError(t, l.client.conn.Handshake(l.now))
	l.run(t, 200)
	require.True(t, lost)
	require.Contains(t, l.client.events, fsm.EventKeyUpdateSent)
	require.NoError(t, l.client.conn.Err())
}

// TestDTLS13LostTicket: the server sends its NewSessionTicket after the
// handshake, as a flight of its own sent again until acknowledged (RFC
// 9147 §5.8.4): with its first transmission lost, it goes out again, and
// the server's later KeyUpdate, numbered after it, is taken. (Sent along
// with the server's last flight and never again, a lost ticket left a
// gap in the message numbers that held back every later post-handshake
// message.)
func TestDTLS13LostTicket(t *testing.T) {
	l := dtls13Link(t, nil)
	lost := false
	l.drop = func(from *dgramSide, d []byte) bool {
		if from == l.server && l.server.done == 1 && !lost {
			lost = true // the ticket, sent after the handshake
			return true
		}
		return false
	}
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 200)
	require.True(t, lost)
	require.Contains(t, l.server.events, fsm.EventRetransmit, "the ticket sent again")
	require.NoError(t, l.server.conn.KeyUpdate(fsm.UpdateNotRequested))
	_, err := l.server.conn.Write(l.now, []byte("after the ticket"))
	require.NoError(t, err)
	l.run(t, 200)
	require.Contains(t, l.client.events, fsm.EventKeyUpdateReceived)
	require.Contains(t, l.server.events, fsm.EventKeyUpdateSent)
}

// TestVerifyHelloFragmentedDTLS13: with DTLS 1.3 enabled, the front door
// sends no HelloVerifyRequest for a ClientHello in fragments, whose first
// fragment need not show what it offers (a post-quantum key share makes a
// browser's ClientHello two datagrams); the Conn it makes reassembles the
// hello and checks the address itself: with a HelloRetryRequest cookie
// for a DTLS 1.3 client, with a HelloVerifyRequest for a DTLS 1.2 one.
func TestVerifyHelloFragmentedDTLS13(t *testing.T) {
	for _, clientMax := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
		cc.MaxVersion, sc.MaxVersion = clientMax, fsm.VersionTLS13
		// ECDH alone: a hello of one datagram, cut below (P-256 for the
		// TLS 1.2 ECDSA certificate, RFC 8422 §5.1).
		cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
		l := newDgramLink(t, cc, sc)
		require.NoError(t, l.client.conn.Start(l.now))
		hello := fragmentHello(t, nextTransmit(t, l.client.conn), 120)
		reply, accept := fsm.VerifyHello(sc, []byte("client address"), l.now, hello[0])
		require.True(t, accept, "client up to %s", fsm.VersionName(clientMax))
		require.Empty(t, reply)
		var verifyRequests int
		l.drop = func(from *dgramSide, d []byte) bool {
			if from == l.server && len(d) > 25 && d[0] == byte(record.TypeHandshake) && d[13] == byte(fsm.MessageHelloVerifyRequest) {
				verifyRequests++
			}
			return false
		}
		l.server.inbox = append(l.server.inbox, hello...)
		l.run(t, 100)
		for _, s := range []*dgramSide{l.client, l.server} {
			require.Equal(t, 1, s.done, "handshakes")
		}
		state := l.client.conn.ConnectionState()
		if clientMax == fsm.VersionTLS13 {
			require.Equal(t, record.VersionDTLS13, state.Version)
			require.True(t, state.HelloRetryRequest, "the address checked with a cookie")
			require.Zero(t, verifyRequests)
		} else {
			require.Equal(t, record.VersionDTLS12, state.Version)
			require.Equal(t, 1, verifyRequests)
		}
	}
}

// TestDTLS13KeyUpdateBehindOutstanding: a key update scheduled while
// another waits for its ACK goes out as soon as that ACK is read, with
// no further write or Handshake call (the input is I/O, as for
// SSL_key_update(3)); each switches the client's keys on its own ACK.
func TestDTLS13KeyUpdateBehindOutstanding(t *testing.T) {
	l := connected13(t)
	require.NoError(t, l.client.conn.KeyUpdate(fsm.UpdateNotRequested))
	require.NoError(t, l.client.conn.Handshake(l.now))
	require.NoError(t, l.client.conn.KeyUpdate(fsm.UpdateRequested))
	require.Equal(t, fsm.UpdateRequested, l.client.conn.PendingKeyUpdate())
	l.run(t, 100)
	require.Equal(t, []fsm.EventKind{fsm.EventKeyUpdateSent, fsm.EventKeyUpdateSent}, keyUpdateKinds(l.client))
	require.Equal(t, []fsm.EventKind{fsm.EventKeyUpdateReceived, fsm.EventKeyUpdateReceived}, keyUpdateKinds(l.server))
	require.Equal(t, fsm.KeyUpdateNone, l.client.conn.PendingKeyUpdate())
	require.Equal(t, fsm.UpdateNotRequested, l.server.conn.PendingKeyUpdate(), "the answer the server owes")
}

// TestVerifyHelloStatelessDTLS13: with DTLS 1.3 the front door answers a
// whole ClientHello with a HelloRetryRequest and keeps nothing; the
// second ClientHello, which echoes its cookie, is accepted from the
// address it was sent to only, and a fresh Conn goes on from it: the
// handshake completes, both sides reporting the HelloRetryRequest. So it
// does when the HelloRetryRequest asks for a key share too.
func TestVerifyHelloStatelessDTLS13(t *testing.T) {
	for _, retryGroup := range []bool{false, true} {
		cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
		cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
		cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256} // a ClientHello of one datagram
		if retryGroup {
			sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
		}
		l := newDgramLink(t, cc, sc)
		peer := []byte("client address")
		require.NoError(t, l.client.conn.Start(l.now))
		reply, accept := fsm.VerifyHello(sc, peer, l.now, nextTransmit(t, l.client.conn))
		require.False(t, accept)
		require.Greater(t, len(reply), 25)
		require.Equal(t, byte(fsm.MessageServerHello), reply[13], "a HelloRetryRequest")

		require.NoError(t, l.client.conn.HandleDatagram(l.now, reply))
		second := nextTransmit(t, l.client.conn)
		_, accept = fsm.VerifyHello(sc, []byte("another address"), l.now, second)
		require.False(t, accept, "the cookie is bound to the address")
		_, accept = fsm.VerifyHello(sc, peer, l.now, second)
		require.True(t, accept)

		l.server.inbox = append(l.server.inbox, second) // to the Conn NewDTLSServer made fresh
		l.run(t, 100)
		for _, s := range []*dgramSide{l.client, l.server} {
			require.Equal(t, 1, s.done, "handshakes")
			require.True(t, s.conn.ConnectionState().HelloRetryRequest)
			require.Equal(t, record.VersionDTLS13, s.conn.ConnectionState().Version)
		}
	}
}
