package fsm_test

// The fuzz targets of this file drive one Conn with input from the fuzzer
// and check what every input must leave behind: no panic, an event queue
// that drains, application data only after a handshake, and a Conn that is
// either still open or closed with an alert it sent or received (or, over
// DTLS, with a handshake that timed out).
//
// Every Conn they make is deterministic: a fresh configuration with a
// seeded Config.Rand, the fixed Ed25519 certificate of testcert.Fixed,
// fixed session ticket keys, no session caches, and the clock at
// testcert.FixedTime. A recorded peer therefore replays exactly, and the
// seed corpus in testdata/fuzz holds whole recorded conversations that
// take the Conn to its deepest states for the fuzzer to mutate from.
// TestFuzzCorpus checks that those seeds are still what the Conns say; after
// a change to what they send, regenerate them (and the record package's)
// from the module root with
//
//	go test ./fsm -run '^TestFuzzCorpus$' -update-fuzz-corpus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// Bounds of the fuzz targets.
const (
	// fuzzMaxInput is the longest input a target takes; longer ones are
	// skipped, to keep every execution short.
	fuzzMaxInput = 64 << 10
	// fuzzMaxEvents is the most events one call may leave queued; more
	// means the queue does not drain.
	fuzzMaxEvents = 1 << 20
	// fuzzDTLSPayload is the largest plaintext sealed into one DTLS record,
	// so that it fits a datagram of the default MTU.
	fuzzDTLSPayload = 1000
)

// fuzzPeerID is the address of the DTLS client, which cookies are bound to.
var fuzzPeerID = []byte("192.0.2.1:4433")

// fuzzTicketKey encrypts the session tickets of the fuzzed servers.
var fuzzTicketKey = [32]byte{'t', 'l', 's', 'm', ' ', 'f', 'u', 'z', 'z'}

// noSessionCache keeps nothing, so that no execution sees the sessions of
// an earlier one.
type noSessionCache struct{}

func (noSessionCache) Get(string) (*fsm.Session, bool) { return nil, false }
func (noSessionCache) Put(string, *fsm.Session)        {}

// fuzzRand returns a deterministic random stream named by label.
func fuzzRand(label string) io.Reader {
	var seed [32]byte
	copy(seed[:], label)
	return mrand.NewChaCha8(seed)
}

// fuzzCertificate is the fixed certificate both sides present.
func fuzzCertificate() []fsm.Certificate {
	cert := testcert.Fixed()
	return []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key, Leaf: cert.Leaf}}
}

// fuzzServerConfig returns a fresh, deterministic server configuration: it
// asks for a client certificate, takes renegotiations and issues tickets.
func fuzzServerConfig() *fsm.Config {
	return &fsm.Config{
		Rand:                     fuzzRand("server"),
		CurvePreferences:         fuzzCurves,
		Certificates:             fuzzCertificate(),
		ClientAuth:               fsm.VerifyClientCertIfGiven,
		ClientCAs:                testcert.Fixed().CAPool,
		NextProtos:               []string{"h2", "http/1.1"},
		SessionTicketKeys:        [][32]byte{fuzzTicketKey},
		ClientSessionCache:       noSessionCache{},
		ServerSessionCache:       noSessionCache{},
		AllowClientRenegotiation: true,
	}
}

// fuzzCurves are the fuzzed Conns' groups: ECDH only. A hybrid's ML-KEM
// encapsulation draws from the system's randomness, not Config.Rand, so
// a server answering a hybrid share would differ from the recorded one,
// and the recorded conversations would not replay.
var fuzzCurves = []fsm.CurveID{fsm.X25519, fsm.CurveP256, fsm.CurveP384}

// fuzzClientConfig returns a fresh, deterministic client configuration,
// with a certificate to present when asked.
func fuzzClientConfig() *fsm.Config {
	return &fsm.Config{
		Rand:               fuzzRand("client"),
		CurvePreferences:   fuzzCurves,
		Certificates:       fuzzCertificate(),
		RootCAs:            testcert.Fixed().CAPool,
		ServerName:         "localhost",
		NextProtos:         []string{"http/1.1"},
		ClientSessionCache: noSessionCache{},
		ServerSessionCache: noSessionCache{},
	}
}

// fuzzConn is the Conn a target feeds, with what it emitted.
type fuzzConn struct {
	conn *fsm.Conn
	now  time.Time
	// deadline is the DTLS timer the Conn asked for; zero when unset.
	deadline time.Time
	// data is the application data delivered.
	data []byte
	// events holds every event, without the bytes it carried.
	events []fsm.Event
	// timeoutOK allows closing with ErrHandshakeTimeout.
	timeoutOK bool
	// inPlace feeds stream input with HandleDataInPlace, wiping it after.
	inPlace bool
}

func newFuzzConn(c *fsm.Conn) *fuzzConn {
	return &fuzzConn{conn: c, now: testcert.FixedTime, timeoutOK: true}
}

// drain takes every queued event, which must run out.
func (f *fuzzConn) drain(t *testing.T) {
	for range fuzzMaxEvents {
		ev := f.conn.NextEvent()
		switch ev.Kind {
		case fsm.EventNone:
			return
		case fsm.EventData:
			f.data = append(f.data, ev.Data...)
		case fsm.EventTimer:
			f.deadline = ev.Deadline
		}
		ev.Data = nil
		f.events = append(f.events, ev)
	}
	t.Fatalf("more than %d events queued", fuzzMaxEvents)
}

