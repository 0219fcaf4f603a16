package fsm_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// dgramSide is one end of an in-memory datagram link.
type dgramSide struct {
	conn     *fsm.Conn
	inbox    [][]byte
	received []byte
	done     int
	deadline time.Time
	closed   bool
	events   []fsm.EventKind
}

// dgramLink joins two DTLS Conns, dropping datagrams as drop decides, with
// a virtual clock.
type dgramLink struct {
	now            time.Time
	client, server *dgramSide
	drop           func(from *dgramSide, d []byte) bool
	// reuse, when set, is the one buffer every datagram is read into, as
	// an event loop would: overwritten after each is handled and drained.
	reuse []byte
}

func newDgramLink(t testing.TB, cc, sc *fsm.Config) *dgramLink {
	return &dgramLink{
		now:    time.Now(),
		client: &dgramSide{conn: fsm.NewDTLSClient(cc)},
		server: &dgramSide{conn: fsm.NewDTLSServer(sc, []byte("client address"))},
	}
}

func (l *dgramLink) other(s *dgramSide) *dgramSide {
	if s == l.client {
		return l.server
	}
	return l.client
}

func (l *dgramLink) drain(s *dgramSide) {
	for ev := s.conn.NextEvent(); ev.Kind != fsm.EventNone; ev = s.conn.NextEvent() {
		s.events = append(s.events, ev.Kind)
		switch ev.Kind {
		case fsm.EventTransmit:
			if l.drop == nil || !l.drop(s, ev.Data) {
				to := l.other(s)
				to.inbox = append(to.inbox, append([]byte(nil), ev.Data...))
			}
		case fsm.EventData:
			s.received = append(s.received, ev.Data...)
		case fsm.EventHandshakeDone:
			s.done++
		case fsm.EventTimer:
			s.deadline = ev.Deadline
		case fsm.EventClosed:
			s.closed = true
		}
	}
}

// run delivers datagrams and fires timers on the virtual clock until
// nothing is in flight and no timer is set, or until limit steps.
func (l *dgramLink) run(t testing.TB, limit int) {
	for step := 0; step < limit; step++ {
		l.drain(l.client)
		l.drain(l.server)
		moved := false
		for _, s := range []*dgramSide{l.client, l.server} {
			moved = l.deliver(s) || moved
		}
		if moved {
			continue
		}
		next := time.Time{}
		for _, s := range []*dgramSide{l.client, l.server} {
			if !s.deadline.IsZero() && (next.IsZero() || s.deadline.Before(next)) {
				next = s.deadline
			}
		}
		if next.IsZero() {
			return
		}
		l.now = next
		for _, s := range []*dgramSide{l.client, l.server} {
			if !s.deadline.IsZero() && !s.deadline.After(l.now) {
				s.deadline = time.Time{}
				s.conn.HandleTimeout(l.now)
			}
		}
	}
	t.Fatalf("no quiescence after %d steps", limit)
}

func dtlsConfigs(t testing.TB, kind testcert.Kind) (cc, sc *fsm.Config) {
	cc, sc = configs(t, kind)
	return cc, sc
}

// TestDTLSReusedDatagramBuffer: a caller may read every datagram into
// one buffer once the events of the last are drained, as HandleDatagram's
// doc says and examples/eventloop does: a handshake whose flights are cut
// into fragments, a retransmission and data both ways come through.
func TestDTLSReusedDatagramBuffer(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.RSA2048)
	cc.MTU, sc.MTU = 300, 300
	l := newDgramLink(t, cc, sc)
	l.reuse = make([]byte, 0, 1500)
	lost := false
	l.drop = func(from *dgramSide, d []byte) bool {
		if from == l.server && !lost {
			lost = true // the first datagram of the server's flight
			return true
		}
		return false
	}
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, 1, l.client.done)
	require.Equal(t, 1, l.server.done)
	for _, s := range []*dgramSide{l.client, l.server} {
		_, err := s.conn.Write(l.now, []byte("through one buffer"))
		require.NoError(t, err)
	}
	l.run(t, 10)
	require.Equal(t, "through one buffer", string(l.client.received))
	require.Equal(t, "through one buffer", string(l.server.received))
}

