package dtls_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/hsassembly"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/record"
)

// Helpers for the interop tests: a recording UDP proxy and a stop-and-wait
// message exchange that tolerates the occasional lost datagram.

const (
	// interopMessages is how many messages go each way.
	interopMessages = 200
	// replyWait is how long an exchange waits for an answer before it
	// takes the message (or the answer) for lost and sends it again.
	replyWait = 500 * time.Millisecond
	// maxAttempts bounds the sends of one message.
	maxAttempts = 5
	// maxLosses bounds the resends of a whole exchange: loopback loses
	// datagrams only under heavy load.
	maxLosses = 5
	// srtpLabel is the DTLS-SRTP exporter label (RFC 5764 §4.2).
	srtpLabel = "EXTRACTOR-dtls_srtp"
)

// srtpKeyingLen is the keying material a DTLS-SRTP profile needs:
// 2*(master key + master salt), RFC 5764 §4.2 and RFC 7714 §12.
func srtpKeyingLen(t testing.TB, profile uint16) int {
	t.Helper()
	switch profile {
	case fsm.SRTP_AES128_CM_HMAC_SHA1_80, fsm.SRTP_AES128_CM_HMAC_SHA1_32:
		return 2 * (16 + 14)
	case fsm.SRTP_AEAD_AES_128_GCM:
		return 2 * (16 + 12)
	case fsm.SRTP_AEAD_AES_256_GCM:
		return 2 * (32 + 12)
	}
	t.Fatalf("unknown SRTP profile %#04x", profile)
	return 0
}

// Directions through the proxy.
const (
	c2s = 0 // from the client to the server
	s2c = 1 // from the server to the client
)

// Handshake message types (RFC 6347 §4.3.2).
const (
	hsClientHello        = 1
	hsHelloVerifyRequest = 3
	hsCertificate        = 11
)

// dirStats is what the proxy saw going one way.
type dirStats struct {
	datagrams int
	maxSize   int
	// fragments counts the epoch-0 handshake fragments of each message
	// type; partial counts those that carry only part of a message.
	fragments map[byte]int
	partial   map[byte]int
	// records counts the records of each epoch and sequence number
	// (epoch<<48 | seq); a sender never reuses one, since even a
	// retransmission gets a new sequence number (RFC 6347 §4.1).
	records map[uint64]int
	// dups lists the epoch/sequence pairs sent more than once.
	dups []string
	// appData counts application data records and protected records
	// in the Connection ID format (RFC 9146), whose type is hidden;
	// lastApp is when the last was relayed.
	appData int
	lastApp time.Time
	// cidLen is the length of the Connection ID that the receiver asked
	// this sender for, 0 for none; cids counts the records in the CID
	// format by their CID (in hex), and plainProtected the protected
	// records in the plain format.
	cidLen         int
	cids           map[string]int
	plainProtected int
	// unparsed counts the datagrams with bytes that are no DTLS 1.2
	// record.
	unparsed int
	// helloVersions is the supported_versions extension of the last
	// ClientHello sent in one fragment.
	helloVersions []uint16
	// clientHellos and serverHellos are the hellos of epoch 0 (a
	// HelloRetryRequest among the latter), each reassembled from its
	// fragments, in the order completed.
	clientHellos []*flights.ClientHello
	serverHellos []*flights.ServerHello
	hellos       *hsassembly.Assembler
}

// assembleHello adds a ClientHello or ServerHello fragment (with its
// DTLS handshake header) and, when the message is whole, parses it into
// clientHellos or serverHellos.
func (s *dirStats) assembleHello(frag []byte) {
	typ, body, ok := s.hellos.Add(frag)
	switch {
	case !ok:
	case typ == hsClientHello:
		ch := new(flights.ClientHello)
		if ch.UnmarshalDTLS(body) == nil {
			s.clientHellos = append(s.clientHellos, ch)
		}
	default:
		sh := new(flights.ServerHello)
		if sh.Unmarshal(body) == nil {
			s.serverHellos = append(s.serverHellos, sh)
		}
	}
}

// recordingProxy relays datagrams between one client and a server on
// 127.0.0.1, recording sizes, the plaintext handshake messages and the
// Connection IDs of the records. Like a NAT that loses its mapping, it
// can move the client to a new port on the server's side (rebind).
type recordingProxy struct {
	front  net.PacketConn // the client sends here
	server string
	socks  sockets
	wg     sync.WaitGroup

	mu     sync.Mutex
	back   net.Conn // connected to the server
	client net.Addr
	stats  [2]dirStats
}

// sockets makes a test's sockets: hostSockets on the test's own network,
// a peers.NetNS in the network namespace of a peer.
type sockets interface {
	ListenPacket(network, address string) (net.PacketConn, error)
	Dial(network, address string) (net.Conn, error)
}