// returned checks the error an input call returned and drains.
func (f *fuzzConn) returned(t *testing.T, err error) {
	if err != f.conn.Err() {
		t.Fatalf("call returned %v, Err is %v", err, f.conn.Err())
	}
	f.drain(t)
}

// handleData feeds b, or with inPlace a copy of it that is wiped once
// its events are drained: the Conn must keep nothing of lent input.
func (f *fuzzConn) handleData(t *testing.T, b []byte) {
	if !f.inPlace {
		f.returned(t, f.conn.HandleData(f.now, b))
		return
	}
	lent := bytes.Clone(b)
	f.returned(t, f.conn.HandleDataInPlace(f.now, lent))
	for i := range lent {
		lent[i] = 0xee
	}
}

// handleDatagram feeds a copy of b: a Conn opens records in place, in
// the datagram it is given, and the fuzz engine's input must stay intact.
func (f *fuzzConn) handleDatagram(t *testing.T, b []byte) {
	f.returned(t, f.conn.HandleDatagram(f.now, bytes.Clone(b)))
}

// fireTimer moves the clock to the deadline the Conn asked for, if any,
// and tells it the time.
func (f *fuzzConn) fireTimer(t *testing.T) {
	if !f.deadline.IsZero() {
		f.now = f.deadline
	}
	f.returned(t, f.conn.HandleTimeout(f.now))
}

// handleDatagrams feeds a fuzz input cut by fuzzDatagrams.
func (f *fuzzConn) handleDatagrams(t *testing.T, in []byte) {
	fuzzDatagrams(in, func(timer bool, d []byte) {
		if timer {
			f.fireTimer(t)
		}
		f.handleDatagram(t, d)
	})
}

// check asserts what every input must leave behind.
func (f *fuzzConn) check(t *testing.T) {
	c := f.conn
	if ev := c.NextEvent(); ev.Kind != fsm.EventNone {
		t.Fatalf("%s event queued after draining", ev.Kind)
	}
	if len(f.data) > 0 && !c.HandshakeComplete() {
		t.Fatalf("%d bytes of application data before any handshake", len(f.data))
	}
	var closed []fsm.Event
	var closeNotify, fatalSent bool
	for _, ev := range f.events {
		switch ev.Kind {
		case fsm.EventClosed:
			closed = append(closed, ev)
		case fsm.EventAlertReceived:
			closeNotify = closeNotify || ev.Alert == record.AlertCloseNotify
		case fsm.EventAlertSent:
			fatalSent = fatalSent || ev.Level == record.LevelFatal
		}
	}
	// The peer's close_notify on a connection closes it for reading with
	// an EventClosed of no error; anything else that closes is fatal.
	peerClosed := len(closed) > 0 && closed[0].Err == nil
	if peerClosed && !closeNotify {
		t.Fatalf("closed without error, yet no close_notify received")
	}
	if c.State() != fsm.StateClosed {
		switch {
		case c.Err() != nil:
			t.Fatalf("open in %s with error %v", c.State(), c.Err())
		case fatalSent:
			t.Fatalf("a fatal alert was sent, yet open in %s", c.State())
		case len(closed) > 1 || len(closed) == 1 && !peerClosed:
			t.Fatalf("closed events %v, yet open in %s", closed, c.State())
		}
		return
	}
	err := c.Err()
	if len(closed) == 0 || closed[len(closed)-1].Err != err {
		t.Fatalf("closed with %v, but the closed events are %v", err, closed)
	}
	if f.timeoutOK && errors.Is(err, fsm.ErrHandshakeTimeout) {
		return
	}
	var ae *fsm.AlertError
	if !errors.As(err, &ae) {
		t.Fatalf("closed with %v (%T), not an alert", err, err)
	}
	want := fsm.EventAlertSent
	if ae.Received {
		want = fsm.EventAlertReceived
	} else if ae.Level != record.LevelFatal {
		t.Fatalf("closed with a %s alert sent: %v", ae.Level, err)
	}
	for _, ev := range f.events {
		if ev.Kind == want && ev.Alert == ae.Description {
			return
		}
	}
	t.Fatalf("closed with %v, but no %s event for it", err, want)
}

// fuzzDatagrams cuts a fuzz input into datagrams and hands them to yield
// in order. Each is a two-byte big-endian header, then as many bytes as
// its low 15 bits say (fewer at the end of the input). A header with the
// top bit set asks for the retransmission timer to fire first.
func fuzzDatagrams(in []byte, yield func(timer bool, datagram []byte)) {
	for len(in) >= 2 {
		h := binary.BigEndian.Uint16(in)
		n := min(int(h&0x7fff), len(in)-2)
		yield(h&0x8000 != 0, in[2:2+n])
		in = in[2+n:]
	}
}

// appendFuzzDatagram appends d in the form fuzzDatagrams reads.
func appendFuzzDatagram(dst []byte, timer bool, d []byte) []byte {
	h := uint16(len(d))
	if timer {
		h |= 0x8000
	}
	return append(binary.BigEndian.AppendUint16(dst, h), d...)
}

// fuzzRecords reads the input of a sealed mode as records to protect: a
// content type byte, a two-byte big-endian length, then as many bytes of
// plaintext (fewer at the end of the input), cut to limit.
func fuzzRecords(in []byte, limit int, yield func(typ record.ContentType, payload []byte)) {
	for len(in) >= 3 {
		n := min(int(binary.BigEndian.Uint16(in[1:])), len(in)-3)
		yield(record.ContentType(in[0]), in[3:3+min(n, limit)])
		in = in[3+n:]
	}
}

