package fsm

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// Datagram transport defaults (RFC 6347 §4.1.1.1, §4.2.4.1).
const (
	// DefaultMTU is the datagram size used when Config.MTU is zero; it fits
	// the paths WebRTC uses.
	DefaultMTU = 1200
	// DefaultRetransmitTimeout and DefaultMaxRetransmitTimeout bound the
	// flight retransmission timer, which doubles on each timeout.
	DefaultRetransmitTimeout    = time.Second
	DefaultMaxRetransmitTimeout = 60 * time.Second
	// DefaultMaxRetransmits is how many times a flight is sent again
	// before the handshake fails.
	DefaultMaxRetransmits = 7
	// maxBufferedHandshake bounds the bytes of out-of-order handshake
	// fragments held.
	maxBufferedHandshake = 64 << 10
	// MaxRecordsPerDatagram bounds the records read from one datagram;
	// the rest of a datagram holding more is dropped.
	MaxRecordsPerDatagram = 64
	// MaxFragmentsPerDatagram bounds the handshake fragments read from
	// one datagram (a flight packs a handful; one cut into the smallest
	// fragments, some scores in a datagram); the rest of a datagram
	// holding more is dropped.
	MaxFragmentsPerDatagram = 128
)

// epochState is one epoch's protection and sequence numbers in one
// direction. State is nil in epoch 0.
type epochState struct {
	epoch  uint16
	st     *cipher.State
	sn     *cipher.RecordNumberKey // DTLS 1.3: its record numbers' protection
	seq    uint64                  // write: the next sequence number
	replay record.ReplayWindow
	failed uint64 // read, DTLS 1.3: records that failed authentication
}

// flightItem is one part of a flight: a whole handshake message in DTLS
// form, or a ChangeCipherSpec, with the epoch it is sent in.
type flightItem struct {
	epoch *epochState
	ccs   bool
	msg   []byte
	// acked has bit k set once a DTLS 1.3 ACK covered fragment k of msg,
	// cut into frags fragments at each transmission; such fragments are
	// not sent again (RFC 9147 §7.2).
	acked uint64
	frags int
}

// fragmentAcked reports whether fragment k of the item was acknowledged.
func (it *flightItem) fragmentAcked(k int) bool { return k < 64 && it.acked&(1<<k) != 0 }

// allAcked reports whether every fragment of the item was acknowledged;
// an item of more than 64 fragments is acknowledged only by the answer to
// its flight.
func (it *flightItem) allAcked() bool {
	return it.frags > 0 && it.frags <= 64 && it.acked == ^uint64(0)>>(64-it.frags)
}

// sentFragment is a DTLS 1.3 record our flight went out in: the item of
// the flight and the fragment of it that the record carried.
type sentFragment struct {
	rn         flights.RecordNumber
	item, frag int
}

// ackState is what DTLS 1.3's ACKs need (RFC 9147 §7).
type ackState struct {
	// pending are the records of handshake messages the peer sent that
	// we processed and have not acknowledged, explicitly or by a flight
	// of our own.
	pending []flights.RecordNumber
	// flightRecords are the records our current flight went out in, each
	// transmission's, up to maxFlightRecords, with what each carried.
	flightRecords []sentFragment
}

// acks returns the ACK bookkeeping, made on first use.
func (l *datagramLayer) acks() *ackState {
	if l.ack == nil {
		l.ack = &ackState{}
	}
	return l.ack
}

// datagramLayer frames DTLS over datagrams: records with epochs and
// sequence numbers, a replay window, handshake fragmentation to the MTU,
// reassembly, and flights retransmitted on a timer (RFC 6347 §4.2.4).
// Over DTLS 1.3 the epochs keyed with a record number key read and write
// unified-header records (RFC 9147 §4), and ACKs acknowledge handshake
// records (RFC 9147 §7).
type datagramLayer struct {
	env *layerEnv // its view read, never written

	datagram  []byte // what is left of the datagram being read
	records   int    // records read from it so far
	fragments int    // handshake fragments read from it so far
	inSeq     uint64 // sequence number of the last record read
	inPrev    bool   // the last record read was of the previous epoch
	read      *epochState
	prevRead  *epochState // the epoch before read, still accepted
	// rekeyWanted: records failing authentication under the read key
	// passed half the limit; the Conn asks the peer for new keys.
	rekeyWanted bool
	// ackNow: the peer's handshake flight came with a gap; what we have
	// of it is acknowledged at the end of the call.
	ackNow   bool
	reasm    *flights.Reassembler
	lastSeq  uint16 // message_seq of the last message delivered
	doneSeq  uint16 // messages the peer sent in the last completed handshake
	peerRetx bool   // the current datagram carried a retransmission
	newest   bool   // it carried an authenticated record newer than all before
	// ahead holds records of the next epoch that came early
	// (keepForNextEpoch), aheadBytes their size.
	ahead      [][]byte
	aheadBytes int
	// cidLocal and cidPeer are the Connection IDs (RFC 9146) of the
	// protected epochs: in the records we read and in those we send;
	// cidOn is set when they were negotiated.
	cidLocal, cidPeer []byte
	cidOn             bool

	write      *epochState
	sendSeq    uint16
	flight     []flightItem
	flightOpen bool // messages queued now belong to the current flight
	sent       int  // items of flight already transmitted
	dgStart    int  // where the datagram being built starts in the output
	// frags is where the fragments of a flight item are built on their
	// way into records, reused across sends until release.
	frags []byte

	// ack is DTLS 1.3's acknowledgement bookkeeping, made on first use
	// (a pointer keeps a DTLS 1.2 layer in its size class).
	ack *ackState

	timeout     time.Duration
	deadline    time.Time
	retransmits int
	lastSent    time.Time // when the flight last went out
}

