package fsm_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// cidLink is a DTLS link whose datagrams after the handshake are kept,
// by sender, to check their record format.
type cidLink struct {
	*dgramLink
	sent map[*dgramSide][][]byte
}

func newCIDLink(t *testing.T, client, server *fsm.ConnectionIDs) *cidLink {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	cc.ConnectionIDs, sc.ConnectionIDs = client, server
	sc.AllowClientRenegotiation = true
	l := &cidLink{dgramLink: newDgramLink(t, cc, sc), sent: map[*dgramSide][][]byte{}}
	l.drop = func(from *dgramSide, d []byte) bool {
		l.sent[from] = append(l.sent[from], bytes.Clone(d))
		return false
	}
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, 1, l.client.done)
	require.Equal(t, 1, l.server.done)
	return l
}

// exchange sends a message each way and checks it arrives.
func (l *cidLink) exchange(t *testing.T, msg string) {
	l.sent = map[*dgramSide][][]byte{}
	l.client.received, l.server.received = nil, nil
	_, err := l.client.conn.Write(l.now, []byte(msg))
	require.NoError(t, err)
	_, err = l.server.conn.Write(l.now, []byte(msg))
	require.NoError(t, err)
	l.run(t, 10)
	require.Equal(t, msg, string(l.server.received))
	require.Equal(t, msg, string(l.client.received))
}

// requireRecords checks that every record from s since the last exchange
// is in the CID format with cid, or in the plain one when cid is empty.
func (l *cidLink) requireRecords(t *testing.T, s *dgramSide, cid []byte) {
	t.Helper()
	require.NotEmpty(t, l.sent[s])
	for _, d := range l.sent[s] {
		rec, _, err := record.ParseDTLSRecordCID(d, len(cid))
		require.NoError(t, err)
		if len(cid) == 0 {
			require.Equal(t, record.TypeApplicationData, rec.Type)
			continue
		}
		require.Equal(t, record.TypeConnectionID, rec.Type)
		require.Equal(t, cid, rec.CID)
	}
}

// TestConnectionIDs: each side puts the CID the other asked for in its
// records once keys are in use, in each direction on its own, and
// ConnectionState reports both; with one side not configured nothing
// changes.
func TestConnectionIDs(t *testing.T) {
	for name, tc := range map[string]struct {
		client, server              *fsm.ConnectionIDs
		clientLen, serverLen        int
		negotiated                  bool
		clientSendsCID, serverSends bool
	}{
		"both":             {&fsm.ConnectionIDs{Length: 8}, &fsm.ConnectionIDs{Length: 4}, 8, 4, true, true, true},
		"server asks none": {&fsm.ConnectionIDs{Length: 5}, &fsm.ConnectionIDs{}, 5, 0, true, false, true},
		"client asks none": {&fsm.ConnectionIDs{}, &fsm.ConnectionIDs{Length: 16}, 0, 16, true, true, false},
		"server without":   {&fsm.ConnectionIDs{Length: 8}, nil, 0, 0, false, false, false},
		"client without":   {nil, &fsm.ConnectionIDs{Length: 8}, 0, 0, false, false, false},
		"longest":          {&fsm.ConnectionIDs{Length: 255}, &fsm.ConnectionIDs{Length: 255}, 255, 255, true, true, true},
	} {
		t.Run(name, func(t *testing.T) {
			l := newCIDLink(t, tc.client, tc.server)
			cs, ss := l.client.conn.ConnectionState(), l.server.conn.ConnectionState()
			require.Equal(t, tc.negotiated, cs.ConnectionIDNegotiated)
			require.Equal(t, tc.negotiated, ss.ConnectionIDNegotiated)
			require.Len(t, cs.ConnectionID, tc.clientLen)
			require.Len(t, ss.ConnectionID, tc.serverLen)
			require.Equal(t, cs.ConnectionID, ss.PeerConnectionID)
			require.Equal(t, ss.ConnectionID, cs.PeerConnectionID)
			l.exchange(t, "over CIDs")
			l.requireRecords(t, l.client, cs.PeerConnectionID)
			l.requireRecords(t, l.server, ss.PeerConnectionID)

			// A renegotiation keeps them.
			require.NoError(t, l.client.conn.Renegotiate())
			require.NoError(t, l.client.conn.Handshake(l.now))
			l.run(t, 100)
			require.Equal(t, 2, l.client.done)
			require.Equal(t, cs.ConnectionID, l.client.conn.ConnectionState().ConnectionID)
			l.exchange(t, "after renegotiating")
			l.requireRecords(t, l.client, cs.PeerConnectionID)
			l.requireRecords(t, l.server, ss.PeerConnectionID)
		})
	}
}

