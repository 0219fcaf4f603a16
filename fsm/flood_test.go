package fsm_test

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

// floodCount is how many bogus inputs each flood sends.
const floodCount = 10_000

// floodHeapBound bounds the heap a flooded Conn may keep. What a DTLS Conn
// keeps for input it has not processed is its handshake Reassembler,
// made in fsm/datagram.go with flights.NewReassembler(MaxHandshakeMessage,
// maxBufferedHandshake), maxBufferedHandshake = 64 KiB. By its contract
// it holds at most maxBuffered for messages after the next one, plus
// ReassemblyCost(MaxHandshakeMessage) = 12 + 65,536 + 1,025 blocks of
// 128 = 196,748 bytes for the next one, which it always accepts (and only
// as its bytes arrive): 262,284 bytes in all. On top of that the Conn keeps its output
// buffer, as large as the largest output of one call (a flight sent
// again: a few KiB), and the allocator rounds large buffers up to whole
// 8 KiB pages. 64 KiB covers both; the bound is 327,820 bytes. A TLS Conn
// keeps less: one record being read (at most 5 + 16,640 bytes) and one
// handshake message being assembled (at most 4 + MaxHandshakeMessage).
var floodHeapBound = int64(64<<10 + flights.ReassemblyCost(fsm.MaxHandshakeMessage) + 64<<10)

// heapAlloc returns the bytes of live heap objects after a full GC.
func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// flooded is a Conn under a flood and what it did.
type flooded struct {
	c        *fsm.Conn
	datagram bool
	now      time.Time
	// fed counts inputs; closedAt is the input that closed the Conn (0
	// while it is open).
	fed, closedAt int
	transmits     int
	sentAlerts    []fsm.Alert
	recvAlerts    []fsm.Alert
}

// feed hands the Conn one input, a datagram or a piece of the stream, and
// drains its events. A panic fails the test with the input that caused it.
func (f *flooded) feed(t *testing.T, in []byte) {
	t.Helper()
	f.fed++
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic on input %d (%x): %v", f.fed, in, r)
			}
		}()
		if f.datagram {
			f.c.HandleDatagram(f.now, in)
		} else {
			f.c.HandleData(f.now, in)
		}
	}()
	for ev := f.c.NextEvent(); ev.Kind != fsm.EventNone; ev = f.c.NextEvent() {
		switch ev.Kind {
		case fsm.EventTransmit:
			f.transmits++
		case fsm.EventAlertSent:
			f.sentAlerts = append(f.sentAlerts, ev.Alert)
		case fsm.EventAlertReceived:
			f.recvAlerts = append(f.recvAlerts, ev.Alert)
		case fsm.EventClosed:
			if f.closedAt == 0 {
				f.closedAt = f.fed
			}
		}
	}
}

// flood feeds n inputs from gen, which may reuse its buffer, and returns
// how much the live heap grew, with the Conn still reachable.
func (f *flooded) flood(t *testing.T, n int, gen func() []byte) int64 {
	t.Helper()
	before := heapAlloc()
	start := time.Now()
	for range n {
		f.feed(t, gen())
	}
	took := time.Since(start)
	grew := heapAlloc() - before
	runtime.KeepAlive(f.c)
	t.Logf("%d inputs in %v: heap %+d B (bound %d); %d transmits, alerts sent %v, received %v; state %s, closed at input %d",
		n, took.Round(time.Millisecond), grew, floodHeapBound, f.transmits, f.sentAlerts, f.recvAlerts, f.c.State(), f.closedAt)
	return grew
}

// checkOutcome asserts what a flood may end in: the Conn is open, or it
// closed with an alert, sent or received, and nothing after.
func (f *flooded) checkOutcome(t *testing.T) {
	t.Helper()
	if f.closedAt == 0 {
		require.NotEqual(t, fsm.StateClosed, f.c.State())
		require.NoError(t, f.c.Err())
		return
	}
	require.Equal(t, fsm.StateClosed, f.c.State())
	var ae *fsm.AlertError
	require.ErrorAs(t, f.c.Err(), &ae, "closed with an alert")
	if ae.Received {
		require.Equal(t, []fsm.Alert{ae.Description}, f.recvAlerts)
	} else {
		require.Equal(t, []fsm.Alert{ae.Description}, f.sentAlerts)
	}
}