func newDatagramLayer(env *layerEnv) layer {
	return &datagramLayer{
		env:   env,
		read:  &epochState{},
		write: &epochState{},
		reasm: flights.NewReassembler(MaxHandshakeMessage, maxBufferedHandshake),
	}
}

func (l *datagramLayer) mtu() int {
	if l.env.cfg.MTU > 0 {
		return l.env.cfg.MTU
	}
	return DefaultMTU
}

func (l *datagramLayer) reset() { l.dgStart = 0 }

// release follows the Conn's dropping its output buffer, and drops the
// fragment scratch (a retransmission after it grows it again); the last
// flight must stay ready to be sent again, and the reassembler holds only
// what is outstanding.
func (l *datagramLayer) release() { l.dgStart, l.frags = 0, nil }

// feed takes one datagram, always read in place (HandleDatagram's
// contract).
func (l *datagramLayer) feed(data []byte, _ bool) {
	l.datagram, l.records, l.fragments = data, 0, 0
	l.peerRetx, l.newest = false, false
}

// nextRecord returns the next valid record of the datagram. Records that
// fail any check are dropped silently (RFC 6347 §4.1.2.7); a malformed
// header drops the rest of the datagram.
func (l *datagramLayer) nextRecord() (record.ContentType, []byte, bool, error) {
	for len(l.datagram) > 0 {
		if record.IsDTLS13Ciphertext(l.datagram[0]) {
			typ, payload, ok, err := l.nextRecord13()
			if err != nil || ok {
				return typ, payload, ok, err
			}
			continue
		}
		rec, rest, err := record.ParseDTLSRecordCID(l.datagram, len(l.cidLocal))
		l.records++
		if err != nil || l.records > MaxRecordsPerDatagram {
			l.datagram = nil
			break
		}
		raw := l.datagram[:len(l.datagram)-len(rest)]
		l.datagram = rest
		if rec.Version>>8 != 0xfe {
			continue // not a DTLS record version
		}
		if rec.Epoch == l.read.epoch+1 {
			l.keepForNextEpoch(rec.Type, raw)
			continue
		}
		if typ, payload, ok := l.open(rec); ok {
			l.inSeq, l.inPrev = rec.Seq, rec.Epoch != l.read.epoch
			return typ, payload, true, nil
		}
	}
	l.retransmitIfAsked()
	return 0, nil, false, nil
}

// nextRecord13 reads the DTLS 1.3 record at the start of the datagram
// (RFC 9147 §4) and opens it; ok is false for a record dropped, and a
// malformed header drops the rest of the datagram.
func (l *datagramLayer) nextRecord13() (record.ContentType, []byte, bool, error) {
	rec, rest, err := record.ParseDTLS13Record(l.datagram, len(l.cidLocal))
	l.records++
	if err != nil || l.records > MaxRecordsPerDatagram {
		l.datagram = nil
		return 0, nil, false, nil
	}
	raw := l.datagram[:len(l.datagram)-len(rest)]
	l.datagram = rest
	es := l.epoch13(rec.EpochBits)
	if es == nil {
		// The next epoch: the handshake keys' (2) after plaintext.
		next := l.read.epoch + 1
		if next == 1 {
			next = 2
		}
		if uint16(rec.EpochBits) == next&3 {
			l.keepForNextEpoch(record.TypeHandshake, raw)
		}
		return 0, nil, false, nil
	}
	typ, payload, ok := l.unprotect13(es, &rec)
	if !ok {
		return 0, nil, false, nil
	}
	// Of the previous epoch, data, alerts and ACKs still count: the
	// peer may have sent them before it took our KeyUpdate (its ACK of
	// that KeyUpdate among them). Its handshake messages are copies of
	// those we took: a KeyUpdate ends the post-handshake messages of its
	// epoch, and one sent after it there is a protocol violation (RFC
	// 9147 §8).
	if es == l.prevRead && typ == record.TypeHandshake {
		if l.holdsNewMessage(payload) {
			return 0, nil, false, alertf(record.AlertUnexpectedMessage, "a handshake message after the KeyUpdate that ended its epoch")
		}
		// A copy, acknowledged again (RFC 9147 §7): our ACK of it, a
		// KeyUpdate whose answer the peer awaits, may have been lost.
		l.peerRetx = true
		l.noteRecord(flights.RecordNumber{Epoch: uint64(es.epoch), Seq: l.inSeq})
		return 0, nil, false, nil
	}
	return typ, payload, true, nil
}