// appendFuzzRecord appends a record in the form fuzzRecords reads.
func appendFuzzRecord(dst []byte, typ record.ContentType, payload []byte) []byte {
	dst = append(dst, byte(typ))
	return append(binary.BigEndian.AppendUint16(dst, uint16(len(payload))), payload...)
}

// checkDelivered asserts that a Conn fed records holding the application
// data app delivered all of it, or, when it stopped reading, the data of
// the first few records.
func checkDelivered(t *testing.T, f *fuzzConn, app [][]byte) {
	reading := f.conn.State() != fsm.StateClosed
	for _, ev := range f.events {
		reading = reading && ev.Kind != fsm.EventClosed
	}
	if reading {
		if want := bytes.Join(app, nil); !bytes.Equal(f.data, want) {
			t.Fatalf("delivered %q, want %q", f.data, want)
		}
		return
	}
	var want []byte
	for _, p := range append([][]byte{nil}, app...) {
		want = append(want, p...)
		if bytes.Equal(f.data, want) {
			return
		}
	}
	t.Fatalf("delivered %q, not the data of the first records of %q", f.data, app)
}

// fuzzTLSPair returns a deterministic client and server that have completed
// a TLS 1.3 handshake, or a TLS 1.2 one; hook, if set, sees the pair first.
func fuzzTLSPair(t testing.TB, tls12 bool, hook func(*memconn.Pair)) *memconn.Pair {
	cc, sc := fuzzClientConfig(), fuzzServerConfig()
	if tls12 {
		cc.MaxVersion = fsm.VersionTLS12
	}
	p := memconn.New(cc, sc)
	p.Now = testcert.FixedTime
	if hook != nil {
		hook(p)
	}
	if err := p.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return p
}

// fuzzDTLSPair returns a deterministic DTLS client and server that have
// completed a handshake; hook, if set, sees the link first.
func fuzzDTLSPair(t testing.TB, hook func(*dgramLink)) *dgramLink {
	l := &dgramLink{
		now:    testcert.FixedTime,
		client: &dgramSide{conn: fsm.NewDTLSClient(fuzzClientConfig())},
		server: &dgramSide{conn: fsm.NewDTLSServer(fuzzServerConfig(), fuzzPeerID)},
	}
	if hook != nil {
		hook(l)
	}
	if err := l.client.conn.Start(l.now); err != nil {
		t.Fatalf("start: %v", err)
	}
	l.run(t, 100)
	if l.client.done != 1 || l.server.done != 1 {
		t.Fatalf("DTLS handshake did not complete: client %v, server %v", l.client.conn.Err(), l.server.conn.Err())
	}
	return l
}

// FuzzTLSServer feeds a fresh TLS server the input as the client's bytes,
// cut in two at a point the fuzzer chooses.
func FuzzTLSServer(f *testing.F) {
	f.Add(uint16(0), []byte{})
	f.Add(uint16(3), hsRecord(handshakeMsg(flights.TypeClientHello, []byte{3, 3})))
	f.Add(uint16(0), plain(record.TypeAlert, []byte{2, 40}))
	f.Fuzz(func(t *testing.T, cut uint16, in []byte) {
		if len(in) <= fuzzMaxInput {
			runTLSServer(t, cut, in)
		}
	})
}

func runTLSServer(t *testing.T, cut uint16, in []byte) *fuzzConn {
	s := newFuzzConn(fsm.NewServer(fuzzServerConfig()))
	at := int(cut) % (len(in) + 1)
	s.handleData(t, in[:at])
	s.handleData(t, in[at:])
	s.check(t)
	return s
}

// FuzzTLSClient feeds a client that has sent its ClientHello the input as
// the server's answer, cut in two at a point the fuzzer chooses.
func FuzzTLSClient(f *testing.F) {
	f.Add(uint16(0), []byte{})
	f.Add(uint16(2), hsRecord(handshakeMsg(flights.TypeServerHello, []byte{3, 3})))
	f.Add(uint16(0), plain(record.TypeAlert, []byte{1, 0}))
	f.Fuzz(func(t *testing.T, cut uint16, in []byte) {
		if len(in) <= fuzzMaxInput {
			runTLSClient(t, cut, in)
		}
	})
}

func runTLSClient(t *testing.T, cut uint16, in []byte) *fuzzConn {
	c := newFuzzConn(fsm.NewClient(fuzzClientConfig()))
	c.returned(t, c.conn.Start(c.now))
	at := int(cut) % (len(in) + 1)
	c.handleData(t, in[:at])
	c.handleData(t, in[at:])
	c.check(t)
	return c
}

// Bits of the mode byte of the *Established targets.
const (
	// modeTLS12 picks a TLS 1.2 connection rather than TLS 1.3.
	modeTLS12 = 1 << iota
	// modeSealed reads the input as records to protect with the client's
	// keys (see fuzzRecords) rather than as raw bytes.
	modeSealed
	// modeInPlace feeds the input with HandleDataInPlace.
	modeInPlace
)