func TestDTLSHandshake(t *testing.T) {
	for _, kind := range []testcert.Kind{testcert.ECDSAP256, testcert.RSA2048} {
		cc, sc := dtlsConfigs(t, kind)
		l := newDgramLink(t, cc, sc)
		require.NoError(t, l.client.conn.Start(l.now))
		l.run(t, 100)
		require.Equal(t, 1, l.client.done, "client")
		require.Equal(t, 1, l.server.done, "server")
		require.Equal(t, uint16(0xfefd), l.client.conn.ConnectionState().Version)
		_, err := l.client.conn.Write(l.now, []byte("over datagrams"))
		require.NoError(t, err)
		l.run(t, 10)
		require.Equal(t, "over datagrams", string(l.server.received))
		require.Contains(t, l.server.events, fsm.EventMessageSent)
	}
}

func TestDTLSHandshakeWithLoss(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
		cc.MTU, sc.MTU = 300, 300 // fragment the certificate flight
		l := newDgramLink(t, cc, sc)
		rng := rand.New(rand.NewPCG(seed, 1))
		l.drop = func(*dgramSide, []byte) bool { return rng.IntN(4) == 0 }
		require.NoError(t, l.client.conn.Start(l.now))
		l.run(t, 2000)
		if l.client.closed || l.server.closed {
			// Eight losses of one flight in a row end the handshake.
			require.ErrorIs(t, l.client.conn.Err(), fsm.ErrHandshakeTimeout, "seed %d", seed)
			continue
		}
		require.Equal(t, 1, l.client.done, "seed %d", seed)
		require.Equal(t, 1, l.server.done, "seed %d", seed)
	}
}

// TestVerifyHelloStateless: a listener answers a cookie-less ClientHello
// without a Conn, then accepts the ClientHello that carries the cookie.
func TestVerifyHelloStateless(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	now := time.Now()
	client := fsm.NewDTLSClient(cc)
	require.NoError(t, client.Start(now))
	first := nextTransmit(t, client)
	reply, accept := fsm.VerifyHello(sc, []byte("10.0.0.1:5"), now, first)
	require.False(t, accept)
	require.NotEmpty(t, reply)
	require.NoError(t, client.HandleDatagram(now, reply))
	second := nextTransmit(t, client)
	_, accept = fsm.VerifyHello(sc, []byte("10.0.0.1:5"), now, second)
	require.True(t, accept)
	// The cookie is bound to the address.
	reply, accept = fsm.VerifyHello(sc, []byte("10.0.0.2:5"), now, second)
	require.False(t, accept)
	require.NotEmpty(t, reply)
	// The real Conn takes the datagram and answers with its flight.
	server := fsm.NewDTLSServer(sc, []byte("10.0.0.1:5"))
	require.NoError(t, server.HandleDatagram(now, second))
	require.Equal(t, fsm.StateServerWaitClientKeyExchange12, server.State())
	// Garbage gets nothing.
	reply, accept = fsm.VerifyHello(sc, nil, now, []byte{1, 2, 3})
	require.False(t, accept)
	require.Empty(t, reply)
}

// fragmentHello splits the ClientHello in a client's datagram into
// fragments of at most size bytes of body, one datagram each, with
// record sequence numbers going on from the original's.
func fragmentHello(t *testing.T, datagram []byte, size int) [][]byte {
	t.Helper()
	rec, _, err := record.ParseDTLSRecord(datagram)
	require.NoError(t, err)
	var out [][]byte
	flights.AppendFragments(nil, rec.Payload, flights.DTLSHeaderLen+size, func(frag []byte) {
		out = append(out, record.AppendDTLSPlain(nil, record.TypeHandshake, rec.Version, 0, rec.Seq+uint64(len(out)), frag))
	})
	require.Greater(t, len(out), 1)
	return out
}