// holdsNewMessage reports whether a handshake record holds a fragment of
// a message not taken yet, by its message_seq.
func (l *datagramLayer) holdsNewMessage(payload []byte) bool {
	for len(payload) > 0 {
		f, rest, err := flights.ParseFragment(payload)
		if err != nil {
			return false
		}
		if f.Seq >= l.reasm.NextSeq() {
			return true
		}
		payload = rest
	}
	return false
}

// authFailed counts a record that failed authentication under es
// (RFC 9147 §4.5.3). Past half the limit the peer is asked for new keys;
// at the limit the keys of the previous epoch are dropped, and those of
// the current one end the connection.
func (l *datagramLayer) authFailed(es *epochState) {
	es.failed++
	limit := l.env.cfg.maxAuthFailures()
	switch {
	case es.failed >= limit && es == l.prevRead:
		l.prevRead = nil
	case es.failed >= limit:
		l.datagram = nil
		l.env.failer.fail(alertf(record.AlertBadRecordMAC, "%d records failed authentication under one key", es.failed))
	case es == l.read && es.failed > limit/2:
		l.rekeyWanted = true
	}
}

// takeRekeyWanted reports, once, that records failing authentication
// call for new read keys.
func (l *datagramLayer) takeRekeyWanted() bool {
	w := l.rekeyWanted
	l.rekeyWanted = false
	return w
}

// epoch13 is the read epoch a DTLS 1.3 record's low epoch bits name:
// the current one, else the one before (RFC 9147 §4.2.2), else none.
func (l *datagramLayer) epoch13(bits uint8) *epochState {
	for _, es := range []*epochState{l.read, l.prevRead} {
		if es != nil && es.sn != nil && uint8(es.epoch)&3 == bits {
			return es
		}
	}
	return nil
}

// unprotect13 reconstructs a DTLS 1.3 record's number, checks it against
// the epoch's replay window and opens the record; the Connection ID must
// be the one we asked for, and present exactly when we asked for one.
func (l *datagramLayer) unprotect13(es *epochState, rec *record.DTLS13Record) (record.ContentType, []byte, bool) {
	if len(l.cidLocal) > 0 != (rec.CID != nil) || rec.CID != nil && !bytes.Equal(rec.CID, l.cidLocal) {
		return 0, nil, false
	}
	low, bits, err := rec.RecordNumber(es.sn)
	if err != nil {
		return 0, nil, false
	}
	seq := record.ReconstructSeq(es.replay.Next(), low, bits)
	if !es.replay.Check(seq) {
		return 0, nil, false
	}
	// Newer than every record before it, of any epoch: of the current
	// epoch, or of the previous one while the current has none yet (a
	// peer whose KeyUpdate we took but whose keys change only on our ACK).
	newest := es.replay.Newer(seq) && (es == l.read || l.read.replay.Next() == 0)
	typ, payload, err := record.OpenDTLS13(es.st, rec, seq)
	if err != nil {
		l.authFailed(es)
		return 0, nil, false
	}
	es.replay.Accept(seq)
	l.newest = l.newest || newest
	l.inSeq, l.inPrev = seq, es != l.read
	return typ, payload, true
}

// open checks a record's epoch and replay window and removes its
// protection, returning its real type. A handshake record or
// ChangeCipherSpec of the previous epoch is a retransmission: noted, not
// delivered.
func (l *datagramLayer) open(rec record.DTLSRecord) (record.ContentType, []byte, bool) {
	es := l.read
	if rec.Epoch != es.epoch {
		if l.prevRead == nil || rec.Epoch != l.prevRead.epoch {
			return 0, nil, false
		}
		es = l.prevRead
	}
	typ, payload := rec.Type, rec.Payload
	if es.st == nil {
		// Epoch 0 is unauthenticated: a replay window there would let one
		// forged record with a high sequence number blind us to the
		// peer's. Duplicated handshake fragments are harmless anyway.
		if typ == record.TypeApplicationData || typ == record.TypeConnectionID {
			return 0, nil, false
		}
	} else {
		var ok bool
		if typ, payload, ok = l.unprotect(es, rec); !ok {
			return 0, nil, false
		}
	}
	if es == l.prevRead {
		// Of the previous epoch, handshake records and ChangeCipherSpec
		// are the peer retransmitting; application data and alerts still
		// count, but only when authenticated: a plaintext epoch is over
		// once keys are in use, and anyone could forge its records.
		if typ != record.TypeApplicationData && typ != record.TypeAlert {
			l.peerRetx = true
			return 0, nil, false
		}
		if es.st == nil {
			return 0, nil, false
		}
	}
	return typ, payload, true
}