// FuzzTLSEstablished completes a TLS 1.3 or TLS 1.2 handshake, then feeds
// the server the input as further bytes from the client: raw, or as
// records the client's keys protect, which reach what lies behind the
// record protection; copied by HandleData or lent to HandleDataInPlace.
// Besides the common checks, the application data
// delivered must be exactly what the sealed records carried, up to where
// the server stopped reading.
func FuzzTLSEstablished(f *testing.F) {
	f.Add(byte(0), []byte{})
	f.Add(byte(modeTLS12), []byte{23, 3, 3, 0, 1, 0})
	f.Add(byte(modeSealed), appendFuzzRecord(nil, record.TypeApplicationData, []byte("hello")))
	f.Add(byte(modeSealed|modeTLS12), appendFuzzRecord(nil, record.TypeAlert, []byte{1, 0}))
	f.Add(byte(modeSealed|modeInPlace), appendFuzzRecord(nil, record.TypeApplicationData, []byte("in place")))
	f.Fuzz(func(t *testing.T, mode byte, in []byte) {
		if len(in) <= fuzzMaxInput {
			runTLSEstablished(t, mode, in)
		}
	})
}

func runTLSEstablished(t *testing.T, mode byte, in []byte) *fuzzConn {
	variant := replayTLS13
	if mode&modeTLS12 != 0 {
		variant = replayTLS12
	}
	r := fuzzReplayOf(t, variant)
	s := newFuzzConn(fsm.NewServer(fuzzServerConfig()))
	s.inPlace = mode&modeInPlace != 0
	for _, b := range r.sent {
		s.handleData(t, b)
	}
	r.established(t, s)
	if mode&modeSealed == 0 {
		s.handleData(t, in)
		s.check(t)
		return s
	}
	st := r.state
	var app [][]byte
	fuzzRecords(in, record.MaxPlaintext, func(typ record.ContentType, payload []byte) {
		var rec []byte
		var err error
		if mode&modeTLS12 != 0 {
			rec, err = record.Seal12(nil, &st, typ, fsm.VersionTLS12, payload)
		} else {
			rec, err = record.Seal13(nil, &st, typ, payload, 0)
		}
		require.NoError(t, err)
		if mode&modeTLS12 == 0 {
			typ, payload = innerContent13(typ, payload)
		}
		if typ == record.TypeApplicationData {
			app = append(app, payload)
		}
		s.handleData(t, rec)
	})
	s.check(t)
	checkDelivered(t, s, app)
	return s
}

// FuzzDTLSServer feeds a fresh DTLS server the input as the client's
// datagrams, cut by fuzzDatagrams.
func FuzzDTLSServer(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendFuzzDatagram(nil, false, make([]byte, record.DTLSHeaderLen)))
	f.Add(appendFuzzDatagram(nil, true, []byte{22, 0xfe, 0xfd}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) <= fuzzMaxInput {
			runDTLSServer(t, in)
		}
	})
}

func runDTLSServer(t *testing.T, in []byte) *fuzzConn {
	return runDatagramServer(t, fuzzServerConfig(), in)
}

// runDatagramServer feeds a DTLS server of cfg the input as the client's
// datagrams.
func runDatagramServer(t *testing.T, cfg *fsm.Config, in []byte) *fuzzConn {
	s := newFuzzConn(fsm.NewDTLSServer(cfg, fuzzPeerID))
	s.handleDatagrams(t, in)
	s.check(t)
	return s
}

// FuzzDTLSClient feeds a DTLS client that has sent its ClientHello the
// input as the server's datagrams, cut by fuzzDatagrams.
func FuzzDTLSClient(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendFuzzDatagram(nil, true, nil))
	f.Add(appendFuzzDatagram(appendFuzzDatagram(nil, true, nil), true, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) <= fuzzMaxInput {
			runDTLSClient(t, in)
		}
	})
}

func runDTLSClient(t *testing.T, in []byte) *fuzzConn {
	return runDatagramClient(t, fuzzClientConfig(), in)
}

// runDatagramClient starts a DTLS client of cfg and feeds it the input
// as the server's datagrams.
func runDatagramClient(t *testing.T, cfg *fsm.Config, in []byte) *fuzzConn {
	c := newFuzzConn(fsm.NewDTLSClient(cfg))
	c.returned(t, c.conn.Start(c.now))
	c.handleDatagrams(t, in)
	c.check(t)
	return c
}

// FuzzDTLS13Server is FuzzDTLSServer with DTLS 1.3 enabled (RFC 9147):
// the client's datagrams may hold unified-header records, ACKs and DTLS
// 1.3 handshakes.
func FuzzDTLS13Server(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendFuzzDatagram(nil, false, []byte{0x2f, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) <= fuzzMaxInput {
			runDTLS13Server(t, in)
		}
	})
}

func runDTLS13Server(t *testing.T, in []byte) *fuzzConn {
	return runDatagramServer(t, dtls13(fuzzServerConfig()), in)
}

// FuzzDTLS13Client is FuzzDTLSClient for a client that offers DTLS 1.3.
func FuzzDTLS13Client(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendFuzzDatagram(nil, true, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) <= fuzzMaxInput {
			runDTLS13Client(t, in)
		}
	})
}

func runDTLS13Client(t *testing.T, in []byte) *fuzzConn {
	return runDatagramClient(t, dtls13(fuzzClientConfig()), in)
}

// dtls13 enables DTLS 1.3 in cfg and returns it.
func dtls13(cfg *fsm.Config) *fsm.Config {
	cfg.MaxVersion = fsm.VersionTLS13
	return cfg
}