// gens makes the bogus inputs of the floods from one seed: rng draws the
// choices, bytes the contents.
type gens struct {
	rng   *rand.Rand
	bytes *rand.ChaCha8
	// seq is the next record sequence number: it rises, by leaps now and
	// then, so that records pass the replay window as a flooder's would
	// (fully random ones mostly fall behind it once one high number has
	// been seen).
	seq uint64
	buf []byte
}

func newGens(seed uint64) *gens {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return &gens{rng: rand.New(rand.NewPCG(seed, 0x666c6f6f64)), bytes: rand.NewChaCha8(key)} // "flood"
}

// random appends n random bytes to b.
func (g *gens) random(b []byte, n int) []byte {
	b = append(b, make([]byte, n)...)
	g.bytes.Read(b[len(b)-n:])
	return b
}

// nextSeq returns a record sequence number above the last one.
func (g *gens) nextSeq() uint64 {
	s := g.seq
	g.seq++
	if g.rng.IntN(64) == 0 {
		g.seq += g.rng.Uint64N(1 << 20)
	}
	return s
}

// dtlsHeader appends a DTLS record header.
func dtlsHeader(b []byte, typ byte, epoch uint16, seq uint64, n int) []byte {
	b = append(b, typ, 0xfe, 0xfd)
	b = binary.BigEndian.AppendUint16(b, epoch)
	b = binary.BigEndian.AppendUint16(b, uint16(seq>>32))
	b = binary.BigEndian.AppendUint32(b, uint32(seq))
	return binary.BigEndian.AppendUint16(b, uint16(n))
}

// hello returns a datagram of one epoch 0 handshake record holding a
// fragment of a ClientHello: message length up to MaxHandshakeMessage, a
// random offset and up to 1,000 random bytes that lie within the message,
// and a message_seq from seq.
func (g *gens) hello(seq func() uint16) []byte {
	length := 1 + g.rng.IntN(fsm.MaxHandshakeMessage)
	n := g.rng.IntN(min(length, 1000) + 1)
	off := g.rng.IntN(length - n + 1)
	b := dtlsHeader(g.buf[:0], 22, 0, g.nextSeq(), 12+n)
	b = append(b, byte(flights.TypeClientHello), byte(length>>16), byte(length>>8), byte(length))
	b = binary.BigEndian.AppendUint16(b, seq())
	b = append(b, byte(off>>16), byte(off>>8), byte(off), byte(n>>16), byte(n>>8), byte(n))
	g.buf = g.random(b, n)
	return g.buf
}

// anySeq draws a message_seq uniformly.
func (g *gens) anySeq() uint16 { return uint16(g.rng.Uint32()) }

// fill returns a generator of ClientHello fragments for the message_seqs
// seqs, each of a message whose length is fixed per message_seq (the
// first MaxHandshakeMessage, the others random), at random offsets, whose
// bytes depend only on their message_seq and offset, so that overlapping
// fragments agree, and which never hold a message's last byte, so that no
// message completes. It is the flood that makes a Reassembler hold the
// most.
func (g *gens) fill(seqs ...uint16) func() []byte {
	lengths := map[uint16]int{}
	for i, s := range seqs {
		lengths[s] = fsm.MaxHandshakeMessage
		if i > 0 {
			lengths[s] = 2 + g.rng.IntN(fsm.MaxHandshakeMessage-1)
		}
	}
	return func() []byte {
		seq := seqs[g.rng.IntN(len(seqs))]
		length := lengths[seq]
		n := 1 + g.rng.IntN(min(length-1, 1000))
		off := g.rng.IntN(length - n)
		b := dtlsHeader(g.buf[:0], 22, 0, g.nextSeq(), 12+n)
		b = append(b, byte(flights.TypeClientHello), byte(length>>16), byte(length>>8), byte(length))
		b = binary.BigEndian.AppendUint16(b, seq)
		b = append(b, byte(off>>16), byte(off>>8), byte(off), byte(n>>16), byte(n>>8), byte(n))
		for i := off; i < off+n; i++ {
			b = append(b, byte(i*131+int(seq)))
		}
		g.buf = b
		return b
	}
}