// unprotect checks a protected record against the replay window and
// opens it: in the Connection ID format when we asked the peer for a CID,
// which must then be ours, in the plain one otherwise. It notes a record
// of the current epoch newer than all before it.
func (l *datagramLayer) unprotect(es *epochState, rec record.DTLSRecord) (record.ContentType, []byte, bool) {
	withCID := len(l.cidLocal) > 0
	if withCID != (rec.Type == record.TypeConnectionID) || withCID && !bytes.Equal(rec.CID, l.cidLocal) {
		return 0, nil, false
	}
	if !es.replay.Check(rec.Seq) {
		return 0, nil, false
	}
	newest := es == l.read && es.replay.Newer(rec.Seq)
	typ, payload, err := rec.Type, []byte(nil), error(nil)
	if withCID {
		typ, payload, err = record.OpenDTLS12CID(es.st, rec)
	} else {
		payload, err = record.OpenDTLS12(es.st, rec)
	}
	if err != nil {
		return 0, nil, false
	}
	es.replay.Accept(rec.Seq)
	l.newest = l.newest || newest
	return typ, payload, true
}

func (l *datagramLayer) writeHandshake(payload []byte) error {
	l.noteForACK()
	for len(payload) > 0 {
		f, rest, err := flights.ParseFragment(payload)
		if err != nil {
			return nil // a malformed fragment is dropped like a bad record
		}
		payload = rest
		if l.fragments++; l.fragments > MaxFragmentsPerDatagram {
			l.datagram = nil
			return nil
		}
		if l.stale(f) {
			// A copy of a message of a handshake that is over: the peer
			// asks for our last flight again.
			l.peerRetx = true
			continue
		}
		if l.pastHandshake(f) {
			return alertf(record.AlertUnexpectedMessage, "%s numbered past the handshake that is over", f.Type)
		}
		if l.startsHandshake(f) && f.Seq != l.reasm.NextSeq() {
			l.reasm.SetNextSeq(f.Seq)
		}
		if l.read.sn != nil && l.env.handshaking() && !l.reasm.InOrder(f) {
			// A gap in the peer's flight: tell it what we have, so
			// that it sends only the rest (RFC 9147 §7.1).
			l.ackNow = true
		}
		old, err := l.reasm.Add(f)
		if err != nil {
			return err
		}
		if old {
			l.peerRetx = true
		}
	}
	return nil
}

// stale reports whether f belongs to no handshake we could be in: while
// none runs, only a ClientHello (to a server) or a HelloRequest (to a
// client that has completed one) may begin one, and other messages of a
// handshake are copies of the last one's.
func (l *datagramLayer) stale(f flights.Fragment) bool {
	if l.env.handshaking() || property(l.env.state).start {
		return f.Type == flights.TypeHelloRequest && l.env.handshakes == 0
	}
	switch f.Type {
	case flights.TypeClientHello:
		return l.env.isClient
	case flights.TypeHelloRequest:
		return !l.env.isClient
	}
	// A copy has a message_seq the last handshake used.
	return handshake12Message[f.Type] && f.Seq < l.doneSeq
}

// pastHandshake reports whether f is a message of a handshake that is
// over numbered past its last one: no copy, but a message the peer sent
// after it (a second Finished), which no state takes.
func (l *datagramLayer) pastHandshake(f flights.Fragment) bool {
	return l.env.version != VersionTLS13 && !l.env.handshaking() && !property(l.env.state).start &&
		handshake12Message[f.Type] && f.Seq >= l.doneSeq
}

// handshake12Message are the messages a (D)TLS 1.2 handshake carries,
// copies of which may still arrive once it is over. Any other message is
// left to the state machine, which refuses it.
var handshake12Message = map[flights.MsgType]bool{
	flights.TypeServerHello: true, flights.TypeHelloVerifyRequest: true, flights.TypeCertificate: true,
	flights.TypeServerKeyExchange: true, flights.TypeCertificateRequest: true, flights.TypeServerHelloDone: true,
	flights.TypeCertificateVerify: true, flights.TypeClientKeyExchange: true, flights.TypeFinished: true,
	flights.TypeNewSessionTicket: true,
}

// startsHandshake reports whether f begins the peer's part of a handshake
// whose numbering we cannot know: a ClientHello reaching a server that
// keeps no state (a first one, one sent again, one after a stateless cookie
// exchange, one starting a renegotiation), or the server's first answer to
// our ClientHello, which follows its own numbering after a HelloRequest.
func (l *datagramLayer) startsHandshake(f flights.Fragment) bool {
	p := property(l.env.state)
	return p.restarts && f.Type == p.restartedBy
}