// FuzzDTLSEstablished completes a DTLS 1.2 handshake, then feeds the
// server the input as further datagrams from the client: raw (cut by
// fuzzDatagrams), or as records the client's keys protect, one to a
// datagram (see fuzzRecords). The application data delivered must be
// exactly what the sealed records carried, up to where the server stopped
// reading.
func FuzzDTLSEstablished(f *testing.F) {
	f.Add(byte(0), []byte{})
	f.Add(byte(0), appendFuzzDatagram(nil, true, []byte{23, 0xfe, 0xfd, 0, 1}))
	f.Add(byte(modeSealed), appendFuzzRecord(nil, record.TypeApplicationData, []byte("hello")))
	f.Add(byte(modeSealed), appendFuzzRecord(nil, record.TypeHandshake, handshakeMsg(flights.TypeClientHello, nil)))
	f.Fuzz(func(t *testing.T, mode byte, in []byte) {
		if len(in) <= fuzzMaxInput {
			runDTLSEstablished(t, mode, in)
		}
	})
}

func runDTLSEstablished(t *testing.T, mode byte, in []byte) *fuzzConn {
	r := fuzzReplayOf(t, replayDTLS)
	s := newFuzzConn(fsm.NewDTLSServer(fuzzServerConfig(), fuzzPeerID))
	for _, d := range r.sent {
		s.handleDatagram(t, d)
	}
	r.established(t, s)
	if mode&modeSealed == 0 {
		s.handleDatagrams(t, in)
		s.check(t)
		return s
	}
	st, seq := r.state, r.seq
	var app [][]byte
	fuzzRecords(in, fuzzDTLSPayload, func(typ record.ContentType, payload []byte) {
		rec, err := record.SealDTLS12(nil, &st, typ, record.VersionDTLS12, r.epoch, seq, payload)
		require.NoError(t, err)
		seq++
		if typ == record.TypeApplicationData {
			app = append(app, payload)
		}
		s.handleDatagram(t, rec)
	})
	s.check(t)
	checkDelivered(t, s, app)
	return s
}

// innerContent13 returns the content type and the content a TLS 1.3
// receiver finds in a record sealed with type typ: the last non-zero byte
// of payload || typ, and what precedes it (RFC 8446 §5.4). Type 0 means
// there is none.
func innerContent13(typ record.ContentType, payload []byte) (record.ContentType, []byte) {
	if typ != 0 {
		return typ, payload
	}
	i := len(payload) - 1
	for i >= 0 && payload[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil
	}
	return record.ContentType(payload[i]), payload[:i]
}

// The established connections the *Established targets replay.
const (
	replayTLS13 = iota
	replayTLS12
	replayDTLS
	numReplays
)

// fuzzReplay is a handshake recorded once per process, which a fresh
// server completes again by replaying the client's side of it: the Conns
// are deterministic, so the server ends with the same keys every time, and
// a copy of the client's write state protects further records for it.
// This halves the cost of an execution, which is mostly the handshake.
type fuzzReplay struct {
	// sent is what the client transmitted up to the end of the handshake.
	sent [][]byte
	// state is the client's write state after it; over datagrams, epoch
	// and seq are those of its next record.
	state cipher.State
	epoch uint16
	seq   uint64
}

var fuzzReplays [numReplays]struct {
	once sync.Once
	r    *fuzzReplay
}

// fuzzReplayOf records the handshake of variant on first use.
func fuzzReplayOf(t *testing.T, variant int) *fuzzReplay {
	e := &fuzzReplays[variant]
	e.once.Do(func() { e.r = recordReplay(t, variant) })
	if e.r == nil {
		t.Fatal("the handshake to replay failed")
	}
	return e.r
}

func recordReplay(t *testing.T, variant int) *fuzzReplay {
	r := new(fuzzReplay)
	var client *fsm.Conn
	if variant == replayDTLS {
		l := fuzzDTLSPair(t, func(l *dgramLink) {
			l.drop = func(from *dgramSide, d []byte) bool {
				if from == l.client {
					r.sent = append(r.sent, bytes.Clone(d))
				}
				return false
			}
		})
		client = l.client.conn
	} else {
		p := fuzzTLSPair(t, variant == replayTLS12, func(p *memconn.Pair) {
			p.Trace = func(s *memconn.Side, ev fsm.Event) {
				if s == p.Client && ev.Kind == fsm.EventTransmit {
					r.sent = append(r.sent, bytes.Clone(ev.Data))
				}
			}
		})
		client = p.Client.Conn
	}
	st, epoch, seq := client.WriteStateForTest()
	r.state, r.epoch, r.seq = *st, epoch, seq
	return r
}

// established checks that the replay completed the handshake and forgets
// what s emitted on the way.
func (r *fuzzReplay) established(t *testing.T, s *fuzzConn) {
	if !s.conn.HandshakeComplete() || s.conn.Err() != nil {
		t.Fatalf("replayed handshake: complete %v, error %v", s.conn.HandshakeComplete(), s.conn.Err())
	}
	s.events, s.data = s.events[:0], nil
}

// ---- The recorded seed corpus.

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite the recorded fuzz seeds under testdata/fuzz")

// fuzzSeed is one recorded seed: the file dir/target/name holding args.
// A deep seed takes the Conn through a handshake and has it deliver data
// and nothing else; the record package's seeds are not replayed here.
type fuzzSeed struct {
	dir, target, name string
	args              []any
	deep              bool
	data              string
}