// TestVerifyHelloFragmented: the front door answers a ClientHello split
// across datagrams from its first fragment, which holds the cookie, and
// the Conn it makes reassembles the rest.
func TestVerifyHelloFragmented(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	now := time.Now()
	peer := []byte("10.0.0.1:5")
	client := fsm.NewDTLSClient(cc)
	require.NoError(t, client.Start(now))
	// 120 bytes of body: the fields up to a 32-byte cookie take 100.
	first := fragmentHello(t, nextTransmit(t, client), 120)
	reply, accept := fsm.VerifyHello(sc, peer, now, first[0])
	require.False(t, accept)
	require.NotEmpty(t, reply, "a cookieless first fragment gets a HelloVerifyRequest")
	reply2, _ := fsm.VerifyHello(sc, peer, now, first[1])
	require.Empty(t, reply2, "a later fragment gets nothing")

	require.NoError(t, client.HandleDatagram(now, reply))
	second := fragmentHello(t, nextTransmit(t, client), 120)
	_, accept = fsm.VerifyHello(sc, peer, now, second[0])
	require.True(t, accept, "the cookie is checked in the first fragment")
	server := fsm.NewDTLSServer(sc, peer)
	for _, d := range second {
		require.NoError(t, server.HandleDatagram(now, d))
	}
	require.Equal(t, fsm.StateServerWaitClientKeyExchange12, server.State())
}

// TestVerifyHelloAllocations: the front door allocates nothing for a
// datagram it drops or accepts, whatever the datagram claims, and only
// the reply for a HelloVerifyRequest.
func TestVerifyHelloAllocations(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	now := time.Now()
	peer := []byte("10.0.0.1:5")
	client := fsm.NewDTLSClient(cc)
	require.NoError(t, client.Start(now))
	first := nextTransmit(t, client)
	reply, _ := fsm.VerifyHello(sc, peer, now, first)
	require.NoError(t, client.HandleDatagram(now, reply))
	second := nextTransmit(t, client)

	var bomb []byte
	for seq := range uint16(fsm.MaxFragmentsPerDatagram + 10) {
		bomb = flights.AppendFragment(bomb, flights.Fragment{Type: flights.TypeClientHello, Length: 1<<24 - 1, Seq: seq, Offset: 1, Data: []byte{1}})
	}
	bomb = record.AppendDTLSPlain(nil, record.TypeHandshake, record.VersionDTLS12, 0, 0, bomb)
	for name, tc := range map[string]struct {
		datagram []byte
		allocs   float64
		reply    bool
	}{
		"fragment bomb": {bomb, 0, false},
		"cookieless":    {first, 1, true},
		"cookie":        {second, 0, false},
	} {
		replied := false
		got := testing.AllocsPerRun(100, func() {
			reply, _ := fsm.VerifyHello(sc, peer, now, tc.datagram)
			replied = len(reply) > 0
		})
		require.Equal(t, tc.reply, replied, name)
		require.Equal(t, tc.allocs, got, name)
	}
}

func nextTransmit(t *testing.T, c *fsm.Conn) []byte {
	t.Helper()
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		if ev.Kind == fsm.EventTransmit {
			return append([]byte(nil), ev.Data...)
		}
	}
	t.Fatal("nothing transmitted")
	return nil
}

// TestDTLSSRTP negotiates a DTLS-SRTP profile and derives the SRTP keying
// material from the exporter, equal on both sides.
func TestDTLSSRTP(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	cc.SRTPProtectionProfiles = []uint16{fsm.SRTP_AEAD_AES_128_GCM, fsm.SRTP_AES128_CM_HMAC_SHA1_80}
	sc.SRTPProtectionProfiles = []uint16{fsm.SRTP_AES128_CM_HMAC_SHA1_80, fsm.SRTP_AEAD_AES_128_GCM}
	l := newDgramLink(t, cc, sc)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, fsm.SRTP_AES128_CM_HMAC_SHA1_80, l.client.conn.ConnectionState().SRTPProtectionProfile)
	require.Equal(t, fsm.SRTP_AES128_CM_HMAC_SHA1_80, l.server.conn.ConnectionState().SRTPProtectionProfile)
	a, err := l.client.conn.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 60)
	require.NoError(t, err)
	b, err := l.server.conn.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 60)
	require.NoError(t, err)
	require.Equal(t, a, b)
	c, err := l.server.conn.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", []byte{}, 60)
	require.NoError(t, err)
	require.NotEqual(t, a, c, "an empty context is not no context")
}