func (l *datagramLayer) nextMessage() (flights.MsgType, []byte, []byte, bool, error) {
	typ, body, raw, ok := l.reasm.Next()
	if !ok {
		return 0, nil, nil, false, nil
	}
	l.lastSeq = binary.BigEndian.Uint16(raw[4:6])
	if typ == flights.TypeClientHello && !l.env.isClient {
		// The server's messages continue the client's numbering, and so do
		// its epoch-0 records (RFC 6347 §4.2.1), which a stateless cookie
		// exchange may already have used up to there.
		// After our HelloRequest (which took message_seq 0), our
		// numbering goes on from it instead (RFC 6347 §4.2.2).
		l.sendSeq = max(l.sendSeq, l.lastSeq)
		if l.write.epoch == 0 {
			l.write.seq = max(l.write.seq, l.inSeq)
		}
	}
	// The peer has moved on: what we send next is a new flight. A DTLS
	// 1.3 post-handshake message (a NewSessionTicket, which a server
	// sends along with its last flight) acknowledges nothing of ours: the
	// handshake's last flight stays ready to be sent again.
	if l.env.version != VersionTLS13 || l.env.handshaking() {
		l.closeFlight()
	}
	return typ, body, raw, true, nil
}

// handshakeBuffered is zero: fragments carry their epoch's protection, so
// none can straddle a key change.
func (l *datagramLayer) handshakeBuffered() int { return 0 }

// queueMessage gives a message its message_seq and adds it to the flight.
// noteForACK notes the DTLS 1.3 record being read, which carries
// handshake messages, to be acknowledged. Records of the previous epoch
// are copies, acknowledged as they are read (nextRecord13).
func (l *datagramLayer) noteForACK() {
	if l.read.sn == nil || l.inPrev {
		return
	}
	l.noteRecord(flights.RecordNumber{Epoch: uint64(l.read.epoch), Seq: l.inSeq})
}

// noteRecord notes a record to acknowledge, up to what one ACK carries.
func (l *datagramLayer) noteRecord(r flights.RecordNumber) {
	if len(l.acks().pending) < flights.MaxACKRecords {
		l.ack.pending = append(l.ack.pending, r)
	}
}

// sendACK acknowledges the records noted once no handshake of ours is
// left to do it: the peer's last flight (the client's Finished, for a
// server) and post-handshake messages (RFC 9147 §7, §5.8.4). During a
// handshake it acknowledges what arrived of the peer's flight when a gap
// showed (ackNow), listing the records of epochs no later than the one
// the ACK goes in, and keeps them for the next ACK: our own flight will
// acknowledge them all.
func (l *datagramLayer) sendACK() error {
	ackNow := l.ackNow
	l.ackNow = false
	during := l.env.handshaking()
	if l.ack == nil || len(l.ack.pending) == 0 || l.write.sn == nil || during && !ackNow {
		return nil
	}
	var room [16]flights.RecordNumber // more go to the heap
	records := l.ack.pending
	if during {
		records = room[:0]
		for _, r := range l.ack.pending {
			if r.Epoch <= uint64(l.write.epoch) {
				records = append(records, r)
			}
		}
		if len(records) == 0 {
			return nil
		}
	}
	var buf [2 + 16*16]byte
	ack := flights.ACK{Records: records}
	err := l.seal(l.write, record.TypeACK, ack.Append(buf[:0]))
	if !during {
		l.ack.pending = l.ack.pending[:0]
	}
	return err
}

func (l *datagramLayer) queueMessage(raw []byte) []byte {
	if l.env.version == VersionTLS13 && !l.env.handshaking() {
		// A DTLS 1.3 post-handshake message (a KeyUpdate) is a flight
		// of its own, acknowledged by an ACK.
		l.closeFlight()
	} else {
		// A handshake flight of ours acknowledges the peer's (RFC 9147
		// §7).
		if l.ack != nil {
			l.ack.pending = l.ack.pending[:0]
		}
	}
	msg := flights.ToDTLS(nil, raw, l.sendSeq)
	l.sendSeq++
	l.addToFlight(flightItem{epoch: l.write, msg: msg})
	return msg
}

func (l *datagramLayer) addToFlight(item flightItem) {
	if !l.flightOpen {
		clear(l.flight) // the last flight's messages and keys
		l.flight, l.sent, l.flightOpen = l.flight[:0], 0, true
		if l.ack != nil {
			l.ack.flightRecords = l.ack.flightRecords[:0]
		}
		l.timeout, l.retransmits = 0, 0
		l.setTimer(time.Time{})
	}
	l.flight = append(l.flight, item)
}

// sendHelloVerifyRequest sends a HelloVerifyRequest with the record and
// message sequence numbers of the ClientHello it answers, keeping
// nothing: no flight, no timer.
func (l *datagramLayer) sendHelloVerifyRequest(f *flights.HelloCookieFields) error {
	l.env.cutTransmit()
	var err error
	l.env.out, err = l.env.cfg.appendHelloVerifyRequest(l.env.out, l.env.now, l.env.peerID, f, l.inSeq, l.lastSeq)
	l.write.seq = max(l.write.seq, l.inSeq+1)
	l.env.cutTransmit()
	l.dgStart = len(l.env.out)
	return err
}