type hostSockets struct{}

func (hostSockets) ListenPacket(network, address string) (net.PacketConn, error) {
	return net.ListenPacket(network, address)
}

func (hostSockets) Dial(network, address string) (net.Conn, error) {
	return net.Dial(network, address)
}

func newRecordingProxy(t testing.TB, server net.Addr) *recordingProxy {
	t.Helper()
	return newRecordingProxyIn(t, hostSockets{}, server)
}

// newRecordingProxyIn is newRecordingProxy with sockets from socks.
func newRecordingProxyIn(t testing.TB, socks sockets, server net.Addr) *recordingProxy {
	t.Helper()
	front, err := socks.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &recordingProxy{front: front, server: server.String(), socks: socks}
	p.mu.Lock()
	p.resetLocked()
	err = p.dialLocked()
	p.mu.Unlock()
	require.NoError(t, err)
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.forward() }()
	t.Cleanup(func() {
		t.Logf("client→server: %v", p.Stats(c2s))
		t.Logf("server→client: %v", p.Stats(s2c))
		front.Close()
		p.mu.Lock()
		p.back.Close()
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// dialLocked gives the proxy a new socket towards the server.
func (p *recordingProxy) dialLocked() error {
	back, err := p.socks.Dial("udp", p.server)
	if err != nil {
		return err
	}
	p.back = back
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.backward(back) }()
	return nil
}

// rebind relays the client's datagrams from a new port from now on, and
// closes the old one, as a NAT that lost its mapping: the server sees
// its client move.
func (p *recordingProxy) rebind(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.back
	require.NoError(t, p.dialLocked())
	old.Close()
}

// nextClient readies the proxy for a new client, which may come from
// another address: it forgets the last client and what it saw, and
// relays from a new port.
func (p *recordingProxy) nextClient(t testing.TB) {
	t.Helper()
	p.rebind(t)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.client = nil
	p.resetLocked()
}

// resetLocked forgets what the proxy saw, but the CID lengths.
func (p *recordingProxy) resetLocked() {
	for i := range p.stats {
		p.stats[i] = dirStats{fragments: map[byte]int{}, partial: map[byte]int{}, records: map[uint64]int{},
			cids: map[string]int{}, cidLen: p.stats[i].cidLen, hellos: new(hsassembly.Assembler)}
	}
}

// SetConnectionIDs tells the proxy the length of the Connection IDs in
// the records each way (RFC 9146): toServer is the length the server asked
// for, toClient the client's.
func (p *recordingProxy) SetConnectionIDs(toServer, toClient int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats[c2s].cidLen, p.stats[s2c].cidLen = toServer, toClient
}

// Addr is where clients send.
func (p *recordingProxy) Addr() net.Addr { return p.front.LocalAddr() }

// BackAddr is the address the server sees the client at.
func (p *recordingProxy) BackAddr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.back.LocalAddr()
}

func (p *recordingProxy) forward() {
	buf := make([]byte, 1<<16)
	for {
		n, from, err := p.front.ReadFrom(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.client == nil {
			p.client = from
		}
		back := p.back
		ok := p.client.String() == from.String()
		if ok {
			p.recordLocked(c2s, buf[:n])
		}
		p.mu.Unlock()
		if ok {
			back.Write(buf[:n])
		}
	}
}

func (p *recordingProxy) backward(back net.Conn) {
	buf := make([]byte, 1<<16)
	for {
		n, err := back.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP port unreachable, say, before the client is up
		}
		p.mu.Lock()
		to := p.client
		if to != nil {
			p.recordLocked(s2c, buf[:n])
		}
		p.mu.Unlock()
		if to != nil {
			p.front.WriteTo(buf[:n], to)
		}
	}
}