// fuzzRunners replay the seeds of each fsm target.
var fuzzRunners = map[string]func(t *testing.T, args []any) *fuzzConn{
	"FuzzTLSServer": func(t *testing.T, a []any) *fuzzConn { return runTLSServer(t, a[0].(uint16), a[1].([]byte)) },
	"FuzzTLSClient": func(t *testing.T, a []any) *fuzzConn { return runTLSClient(t, a[0].(uint16), a[1].([]byte)) },
	"FuzzTLSEstablished": func(t *testing.T, a []any) *fuzzConn {
		return runTLSEstablished(t, a[0].(byte), a[1].([]byte))
	},
	"FuzzDTLSServer": func(t *testing.T, a []any) *fuzzConn { return runDTLSServer(t, a[0].([]byte)) },
	"FuzzDTLSClient": func(t *testing.T, a []any) *fuzzConn { return runDTLSClient(t, a[0].([]byte)) },
	"FuzzDTLSEstablished": func(t *testing.T, a []any) *fuzzConn {
		return runDTLSEstablished(t, a[0].(byte), a[1].([]byte))
	},
	"FuzzDTLS13Server": func(t *testing.T, a []any) *fuzzConn { return runDTLS13Server(t, a[0].([]byte)) },
	"FuzzDTLS13Client": func(t *testing.T, a []any) *fuzzConn { return runDTLS13Client(t, a[0].([]byte)) },
}

// fuzzCorpusFile encodes values in the corpus file format of go test.
func fuzzCorpusFile(args ...any) []byte {
	b := []byte("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case byte:
			b = fmt.Appendf(b, "byte(%q)\n", v)
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		default:
			b = fmt.Appendf(b, "%T(%v)\n", v, v)
		}
	}
	return b
}

// TestFuzzCorpus checks the recorded seeds in testdata/fuzz against fresh
// recordings, or rewrites them with -update-fuzz-corpus, and checks that
// the deep ones still go deep: a change that made the Conns
// nondeterministic would leave the fuzzers at the first message.
func TestFuzzCorpus(t *testing.T) {
	for _, s := range recordedFuzzSeeds(t) {
		path := filepath.Join(s.dir, "testdata", "fuzz", s.target, s.name)
		want := fuzzCorpusFile(s.args...)
		if *updateFuzzCorpus {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale; from the module root run\n\tgo test ./fsm -run '^TestFuzzCorpus$' -update-fuzz-corpus", path)
		}
		if s.deep {
			c := fuzzRunners[s.target](t, s.args)
			require.True(t, c.conn.HandshakeComplete(), "%s: %v", path, c.conn.Err())
			require.Equal(t, s.data, string(c.data), path)
			require.NoError(t, c.conn.Err(), path)
		}
	}
}

// tlsRecording is what each side of a pair transmitted, one entry per
// transmit event.
type tlsRecording struct {
	client, server [][]byte
}

// recordTLS runs a pair of the given configurations through a handshake
// and then script, recording what each side sent.
func recordTLS(t *testing.T, cc, sc *fsm.Config, script func(p *memconn.Pair)) *tlsRecording {
	rec := new(tlsRecording)
	p := memconn.New(cc, sc)
	p.Now = testcert.FixedTime
	p.Trace = func(s *memconn.Side, ev fsm.Event) {
		if ev.Kind != fsm.EventTransmit {
			return
		}
		if s == p.Client {
			rec.client = append(rec.client, bytes.Clone(ev.Data))
		} else {
			rec.server = append(rec.server, bytes.Clone(ev.Data))
		}
	}
	require.NoError(t, p.Handshake())
	if script != nil {
		script(p)
	}
	return rec
}

// tlsScript is what the recorded conversations do after the handshake:
// data both ways, a key update (TLS 1.3) or a renegotiation (TLS 1.2)
// started by side, more data, and side's close_notify.
func tlsScript(t *testing.T, side func(p *memconn.Pair) *memconn.Side) func(p *memconn.Pair) {
	return func(p *memconn.Pair) {
		s := side(p)
		require.NoError(t, p.Write(p.Client, []byte("GET / HTTP/1.1\r\n\r\n")))
		require.NoError(t, p.Write(p.Server, []byte("HTTP/1.1 200 OK\r\n\r\n")))
		if s.Conn.ConnectionState().Version == fsm.VersionTLS13 {
			require.NoError(t, s.Conn.KeyUpdate(fsm.UpdateRequested))
		} else {
			require.NoError(t, s.Conn.Renegotiate())
		}
		require.NoError(t, p.Write(s, []byte("after the update")))
		require.NoError(t, s.Conn.Close(p.Now))
		p.Pump()
	}
}

func clientSide(p *memconn.Pair) *memconn.Side { return p.Client }
func serverSide(p *memconn.Pair) *memconn.Side { return p.Server }

// streamSeeds returns the seeds of a stream target from what one side
// sent: cut after the first transmission, and in the middle of it.
func streamSeeds(target, name string, sent [][]byte, data string) []fuzzSeed {
	all := bytes.Join(sent, nil)
	return []fuzzSeed{
		{".", target, name, []any{uint16(len(sent[0])), all}, true, data},
		{".", target, name + "-midrecord", []any{uint16(len(sent[0]) / 2), all}, true, data},
	}
}

// dgramRecording records the datagrams each side of a DTLS pair sent.
type dgramRecording struct {
	link           *dgramLink
	client, server [][]byte
}

func recordDTLS(t *testing.T, cc, sc *fsm.Config) *dgramRecording {
	rec := &dgramRecording{}
	l := &dgramLink{
		now:    testcert.FixedTime,
		client: &dgramSide{conn: fsm.NewDTLSClient(cc)},
		server: &dgramSide{conn: fsm.NewDTLSServer(sc, fuzzPeerID)},
	}
	l.drop = func(from *dgramSide, d []byte) bool {
		if from == l.client {
			rec.client = append(rec.client, bytes.Clone(d))
		} else {
			rec.server = append(rec.server, bytes.Clone(d))
		}
		return false
	}
	rec.link = l
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, 1, l.client.done)
	require.Equal(t, 1, l.server.done)
	return rec
}

