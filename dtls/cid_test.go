package dtls_test

import (
	"bytes"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// TestConnectionIDNATRebinding: a client behind a NAT that gives it a new
// port keeps its connection to a listener when Connection IDs are in use
// (RFC 9146), in both directions, once it has answered at the new port
// the listener's return routability check (RFC 9853); without them its
// datagrams from the new port reach nothing, and nothing breaks.
func TestConnectionIDNATRebinding(t *testing.T) {
	for _, withCID := range []bool{true, false} {
		cc, sc := configs(t)
		if withCID {
			cc.ConnectionIDs, sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}, &fsm.ConnectionIDs{Length: 8}
		}
		ln := listen(t, sc)
		accepted := acceptAll(ln)
		proxy := newLossyProxy(t, ln.Addr(), 0, 1)
		c, err := dtls.Dial("udp", proxy.front.LocalAddr().String(), cc)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("before"))
		require.NoError(t, err)
		s := nextConn(t, accepted)
		defer s.Close()
		require.Equal(t, "before", readString(t, s))
		require.Equal(t, withCID, s.(*dtls.Conn).ConnectionState().ConnectionIDNegotiated)
		oldAddr := s.RemoteAddr().String()

		proxy.rebind(t)
		_, err = c.Write([]byte("after"))
		require.NoError(t, err)
		if !withCID {
			s.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, err := s.Read(make([]byte, 100))
			require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the datagram from the new port reached nothing")
			require.Equal(t, 1, dtls.DemuxConns(ln), "and made no Conn")
			continue
		}
		require.Equal(t, "after", readString(t, s))
		require.True(t, s.(*dtls.Conn).ConnectionState().ReturnRoutabilityCheck)
		read := make(chan string, 1)
		go func() { read <- readString(t, c) }() // reading, the client answers the check
		require.Eventually(t, func() bool { return s.RemoteAddr().String() != oldAddr },
			5*time.Second, 10*time.Millisecond, "the peer moved once checked")
		_, err = s.Write([]byte("back"))
		require.NoError(t, err)
		require.Equal(t, "back", <-read, "the answer goes to the new port")
		require.Equal(t, 1, dtls.DemuxConns(ln))
	}
}

// TestConnectionIDAddressNeedsANewerRecord: a replayed or forged record
// carrying a Connection ID, sent from another address, does not move the
// peer (RFC 9146 §6); a genuine new record from there does, at once
// without the return routability check.
func TestConnectionIDAddressNeedsANewerRecord(t *testing.T) {
	cc, sc := configs(t)
	cc.ConnectionIDs = &fsm.ConnectionIDs{SkipReturnRoutabilityCheck: true}
	sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 8}
	ln := listen(t, sc)
	accepted := acceptAll(ln)
	sock := loopbackSocket(t)
	client := &rawClient{t: t, sock: sock, to: ln.Addr(), core: fsm.NewDTLSClient(cc)}
	client.handshake()
	_, err := client.core.Write(time.Now(), []byte("one"))
	require.NoError(t, err)
	client.flush()
	recorded := client.sent[len(client.sent)-1]
	s := nextConn(t, accepted)
	defer s.Close()
	require.Equal(t, "one", readString(t, s))

	attacker := loopbackSocket(t)
	forged := bytes.Clone(recorded)
	forged[10]++ // a newer sequence number, which the tag does not cover
	for _, d := range [][]byte{recorded, forged} {
		_, err := attacker.WriteTo(d, ln.Addr())
		require.NoError(t, err)
	}
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, sock.LocalAddr().String(), s.RemoteAddr().String(), "the peer stays")
	_, err = s.Write([]byte("still yours"))
	require.NoError(t, err)
	client.awaitData("still yours")
	attacker.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, _, err = attacker.ReadFrom(make([]byte, 2048))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the attacker's address gets nothing")

	// The client itself moves to that address.
	client.sock = attacker
	_, err = client.core.Write(time.Now(), []byte("moved"))
	require.NoError(t, err)
	client.flush()
	require.Equal(t, "moved", readString(t, s))
	require.Equal(t, attacker.LocalAddr().String(), s.RemoteAddr().String())
	_, err = s.Write([]byte("follow"))
	require.NoError(t, err)
	client.awaitData("follow")
}