// recordLocked notes a datagram's size, the Connection IDs of its DTLS
// 1.2 records and the handshake fragments of those of epoch 0.
func (p *recordingProxy) recordLocked(dir int, d []byte) {
	s := &p.stats[dir]
	s.datagrams++
	s.maxSize = max(s.maxSize, len(d))
	for len(d) > 0 {
		rec, rest, err := record.ParseDTLSRecordCID(d, s.cidLen)
		if err != nil {
			s.unparsed++
			return
		}
		d = rest
		typ, body := rec.Type, rec.Payload
		switch {
		case typ == record.TypeConnectionID:
			s.cids[hex.EncodeToString(rec.CID)]++
		case rec.Epoch > 0:
			s.plainProtected++
		}
		if typ == record.TypeApplicationData || typ == record.TypeConnectionID {
			s.appData++
			s.lastApp = time.Now()
		}
		key := uint64(rec.Epoch)<<48 | rec.Seq
		if s.records[key]++; s.records[key] == 2 {
			desc := fmt.Sprintf("epoch %d seq %d", rec.Epoch, rec.Seq)
			if typ == record.TypeHandshake && rec.Epoch == 0 && len(body) > 0 {
				desc += fmt.Sprintf(" (handshake type %d)", body[0])
			}
			s.dups = append(s.dups, desc)
		}
		if typ != record.TypeHandshake || rec.Epoch != 0 || len(body) < 12 {
			continue
		}
		msgLen := int(body[1])<<16 | int(body[2])<<8 | int(body[3])
		fragLen := int(body[9])<<16 | int(body[10])<<8 | int(body[11])
		s.fragments[body[0]]++
		if fragLen < msgLen {
			s.partial[body[0]]++
		}
		if body[0] == hsClientHello || body[0] == hsServerHello {
			s.assembleHello(body)
		}
		var hello flights.ClientHello
		if body[0] == hsClientHello && fragLen == msgLen && hello.UnmarshalDTLS(body[12:]) == nil {
			s.helloVersions = slices.Clone(hello.SupportedVersions)
		}
	}
}

// Diag describes the application data relayed so far, to tell where a
// message was lost.
func (p *recordingProxy) Diag() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("the proxy relayed %d application data (or Connection ID) records to the server (the last %v ago), %d to the client (the last %v ago)",
		p.stats[c2s].appData, time.Since(p.stats[c2s].lastApp), p.stats[s2c].appData, time.Since(p.stats[s2c].lastApp))
}

// Stats returns a copy of what went one way.
func (p *recordingProxy) Stats(dir int) dirStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats[dir]
	s.fragments, s.partial = maps.Clone(s.fragments), maps.Clone(s.partial)
	s.cids = maps.Clone(s.cids)
	s.records, s.hellos = nil, nil
	s.dups = append([]string(nil), s.dups...)
	s.clientHellos, s.serverHellos = slices.Clone(s.clientHellos), slices.Clone(s.serverHellos)
	return s
}

// recordSeq returns the 48-bit sequence number of the DTLS 1.2 record
// that starts d.
func recordSeq(d []byte) uint64 {
	var seq uint64
	for _, b := range d[5:11] {
		seq = seq<<8 | uint64(b)
	}
	return seq
}

// setRecordSeq rewrites the sequence number of the record that starts d.
func setRecordSeq(d []byte, seq uint64) {
	for i := 10; i >= 5; i-- {
		d[i] = byte(seq)
		seq >>= 8
	}
}

func (s dirStats) String() string {
	str := fmt.Sprintf("%d datagrams, largest %d bytes, handshake fragments %v (partial %v), reused record numbers %v",
		s.datagrams, s.maxSize, s.fragments, s.partial, s.dups)
	if s.cidLen > 0 || len(s.cids) > 0 {
		str += fmt.Sprintf(", records by Connection ID %v, protected records without one %d", s.cids, s.plainProtected)
	}
	if s.unparsed > 0 {
		str += fmt.Sprintf(", %d datagrams not parsed", s.unparsed)
	}
	return str
}

// message returns the i-th message from the client (prefix "c2s") or the
// server ("s2c"): a sequence number and a random payload of some tens of
// bytes, ending in a newline for openssl's line-oriented stdin and stdout.
func message(prefix string, i int, payload string) string {
	return fmt.Sprintf("%s %04d %s\n", prefix, i, payload)
}

func randomPayload(i int) string {
	b := make([]byte, 16+i%48)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// answer turns a client message into the server's answer.
func answer(msg []byte) []byte {
	if !bytes.HasPrefix(msg, []byte("c2s ")) {
		return nil
	}
	return append([]byte("s2c"), msg[3:]...)
}

// seqOf returns the sequence number of a message, or -1.
func seqOf(msg []byte) int {
	var prefix string
	var seq int
	if _, err := fmt.Sscanf(string(msg), "%3s %04d", &prefix, &seq); err != nil {
		return -1
	}
	return seq
}

// exchange runs interopMessages round trips over c, stop and wait: it
// sends a message, waits for the peer's answer, and checks it. A message
// whose answer does not come within replyWait is sent again; late answers
// to earlier messages are skipped. It returns how many resends it needed.
func exchange(t testing.TB, c net.Conn, diag func() string) (resends int) {
	t.Helper()
	return exchangeRange(t, c, 0, interopMessages, diag)
}

// exchangeRange is exchange for the messages numbered from first to
// end-1, so that an exchange can stop and go on.
func exchangeRange(t testing.TB, c net.Conn, first, end int, diag func() string) (resends int) {
	t.Helper()
	return exchangeReplies(t, c, first, end, answer, diag)
}

// exchangeReplies is exchangeRange with a peer whose answer to a message
// is reply(message).
func exchangeReplies(t testing.TB, c net.Conn, first, end int, reply func([]byte) []byte, diag func() string) (resends int) {
	t.Helper()
	buf := make([]byte, 1<<16)
	for i := first; i < end; i++ {
		msg := message("c2s", i, randomPayload(i))
		want := reply([]byte(msg))
	attempts:
		for attempt := 1; ; attempt++ {
			if attempt > maxAttempts {
				t.Fatalf("message %d: no answer after %d attempts", i, maxAttempts)
			}
			if attempt > 1 {
				resends++
			}
			_, err := c.Write([]byte(msg))
			require.NoError(t, err, "write message %d", i)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(replyWait)))
			for {
				n, err := c.Read(buf)
				if isTimeout(err) {
					t.Logf("message %d: no answer within %v, resending; %s", i, replyWait, diag())
					continue attempts
				}
				require.NoError(t, err, "read answer %d", i)
				got := buf[:n]
				if seq := seqOf(got); seq >= 0 && seq < i {
					continue // a late answer to a resent message
				}
				require.Equal(t, string(want), string(got), "answer to message %d", i)
				break attempts
			}
		}
	}
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	return resends
}