// records returns a datagram of one to three records of random types
// (mostly the four known ones), epochs (mostly 0 to 2), sequence numbers
// and contents. A header may claim more bytes than follow.
func (g *gens) records(epochs func() uint16) []byte {
	b := g.buf[:0]
	for range 1 + g.rng.IntN(3) {
		typ := byte(20 + g.rng.IntN(4))
		if g.rng.IntN(16) == 0 {
			typ = byte(g.rng.Uint32())
		}
		n := g.rng.IntN(600)
		claimed := n
		if g.rng.IntN(16) == 0 {
			claimed = g.rng.IntN(1 << 16)
		}
		b = dtlsHeader(b, typ, epochs(), g.nextSeq(), claimed)
		b = g.random(b, n)
	}
	g.buf = b
	return b
}

// lowEpochs draws epoch 0, 1 or 2 most of the time, else any epoch.
func (g *gens) lowEpochs() uint16 {
	if g.rng.IntN(4) == 0 {
		return uint16(g.rng.Uint32())
	}
	return uint16(g.rng.IntN(3))
}

// dtlsPair returns a DTLS client and server joined in memory.
func dtlsPair(t *testing.T) *dgramLink {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	return newDgramLink(t, cc, sc)
}

// deliver hands s every datagram in its inbox.
func (l *dgramLink) deliver(s *dgramSide) (moved bool) {
	for len(s.inbox) > 0 {
		d := s.inbox[0]
		s.inbox = s.inbox[1:]
		if l.reuse != nil {
			d = append(l.reuse[:0], d...)
		}
		s.conn.HandleDatagram(l.now, d)
		l.drain(s)
		if l.reuse != nil {
			for i := range l.reuse[:cap(l.reuse)] {
				l.reuse[:cap(l.reuse)][i] = 0xaa // the next datagram, as far as the Conn knows
			}
		}
		moved = true
	}
	return moved
}

// midHandshake returns a link whose server has taken the client's
// ClientHello with its cookie and sent its first flight, which waits in
// the client's inbox.
func midHandshake(t *testing.T) *dgramLink {
	l := dtlsPair(t)
	require.NoError(t, l.client.conn.Start(l.now))
	l.drain(l.client)
	l.deliver(l.server) // ClientHello -> HelloVerifyRequest
	l.deliver(l.client) // -> ClientHello with the cookie
	l.deliver(l.server) // -> ServerHello ... ServerHelloDone
	require.Equal(t, fsm.StateServerWaitClientKeyExchange12, l.server.conn.State())
	require.NotEmpty(t, l.client.inbox)
	return l
}

// floodServer floods l's server; what it sends meanwhile is dropped.
func floodServer(t *testing.T, l *dgramLink, n int, gen func() []byte) (*flooded, int64) {
	f := &flooded{c: l.server.conn, datagram: true, now: l.now}
	return f, f.flood(t, n, gen)
}

// mix returns a generator that takes turns between a and b.
func mix(a, b func() []byte) func() []byte {
	i := 0
	return func() []byte {
		i++
		if i%2 == 0 {
			return b()
		}
		return a()
	}
}

// TestDTLSFloodServerStart floods fresh server Conns, in ServerStart as
// NewDTLSServer makes them: with bogus ClientHello fragments, with random
// records, and with fragments that fill a Reassembler (in ServerStart a
// ClientHello of another message_seq starts over, so one message at most
// is held). Each never panics, ends open or closed by an alert, and keeps
// a bounded heap.
func TestDTLSFloodServerStart(t *testing.T) {
	_, sc := dtlsConfigs(t, testcert.ECDSAP256)
	g := newGens(1)
	for _, tc := range []struct {
		name string
		gen  func() []byte
	}{
		{"hellos", func() []byte { return g.hello(g.anySeq) }},
		{"records", func() []byte { return g.records(g.lowEpochs) }},
		{"fill", g.fill(7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flooded{c: fsm.NewDTLSServer(sc, []byte("flooder")), datagram: true, now: time.Now()}
			grew := f.flood(t, floodCount, tc.gen)
			f.checkOutcome(t)
			require.Less(t, grew, floodHeapBound)
		})
	}
}