// TestConnectionIDGenerator: the hook makes the CIDs asked for, from
// Config.Rand; a CID of the wrong length, or an error, ends the
// handshake before anything is sent.
func TestConnectionIDGenerator(t *testing.T) {
	shard := func(rand io.Reader) ([]byte, error) {
		cid := []byte{0x5a, 0, 0, 0, 0, 0}
		_, err := io.ReadFull(rand, cid[1:])
		return cid, err
	}
	l := newCIDLink(t, &fsm.ConnectionIDs{Length: 6, New: shard}, &fsm.ConnectionIDs{Length: 6, New: shard})
	require.Equal(t, byte(0x5a), l.server.conn.ConnectionState().ConnectionID[0])
	require.Equal(t, byte(0x5a), l.client.conn.ConnectionState().ConnectionID[0])

	for _, bad := range []func(io.Reader) ([]byte, error){
		func(io.Reader) ([]byte, error) { return []byte{1, 2}, nil },
		func(io.Reader) ([]byte, error) { return nil, errors.New("no CID today") },
	} {
		cc, _ := dtlsConfigs(t, testcert.ECDSAP256)
		cc.ConnectionIDs = &fsm.ConnectionIDs{Length: 6, New: bad}
		c := fsm.NewDTLSClient(cc)
		require.Error(t, c.Start(l.now))
		for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
			require.NotEqual(t, fsm.EventMessageSent, ev.Kind, "no ClientHello goes out")
		}
	}
}

// TestDatagramAdvanced: only a datagram with a record that authenticates
// under the current keys and is newer than all before it may move the
// peer's address; a replay, an old record, a forgery and plaintext may
// not.
func TestDatagramAdvanced(t *testing.T) {
	l := newCIDLink(t, &fsm.ConnectionIDs{Length: 4}, &fsm.ConnectionIDs{Length: 4})
	var records [][]byte
	for _, msg := range []string{"one", "two"} {
		_, err := l.client.conn.Write(l.now, []byte(msg))
		require.NoError(t, err)
		records = append(records, nextTransmit(t, l.client.conn))
	}
	s := l.server.conn
	advanced := func(d []byte) bool {
		require.NoError(t, s.HandleDatagram(l.now, bytes.Clone(d)))
		l.drain(l.server)
		return s.DatagramAdvanced()
	}
	require.True(t, advanced(records[1]), "the newest record")
	require.False(t, advanced(records[0]), "an older one")
	require.False(t, advanced(records[1]), "a replay")
	forged := bytes.Clone(records[1])
	forged[len(forged)-1] ^= 1
	forged[10]++ // a newer sequence number
	require.False(t, advanced(forged), "a forgery")
	plain := record.AppendDTLSPlain(nil, record.TypeHandshake, record.VersionDTLS12, 0, 99,
		flights.AppendFragment(nil, flights.Fragment{Type: flights.TypeClientHello}))
	require.False(t, advanced(plain), "plaintext")
	require.Equal(t, "twoone", string(l.server.received[len(l.server.received)-6:]), "both delivered, in the order they came")
}