// TestVersionNumbering: supported_versions is read in the transport's own
// numbering. A DTLS server takes DTLS 1.2 from a hello offering DTLS 1.3
// and 1.2, as pion/dtls and browsers send; a TLS server finds no version
// in a list of DTLS ones, nor a DTLS server in a list of TLS ones.
func TestVersionNumbering(t *testing.T) {
	_, sc := dtlsConfigs(t, testcert.ECDSAP256)
	sc.InsecureSkipHelloVerify = true
	x25519 := make([]byte, 32)
	x25519[0] = 9
	hello := func(dtls bool, versions ...uint16) *flights.ClientHello {
		legacy := uint16(record.VersionTLS12)
		if dtls {
			legacy = record.VersionDTLS12
		}
		return &flights.ClientHello{
			Version: legacy, DTLS: dtls, Random: make([]byte, 32),
			CipherSuites:       []uint16{0x1301, 0xc02b},
			CompressionMethods: []byte{0}, SupportedGroups: []uint16{uint16(fsm.X25519), uint16(fsm.CurveP256)},
			SignatureAlgorithms: []uint16{0x0403}, ECPointFormats: []uint8{0},
			SupportedVersions:            versions,
			KeyShares:                    []flights.KeyShare{{Group: uint16(fsm.X25519), Data: x25519}},
			SecureRenegotiationSupported: true, ExtendedMasterSecret: true,
		}
	}
	dtlsServer := func(ch *flights.ClientHello) *fsm.Conn {
		s := fsm.NewDTLSServer(sc, []byte("10.0.0.1:5"))
		s.HandleDatagram(time.Now(), record.AppendDTLSPlain(nil, record.TypeHandshake, record.VersionDTLS10, 0, 0,
			flights.ToDTLS(nil, ch.Append(nil), 0)))
		return s
	}
	s := dtlsServer(hello(true, record.VersionDTLS13, record.VersionDTLS12))
	require.NoError(t, s.Err())
	require.Equal(t, fsm.StateServerWaitClientKeyExchange12, s.State())
	require.Equal(t, record.VersionDTLS12, s.ConnectionState().Version)

	s = dtlsServer(hello(true, record.VersionTLS13, record.VersionTLS12))
	require.ErrorIs(t, s.Err(), record.AlertProtocolVersion, "TLS numbers over DTLS")

	// Without supported_versions, a legacy_version above DTLS 1.2 (DTLS
	// counts down) gets DTLS 1.2.
	for _, legacy := range []uint16{0xfe00, 0xfdff} {
		ch := hello(true)
		ch.Version, ch.KeyShares = legacy, nil
		s = dtlsServer(ch)
		require.NoError(t, s.Err(), "%#04x", legacy)
		require.Equal(t, record.VersionDTLS12, s.ConnectionState().Version)
	}

	tlsServer := fsm.NewServer(sc)
	tlsServer.HandleData(time.Now(), record.AppendPlain(nil, record.TypeHandshake, record.VersionTLS10,
		hello(false, record.VersionDTLS13, record.VersionDTLS12).Append(nil)))
	require.ErrorIs(t, tlsServer.Err(), record.AlertProtocolVersion, "DTLS numbers over TLS")
}