// pingPong has the client and the server write a message each and runs
// the link.
func (l *dgramLink) pingPong(t *testing.T) {
	_, err := l.client.conn.Write(l.now, []byte("ping"))
	require.NoError(t, err)
	_, err = l.server.conn.Write(l.now, []byte("pong"))
	require.NoError(t, err)
	l.run(t, 100)
}

// afterKeyUpdate is what each side of script13 writes after the updates.
const afterKeyUpdate = "after the key updates"

// script13 has a DTLS 1.3 link exchange data, each side update its keys
// (the client asking the server to update too), write again and close.
func (r *dgramRecording) script13(t *testing.T) {
	l := r.link
	l.pingPong(t)
	require.NoError(t, l.client.conn.KeyUpdate(fsm.UpdateRequested))
	require.NoError(t, l.client.conn.Handshake(l.now))
	l.run(t, 100)
	for _, s := range []*dgramSide{l.client, l.server} {
		_, err := s.conn.Write(l.now, []byte(afterKeyUpdate))
		require.NoError(t, err)
		l.run(t, 100)
	}
	for _, s := range []*dgramSide{l.client, l.server} {
		require.NoError(t, s.conn.Close(l.now))
		l.run(t, 100)
	}
}

// dtlsScript has the link exchange data, side renegotiate, and close.
func (r *dgramRecording) script(t *testing.T, side *dgramSide) {
	l := r.link
	l.pingPong(t)
	require.NoError(t, side.conn.Renegotiate())
	require.NoError(t, side.conn.Handshake(l.now))
	l.run(t, 100)
	require.Equal(t, 2, side.done)
	_, err := side.conn.Write(l.now, []byte("after renegotiation"))
	require.NoError(t, err)
	require.NoError(t, side.conn.Close(l.now))
	l.run(t, 100)
}

// datagramSeed encodes datagrams for fuzzDatagrams.
func datagramSeed(ds [][]byte) []byte {
	var b []byte
	for _, d := range ds {
		b = appendFuzzDatagram(b, false, d)
	}
	return b
}

// The application data of the recorded conversations, as its receiver
// sees it.
const (
	toServer   = "GET / HTTP/1.1\r\n\r\nafter the update"
	toClient   = "HTTP/1.1 200 OK\r\n\r\nafter the update"
	afterReneg = "after renegotiation"
)