// TestDatagramAdvancedAfterClose: once a Conn reads no more, after the
// peer's close_notify and then after its own Close, no datagram advances
// it: neither a replay of the close_notify, which an attacker could send
// from its own address with the CID in the clear to draw the server's
// writes there, nor anything else.
func TestDatagramAdvancedAfterClose(t *testing.T) {
	l := newCIDLink(t, &fsm.ConnectionIDs{Length: 4}, &fsm.ConnectionIDs{Length: 4})
	require.NoError(t, l.client.conn.Close(l.now))
	closeNotify := nextTransmit(t, l.client.conn)
	s := l.server.conn
	require.NoError(t, s.HandleDatagram(l.now, bytes.Clone(closeNotify)))
	require.True(t, s.DatagramAdvanced(), "the close_notify itself")
	l.drain(l.server)
	_, err := s.Write(l.now, []byte("still writing"))
	require.NoError(t, err, "the server may still write")
	for _, step := range []string{"after the peer's close_notify", "after both closed"} {
		if step == "after both closed" {
			require.NoError(t, s.Close(l.now))
			l.drain(l.server)
			require.Equal(t, fsm.StateClosed, s.State())
		}
		require.NoError(t, s.HandleDatagram(l.now, bytes.Clone(closeNotify)))
		require.False(t, s.DatagramAdvanced(), "a replay %s", step)
		require.NoError(t, s.HandleDatagram(l.now, []byte{byte(record.TypeConnectionID)}))
		require.False(t, s.DatagramAdvanced(), "garbage %s", step)
	}
}

// TestConnectionIDHostile: records in the CID format where none was
// asked for, with another CID, a CID of another length or a bad tag, and
// protected records without the CID asked for, are dropped silently, and
// the connection carries on.
func TestConnectionIDHostile(t *testing.T) {
	l := newCIDLink(t, &fsm.ConnectionIDs{Length: 4}, &fsm.ConnectionIDs{Length: 4})
	_, err := l.client.conn.Write(l.now, []byte("x"))
	require.NoError(t, err)
	good := nextTransmit(t, l.client.conn)
	cid := l.server.conn.ConnectionState().ConnectionID

	otherCID := bytes.Clone(good)
	otherCID[11] ^= 0xff
	longer := append(append(bytes.Clone(good[:15]), 0), good[15:]...)
	badTag := bytes.Clone(good)
	badTag[len(badTag)-1] ^= 1
	plain := bytes.Clone(good[:11])
	plain[0] = byte(record.TypeApplicationData)
	plain = append(append(plain, good[15:17]...), good[17:]...)
	for name, d := range map[string][]byte{
		"another CID": otherCID, "a CID one byte longer": longer, "a bad tag": badTag, "no CID": plain,
	} {
		require.NoError(t, l.server.conn.HandleDatagram(l.now, d), name)
		require.False(t, l.server.conn.DatagramAdvanced(), name)
		require.Equal(t, cid, l.server.conn.ConnectionState().ConnectionID)
	}
	l.drain(l.server)
	require.Empty(t, l.server.received)
	require.NoError(t, l.server.conn.HandleDatagram(l.now, good))
	l.drain(l.server)
	require.Equal(t, "x", string(l.server.received))

	// Before any CID is negotiated, a CID record is malformed: the rest of
	// its datagram is dropped with it.
	_, sc := dtlsConfigs(t, testcert.ECDSAP256)
	sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}
	server := fsm.NewDTLSServer(sc, []byte("client address"))
	require.NoError(t, server.HandleDatagram(l.now, append(bytes.Clone(good), firstHello(t)...)))
	require.Equal(t, fsm.EventNone, server.NextEvent().Kind, "the ClientHello after it went with it")
}

// firstHello is a DTLS client's first datagram.
func firstHello(t *testing.T) []byte {
	cc, _ := dtlsConfigs(t, testcert.ECDSAP256)
	c := fsm.NewDTLSClient(cc)
	require.NoError(t, c.Start(time.Now()))
	return nextTransmit(t, c)
}

// TestConnectionIDUnsolicited: a ServerHello with connection_id to a
// client that offered none is refused with unsupported_extension.
func TestConnectionIDUnsolicited(t *testing.T) {
	p := newDTPair(t, nil)
	p.toServerFlight()
	rec := dtRecords(p.client.inbox[0])[0]
	p.client.inbox = nil
	f, _, err := flights.ParseFragment(rec[record.DTLSHeaderLen:])
	require.NoError(t, err)
	require.Equal(t, flights.TypeServerHello, f.Type)
	var sh flights.ServerHello
	require.NoError(t, sh.Unmarshal(f.Data))
	sh.ConnectionIDSupported, sh.ConnectionID = true, []byte{1, 2, 3}
	p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg(sh.Append(nil), f.Seq)))
	require.ErrorIs(t, p.client.conn.Err(), record.AlertUnsupportedExtension)
}
