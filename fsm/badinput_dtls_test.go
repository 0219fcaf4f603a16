package fsm_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// The DTLS hostile-input cases. Over datagrams most invalid input is
// dropped without a word (RFC 6347 §4.1.2.7): anyone can send a datagram,
// and a connection that an unauthenticated packet could end would be easy
// to kill. So besides "closes with this alert" a case may expect the
// input to be ignored: the Conn stays in its state, sends no alert, emits
// no event beyond the ones the case lists, and the handshake can still
// complete afterwards, with data flowing. A third outcome is "completes":
// the input is taken as valid and the handshake completes.

// dtSide is one end of a dtPair with every event it emitted.
type dtSide struct {
	name     string
	conn     *fsm.Conn
	inbox    [][]byte
	events   []fsm.Event
	received []byte
	done     int
	deadline time.Time
}

// dtPair joins a DTLS client and server in memory on a virtual clock. The
// key log of both sides and the server random of the last ServerHello on
// the wire let a test open and forge protected records.
type dtPair struct {
	t              *testing.T
	now            time.Time
	client, server *dtSide
	// tamper sees each datagram a side transmits and returns what the
	// peer receives instead (nil: lost).
	tamper       func(from *dtSide, d []byte) []byte
	keyLog       *bytes.Buffer
	serverRandom []byte
	// forgeSeq is the next record sequence number of forged records. It
	// starts above what the Conns use in a short test and stays within
	// the replay window of their own numbers, so that the genuine records
	// that follow are still accepted.
	forgeSeq uint64
}

// newDTPair returns a pair of fresh Conns with the ECDSA test certificate
// and the suite of the crafted TLS 1.2 peers, changed by edit.
func newDTPair(t *testing.T, edit func(cc, sc *fsm.Config)) *dtPair {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.CipherSuites = []uint16{suite12}
	keyLog := new(bytes.Buffer)
	cc.KeyLogWriter, sc.KeyLogWriter = keyLog, keyLog
	if edit != nil {
		edit(cc, sc)
	}
	return &dtPair{
		t: t, now: time.Now(), keyLog: keyLog, forgeSeq: 30,
		client: &dtSide{name: "client", conn: fsm.NewDTLSClient(cc)},
		server: &dtSide{name: "server", conn: fsm.NewDTLSServer(sc, []byte("client address"))},
	}
}

func (p *dtPair) peer(s *dtSide) *dtSide {
	if s == p.client {
		return p.server
	}
	return p.client
}

// drain takes s's events and returns them; transmissions go to the peer's
// inbox through tamper.
func (p *dtPair) drain(s *dtSide) []fsm.Event {
	var evs []fsm.Event
	for ev := s.conn.NextEvent(); ev.Kind != fsm.EventNone; ev = s.conn.NextEvent() {
		if ev.Data != nil {
			ev.Data = bytes.Clone(ev.Data)
		}
		evs = append(evs, ev)
		switch ev.Kind {
		case fsm.EventTransmit:
			if s == p.server {
				p.noteServerHello(ev.Data)
			}
			d := ev.Data
			if p.tamper != nil {
				d = p.tamper(s, bytes.Clone(d))
			}
			if d != nil {
				to := p.peer(s)
				to.inbox = append(to.inbox, d)
			}
		case fsm.EventData:
			s.received = append(s.received, ev.Data...)
		case fsm.EventHandshakeDone:
			s.done++
		case fsm.EventTimer:
			s.deadline = ev.Deadline
		}
	}
	s.events = append(s.events, evs...)
	return evs
}

// noteServerHello keeps the random of a ServerHello in a datagram.
func (p *dtPair) noteServerHello(d []byte) {
	for _, rec := range dtRecords(d) {
		pl := rec[record.DTLSHeaderLen:]
		if rec[0] == byte(record.TypeHandshake) && binary.BigEndian.Uint16(rec[3:5]) == 0 &&
			len(pl) >= 12+34 && pl[0] == byte(flights.TypeServerHello) && pl[6] == 0 && pl[7] == 0 && pl[8] == 0 {
			p.serverRandom = bytes.Clone(pl[12+2 : 12+34])
		}
	}
}

// start makes the client send its ClientHello.
func (p *dtPair) start() {
	require.NoError(p.t, p.client.conn.Start(p.now))
	p.drain(p.client)
}

// step hands s the datagrams in its inbox now, not those it sends back.
func (p *dtPair) step(s *dtSide) []fsm.Event {
	in := s.inbox
	s.inbox = nil
	return p.inject(s, in...)
}

// inject hands s the datagrams and returns the events they caused.
func (p *dtPair) inject(s *dtSide, datagrams ...[]byte) []fsm.Event {
	var evs []fsm.Event
	for _, d := range datagrams {
		s.conn.HandleDatagram(p.now, d)
		evs = append(evs, p.drain(s)...)
	}
	return evs
}

// run delivers datagrams and fires timers until nothing is in flight and
// no timer is set.
func (p *dtPair) run() {
	for range 1000 {
		moved := false
		for _, s := range []*dtSide{p.client, p.server} {
			if len(s.inbox) > 0 {
				p.step(s)
				moved = true
			}
		}
		if moved {
			continue
		}
		var next time.Time
		for _, s := range []*dtSide{p.client, p.server} {
			if !s.deadline.IsZero() && (next.IsZero() || s.deadline.Before(next)) {
				next = s.deadline
			}
		}
		if next.IsZero() {
			return
		}
		p.now = next
		for _, s := range []*dtSide{p.client, p.server} {
			if !s.deadline.IsZero() && !s.deadline.After(p.now) {
				s.deadline = time.Time{}
				s.conn.HandleTimeout(p.now)
				p.drain(s)
			}
		}
	}
	p.t.Fatal("no quiescence after 1000 steps")
}

// toServerFlight runs the cookie exchange and the server's first flight,
// which waits in the client's inbox: the server is in
// ServerWaitClientKeyExchange12 and expects message_seq 2 next.
func (p *dtPair) toServerFlight() {
	p.start()
	p.step(p.server) // ClientHello -> HelloVerifyRequest
	p.step(p.client) // -> ClientHello with the cookie
	p.step(p.server) // -> ServerHello ... ServerHelloDone
	require.Equal(p.t, fsm.StateServerWaitClientKeyExchange12, p.server.conn.State())
	require.NotEmpty(p.t, p.client.inbox)
}