// recordedFuzzSeeds records every conversation the seed corpus holds.
func recordedFuzzSeeds(t *testing.T) []fuzzSeed {
	var seeds []fuzzSeed
	add := func(s ...fuzzSeed) { seeds = append(seeds, s...) }

	// Clients of the fuzzed TLS server.
	tls13 := recordTLS(t, fuzzClientConfig(), fuzzServerConfig(), tlsScript(t, clientSide))
	add(streamSeeds("FuzzTLSServer", "tls13", tls13.client, toServer)...)
	cc := fuzzClientConfig()
	cc.MaxVersion = fsm.VersionTLS12
	tls12 := recordTLS(t, cc, fuzzServerConfig(), tlsScript(t, clientSide))
	add(streamSeeds("FuzzTLSServer", "tls12", tls12.client, toServer)...)
	cc = fuzzClientConfig()
	cc.CurvePreferences = []fsm.CurveID{fsm.CurveP256, fsm.X25519}
	cc.Certificates = nil
	hrr := recordTLS(t, cc, fuzzServerConfig(), nil)
	add(streamSeeds("FuzzTLSServer", "tls13-retry-nocert", hrr.client, "")...)

	// Servers of the fuzzed TLS client.
	add(streamSeeds("FuzzTLSClient", "tls13", recordTLS(t, fuzzClientConfig(), fuzzServerConfig(), tlsScript(t, serverSide)).server, toClient)...)
	sc := fuzzServerConfig()
	sc.MaxVersion = fsm.VersionTLS12
	add(streamSeeds("FuzzTLSClient", "tls12", recordTLS(t, fuzzClientConfig(), sc, tlsScript(t, serverSide)).server, toClient)...)
	sc = fuzzServerConfig()
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	sc.ClientAuth = fsm.NoClientCert
	add(streamSeeds("FuzzTLSClient", "tls13-retry-nocert", recordTLS(t, fuzzClientConfig(), sc, nil).server, "")...)

	// What the client of an established pair sends next.
	for _, tls12 := range []bool{false, true} {
		mode, name := byte(0), "tls13"
		if tls12 {
			mode, name = modeTLS12, "tls12"
		}
		p := fuzzTLSPair(t, tls12, nil)
		var sent [][]byte
		p.Trace = func(s *memconn.Side, ev fsm.Event) {
			if s == p.Client && ev.Kind == fsm.EventTransmit {
				sent = append(sent, bytes.Clone(ev.Data))
			}
		}
		tlsScript(t, clientSide)(p)
		add(fuzzSeed{".", "FuzzTLSEstablished", name, []any{mode, bytes.Join(sent, nil)}, true, toServer})
		var recs []byte
		recs = appendFuzzRecord(recs, record.TypeApplicationData, []byte("hello"))
		recs = appendFuzzRecord(recs, record.TypeApplicationData, nil)
		recs = appendFuzzRecord(recs, record.TypeAlert, []byte{1, 90}) // user_canceled
		if tls12 {
			recs = appendFuzzRecord(recs, record.TypeAlert, []byte{1, 0})
		} else {
			// The server's read keys change: nothing can follow.
			recs = appendFuzzRecord(recs, record.TypeHandshake, handshakeMsg(flights.TypeKeyUpdate, []byte{1}))
		}
		add(fuzzSeed{".", "FuzzTLSEstablished", name + "-sealed", []any{mode | modeSealed, recs}, true, "hello"})
	}

	// Clients of the fuzzed DTLS server, and servers of the fuzzed client.
	dtls := recordDTLS(t, fuzzClientConfig(), fuzzServerConfig())
	dtls.script(t, dtls.link.client)
	add(fuzzSeed{".", "FuzzDTLSServer", "dtls12", []any{datagramSeed(dtls.client)}, true, "ping" + afterReneg})
	first := appendFuzzDatagram(nil, false, dtls.client[0])
	add(fuzzSeed{".", "FuzzDTLSServer", "dtls12-timer", []any{appendFuzzDatagram(first, true, dtls.client[0])}, false, ""})
	cc = fuzzClientConfig()
	cc.MTU = 200
	cc.Certificates = nil
	frag := recordDTLS(t, cc, fuzzServerConfig())
	add(fuzzSeed{".", "FuzzDTLSServer", "dtls12-fragmented-nocert", []any{datagramSeed(frag.client)}, true, ""})

	dtls = recordDTLS(t, fuzzClientConfig(), fuzzServerConfig())
	dtls.script(t, dtls.link.server)
	add(fuzzSeed{".", "FuzzDTLSClient", "dtls12", []any{datagramSeed(dtls.server)}, true, "pong" + afterReneg})
	sc = fuzzServerConfig()
	sc.MTU = 200
	frag = recordDTLS(t, fuzzClientConfig(), sc)
	add(fuzzSeed{".", "FuzzDTLSClient", "dtls12-fragmented", []any{datagramSeed(frag.server)}, true, ""})
	// The first flight again after a timeout: the HelloVerifyRequest.
	var retry []byte
	retry = appendFuzzDatagram(retry, true, nil)
	retry = appendFuzzDatagram(retry, false, frag.server[0])
	add(fuzzSeed{".", "FuzzDTLSClient", "dtls12-timer", []any{retry}, false, ""})

	// The same over DTLS 1.3: its address check by HelloRetryRequest
	// cookie, ACKs, a key update each way.
	d13 := recordDTLS(t, dtls13(fuzzClientConfig()), dtls13(fuzzServerConfig()))
	d13.script13(t)
	add(fuzzSeed{".", "FuzzDTLS13Server", "dtls13", []any{datagramSeed(d13.client)}, true, "ping" + afterKeyUpdate})
	add(fuzzSeed{".", "FuzzDTLS13Client", "dtls13", []any{datagramSeed(d13.server)}, true, "pong" + afterKeyUpdate})
	cc = dtls13(fuzzClientConfig())
	cc.MTU = 200
	frag = recordDTLS(t, cc, dtls13(fuzzServerConfig()))
	add(fuzzSeed{".", "FuzzDTLS13Server", "dtls13-fragmented", []any{datagramSeed(frag.client)}, true, ""})
	sc = dtls13(fuzzServerConfig())
	sc.MTU = 200
	frag = recordDTLS(t, dtls13(fuzzClientConfig()), sc)
	add(fuzzSeed{".", "FuzzDTLS13Client", "dtls13-fragmented", []any{datagramSeed(frag.server)}, true, ""})

	// What the client of an established DTLS pair sends next.
	l := fuzzDTLSPair(t, nil)
	var sent [][]byte
	l.drop = func(from *dgramSide, d []byte) bool {
		if from == l.client {
			sent = append(sent, bytes.Clone(d))
		}
		return false
	}
	(&dgramRecording{link: l}).script(t, l.client)
	add(fuzzSeed{".", "FuzzDTLSEstablished", "dtls12", []any{byte(0), datagramSeed(sent)}, true, "ping" + afterReneg})
	var recs []byte
	recs = appendFuzzRecord(recs, record.TypeApplicationData, []byte("hello"))
	recs = appendFuzzRecord(recs, record.TypeHandshake, handshakeMsg(flights.TypeHelloRequest, nil))
	recs = appendFuzzRecord(recs, record.TypeAlert, []byte{1, 0})
	add(fuzzSeed{".", "FuzzDTLSEstablished", "dtls12-sealed", []any{byte(modeSealed), recs}, true, "hello"})

	// The record package's targets read the same conversations.
	const recordDir = "../record"
	add(fuzzSeed{recordDir, "FuzzStreamReader", "tls13-client", []any{uint16(0), []byte{}, bytes.Join(tls13.client, nil)}, false, ""})
	add(fuzzSeed{recordDir, "FuzzStreamReader", "tls13-server-split", []any{uint16(0), []byte{1, 4, 5, 200, 3}, bytes.Join(tls13.server, nil)}, false, ""})
	add(fuzzSeed{recordDir, "FuzzStreamReader", "tls12-server-small-limit", []any{uint16(512), []byte{7}, bytes.Join(tls12.server, nil)}, false, ""})
	for i, d := range dtls.server[:min(3, len(dtls.server))] {
		add(fuzzSeed{recordDir, "FuzzParseDTLSRecord", fmt.Sprintf("dtls12-server-%d", i), []any{d}, false, ""})
	}
	add(fuzzSeed{recordDir, "FuzzParseDTLSRecord", "dtls12-client-last", []any{dtls.client[len(dtls.client)-1]}, false, ""})
	return seeds
}