// isTimeout reports whether a Read failed at its deadline: tlsm returns
// os.ErrDeadlineExceeded, pion context.DeadlineExceeded.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// echoResult is what an answering peer saw.
type echoResult struct {
	seqs []int // sequence numbers received, in order, resends included
	err  error
}

// pionClosed reports whether err is how a pion Conn reports that its
// peer closed: pion/dtls v4.0.1 returns the context.Canceled its read
// loop stops with, now and then from Read instead of io.EOF, and from a
// Write of the answer to a message the client resent and no longer waits
// for (seen in CI under -race). The client checks separately that every
// message was answered.
func pionClosed(c net.Conn, err error) bool {
	_, isPion := c.(*piondtls.Conn)
	return isPion && errors.Is(err, context.Canceled)
}

// serveEcho answers every client message on c until the peer closes it,
// and reports the sequence numbers it received. A record may carry more
// than one message (openssl sends what one read of its stdin returned):
// their answers go back in one record.
func serveEcho(c net.Conn) echoResult {
	var r echoResult
	buf := make([]byte, 1<<16)
	for {
		n, err := c.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !pionClosed(c, err) {
				r.err = err
			}
			return r
		}
		var reply []byte
		for _, msg := range bytes.SplitAfter(buf[:n], []byte("\n")) {
			if len(msg) == 0 {
				continue
			}
			a := answer(msg)
			if a == nil {
				r.err = fmt.Errorf("unexpected message %q", msg)
				return r
			}
			r.seqs = append(r.seqs, seqOf(msg))
			reply = append(reply, a...)
		}
		if _, err := c.Write(reply); err != nil {
			if !pionClosed(c, err) {
				r.err = err
			}
			return r
		}
	}
}

// checkSeqs checks that the answering peer received every message once,
// in order, apart from resends of the latest.
func checkSeqs(t testing.TB, seqs []int) {
	t.Helper()
	next := 0
	for _, s := range seqs {
		switch s {
		case next:
			next++
		case next - 1: // a resend
		default:
			t.Fatalf("received message %d after %d: %v", s, next-1, seqs)
		}
	}
	require.Equal(t, interopMessages, next, "messages received")
	require.LessOrEqual(t, len(seqs)-interopMessages, maxLosses, "resent messages received")
}

// waitOutput waits up to timeout for the process's standard output,
// from offset from on, to contain s, and returns the offset after it.
func waitOutput(p *peers.Proc, from int, s string, timeout time.Duration) (int, bool) {
	deadline := time.Now().Add(timeout)
	for {
		out := p.Stdout()
		if i := strings.Index(out[min(from, len(out)):], s); i >= 0 {
			return from + i + len(s), true
		}
		if time.Now().After(deadline) || p.Exited() {
			return from, false
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// keyingMaterial extracts the hex keying material that openssl's
// -keymatexport prints.
func keyingMaterial(t testing.TB, out string) []byte {
	t.Helper()
	return keyingMaterialAfter(t, out, "Keying material: ")
}

// keyingMaterialAfter extracts the hex keying material that a peer
// prints after marker, to the end of the line.
func keyingMaterialAfter(t testing.TB, out, marker string) []byte {
	t.Helper()
	i := strings.Index(out, marker)
	require.GreaterOrEqual(t, i, 0, "no keying material in the peer's output")
	line, _, _ := strings.Cut(out[i+len(marker):], "\n")
	b, err := hex.DecodeString(strings.TrimSpace(line))
	require.NoError(t, err)
	return b
}