// toClientFlight goes on to the client's flight (ClientKeyExchange,
// ChangeCipherSpec, Finished), which waits in the server's inbox; the
// client waits for the server's NewSessionTicket.
func (p *dtPair) toClientFlight() {
	p.toServerFlight()
	p.step(p.client)
	require.Equal(p.t, fsm.StateClientWaitNewSessionTicket12, p.client.conn.State())
	require.NotEmpty(p.t, p.server.inbox)
}

// connect completes a handshake.
func (p *dtPair) connect() {
	p.start()
	p.run()
	require.Equal(p.t, 1, p.client.done)
	require.Equal(p.t, 1, p.server.done)
}

// forge returns a record as from would send it under its current keys in
// epoch, with the next forged sequence number.
func (p *dtPair) forge(from *dtSide, epoch uint16, typ record.ContentType, payload []byte) []byte {
	seq := p.forgeSeq
	p.forgeSeq++
	cr, master := keyLog12(p.t, p.keyLog)
	cw, sw := states12(p.t, master, cr, p.serverRandom)
	st := cw
	if from == p.server {
		st = sw
	}
	out, err := record.SealDTLS12(nil, st, typ, record.VersionDTLS12, epoch, seq, payload)
	require.NoError(p.t, err)
	return out
}

// plainRec returns an epoch 0 record with the next forged sequence number.
func (p *dtPair) plainRec(typ record.ContentType, payload []byte) []byte {
	seq := p.forgeSeq
	p.forgeSeq++
	return record.AppendDTLSPlain(nil, typ, record.VersionDTLS12, 0, seq, payload)
}

// reseal returns d with each protected handshake record whose plaintext
// begins with a message of type typ passed through edit and sealed again
// under the same epoch and sequence number.
func (p *dtPair) reseal(from *dtSide, d []byte, typ flights.MsgType, edit func(pt []byte) []byte) []byte {
	var out []byte
	for _, raw := range dtRecords(d) {
		rec, _, err := record.ParseDTLSRecord(bytes.Clone(raw))
		require.NoError(p.t, err)
		if rec.Epoch > 0 && rec.Type == record.TypeHandshake {
			cr, master := keyLog12(p.t, p.keyLog)
			cw, sw := states12(p.t, master, cr, p.serverRandom)
			st := cw
			if from == p.server {
				st = sw
			}
			pt, err := record.OpenDTLS12(st, rec)
			require.NoError(p.t, err)
			if len(pt) > 0 && flights.MsgType(pt[0]) == typ {
				raw, err = record.SealDTLS12(nil, st, rec.Type, rec.Version, rec.Epoch, rec.Seq, edit(bytes.Clone(pt)))
				require.NoError(p.t, err)
			}
		}
		out = append(out, raw...)
	}
	return out
}

// dtRecords cuts a datagram into its records; a malformed tail is left
// out.
func dtRecords(d []byte) [][]byte {
	var recs [][]byte
	for len(d) >= record.DTLSHeaderLen {
		n := record.DTLSHeaderLen + int(binary.BigEndian.Uint16(d[11:13]))
		if n > len(d) {
			break
		}
		recs = append(recs, d[:n])
		d = d[n:]
	}
	return recs
}

// dtFrag frames a handshake fragment by hand, so that it may lie.
func dtFrag(typ flights.MsgType, length uint32, seq uint16, off uint32, data []byte) []byte {
	b := []byte{byte(typ), byte(length >> 16), byte(length >> 8), byte(length)}
	b = binary.BigEndian.AppendUint16(b, seq)
	b = append(b, byte(off>>16), byte(off>>8), byte(off))
	n := len(data)
	b = append(b, byte(n>>16), byte(n>>8), byte(n))
	return append(b, data...)
}

// dtMsg returns a whole message in DTLS form with message_seq seq.
func dtMsg(tlsMsg []byte, seq uint16) []byte { return flights.ToDTLS(nil, tlsMsg, seq) }

// kinds returns the kinds of evs.
func kinds(evs []fsm.Event) []fsm.EventKind {
	out := make([]fsm.EventKind, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind
	}
	return out
}

// countKind counts the events of kind k.
func countKind(evs []fsm.Event, k fsm.EventKind) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// liveHeap returns the bytes of live heap objects after a full GC.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// dtFloodHeapBound bounds the live heap a flood of ignored records may
// leave behind: nothing of an ignored record is kept, so what remains is
// noise of the runtime and of the test's own slices.
const dtFloodHeapBound = 64 << 10

// dtOutcome is what a case must end in.
type dtOutcome struct {
	kind     dtKind
	alert    fsm.Alert
	received bool
}

type dtKind uint8

const (
	dtAlert     dtKind = iota // closed with alert, sent or received
	dtIgnored                 // dropped: nothing changes, the handshake completes after
	dtCompletes               // taken as valid: the handshake completes
)

func (o dtOutcome) String() string {
	switch o.kind {
	case dtIgnored:
		return "ignored"
	case dtCompletes:
		return "completes"
	}
	dir := "sends"
	if o.received {
		dir = "receives"
	}
	return dir + " " + o.alert.String()
}

func sendsDT(a fsm.Alert) dtOutcome    { return dtOutcome{kind: dtAlert, alert: a} }
func receivesDT(a fsm.Alert) dtOutcome { return dtOutcome{kind: dtAlert, alert: a, received: true} }

var (
	ignoredDT   = dtOutcome{kind: dtIgnored}
	completesDT = dtOutcome{kind: dtCompletes}
)

// dtAttack is what a case did: the pair, the victim, the victim's state
// before the hostile input, the events that input caused, and the event
// kinds it may cause when ignored (none unless listed).
type dtAttack struct {
	p       *dtPair
	v       *dtSide
	before  fsm.State
	events  []fsm.Event
	allowed []fsm.EventKind
	// oneWay: the forged records used up sequence numbers the peer's
	// genuine records need, so data is checked from the victim only.
	oneWay bool
}

// attack runs hostile on v and returns the record of it.
func attack(p *dtPair, v *dtSide, hostile func() []fsm.Event, allowed ...fsm.EventKind) *dtAttack {
	before := v.conn.State()
	return &dtAttack{p: p, v: v, before: before, events: hostile(), allowed: allowed}
}

type badDTLSCase struct {
	name string
	want dtOutcome
	run  func(t *testing.T) *dtAttack
}