// TestCookieSecretsShared: servers that share Config.CookieSecrets accept
// each other's cookies, as processes behind one address must; a server
// that rotated to a new first secret still accepts the old one, and one
// with secrets of its own accepts neither.
func TestCookieSecretsShared(t *testing.T) {
	cc, _ := dtlsConfigs(t, testcert.ECDSAP256)
	now := time.Now()
	peer := []byte("10.0.0.1:5")
	k1, k2 := [32]byte{1}, [32]byte{2}
	a := &fsm.Config{CookieSecrets: [][32]byte{k1}}
	client := fsm.NewDTLSClient(cc)
	require.NoError(t, client.Start(now))
	reply, accept := fsm.VerifyHello(a, peer, now, nextTransmit(t, client))
	require.False(t, accept)
	require.NoError(t, client.HandleDatagram(now, reply))
	second := nextTransmit(t, client)
	for name, tc := range map[string]struct {
		cfg    *fsm.Config
		accept bool
	}{
		"the same secrets":   {&fsm.Config{CookieSecrets: [][32]byte{k1}}, true},
		"rotated":            {&fsm.Config{CookieSecrets: [][32]byte{k2, k1}}, true},
		"other secrets":      {&fsm.Config{CookieSecrets: [][32]byte{k2}}, false},
		"secrets of its own": {&fsm.Config{}, false},
	} {
		_, accept := fsm.VerifyHello(tc.cfg, peer, now, second)
		require.Equal(t, tc.accept, accept, name)
	}
}

// TestDTLSRecordVersion: a record that does not carry a DTLS version
// (0xfeXX) is dropped like any invalid record.
func TestDTLSRecordVersion(t *testing.T) {
	_, sc := dtlsConfigs(t, testcert.ECDSAP256)
	hello := firstHello(t)
	answered := func(d []byte) bool {
		s := fsm.NewDTLSServer(sc, []byte("10.0.0.1:5"))
		require.NoError(t, s.HandleDatagram(time.Now(), d))
		return s.NextEvent().Kind != fsm.EventNone
	}
	require.True(t, answered(bytes.Clone(hello)))
	tlsVersion := bytes.Clone(hello)
	tlsVersion[1], tlsVersion[2] = 3, 3
	require.False(t, answered(tlsVersion))
}

// splitRecords returns each record of a datagram as a datagram of its own.
func splitRecords(t *testing.T, d []byte) [][]byte {
	var out [][]byte
	for len(d) > 0 {
		_, rest, err := record.ParseDTLSRecord(d)
		require.NoError(t, err)
		out = append(out, bytes.Clone(d[:len(d)-len(rest)]))
		d = rest
	}
	return out
}

// deliverAll hands over the datagrams in flight until none is left,
// firing no timer.
func (l *dgramLink) deliverAll() {
	for l.drain(l.client); len(l.client.inbox)+len(l.server.inbox) > 0; {
		l.drain(l.server)
		l.deliver(l.client)
		l.deliver(l.server)
	}
}

// TestDTLSFinishedBeforeChangeCipherSpec: datagrams reorder, so the
// client's Finished (of the next epoch) may reach the server before the
// ChangeCipherSpec that starts that epoch; the server keeps it and reads
// it then, and the handshake completes with no retransmission. Application
// data of the new epoch that comes before the Finished is dropped, not
// fatal.
func TestDTLSFinishedBeforeChangeCipherSpec(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	lastFlight := func() (*dgramLink, [][]byte) {
		l := newDgramLink(t, cc, sc)
		var held []byte
		l.drop = func(from *dgramSide, d []byte) bool {
			if from == l.client && bytes.Contains(d, []byte{byte(record.TypeChangeCipherSpec), 0xfe, 0xfd}) {
				held = bytes.Clone(d)
				return true
			}
			return false
		}
		require.NoError(t, l.client.conn.Start(l.now))
		l.deliverAll()
		require.NotNil(t, held, "the client's last flight")
		require.Zero(t, l.server.done)
		return l, splitRecords(t, held)
	}
	l, recs := lastFlight()
	fin := recs[len(recs)-1]
	require.Equal(t, uint16(1), uint16(fin[3])<<8|uint16(fin[4]), "the Finished, of epoch 1")
	s := l.server.conn
	require.NoError(t, s.HandleDatagram(l.now, fin))
	require.NoError(t, s.HandleDatagram(l.now, bytes.Join(recs[:len(recs)-1], nil)))
	l.drain(l.server)
	require.Equal(t, 1, l.server.done, "the Finished kept for epoch 1 completes the handshake")
	l.deliverAll()
	require.Equal(t, 1, l.client.done)

	// Application data between the ChangeCipherSpec and the Finished.
	l, recs = lastFlight()
	s = l.server.conn
	early := l.client.conn.SealDatagramRecordForTest(record.TypeApplicationData, []byte("too soon"))
	require.NoError(t, s.HandleDatagram(l.now, bytes.Join(recs[:len(recs)-1], nil)))
	require.NoError(t, s.HandleDatagram(l.now, early), "dropped")
	require.NoError(t, s.HandleDatagram(l.now, recs[len(recs)-1]))
	l.drain(l.server)
	require.Equal(t, 1, l.server.done)
	require.Empty(t, l.server.received)
}