// writeRecord sends application data, alerts and ChangeCipherSpec; the
// last belongs to the flight.
func (l *datagramLayer) writeRecord(typ record.ContentType, payload []byte) error {
	if typ == record.TypeChangeCipherSpec {
		l.addToFlight(flightItem{epoch: l.write, ccs: true})
		return nil
	}
	if err := l.flush(); err != nil {
		return err
	}
	max := l.maxPayload(l.write)
	for len(payload) > 0 {
		n := min(len(payload), max)
		if err := l.seal(l.write, typ, payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
	}
	return nil
}

// maxPayload is the most plaintext one record of es may carry to fit a
// datagram of the MTU on its own.
func (l *datagramLayer) maxPayload(es *epochState) int {
	return max(1, min(record.MaxPlaintext, l.mtu()-l.overhead(es)))
}

// overhead is what a record of es adds to its payload: the header, and
// when protected the AEAD's nonce and tag and, with a CID, the CID and
// the inner content type.
func (l *datagramLayer) overhead(es *epochState) int {
	if es.sn != nil {
		return record.DTLS13Overhead(es.st, len(l.cidPeer))
	}
	n := record.DTLSHeaderLen
	if es.st != nil {
		n += es.st.ExplicitNonceLen() + es.st.Overhead()
		if len(l.cidPeer) > 0 {
			n += len(l.cidPeer) + 1
		}
	}
	return n
}

// seal protects one record under es and packs it into the datagram being
// built, starting a new datagram when it would not fit.
func (l *datagramLayer) seal(es *epochState, typ record.ContentType, payload []byte) error {
	size := l.overhead(es) + len(payload)
	if len(l.env.out) > l.dgStart && len(l.env.out)-l.dgStart+size > l.mtu() {
		l.env.cutTransmit()
		l.dgStart = len(l.env.out)
	}
	var err error
	l.env.out, err = l.appendRecord(l.env.out, es, typ, payload)
	return err
}

// appendRecord appends one record of es, protected, to dst.
func (l *datagramLayer) appendRecord(dst []byte, es *epochState, typ record.ContentType, payload []byte) ([]byte, error) {
	if es.seq > record.MaxSeq48 {
		return dst, cipher.ErrSequenceExhausted
	}
	version := l.env.transport.recordVersion(l.env.state)
	var err error
	switch {
	case es.st == nil:
		dst = record.AppendDTLSPlain(dst, typ, version, es.epoch, es.seq, payload)
	case es.sn != nil:
		dst, err = record.SealDTLS13(dst, es.st, es.sn, typ, uint64(es.epoch), es.seq, l.cidPeer, payload)
	case len(l.cidPeer) > 0:
		dst, err = record.SealDTLS12CID(dst, es.st, typ, version, es.epoch, es.seq, l.cidPeer, payload)
	default:
		dst, err = record.SealDTLS12(dst, es.st, typ, version, es.epoch, es.seq, payload)
	}
	es.seq++
	return dst, err
}

// sealAlone returns one record of the write epoch, protected, as a
// datagram of its own, outside the output: one for another address.
func (l *datagramLayer) sealAlone(typ record.ContentType, payload []byte) ([]byte, error) {
	return l.appendRecord(nil, l.write, typ, payload)
}

// flush transmits the flight items not sent yet.
func (l *datagramLayer) flush() error {
	if l.sent < len(l.flight) {
		l.lastSent = l.env.now
	}
	for l.sent < len(l.flight) {
		if err := l.transmitItem(l.sent); err != nil {
			return err
		}
		l.sent++
	}
	return nil
}

// transmitItem sends item i of the flight, fragmenting a message to the
// MTU, but for the fragments an ACK covered.
func (l *datagramLayer) transmitItem(i int) error {
	item := &l.flight[i]
	if item.ccs {
		return l.seal(item.epoch, record.TypeChangeCipherSpec, []byte{1})
	}
	var err error
	k := 0
	l.frags = flights.AppendFragments(l.frags[:0], item.msg, l.maxPayload(item.epoch), func(fragment []byte) {
		if err == nil && !item.fragmentAcked(k) {
			l.noteSent(item.epoch, i, k)
			err = l.seal(item.epoch, record.TypeHandshake, fragment)
		}
		k++
	})
	item.frags = k
	return err
}

// maxFlightRecords bounds flightRecords: a KeyUpdate sent again at most
// MaxRetransmits times fits, with room.
const maxFlightRecords = 64

// noteSent notes the number of the DTLS 1.3 record that fragment frag of
// flight item i is about to go out in; a plaintext one too, once DTLS 1.3
// is chosen (an ACK of epoch 0 covers a ServerHello, RFC 9147 §7).
func (l *datagramLayer) noteSent(es *epochState, i, frag int) {
	dtls13 := es.sn != nil || es.epoch == 0 && l.env.version == VersionTLS13
	if dtls13 && len(l.acks().flightRecords) < maxFlightRecords {
		rn := flights.RecordNumber{Epoch: uint64(es.epoch), Seq: es.seq}
		l.ack.flightRecords = append(l.ack.flightRecords, sentFragment{rn: rn, item: i, frag: frag})
	}
}

// acknowledged takes the records of a DTLS 1.3 ACK: every fragment of
// our current flight that went out in one of them is acknowledged and
// not sent again. It reports whether the whole flight now is, which ends
// it: its retransmissions stop (RFC 9147 §7.2).
func (l *datagramLayer) acknowledged(records []flights.RecordNumber) bool {
	if l.ack == nil || len(l.flight) == 0 {
		return false
	}
	progress := false
	for _, r := range records {
		for _, s := range l.ack.flightRecords {
			if s.rn == r && s.frag < 64 {
				bit := uint64(1) << s.frag
				progress = progress || l.flight[s.item].acked&bit == 0
				l.flight[s.item].acked |= bit
			}
		}
	}
	for i := range l.flight {
		if !l.flight[i].allAcked() {
			l.resendRest(progress)
			return false
		}
	}
	l.dropFlight()
	return true
}

// resendRest sends at once what an ACK that acknowledged part of the
// flight, progress, left unacknowledged (RFC 9147 §7.2): the peer has
// the rest and waits for it. Not more often than a quarter of the
// retransmission timeout, so that the ACKs of one burst of records
// draw one resend.
func (l *datagramLayer) resendRest(progress bool) {
	quarter := max(l.timeout, l.env.cfg.retransmitTimeout()) / 4
	if progress && l.sent == len(l.flight) && l.env.now.Sub(l.lastSent) >= quarter {
		l.resend()
	}
}

// dropFlight ends the current flight, which the peer has: nothing of it
// is sent again, and its messages and the keys they went out under are
// let go of — all of it once no handshake runs.
func (l *datagramLayer) dropFlight() {
	l.flightOpen = false
	clear(l.flight)
	l.flight, l.sent = l.flight[:0], 0
	if l.ack != nil {
		l.ack.flightRecords = l.ack.flightRecords[:0]
	}
	if !l.env.handshaking() {
		l.flight = nil
		if l.ack != nil {
			l.ack.flightRecords = nil
		}
	}
}

// dropHandshakeReadKeys lets go of DTLS 1.3's handshake read keys (epoch
// 2) kept as the previous epoch, once the peer has our last flight and so
// sends nothing more under them.
func (l *datagramLayer) dropHandshakeReadKeys() {
	if l.prevRead != nil && l.prevRead.sn != nil && l.prevRead.epoch == 2 {
		l.prevRead = nil
	}
}

// recordEpoch is the epoch of the record being read.
func (l *datagramLayer) recordEpoch() uint64 {
	if l.inPrev && l.prevRead != nil {
		return uint64(l.prevRead.epoch)
	}
	return uint64(l.read.epoch)
}

// writeSeq is the sequence number of the next record of the write epoch.
func (l *datagramLayer) writeSeq() uint64 { return l.write.seq }

func (l *datagramLayer) setWriteState(st *cipher.State, sn *cipher.RecordNumberKey) error {
	if err := l.flush(); err != nil {
		return err
	}
	l.write = &epochState{epoch: nextEpoch(l.write.epoch, sn), st: st, sn: sn}
	return nil
}

// nextEpoch is the epoch after e: the next number, but for DTLS 1.3's
// handshake keys, epoch 2 (epoch 1 protects early data, which tlsm does
// not send; RFC 9147 §6.1).
func nextEpoch(e uint16, sn *cipher.RecordNumberKey) uint16 {
	if sn != nil && e == 0 {
		return 2
	}
	return e + 1
}

func (l *datagramLayer) setReadState(st *cipher.State, sn *cipher.RecordNumberKey) {
	l.prevRead = l.read
	l.read = &epochState{epoch: nextEpoch(l.read.epoch, sn), st: st, sn: sn}
	if len(l.ahead) > 0 {
		// Read what came ahead of the ChangeCipherSpec now, before the
		// rest of the datagram.
		l.datagram = append(bytes.Join(l.ahead, nil), l.datagram...)
		l.ahead, l.aheadBytes = nil, 0
	}
}

// Records of the next epoch that arrive before the ChangeCipherSpec that
// starts it (datagrams reorder: a Finished overtaking its
// ChangeCipherSpec) are kept, during a handshake, up to these bounds, and
// read once the epoch starts; others are dropped (RFC 6347 §4.1).
const (
	maxAheadRecords = 4
	maxAheadBytes   = 4 << 10
)

// keepForNextEpoch keeps a copy of a handshake record (the Finished) of
// the next epoch, within the bounds, while a handshake runs.
func (l *datagramLayer) keepForNextEpoch(typ record.ContentType, raw []byte) {
	if typ != record.TypeHandshake && typ != record.TypeConnectionID {
		return
	}
	if !l.env.handshaking() || len(l.ahead) >= maxAheadRecords || l.aheadBytes+len(raw) > maxAheadBytes {
		return
	}
	l.ahead = append(l.ahead, bytes.Clone(raw))
	l.aheadBytes += len(raw)
}

func (l *datagramLayer) writeState() *cipher.State { return l.write.st }

func (l *datagramLayer) currentKeys() bool { return !l.inPrev }

func (l *datagramLayer) setConnectionIDs(local, peer []byte) {
	l.cidLocal, l.cidPeer, l.cidOn = local, peer, true
}

func (l *datagramLayer) connectionIDs() ([]byte, []byte, bool) {
	return l.cidLocal, l.cidPeer, l.cidOn
}

func (l *datagramLayer) advanced() bool { return l.newest }

// skipEarlyData does nothing: DTLS 1.2 has no early data.
func (l *datagramLayer) skipEarlyData(int) {}

// handshakeDone notes how many messages the peer sent in the handshake
// that just completed, whose copies may still arrive, and numbers the
// next handshake's from 0; over DTLS 1.3 the numbering goes on, as
// post-handshake messages continue it (RFC 9147 §5.2).
func (l *datagramLayer) handshakeDone() {
	l.doneSeq = l.reasm.NextSeq()
	if l.env.version != VersionTLS13 {
		l.newHandshake()
	}
}

// newHandshake numbers the messages of the next handshake from 0 (RFC 6347
// §4.2.2). The last flight is kept: the peer may still ask for it.
func (l *datagramLayer) newHandshake() {
	l.sendSeq, l.lastSeq = 0, 0
	l.reasm.Reset()
}

// beginHandshake also ends the last flight: what we queue next is a new
// one, never sent along with the old.
func (l *datagramLayer) beginHandshake() {
	l.newHandshake()
	l.closeFlight()
}

// closeFlight sends what the flight still holds unsent, then lets the next
// message start a new flight.
func (l *datagramLayer) closeFlight() {
	if err := l.flush(); err != nil {
		l.env.failer.fail(err)
	}
	l.flightOpen = false
}

// end transmits the new flight items, cuts the last datagram, and sets
// the retransmission timer while a handshake waits for the peer.
func (l *datagramLayer) end() {
	if err := l.flush(); err != nil {
		l.env.failer.fail(err)
	}
	if err := l.sendACK(); err != nil {
		l.env.failer.fail(err)
	}
	l.env.cutTransmit()
	l.dgStart = len(l.env.out)
	// A handshake waits for the peer; so does a HelloRequest, which is
	// sent again until the client answers it.
	waiting := (l.env.handshaking() || l.env.helloRequestSent || l.env.postHandshakeUnacked || l.env.lastFlightUnacked) &&
		l.env.state != StateClosed &&
		len(l.flight) > 0 && l.sent == len(l.flight)
	switch {
	case waiting && l.deadline.IsZero():
		if l.timeout == 0 {
			l.timeout = l.env.cfg.retransmitTimeout()
		}
		l.setTimer(l.env.now.Add(l.timeout))
	case !waiting && !l.deadline.IsZero():
		l.setTimer(time.Time{})
	}
}

// setTimer records the deadline and reports it; zero clears the timer.
func (l *datagramLayer) setTimer(deadline time.Time) {
	if deadline.Equal(l.deadline) {
		return
	}
	l.deadline = deadline
	l.env.events.push(Event{Kind: EventTimer, Deadline: deadline})
}

// retransmitIfAsked sends the flight again when the peer retransmitted
// its own, which means ours was lost; at most once per datagram.
//
// Copies of the peer's flight that cross ours in the network look the same
// as a retransmission; answering each would echo flights back and forth,
// so a flight that went out less than half a timeout ago is not resent.
func (l *datagramLayer) retransmitIfAsked() {
	recent := l.env.now.Sub(l.lastSent) < l.env.cfg.retransmitTimeout()/2
	if l.peerRetx && !recent && l.flightOpen && len(l.flight) > 0 && l.sent == len(l.flight) {
		l.resend()
	}
	l.peerRetx = false
}

// resend transmits the flight again with new sequence numbers, but for
// the fragments a DTLS 1.3 ACK covered.
func (l *datagramLayer) resend() {
	l.lastSent = l.env.now
	l.env.events.push(Event{Kind: EventRetransmit})
	for i := range l.flight {
		if err := l.transmitItem(i); err != nil {
			l.env.failer.fail(err)
			return
		}
	}
}

// handleTimeout retransmits the flight when the timer has fired, doubling
// the timeout, and gives up after too many tries.
func (l *datagramLayer) handleTimeout(now time.Time) error {
	if l.deadline.IsZero() || now.Before(l.deadline) {
		return nil
	}
	l.deadline = time.Time{}
	if l.retransmits >= l.env.cfg.maxRetransmits() {
		return ErrHandshakeTimeout
	}
	l.retransmits++
	l.timeout = min(2*l.timeout, l.env.cfg.maxRetransmitTimeout())
	l.resend()
	return nil
}