// TestDTLSFloodMidHandshake floods a server that has answered a real
// ClientHello and waits for the client's next flight.
//
// "harmless" sends what the server must ignore, and the client then
// completes the handshake with it: records of epochs 1 and above, for
// which it has no keys yet; application data in epoch 0; and epoch 0
// handshake records that replay the sequence numbers of the client's two
// ClientHellos, carrying ClientHello fragments whose message_seq lies
// outside the reassembly window (the client's ClientHellos were 0 and 1;
// 2 comes next, and the server buffers up to 2 + ReassemblyWindow).
// Fresh epoch 0 records cannot be part of it: epoch 0 has no
// authentication, so the server cannot tell them from the client's, and
// each one it takes moves its replay window; one with sequence number
// 2^48-1 makes it drop every later record of the client's in epoch 0,
// and the handshake times out.
//
// "hostile" sends ClientHello fragments of any message_seq and random
// records, fresh epoch 0 ones among them: a forged fragment in the window,
// or a plaintext fatal alert, may end the handshake, so the server must
// only end open or closed by an alert, and keep a bounded heap; whether
// the client can still finish is not a property to test.
func TestDTLSFloodMidHandshake(t *testing.T) {
	g := newGens(2)
	outside := func() uint16 {
		if g.rng.IntN(8) == 0 {
			return uint16(g.rng.IntN(2)) // an old ClientHello
		}
		return uint16(2 + flights.ReassemblyWindow + g.rng.IntN(1<<16-2-flights.ReassemblyWindow))
	}
	harmless := func() []byte {
		switch g.rng.IntN(3) {
		case 0:
			return g.records(func() uint16 { return uint16(1 + g.rng.IntN(1<<16-1)) })
		case 1:
			b := g.hello(outside)
			binary.BigEndian.PutUint16(b[5:], 0)
			binary.BigEndian.PutUint32(b[7:], uint32(g.rng.IntN(2)))
			return b
		}
		n := g.rng.IntN(600)
		g.buf = g.random(dtlsHeader(g.buf[:0], 23, 0, g.nextSeq(), n), n)
		return g.buf
	}
	t.Run("harmless", func(t *testing.T) {
		l := midHandshake(t)
		f, grew := floodServer(t, l, floodCount, harmless)
		require.Zero(t, f.closedAt, "the server ignores the flood")
		require.Zero(t, f.transmits, "and does not answer it")
		require.Less(t, grew, floodHeapBound)
		l.run(t, 100)
		require.Equal(t, 1, l.client.done)
		require.Equal(t, 1, l.server.done)
		_, err := l.client.conn.Write(l.now, []byte("after the flood"))
		require.NoError(t, err)
		l.run(t, 10)
		require.Equal(t, "after the flood", string(l.server.received))
	})
	t.Run("fill", func(t *testing.T) {
		l := midHandshake(t)
		f, grew := floodServer(t, l, floodCount, g.fill(2, 3, 4, 5, 6, 7, 8, 9))
		require.Zero(t, f.closedAt, "nothing completes, nothing conflicts")
		require.Greater(t, grew, int64(64<<10), "the Reassembler holds its bound for later messages")
		require.Less(t, grew, floodHeapBound)
	})
	t.Run("hostile", func(t *testing.T) {
		l := midHandshake(t)
		f, grew := floodServer(t, l, floodCount, mix(func() []byte { return g.hello(g.anySeq) },
			func() []byte { return g.records(g.lowEpochs) }))
		f.checkOutcome(t)
		require.Less(t, grew, floodHeapBound)
	})
}