// ccsFirst moves a datagram's ChangeCipherSpec record to its front.
func ccsFirst(t *testing.T, d []byte) []byte {
	recs := splitRecords(t, d)
	for i, r := range recs {
		if record.ContentType(r[0]) == record.TypeChangeCipherSpec {
			recs = append(append([][]byte{r}, recs[:i]...), recs[i+1:]...)
			break
		}
	}
	return bytes.Join(recs, nil)
}

// TestDTLSChangeCipherSpecAheadOfItsFlight: datagrams reorder, so a
// ChangeCipherSpec may arrive before the handshake messages it follows:
// the client's before its ClientKeyExchange, the server's before its
// NewSessionTicket, and, when a session is resumed, before its ServerHello.
// Each side keeps it and reads it once those messages are in, and both
// handshakes complete with no retransmission.
func TestDTLSChangeCipherSpecAheadOfItsFlight(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	cc.ClientSessionCache = fsm.NewLRUSessionCache(4)
	for _, resumed := range []bool{false, true} {
		l := newDgramLink(t, cc, sc)
		reordered := 0
		l.drop = func(from *dgramSide, d []byte) bool {
			if !bytes.Contains(d, []byte{byte(record.TypeChangeCipherSpec), 0xfe, 0xfd}) {
				return false
			}
			if moved := ccsFirst(t, d); !bytes.Equal(moved, d) {
				reordered++
				l.other(from).inbox = append(l.other(from).inbox, moved)
				return true
			}
			return false
		}
		require.NoError(t, l.client.conn.Start(l.now))
		l.deliverAll()
		// In a resumption the client's last flight is ChangeCipherSpec
		// and Finished: it has no message to overtake.
		require.Equal(t, map[bool]int{false: 2, true: 1}[resumed], reordered, "resumed %v: flights reordered", resumed)
		require.Equal(t, 1, l.client.done, "resumed %v: client", resumed)
		require.Equal(t, 1, l.server.done, "resumed %v: server", resumed)
		require.Equal(t, resumed, l.client.conn.ConnectionState().DidResume)
	}
}

// TestDTLSCallsDateTheirTimer: the calls that take no input (Handshake,
// Write) date what they start by the time given them, not by the last
// input's: a renegotiation started long after the last datagram arms
// its retransmission timer from the call.
func TestDTLSCallsDateTheirTimer(t *testing.T) {
	for _, via := range []string{"Handshake", "Write"} {
		t.Run(via, func(t *testing.T) {
			cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
			sc.RetransmitTimeout = time.Second
			l := newDgramLink(t, cc, sc)
			require.NoError(t, l.client.conn.Start(l.now))
			l.run(t, 100)
			require.Equal(t, 1, l.server.done)
			require.True(t, l.server.deadline.IsZero(), "no timer once connected")
			// The server renegotiates once the client's data shows that it
			// completed the handshake.
			_, err := l.client.conn.Write(l.now, []byte("done"))
			require.NoError(t, err)
			l.run(t, 100)

			later := l.now.Add(time.Hour)
			s := l.server.conn
			require.NoError(t, s.Renegotiate())
			if via == "Handshake" {
				require.NoError(t, s.Handshake(later))
			} else {
				_, err = s.Write(later, []byte("with the HelloRequest"))
				require.NoError(t, err)
			}
			l.drain(l.server)
			require.Equal(t, later.Add(time.Second), l.server.deadline, "the HelloRequest's timer")
		})
	}
}