// checkDTLSOutcome asserts that a case ended as it must.
func checkDTLSOutcome(t *testing.T, a *dtAttack, want dtOutcome) {
	t.Helper()
	switch want.kind {
	case dtAlert:
		checkDTLSClosedWith(t, a.v, want.alert, want.received)
	case dtIgnored:
		require.Equal(t, a.before, a.v.conn.State(), "events: %v", eventKinds(a.events))
		require.NoError(t, a.v.conn.Err())
		for _, ev := range a.events {
			require.Contains(t, a.allowed, ev.Kind, "event %s; all: %v", ev.Kind, eventKinds(a.events))
			if ev.Kind == fsm.EventAlertSent {
				require.Equal(t, record.LevelWarning, ev.Level)
			}
		}
		checkCompletes(t, a)
	case dtCompletes:
		checkCompletes(t, a)
	}
}

// checkCompletes runs the pair to the end: both sides have completed a
// handshake, neither sent a fatal alert nor closed, and data flows.
func checkCompletes(t *testing.T, a *dtAttack) {
	t.Helper()
	p := a.p
	p.run()
	for _, s := range []*dtSide{p.client, p.server} {
		require.NoError(t, s.conn.Err(), "%s: events %v", s.name, eventKinds(s.events))
		require.Positive(t, s.done, "%s completed no handshake: %v", s.name, eventKinds(s.events))
		for _, ev := range s.events {
			require.False(t, ev.Kind == fsm.EventAlertSent && ev.Level == record.LevelFatal, "%s sent %v", s.name, ev.Alert)
			require.NotEqual(t, fsm.EventClosed, ev.Kind, s.name)
		}
	}
	v, peer := a.v, p.peer(a.v)
	_, err := v.conn.Write(p.now, []byte("after"))
	require.NoError(t, err)
	p.drain(v)
	p.run()
	require.True(t, bytes.HasSuffix(peer.received, []byte("after")), "%s received %q", peer.name, peer.received)
	if !a.oneWay {
		_, err = peer.conn.Write(p.now, []byte("back"))
		require.NoError(t, err)
		p.drain(peer)
		p.run()
		require.True(t, bytes.HasSuffix(v.received, []byte("back")), "%s received %q", v.name, v.received)
	}
}

// midServer is a server that sent its first flight and waits for the
// client's, message_seq 2 first.
func midServer(t *testing.T) *dtPair {
	p := newDTPair(t, nil)
	p.toServerFlight()
	return p
}

// connectedDT is a pair whose handshake is complete.
func connectedDT(t *testing.T, edit func(cc, sc *fsm.Config)) *dtPair {
	p := newDTPair(t, edit)
	p.connect()
	return p
}

// clientAfterServerHello is a client that has taken only the ServerHello
// of the server's first flight (message_seq 1) and expects message_seq 2.
func clientAfterServerHello(t *testing.T) (p *dtPair, serverHello []byte, rest [][]byte) {
	p = newDTPair(t, nil)
	p.toServerFlight()
	var recs [][]byte
	for _, d := range p.client.inbox {
		recs = append(recs, dtRecords(d)...)
	}
	p.client.inbox = nil
	require.Equal(t, byte(flights.TypeServerHello), recs[0][record.DTLSHeaderLen])
	p.inject(p.client, recs[0])
	require.Equal(t, fsm.StateClientWaitCertificate12, p.client.conn.State())
	return p, recs[0], recs[1:]
}

// renegotiationHelloDT is a well-formed DTLS renegotiation ClientHello for
// p's connection, for the cases to spoil.
func renegotiationHelloDT(p *dtPair) *flights.ClientHello {
	return &flights.ClientHello{
		Version: record.VersionDTLS12, DTLS: true, Random: make([]byte, 32),
		CipherSuites:       []uint16{suite12},
		CompressionMethods: []byte{0}, SupportedGroups: []uint16{uint16(fsm.X25519), uint16(fsm.CurveP256)},
		SignatureAlgorithms:          []uint16{ecdsaP256SHA256},
		ECPointFormats:               []uint8{0},
		SecureRenegotiationSupported: true,
		SecureRenegotiation:          p.client.conn.VerifyDataForTest(),
		ExtendedMasterSecret:         true,
	}
}

// renegotiationCase sends a connected server that allows client
// renegotiation a renegotiation ClientHello spoiled by edit.
func renegotiationCase(edit func(*flights.ClientHello)) func(t *testing.T) *dtAttack {
	return func(t *testing.T) *dtAttack {
		p := connectedDT(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
		ch := renegotiationHelloDT(p)
		edit(ch)
		return attack(p, p.server, func() []fsm.Event {
			return p.inject(p.server, p.forge(p.client, 1, record.TypeHandshake, dtMsg(ch.Append(nil), 0)))
		})
	}
}

// alertDescriptions are every alert description of package record, and
// one it does not know.
var alertDescriptions = []fsm.Alert{
	record.AlertCloseNotify, record.AlertUnexpectedMessage, record.AlertBadRecordMAC, record.AlertRecordOverflow,
	record.AlertHandshakeFailure, record.AlertBadCertificate, record.AlertUnsupportedCertificate,
	record.AlertCertificateRevoked, record.AlertCertificateExpired, record.AlertCertificateUnknown,
	record.AlertIllegalParameter, record.AlertUnknownCA, record.AlertAccessDenied, record.AlertDecodeError,
	record.AlertDecryptError, record.AlertProtocolVersion, record.AlertInsufficientSecurity,
	record.AlertInternalError, record.AlertInappropriateFallback, record.AlertUserCanceled,
	record.AlertNoRenegotiation, record.AlertMissingExtension, record.AlertUnsupportedExtension,
	record.AlertUnrecognizedName, record.AlertBadCertificateStatusResponse, record.AlertUnknownPSKIdentity,
	record.AlertCertificateRequired, record.AlertNoApplicationProtocol, 255,
}

// alertCases are, for every description: a fatal alert in the clear to a
// server in the middle of its handshake, which closes it with that alert;
// and a warning alert under the client's keys to a connected server, which
// DTLS 1.2 ignores, except close_notify, which ends what the client sends
// (the server stays connected until it closes too), and no_renegotiation,
// which only answers a HelloRequest the server did not send.
func alertCases() []badDTLSCase {
	var cases []badDTLSCase
	for _, desc := range alertDescriptions {
		cases = append(cases, badDTLSCase{fmt.Sprintf("server/fatal %v during the handshake", desc), receivesDT(desc), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeAlert, []byte{byte(record.LevelFatal), byte(desc)}))
			})
		}})
	}
	for _, desc := range alertDescriptions {
		if desc == record.AlertCloseNotify {
			continue // TestDTLSWarningCloseNotify
		}
		cases = append(cases, badDTLSCase{fmt.Sprintf("server/warning %v when connected", desc), ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.forge(p.client, 1, record.TypeAlert, []byte{byte(record.LevelWarning), byte(desc)}))
			}, fsm.EventAlertReceived)
		}})
	}
	return cases
}