// TestDTLSFloodConnected floods a server whose handshake is complete. Its
// read epoch is 1: records of other epochs, and epoch 1 records that fail
// their protection, are dropped (RFC 6347 §4.1.2.7), so nobody without the
// keys can disturb the connection: it stays open and data flows after.
func TestDTLSFloodConnected(t *testing.T) {
	g := newGens(3)
	l := dtlsPair(t)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	require.Equal(t, 1, l.server.done)
	f, grew := floodServer(t, l, floodCount, mix(func() []byte { return g.hello(g.anySeq) },
		func() []byte { return g.records(g.lowEpochs) }))
	require.Less(t, grew, floodHeapBound)
	require.Zero(t, f.closedAt, "closed by unauthenticated input: %v", f.c.Err())
	_, err := l.client.conn.Write(l.now, []byte("after the flood"))
	require.NoError(t, err)
	l.run(t, 10)
	require.Equal(t, "after the flood", string(l.server.received))
}

// tlsRecords returns a generator of random TLS records: mostly the four
// known types, any version, a length up to 2^14+512 (so past the limits
// now and then) that the record holds, and random contents.
func tlsRecords(g *gens) func() []byte {
	return func() []byte {
		typ := byte(20 + g.rng.IntN(4))
		if g.rng.IntN(16) == 0 {
			typ = byte(g.rng.Uint32())
		}
		n := g.rng.IntN(1<<14 + 512)
		b := append(g.buf[:0], typ, 3, byte(g.rng.IntN(5)))
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		g.buf = g.random(b, n)
		return g.buf
	}
}

// TestTLSFlood sends random records to a fresh TLS server and to one past
// its handshake: each closes with an alert it sends, within a few records,
// and keeps a bounded heap.
func TestTLSFlood(t *testing.T) {
	g := newGens(4)
	cc, sc := configs(t, testcert.ECDSAP256)
	t.Run("fresh", func(t *testing.T) {
		f := &flooded{c: fsm.NewServer(sc), now: time.Now()}
		grew := f.flood(t, floodCount, tlsRecords(g))
		f.checkOutcome(t)
		require.Positive(t, f.closedAt)
		require.LessOrEqual(t, f.closedAt, 10)
		require.Empty(t, f.recvAlerts)
		require.Less(t, grew, floodHeapBound)
	})
	t.Run("connected", func(t *testing.T) {
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		f := &flooded{c: p.Server.Conn, now: p.Now}
		grew := f.flood(t, floodCount, tlsRecords(g))
		f.checkOutcome(t)
		require.Equal(t, 1, f.closedAt, "the first forged record closes it")
		require.Empty(t, f.recvAlerts)
		require.Less(t, grew, floodHeapBound)
	})
}

// TestDTLSPlaintextAlertAfterHandshake: once a DTLS connection has keys,
// an alert in epoch 0, which has no protection, is not from the peer as
// far as anyone can tell, and must not end the connection: RFC 6347
// §4.1.2.7 asks that invalid records be dropped because datagrams are so
// easily forged. A blind attacker who knows the client's address and port
// can send this datagram. Were the alerts of the previous read epoch read
// when that epoch is 0, a forged fatal alert would close the connection, a
// malformed one would make the server close it with decode_error, and a
// forged close_notify would end the peer's data as if the peer had closed,
// with no error: a truncation.
func TestDTLSPlaintextAlertAfterHandshake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"fatal", []byte{2, 40}},       // handshake_failure
		{"close_notify", []byte{1, 0}}, // warning close_notify
		{"malformed", []byte{2, 40, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := dtlsPair(t)
			require.NoError(t, l.client.conn.Start(l.now))
			l.run(t, 100)
			require.Equal(t, 1, l.server.done)
			forged := append(dtlsHeader(nil, 21, 0, 1000, len(tc.payload)), tc.payload...)
			l.server.conn.HandleDatagram(l.now, forged)
			l.drain(l.server)
			l.run(t, 10)
			require.False(t, l.server.closed, "a forged plaintext alert closed the server: %v", l.server.conn.Err())
			_, err := l.client.conn.Write(l.now, []byte("still here"))
			require.NoError(t, err)
			l.run(t, 10)
			require.Equal(t, "still here", string(l.server.received), "data after the forged alert")
		})
	}
}