// TestConnectionIDBeforeHandshakeDone: a client's Finished in a datagram
// of its own, in the CID format with a CID the listener does not route
// yet (the server's handshake completes with it), reaches its Conn by the
// source address.
func TestConnectionIDBeforeHandshakeDone(t *testing.T) {
	cc, sc := configs(t)
	cc.ConnectionIDs, sc.ConnectionIDs = &fsm.ConnectionIDs{}, &fsm.ConnectionIDs{Length: 8}
	ln := listen(t, sc)
	accepted := acceptAll(ln)
	sock := loopbackSocket(t)
	client := &rawClient{t: t, sock: sock, to: ln.Addr(), core: fsm.NewDTLSClient(cc), oneRecordEach: true}
	client.handshake()
	_, err := client.core.Write(time.Now(), []byte("after"))
	require.NoError(t, err)
	client.flush()
	s := nextConn(t, accepted)
	defer s.Close()
	require.Equal(t, "after", readString(t, s))
}

// TestReturnRoutabilityCheck: with the return routability check (RFC
// 9853), a client whose genuine record comes from a new address is not
// followed there at once: the listener sends a path_challenge there and
// goes on sending to the old address; a client that does not answer
// stays where it was; one that answers is followed, and data goes to
// its new address.
func TestReturnRoutabilityCheck(t *testing.T) {
	cc, sc := configs(t)
	cc.ConnectionIDs, sc.ConnectionIDs = &fsm.ConnectionIDs{}, &fsm.ConnectionIDs{Length: 8}
	ln := listen(t, sc)
	accepted := acceptAll(ln)
	sock := loopbackSocket(t)
	client := &rawClient{t: t, sock: sock, to: ln.Addr(), core: fsm.NewDTLSClient(cc)}
	client.handshake()
	require.True(t, client.core.ConnectionState().ReturnRoutabilityCheck)
	_, err := client.core.Write(time.Now(), []byte("one"))
	require.NoError(t, err)
	client.flush()
	s := nextConn(t, accepted)
	defer s.Close()
	require.Equal(t, "one", readString(t, s))
	oldAddr := sock.LocalAddr().String()

	moved := loopbackSocket(t)
	client.sock = moved
	_, err = client.core.Write(time.Now(), []byte("from the new address"))
	require.NoError(t, err)
	client.flush()
	require.Equal(t, "from the new address", readString(t, s), "data from there is read")
	require.Equal(t, oldAddr, s.RemoteAddr().String(), "not followed before the check")

	// Unanswered, the check changes nothing: what s writes goes to the
	// old address.
	challenge := make([]byte, 2048)
	moved.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := moved.ReadFrom(challenge)
	require.NoError(t, err, "a path_challenge at the new address")
	_, err = s.Write([]byte("to the old address"))
	require.NoError(t, err)
	client.sock = sock
	client.awaitData("to the old address")

	// Answered, the client is followed.
	client.sock = moved
	require.NoError(t, client.core.HandleDatagram(time.Now(), challenge[:n]))
	client.flush() // the path_response
	require.Eventually(t, func() bool { return s.RemoteAddr().String() == moved.LocalAddr().String() },
		5*time.Second, 10*time.Millisecond, "followed once checked")
	_, err = s.Write([]byte("follow"))
	require.NoError(t, err)
	client.awaitData("follow")
}

// loopbackSocket is a UDP socket on 127.0.0.1, closed when the test ends.
func loopbackSocket(t *testing.T) net.PacketConn {
	t.Helper()
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { sock.Close() })
	return sock
}