func badInputDTLSCases() []badDTLSCase {
	hsMsg := func(typ flights.MsgType, body []byte) []byte { return handshakeMsg(typ, body) }
	return append([]badDTLSCase{
		// Handshake fragments and their reassembly.
		{"server/overlapping fragments with conflicting bytes", sendsDT(record.AlertIllegalParameter), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server,
					p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 33, 2, 0, bytes.Repeat([]byte{0xaa}, 10))),
					p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 33, 2, 5, bytes.Repeat([]byte{0xbb}, 10))))
			})
		}},
		{"server/fragments of one message with different lengths", sendsDT(record.AlertIllegalParameter), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server,
					p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 33, 2, 0, make([]byte, 10))),
					p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 40, 2, 10, make([]byte, 10))))
			})
		}},
		{"server/fragments of one message with different types", sendsDT(record.AlertIllegalParameter), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, append(
					dtFrag(flights.TypeClientKeyExchange, 33, 2, 0, make([]byte, 10)),
					dtFrag(flights.TypeCertificate, 33, 2, 10, make([]byte, 10))...)))
			})
		}},
		{"server/fragment of a message over MaxHandshakeMessage", sendsDT(record.AlertIllegalParameter), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake,
					dtFrag(flights.TypeClientKeyExchange, fsm.MaxHandshakeMessage+1, 2, 0, make([]byte, 100))))
			})
		}},
		{"server/fragment running past its message", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 33, 2, 30, make([]byte, 10))))
			})
		}},
		{"server/fragment_length beyond the record", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			f := dtFrag(flights.TypeClientKeyExchange, 33, 2, 0, make([]byte, 10))
			f[11] = 20 // claims 20 bytes, 10 follow
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(record.TypeHandshake, f)) })
		}},
		{"server/handshake fragment header cut short", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 33, 2, 0, nil)[:7]))
			})
		}},
		{"server/zero-length fragment of a non-empty message", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server,
					p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 33, 2, 0, nil)),
					p.plainRec(record.TypeHandshake, dtFrag(flights.TypeClientKeyExchange, 33, 2, 33, nil)))
			})
		}},
		{"server/fragments of a message beyond the reassembly window", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtFrag(flights.TypeFinished, 12, 2+flights.ReassemblyWindow, 0, make([]byte, 12))))
			})
		}},
		{"server/empty handshake record", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(record.TypeHandshake, nil)) })
		}},
		{"client/ServerHello fragments that disagree", sendsDT(record.AlertIllegalParameter), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.toServerFlight()
			first := dtRecords(p.client.inbox[0])[0]
			pl := first[record.DTLSHeaderLen:]
			require.Equal(t, byte(flights.TypeServerHello), pl[0])
			n := len(pl) - 12
			good := dtFrag(flights.TypeServerHello, uint32(n), 1, 0, pl[12:12+n/2])
			bad := dtFrag(flights.TypeServerHello, uint32(n), 1, 4, bytes.Clone(pl[12+4:12+n]))
			bad[12+10] ^= 0x40 // in the random
			p.client.inbox = nil
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.plainRec(record.TypeHandshake, good), p.plainRec(record.TypeHandshake, bad))
			})
		}},

		// Records, epochs and the replay window.
		{"server/record of a future epoch during the handshake", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, record.AppendDTLSPlain(nil, record.TypeHandshake, record.VersionDTLS12, 2, 0,
					dtFrag(flights.TypeFinished, 12, 3, 0, make([]byte, 12))))
			})
		}},
		{"client/records of epochs 2 and 65535 when connected", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.forge(p.server, 2, record.TypeApplicationData, []byte("future")),
					p.forge(p.server, 65535, record.TypeAlert, []byte{2, 40}))
			})
		}},
		{"server/handshake record of the past epoch when connected", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			p.now = p.now.Add(time.Second) // its last flight is not recent: it is sent again
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtMsg(hsMsg(flights.TypeClientKeyExchange, make([]byte, 33)), 2)))
			}, fsm.EventRetransmit, fsm.EventTransmit)
		}},
		{"server/application data of the past epoch when connected", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeApplicationData, []byte("plaintext")))
			})
		}},
		{"server/replayed application data record", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			_, err := p.client.conn.Write(p.now, []byte("once"))
			require.NoError(t, err)
			p.drain(p.client)
			d := bytes.Clone(p.server.inbox[0])
			p.run()
			require.Equal(t, "once", string(p.server.received))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, d, d) })
		}},
		{"server/replayed ClientHello when connected", ignoredDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			p.step(p.server)
			p.step(p.client)
			hello := bytes.Clone(p.server.inbox[0]) // with the cookie
			p.run()
			require.Equal(t, 1, p.server.done)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, hello) })
		}},
		{"server/replayed ClientKeyExchange during the handshake", ignoredDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.toClientFlight()
			flight := bytes.Clone(p.server.inbox[0])
			cke := dtRecords(flight)[0]
			require.Equal(t, byte(flights.TypeClientKeyExchange), cke[record.DTLSHeaderLen])
			p.inject(p.server, cke)
			require.Equal(t, fsm.StateServerWaitChangeCipherSpec12, p.server.conn.State())
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, cke, cke) })
		}},
		{"server/application data in epoch 0 during the handshake", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeApplicationData, []byte("GET / HTTP/1.1\r\n")))
			})
		}},
		{"server/protected record with a bad tag", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			rec := p.forge(p.client, 1, record.TypeApplicationData, []byte("forged"))
			rec[len(rec)-1] ^= 1
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"server/protected record claiming DTLS 1.0", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			rec := p.forge(p.client, 1, record.TypeApplicationData, []byte("forged"))
			binary.BigEndian.PutUint16(rec[1:3], record.VersionDTLS10) // covered by the tag
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		// The version of an epoch 0 record is not checked, in DTLS as in
		// TLS (OpenSSL drops a record of another version once it is
		// known): its content is handled as usual, and nothing in it is
		// protected anyway.
		{"server/ClientKeyExchange in a record claiming DTLS 1.0", completesDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.toClientFlight()
			for i, d := range p.server.inbox {
				recs := dtRecords(d)
				require.Equal(t, byte(flights.TypeClientKeyExchange), recs[0][record.DTLSHeaderLen])
				binary.BigEndian.PutUint16(recs[0][1:3], record.VersionDTLS10)
				p.server.inbox[i] = d
			}
			return attack(p, p.server, func() []fsm.Event { return p.step(p.server) })
		}},
		{"server/protected plaintext over 2^14", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			cr, master := keyLog12(t, p.keyLog)
			st, _ := states12(t, master, cr, p.serverRandom)
			pt := make([]byte, record.MaxPlaintext+1)
			n := st.ExplicitNonceLen() + len(pt) + st.Overhead()
			seq := uint64(60)
			wire := record.AppendDTLSHeader(nil, record.TypeApplicationData, record.VersionDTLS12, 1, seq, n)
			wire, err := st.SealAt(wire, 1<<48|seq, uint8(record.TypeApplicationData), record.VersionDTLS12, pt)
			require.NoError(t, err)
			require.Len(t, wire, record.DTLSHeaderLen+n)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, wire) })
		}},
		{"server/record length over 2^14+2048", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			n := record.MaxCiphertext12 + 1
			d := append(record.AppendDTLSHeader(nil, record.TypeHandshake, record.VersionDTLS12, 0, 50, n), make([]byte, n)...)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, d) })
		}},
		{"server/record length past the end of the datagram", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			rec := p.plainRec(record.TypeAlert, []byte{2, 40})
			binary.BigEndian.PutUint16(rec[11:13], 3)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"server/record header cut short", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(record.TypeAlert, []byte{2, 40})[:12]) })
		}},
		{"server/empty datagram", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, nil, []byte{}) })
		}},
		{"server/garbage datagrams", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, bytes.Repeat([]byte{0xff}, 300), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
					append([]byte{22, 0xfe, 0xfd}, bytes.Repeat([]byte{0x5a}, 100)...))
			})
		}},
		{"server/unknown content type", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(99, []byte{1, 2, 3})) })
		}},
		{"server/a good record behind a malformed one is dropped with it", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			bad := p.plainRec(99, nil)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, append(bad, p.plainRec(record.TypeAlert, []byte{2, 40})...))
			})
		}},

		// Empty records and floods.
		{"server/10,000 empty epoch 0 application data records during the handshake", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				before := liveHeap()
				var evs []fsm.Event
				for i := range 10_000 {
					evs = append(evs, p.inject(p.server, record.AppendDTLSPlain(nil, record.TypeApplicationData, record.VersionDTLS12, 0, uint64(i), nil))...)
				}
				require.Less(t, liveHeap()-before, int64(dtFloodHeapBound))
				return evs
			})
		}},
		{"server/10,000 empty records of unknown epochs", ignoredDT, func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event {
				before := liveHeap()
				var evs []fsm.Event
				for i := range 10_000 {
					typ := record.ContentType(20 + i%4)
					evs = append(evs, p.inject(p.server, record.AppendDTLSPlain(nil, typ, record.VersionDTLS12, uint16(2+i%100), uint64(i), nil))...)
				}
				require.Less(t, liveHeap()-before, int64(dtFloodHeapBound))
				return evs
			})
		}},
		// Authenticated records that move nothing forward are counted:
		// the peer may send MaxIdleRecords of them in a row.
		{"server/flood of empty protected application data records", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.server, func() []fsm.Event {
				var evs []fsm.Event
				for i := range fsm.MaxIdleRecords + 1 {
					require.Equal(t, fsm.StateServerConnected12, p.server.conn.State(), "closed after %d records", i)
					evs = append(evs, p.inject(p.server, p.forge(p.client, 1, record.TypeApplicationData, nil))...)
				}
				return evs
			})
		}},
		{"server/MaxIdleRecords empty protected records, then data", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			a := attack(p, p.server, func() []fsm.Event {
				var evs []fsm.Event
				for range fsm.MaxIdleRecords {
					evs = append(evs, p.inject(p.server, p.forge(p.client, 1, record.TypeApplicationData, nil))...)
				}
				return evs
			})
			a.oneWay = true // the genuine records of the client are behind the window
			return a
		}},
		{"server/flood of protected warning alerts", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.server, func() []fsm.Event {
				var evs []fsm.Event
				for range fsm.MaxIdleRecords + 1 {
					evs = append(evs, p.inject(p.server, p.forge(p.client, 1, record.TypeAlert, []byte{1, byte(record.AlertUserCanceled)}))...)
				}
				return evs
			})
		}},
		{"server/empty alert record during the handshake", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(record.TypeAlert, nil)) })
		}},
		{"server/empty ChangeCipherSpec record", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(record.TypeChangeCipherSpec, nil)) })
		}},

		// The cookie exchange.
		{"server/HelloVerifyRequest sent to a server", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			hvr := (&flights.HelloVerifyRequest{Version: record.VersionDTLS10, Cookie: make([]byte, 32)}).Append(nil)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtMsg(hvr, 0)))
			})
		}},
		{"client/HelloVerifyRequest after ServerHello", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p, _, _ := clientAfterServerHello(t)
			hvr := (&flights.HelloVerifyRequest{Version: record.VersionDTLS10, Cookie: make([]byte, 32)}).Append(nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg(hvr, 2)))
			})
		}},
		{"client/HelloVerifyRequest whose cookie runs past the message", sendsDT(record.AlertDecodeError), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			hvr := (&flights.HelloVerifyRequest{Version: record.VersionDTLS10, Cookie: make([]byte, 32)}).Append(nil)
			hvr[4+2] = 255 // the cookie's length
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg(hvr, 0)))
			})
		}},
		{"client/a fifth HelloVerifyRequest", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			hvr := (&flights.HelloVerifyRequest{Version: record.VersionDTLS10, Cookie: make([]byte, 32)}).Append(nil)
			// Each answers the ClientHello before, which has the next
			// message_seq.
			for seq := range uint16(4) {
				evs := p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg(hvr, seq)))
				require.Equal(t, 1, countKind(evs, fsm.EventMessageSent), "a ClientHello for HelloVerifyRequest %d", seq)
			}
			require.Equal(t, fsm.StateClientWaitServerHello, p.client.conn.State())
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg(hvr, 4)))
			})
		}},
		// A cookie of the longest length is sent back; the server does not
		// know it and asks again with its own.
		{"client/HelloVerifyRequest with a 255-byte cookie", completesDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			p.step(p.server)
			p.client.inbox = nil // the genuine HelloVerifyRequest is lost
			hvr := (&flights.HelloVerifyRequest{Version: record.VersionDTLS10, Cookie: bytes.Repeat([]byte{7}, 255)}).Append(nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg(hvr, 0)))
			})
		}},
		// RFC 6347 §4.2.1: no state until the cookie is good.
		{"server/ClientHello with a wrong cookie", ignoredDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			p.step(p.server)
			p.step(p.client)
			hello := p.server.inbox[0]
			recs := dtRecords(hello)
			require.Len(t, recs, 1)
			ch := new(flights.ClientHello)
			require.NoError(t, ch.UnmarshalDTLS(recs[0][record.DTLSHeaderLen+12:]))
			require.NotEmpty(t, ch.DTLSCookie)
			ch.DTLSCookie = bytes.Repeat([]byte{0xcc}, 255)
			forged := p.plainRec(record.TypeHandshake, dtMsg(ch.Append(nil), 1))
			a := attack(p, p.server, func() []fsm.Event { return p.inject(p.server, forged) },
				fsm.EventMessageReceived, fsm.EventMessageSent, fsm.EventTransmit)
			require.Equal(t, []fsm.EventKind{fsm.EventMessageReceived, fsm.EventMessageSent, fsm.EventTransmit}, kinds(a.events))
			require.Equal(t, fsm.MessageHelloVerifyRequest, a.events[1].Message)
			p.client.inbox = p.client.inbox[:len(p.client.inbox)-1] // the client did not ask for it
			return a
		}},
		// A retransmitted ClientHello (the same message_seq) is old news:
		// the server sends its flight again, if it was not just sent.
		{"server/second ClientHello from the client, sent again", ignoredDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			p.step(p.server)
			p.step(p.client)
			again := p.server.inbox[0]
			p.step(p.server)
			p.now = p.now.Add(time.Second)
			return attack(p, p.server, func() []fsm.Event {
				recs := dtRecords(again)
				return p.inject(p.server, p.plainRec(record.TypeHandshake, recs[0][record.DTLSHeaderLen:]))
			}, fsm.EventRetransmit, fsm.EventTransmit)
		}},
		// A ClientHello of a new message_seq is a new message, out of place.
		{"server/new ClientHello in the middle of the handshake", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			p.step(p.server)
			p.step(p.client)
			second := dtRecords(p.server.inbox[0])[0][record.DTLSHeaderLen:]
			p.step(p.server)
			body := bytes.Clone(second[12:])
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtMsg(hsMsg(flights.TypeClientHello, body), 2)))
			})
		}},
		// The HelloVerifyRequest of a ClientHello the client sent again
		// (its timer fired before the first answer came) arrives after the
		// client answered the first one with its second ClientHello. It is
		// a retransmission; answering it with a third ClientHello would
		// put a ClientHello of a new message_seq in front of a server that
		// has moved on.
		{"client/stale HelloVerifyRequest after the second ClientHello", completesDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			first := bytes.Clone(p.server.inbox[0])
			p.step(p.server)                          // HelloVerifyRequest A
			p.inject(p.server, p.plainRecCopy(first)) // the timer's copy: HelloVerifyRequest B
			require.Len(t, p.client.inbox, 2)         // A and B
			return attack(p, p.client, func() []fsm.Event { return p.step(p.client) })
		}},
		{"client/ServerHello selecting DTLS 1.0", sendsDT(record.AlertProtocolVersion), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.toServerFlight()
			sh := bytes.Clone(dtRecords(p.client.inbox[0])[0][record.DTLSHeaderLen:])
			binary.BigEndian.PutUint16(sh[12:], record.VersionDTLS10)
			p.client.inbox = nil
			return attack(p, p.client, func() []fsm.Event { return p.inject(p.client, p.plainRec(record.TypeHandshake, sh)) })
		}},

		// Finished.
		{"server/client Finished with wrong verify_data", sendsDT(record.AlertDecryptError), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.toClientFlight()
			for i, d := range p.server.inbox {
				p.server.inbox[i] = p.reseal(p.client, d, flights.TypeFinished, func(pt []byte) []byte {
					pt[len(pt)-1] ^= 1
					return pt
				})
			}
			return attack(p, p.server, func() []fsm.Event { return p.step(p.server) })
		}},
		{"client/server Finished with wrong verify_data", sendsDT(record.AlertDecryptError), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.toClientFlight()
			p.step(p.server)
			require.Equal(t, 1, p.server.done)
			for i, d := range p.client.inbox {
				p.client.inbox[i] = p.reseal(p.server, d, flights.TypeFinished, func(pt []byte) []byte {
					pt[len(pt)-2] ^= 0x80
					return pt
				})
			}
			return attack(p, p.client, func() []fsm.Event { return p.step(p.client) })
		}},
		{"server/Finished in epoch 0", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.toClientFlight()
			cke := dtRecords(p.server.inbox[0])[0]
			p.inject(p.server, cke)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtMsg(hsMsg(flights.TypeFinished, make([]byte, 12)), 3)))
			})
		}},

		// Alerts: the fatal and warning ones of every description are in
		// alertCases.
		{"client/fatal alert in the clear when connected", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.client, func() []fsm.Event { return p.inject(p.client, p.plainRec(record.TypeAlert, []byte{2, 40})) })
		}},
		{"client/protected fatal alert", receivesDT(record.AlertAccessDenied), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.forge(p.server, 1, record.TypeAlert, []byte{2, byte(record.AlertAccessDenied)}))
			})
		}},
		{"server/protected alert of 3 bytes", sendsDT(record.AlertDecodeError), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.forge(p.client, 1, record.TypeAlert, []byte{1, 0, 0}))
			})
		}},
		{"server/protected alert of level 3", sendsDT(record.AlertIllegalParameter), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.forge(p.client, 1, record.TypeAlert, []byte{3, 0}))
			})
		}},
		{"server/warning close_notify during the handshake", receivesDT(record.AlertCloseNotify), func(t *testing.T) *dtAttack {
			p := midServer(t)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(record.TypeAlert, []byte{1, 0})) })
		}},
		{"server/warning handshake_failure to a fresh server", ignoredDT, func(t *testing.T) *dtAttack {
			// Before the version is known, warnings are ignored, as in
			// (D)TLS 1.2 (within MaxIdleRecords).
			p := newDTPair(t, nil)
			p.start()
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, p.plainRec(record.TypeAlert, []byte{1, 40})) },
				fsm.EventAlertReceived)
		}},

		// Post-handshake messages DTLS 1.2 does not have, HelloRequests,
		// renegotiation.
		{"server/KeyUpdate on DTLS 1.2", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.forge(p.client, 1, record.TypeHandshake, dtMsg((&flights.KeyUpdate{}).Append(nil), 0)))
			})
		}},
		// A NewSessionTicket ends a DTLS 1.2 server's last flight: once
		// connected, one is taken for a late copy of that flight.
		{"client/NewSessionTicket (TLS 1.3) when connected", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			nst := (&flights.NewSessionTicket{Lifetime: 60, Nonce: []byte{0}, Ticket: []byte{1, 2, 3}}).Append(nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.forge(p.server, 1, record.TypeHandshake, dtMsg(nst, 0)))
			})
		}},
		// A handshake message numbered past the last handshake's is no copy:
		// a Finished after the server's Finished.
		{"client/a second Finished after the handshake", sendsDT(record.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			fin := (&flights.Finished{VerifyData: make([]byte, 12)}).Append(nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.forge(p.server, 1, record.TypeHandshake, dtMsg(fin, 40)))
			})
		}},
		{"client/HelloRequest in the clear when connected", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg((&flights.HelloRequest{}).Append(nil), 0)))
			})
		}},
		// Taken, and ignored (RFC 5246 §7.4.1.1).
		{"client/HelloRequest before the HelloVerifyRequest", ignoredDT, func(t *testing.T) *dtAttack {
			p := newDTPair(t, nil)
			p.start()
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.plainRec(record.TypeHandshake, dtMsg((&flights.HelloRequest{}).Append(nil), 0)))
			}, fsm.EventMessageReceived)
		}},
		{"client/HelloRequest with a body", sendsDT(record.AlertDecodeError), func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			return attack(p, p.client, func() []fsm.Event {
				return p.inject(p.client, p.forge(p.server, 1, record.TypeHandshake, dtMsg(hsMsg(flights.TypeHelloRequest, []byte{0}), 0)))
			})
		}},
		// The client answers the first HelloRequest and ignores the rest
		// while its renegotiation runs: 20 records and one record of 1,000
		// HelloRequests get one ClientHello, and the renegotiation
		// completes.
		{"client/HelloRequest flood", completesDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			// The server renegotiates only once it knows the client
			// completed the handshake: the client's data says so.
			_, err := p.client.conn.Write(p.now, []byte("done"))
			require.NoError(t, err)
			p.run()
			require.NoError(t, p.server.conn.Renegotiate())
			require.NoError(t, p.server.conn.Handshake(p.now))
			p.drain(p.server)
			genuine := p.client.inbox
			p.client.inbox = nil
			hr := dtMsg((&flights.HelloRequest{}).Append(nil), 0)
			a := attack(p, p.client, func() []fsm.Event {
				evs := p.inject(p.client, genuine...)
				for range 20 {
					evs = append(evs, p.inject(p.client, p.forge(p.server, 1, record.TypeHandshake, hr))...)
				}
				return append(evs, p.inject(p.client, p.forge(p.server, 1, record.TypeHandshake, bytes.Repeat(hr, 1000)))...)
			})
			require.Equal(t, fsm.StateClientWaitServerHello, p.client.conn.State())
			require.Equal(t, 1, countKind(a.events, fsm.EventRenegotiationRequested))
			require.Equal(t, 1, countKind(a.events, fsm.EventMessageSent), "one ClientHello")
			require.LessOrEqual(t, countKind(a.events, fsm.EventTransmit), 2, "%v", eventKinds(a.events))
			a.events = nil
			p.run()
			require.Equal(t, 2, p.client.done)
			require.Equal(t, 2, p.server.done)
			return a
		}},
		// The server asks for a renegotiation while the client starts one:
		// the client, waiting for the ServerHello, ignores the
		// HelloRequest (RFC 5246 §7.4.1.1), and the server answers the
		// client's ClientHello. Both complete a second handshake.
		{"client/HelloRequest crossing the client's renegotiation", completesDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
			require.NoError(t, p.client.conn.Renegotiate())
			require.NoError(t, p.client.conn.Handshake(p.now))
			p.drain(p.client)
			require.NoError(t, p.server.conn.Renegotiate())
			require.NoError(t, p.server.conn.Handshake(p.now))
			p.drain(p.server)
			a := attack(p, p.client, func() []fsm.Event { return p.step(p.client) }, fsm.EventMessageReceived)
			require.Equal(t, fsm.StateClientWaitServerHello, p.client.conn.State())
			p.run()
			require.Equal(t, 2, p.client.done, "client: %v", eventKinds(p.client.events))
			require.Equal(t, 2, p.server.done, "server: %v", eventKinds(p.server.events))
			return a
		}},
		// A refused renegotiation is over: when the client starts another
		// and has to send its ClientHello again, it sends that one only,
		// not the refused one with it.
		{"client/renegotiation after a refused one, ClientHello sent again", completesDT, func(t *testing.T) *dtAttack {
			var server *fsm.Config
			p := connectedDT(t, func(cc, sc *fsm.Config) { server = sc })
			require.NoError(t, p.client.conn.Renegotiate())
			require.NoError(t, p.client.conn.Handshake(p.now))
			p.drain(p.client)
			p.run()
			require.Equal(t, fsm.StateClientConnected12, p.client.conn.State(), "refused: %v", eventKinds(p.client.events))
			server.AllowClientRenegotiation = true
			require.NoError(t, p.client.conn.Renegotiate())
			require.NoError(t, p.client.conn.Handshake(p.now))
			p.drain(p.client)
			require.Len(t, p.server.inbox, 1)
			p.server.inbox = nil // lost: the client's timer sends it again
			return attack(p, p.client, func() []fsm.Event {
				p.now = p.client.deadline
				p.client.deadline = time.Time{}
				require.NoError(t, p.client.conn.HandleTimeout(p.now))
				return p.drain(p.client)
			}, fsm.EventRetransmit, fsm.EventTransmit, fsm.EventTimer)
		}},
		{"server/renegotiation ClientHello without signature_algorithms (CVE-2021-3449 shape)", sendsDT(record.AlertHandshakeFailure), renegotiationCase(func(ch *flights.ClientHello) {
			ch.SignatureAlgorithms = nil
			ch.SignatureAlgorithmsCert = []uint16{ecdsaP256SHA256}
		})},
		{"server/renegotiation ClientHello with wrong renegotiation_info", sendsDT(record.AlertHandshakeFailure), renegotiationCase(func(ch *flights.ClientHello) {
			ch.SecureRenegotiation = make([]byte, 12)
		})},
		{"server/renegotiation ClientHello with empty renegotiation_info", sendsDT(record.AlertHandshakeFailure), renegotiationCase(func(ch *flights.ClientHello) {
			ch.SecureRenegotiation = nil
		})},
		{"server/renegotiation ClientHello with the renegotiation SCSV", sendsDT(record.AlertHandshakeFailure), renegotiationCase(func(ch *flights.ClientHello) {
			ch.SecureRenegotiationSupported, ch.SecureRenegotiation = false, nil
			ch.CipherSuites = append(ch.CipherSuites, 0x00ff)
		})},
		{"server/renegotiation ClientHello with no suite in common", sendsDT(record.AlertHandshakeFailure), renegotiationCase(func(ch *flights.ClientHello) {
			ch.CipherSuites = []uint16{0x1301}
		})},
		{"server/renegotiation ClientHello offering only DTLS 1.0", sendsDT(record.AlertProtocolVersion), renegotiationCase(func(ch *flights.ClientHello) {
			ch.Version = record.VersionDTLS10
		})},
		// Refused with a warning no_renegotiation; nothing else changes.
		{"server/client renegotiation not allowed", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, nil)
			ch := renegotiationHelloDT(p)
			a := attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.forge(p.client, 1, record.TypeHandshake, dtMsg(ch.Append(nil), 0)))
			}, fsm.EventMessageReceived, fsm.EventAlertSent, fsm.EventTransmit)
			require.Equal(t, []fsm.EventKind{fsm.EventMessageReceived, fsm.EventAlertSent, fsm.EventTransmit}, kinds(a.events))
			require.Equal(t, record.AlertNoRenegotiation, a.events[1].Alert)
			p.client.inbox = nil // the client did not ask
			return a
		}},
		{"server/renegotiation ClientHello in the clear", ignoredDT, func(t *testing.T) *dtAttack {
			p := connectedDT(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
			ch := renegotiationHelloDT(p)
			return attack(p, p.server, func() []fsm.Event {
				return p.inject(p.server, p.plainRec(record.TypeHandshake, dtMsg(ch.Append(nil), 0)))
			})
		}},
	}, alertCases()...)
}

// plainRecCopy returns the records of datagram d again with new forged
// sequence numbers, as its sender would send them again.
func (p *dtPair) plainRecCopy(d []byte) []byte {
	var out []byte
	for _, rec := range dtRecords(d) {
		out = append(out, p.plainRec(record.ContentType(rec[0]), rec[record.DTLSHeaderLen:])...)
	}
	return out
}

func TestBadInputDTLS(t *testing.T) {
	cases := badInputDTLSCases()
	require.GreaterOrEqual(t, len(cases), 30)
	runBadDTLSCases(t, cases)
}

// runBadDTLSCases runs each case as a subtest and checks its outcome;
// names must be unique.
func runBadDTLSCases(t *testing.T, cases []badDTLSCase) {
	seen := map[string]bool{}
	for _, tc := range cases {
		require.False(t, seen[tc.name], "duplicate case %q", tc.name)
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			var a *dtAttack
			guard(t, tc.name, func() { a = tc.run(t) })
			t.Logf("want %v; events of the input: %v", tc.want, eventKinds(a.events))
			checkDTLSOutcome(t, a, tc.want)
		})
	}
}

// TestDTLSWarningCloseNotify: a close_notify from the peer ends what it
// sends; the receiver stays connected (it may still write) until it closes
// too, and then both are closed with no error.
func TestDTLSWarningCloseNotify(t *testing.T) {
	p := connectedDT(t, nil)
	evs := p.inject(p.server, p.forge(p.client, 1, record.TypeAlert, []byte{1, 0}))
	require.Equal(t, []fsm.EventKind{fsm.EventAlertReceived, fsm.EventClosed}, kinds(evs))
	require.NoError(t, evs[1].Err)
	require.Equal(t, fsm.StateServerConnected12, p.server.conn.State())
	// Data after close_notify is not delivered.
	p.inject(p.server, p.forge(p.client, 1, record.TypeApplicationData, []byte("late")))
	require.Empty(t, p.server.received)
	_, err := p.server.conn.Write(p.now, []byte("still writing"))
	require.NoError(t, err)
	require.NoError(t, p.server.conn.Close(p.now))
	p.drain(p.server)
	require.Equal(t, fsm.StateClosed, p.server.conn.State())
	require.NoError(t, p.server.conn.Err())
}

// TestDTLSCloseNotifyRace: both sides close at once; each receives the
// other's close_notify after sending its own, and both end closed without
// error, having delivered what was sent before.
func TestDTLSCloseNotifyRace(t *testing.T) {
	for _, order := range []string{"client first", "server first"} {
		t.Run(order, func(t *testing.T) {
			p := connectedDT(t, nil)
			for _, s := range []*dtSide{p.client, p.server} {
				_, err := s.conn.Write(p.now, []byte("bye from "+s.name))
				require.NoError(t, err)
				require.NoError(t, s.conn.Close(p.now))
				require.NoError(t, s.conn.Close(p.now), "closing twice is harmless")
				p.drain(s)
				_, err = s.conn.Write(p.now, []byte("too late"))
				require.ErrorIs(t, err, fsm.ErrClosed)
			}
			first, second := p.client, p.server
			if order == "server first" {
				first, second = second, first
			}
			p.step(first)
			p.step(second)
			for _, s := range []*dtSide{p.client, p.server} {
				require.Equal(t, fsm.StateClosed, s.conn.State(), s.name)
				require.NoError(t, s.conn.Err(), s.name)
				require.Equal(t, "bye from "+p.peer(s).name, string(s.received))
				require.Equal(t, 1, countKind(s.events, fsm.EventClosed))
				require.False(t, slices.ContainsFunc(s.events, func(ev fsm.Event) bool {
					return ev.Kind == fsm.EventAlertSent && ev.Level == record.LevelFatal
				}))
			}
		})
	}
}
