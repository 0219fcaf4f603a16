// Command demo shows the sans-I/O core at work: a client and a server
// fsm.Conn talk TLS to each other through two byte slices, or DTLS
// through a lossy list of datagrams on a virtual clock, with no sockets,
// goroutines or timers, and every event either side emits is printed as
// it is drained.
//
// Each section of the demo is a scenario; run them all with
//
//	go run ./examples/demo
//
// The certificates are made at run time and both sides draw their random
// values from seeded ChaCha8 generators, so the trace is the same from run
// to run up to the sizes of the certificates.
package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// scenario is one section of the demo. It writes its trace to w.
type scenario struct {
	title string
	run   func(w io.Writer) error
}

// scenarios are the sections of the demo, in the order they run.
var scenarios = []scenario{
	{"TLS 1.3: handshake, application data both ways, close_notify", handshakeAndData},
	{"TLS 1.3: a requested key update and its answer", keyUpdate},
	{"DTLS 1.2 over a lossy in-memory link: cookie exchange, fragments, retransmission", dtlsLossy},
	{"DTLS 1.3 over a lossy in-memory link: cookie in a HelloRetryRequest, ACKs, a key update switched on its ACK", dtls13Lossy},
	{"TLS 1.2 renegotiation: the server asks, the TLS client resumes", tlsRenegotiation},
	{"DTLS 1.2 renegotiation: the server asks, the DTLS client does not resume", dtlsRenegotiation},
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run plays every scenario in turn.
func run(w io.Writer) error {
	for i, s := range scenarios {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "== %s ==\n", s.title)
		if err := s.run(w); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}
	return nil
}

// handshakeAndData runs a full handshake, exchanges a few messages and
// closes both directions with close_notify.
func handshakeAndData(w io.Writer) error {
	clientCfg, serverCfg, err := configs(1)
	if err != nil {
		return err
	}
	l := newLink(w, clientCfg, serverCfg)
	l.client.say("Start()")
	if err := l.client.conn.Start(l.now); err != nil {
		return err
	}
	if err := l.pump(); err != nil {
		return err
	}
	if !l.client.conn.HandshakeComplete() || !l.server.conn.HandshakeComplete() {
		return fmt.Errorf("handshake did not complete")
	}
	for _, m := range []struct {
		from *peer
		text string
	}{
		{l.client, "hello"},
		{l.server, "hello, client"},
		{l.client, "GET /index.html"},
		{l.server, "here it is: <html>…</html>"},
	} {
		if err := l.write(m.from, m.text); err != nil {
			return err
		}
	}
	for _, p := range []*peer{l.client, l.server} {
		p.say("Close()")
		if err := p.conn.Close(l.now); err != nil {
			return err
		}
		if err := l.pump(); err != nil {
			return err
		}
	}
	return nil
}

// keyUpdate shows SSL_key_update(3)'s semantics: the client schedules an
// update_requested update, which goes out on its next write; the server
// owes an answer and sends its own update_not_requested just before its
// next application data.
func keyUpdate(w io.Writer) error {
	clientCfg, serverCfg, err := configs(2)
	if err != nil {
		return err
	}
	l := newLink(w, clientCfg, serverCfg)
	if err := l.client.conn.Start(l.now); err != nil {
		return err
	}
	if err := l.pump(); err != nil {
		return err
	}
	fmt.Fprintln(w, "-- handshake done; now the key update --")
	l.client.say("KeyUpdate(UpdateRequested)")
	if err := l.client.conn.KeyUpdate(fsm.UpdateRequested); err != nil {
		return err
	}
	l.client.say("PendingKeyUpdate() = %s", l.client.conn.PendingKeyUpdate())
	if err := l.write(l.client, "sent under the client's second key"); err != nil {
		return err
	}
	l.server.say("PendingKeyUpdate() = %s (the answer it owes)", l.server.conn.PendingKeyUpdate())
	if err := l.write(l.server, "sent under the server's second key"); err != nil {
		return err
	}
	return l.write(l.client, "still flowing")
}

// dtlsLossy runs a DTLS 1.2 handshake over datagrams with a small MTU, so
// the server's certificate flight is fragmented, and loses the first
// datagram of that flight: the client's timer fires on the virtual clock
// and its flight goes out again, then the server answers the
// retransmission with its own.
func dtlsLossy(w io.Writer) error {
	clientCfg, serverCfg, err := configs(3)
	if err != nil {
		return err
	}
	clientCfg.MTU, serverCfg.MTU = 400, 400
	l := newDgramLink(w, clientCfg, serverCfg, map[string]int{"server": 2})
	if err := l.handshake(); err != nil {
		return err
	}
	if err := l.send(l.client, "one datagram"); err != nil {
		return err
	}
	return l.run()
}

// dtls13Lossy runs a DTLS 1.3 handshake (RFC 9147) over the lossy link.
// The server checks the client's address with the cookie of a
// HelloRetryRequest, as DTLS 1.3 has no HelloVerifyRequest; the first
// datagram of its next flight is lost and sent again when its timer
// fires. Then the client asks for a key update: it keeps writing under
// its old key until the server's ACK of the KeyUpdate arrives, and only
// then switches (RFC 9147 §8); the server's answer follows the same rule.
func dtls13Lossy(w io.Writer) error {
	clientCfg, serverCfg, err := configs(6)
	if err != nil {
		return err
	}
	clientCfg.MaxVersion, serverCfg.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	clientCfg.MTU, serverCfg.MTU = 400, 400
	l := newDgramLink(w, clientCfg, serverCfg, map[string]int{"server": 2})
	l.client.ackedKeys, l.server.ackedKeys = true, true
	if err := l.handshake(); err != nil {
		return err
	}
	fmt.Fprintln(w, "-- handshake done; the client asks for a key update --")
	l.client.say("KeyUpdate(UpdateRequested)")
	if err := l.client.conn.KeyUpdate(fsm.UpdateRequested); err != nil {
		return err
	}
	l.client.say("PendingKeyUpdate() = %s", l.client.conn.PendingKeyUpdate())
	if err := l.send(l.client, "sent as the KeyUpdate goes out"); err != nil {
		return err
	}
	if err := l.run(); err != nil {
		return err
	}
	if err := l.send(l.server, "under the server's next key"); err != nil {
		return err
	}
	return l.run()
}

// tlsRenegotiation runs a TLS 1.2 connection whose server schedules a
// renegotiation (SSL_renegotiate on a server: a HelloRequest). The TLS
// client answers it transparently, offering its session: an abbreviated
// handshake, n=2, resumed=true.
func tlsRenegotiation(w io.Writer) error {
	clientCfg, serverCfg, err := configs(4)
	if err != nil {
		return err
	}
	clientCfg.MaxVersion = fsm.VersionTLS12
	l := newLink(w, clientCfg, serverCfg)
	if err := l.client.conn.Start(l.now); err != nil {
		return err
	}
	if err := l.pump(); err != nil {
		return err
	}
	fmt.Fprintln(w, "-- handshake done; the server renegotiates --")
	l.server.say("Renegotiate(); RenegotiatePending() = %t", schedule(l.server.conn.Renegotiate, l.server.conn))
	l.server.say("Handshake()")
	if err := l.server.conn.Handshake(l.now); err != nil {
		return err
	}
	if err := l.pump(); err != nil {
		return err
	}
	l.server.say("RenegotiatePending() = %t", l.server.conn.RenegotiatePending())
	return l.write(l.client, "after the renegotiation")
}

// dtlsRenegotiation is the same over DTLS 1.2, where the client does not
// resume on a server's request (OpenSSL's rule, kept for DTLS): a full
// handshake, n=2, resumed=false. The server sent the handshake's last
// flight, so it waits to hear from the client before asking: a lost
// flight must still be resendable.
func dtlsRenegotiation(w io.Writer) error {
	clientCfg, serverCfg, err := configs(5)
	if err != nil {
		return err
	}
	l := newDgramLink(w, clientCfg, serverCfg, nil)
	if err := l.client.conn.Start(l.now); err != nil {
		return err
	}
	if err := l.run(); err != nil {
		return err
	}
	if err := l.send(l.client, "before"); err != nil {
		return err
	}
	if err := l.run(); err != nil {
		return err
	}
	fmt.Fprintln(w, "-- the client has been heard from; the server renegotiates --")
	l.server.say("Renegotiate(); RenegotiatePending() = %t", schedule(l.server.conn.Renegotiate, l.server.conn))
	l.server.say("Handshake()")
	if err := l.server.conn.Handshake(l.now); err != nil {
		return err
	}
	if err := l.run(); err != nil {
		return err
	}
	if err := l.send(l.client, "after the renegotiation"); err != nil {
		return err
	}
	return l.run()
}

// schedule calls an API that schedules work and reports RenegotiatePending.
func schedule(f func() error, c *fsm.Conn) bool {
	if err := f(); err != nil {
		return false
	}
	return c.RenegotiatePending()
}

// dgramLink joins two DTLS Conns with datagrams and a virtual clock. lose
// names, per sender, which of its datagrams (counting from 1) is lost.
type dgramLink struct {
	now, start     time.Time
	client, server *peer
	lose           map[string]int
	sent           map[string]int
	inbox          map[*peer][][]byte
	timers         map[*peer]time.Time
}

// handshake starts the client and runs the link until both sides have
// completed the handshake.
func (l *dgramLink) handshake() error {
	l.client.say("Start()")
	if err := l.client.conn.Start(l.now); err != nil {
		return err
	}
	if err := l.run(); err != nil {
		return err
	}
	if !l.client.conn.HandshakeComplete() || !l.server.conn.HandshakeComplete() {
		return fmt.Errorf("DTLS handshake did not complete")
	}
	return nil
}

// send writes text as application data from p, as its application would.
func (l *dgramLink) send(p *peer, text string) error {
	p.say("Write(%q)", text)
	p.wrote = true
	_, err := p.conn.Write(l.now, []byte(text))
	return err
}

// newDgramLink returns a link between a DTLS client and server with these
// configurations, which loses the datagrams lose names.
func newDgramLink(w io.Writer, clientCfg, serverCfg *fsm.Config, lose map[string]int) *dgramLink {
	now := time.Now()
	return &dgramLink{
		now: now, start: now, lose: lose,
		client: &peer{name: "client", conn: fsm.NewDTLSClient(clientCfg), out: w},
		server: &peer{name: "server", conn: fsm.NewDTLSServer(serverCfg, []byte("client address")), out: w},
	}
}

func (l *dgramLink) other(p *peer) *peer {
	if p == l.client {
		return l.server
	}
	return l.client
}

// run delivers datagrams, and fires timers when nothing is in flight,
// until the link is quiet.
func (l *dgramLink) run() error {
	if l.inbox == nil {
		l.inbox, l.timers, l.sent = map[*peer][][]byte{}, map[*peer]time.Time{}, map[string]int{}
	}
	for step := 0; step < 1000; step++ {
		l.drain(l.client)
		l.drain(l.server)
		if p := l.nextInbox(); p != nil {
			d := l.inbox[p][0]
			l.inbox[p] = l.inbox[p][1:]
			p.line("←", "datagram of %d bytes", len(d))
			if err := p.conn.HandleDatagram(l.now, d); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			continue
		}
		p, at := l.nextTimer()
		if p == nil {
			return nil
		}
		l.now = at
		delete(l.timers, p)
		p.say("timer fires at +%s", l.now.Sub(l.start))
		if err := p.conn.HandleTimeout(l.now); err != nil {
			return err
		}
	}
	return fmt.Errorf("the link never went quiet")
}

func (l *dgramLink) nextInbox() *peer {
	for _, p := range []*peer{l.server, l.client} {
		if len(l.inbox[p]) > 0 {
			return p
		}
	}
	return nil
}

func (l *dgramLink) nextTimer() (*peer, time.Time) {
	var first *peer
	var at time.Time
	for _, p := range []*peer{l.client, l.server} {
		if t, ok := l.timers[p]; ok && (first == nil || t.Before(at)) {
			first, at = p, t
		}
	}
	return first, at
}

// drain prints p's events; transmitted datagrams go to the other side
// unless this one is to be lost.
func (l *dgramLink) drain(p *peer) {
	for {
		ev := p.conn.NextEvent()
		switch ev.Kind {
		case fsm.EventNone:
			p.queued, p.wrote = false, false
			return
		case fsm.EventTransmit:
			l.sent[p.name]++
			what := ""
			if p.ackedKeys && !p.queued && !p.wrote {
				what = ", an ACK"
			}
			if l.lose[p.name] == l.sent[p.name] {
				p.line("→", "datagram of %d bytes%s — lost", len(ev.Data), what)
				continue
			}
			p.line("→", "datagram of %d bytes%s", len(ev.Data), what)
			to := l.other(p)
			l.inbox[to] = append(l.inbox[to], append([]byte(nil), ev.Data...))
		case fsm.EventTimer:
			if ev.Deadline.IsZero() {
				delete(l.timers, p)
				p.say("timer cleared")
			} else {
				l.timers[p] = ev.Deadline
				p.say("timer set for +%s", ev.Deadline.Sub(l.start))
			}
		case fsm.EventRetransmit:
			p.queued = true
			p.say("flight retransmitted")
		default:
			p.queued = p.queued || ev.Kind == fsm.EventMessageSent
			printEvent(p, ev)
		}
	}
}

// configs returns a client and a server configuration that trust each
// other. The server's certificate is an Ed25519 one, whose signatures are
// deterministic; seed picks the random streams of both sides.
func configs(seed uint64) (client, server *fsm.Config, err error) {
	cert, err := testcert.New(testcert.Ed25519)
	if err != nil {
		return nil, nil, err
	}
	server = &fsm.Config{
		Rand:         seeded(seed, 's'),
		Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}},
	}
	client = &fsm.Config{
		Rand:       seeded(seed, 'c'),
		RootCAs:    cert.CAPool,
		ServerName: "localhost",
	}
	return client, server, nil
}

// seeded returns a deterministic random stream for one side.
func seeded(seed uint64, side byte) io.Reader {
	var key [32]byte
	key[0] = side
	for i := range 8 {
		key[1+i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(key)
}

// peer is one end of a link: a Conn and the bytes in flight towards it.
type peer struct {
	name  string
	conn  *fsm.Conn
	out   io.Writer
	inbox []byte
	// ackedKeys: a key update of ours takes effect when the peer
	// acknowledges it (DTLS 1.3), not when it is sent. A DTLS 1.3 peer's
	// datagram that carries no message, no retransmission and no data
	// written is an ACK; queued and wrote, reset once its events are
	// drained, tell.
	ackedKeys     bool
	queued, wrote bool
}

// line prints a line of the trace for p. mark is "→" for what p sends, "←"
// for what it receives, or blank for anything else.
func (p *peer) line(mark, format string, args ...any) {
	fmt.Fprintf(p.out, "%-6s %s %s\n", p.name, mark, fmt.Sprintf(format, args...))
}

// say prints an action p's application takes.
func (p *peer) say(format string, args ...any) { p.line(" ", format, args...) }

// link joins a client and a server in memory.
type link struct {
	now            time.Time
	client, server *peer
}

func newLink(w io.Writer, clientCfg, serverCfg *fsm.Config) *link {
	return &link{
		now:    time.Now(),
		client: &peer{name: "client", conn: fsm.NewClient(clientCfg), out: w},
		server: &peer{name: "server", conn: fsm.NewServer(serverCfg), out: w},
	}
}

func (l *link) other(p *peer) *peer {
	if p == l.client {
		return l.server
	}
	return l.client
}

// write sends text from p as application data and delivers it.
func (l *link) write(p *peer, text string) error {
	p.say("Write(%q)", text)
	if _, err := p.conn.Write(l.now, []byte(text)); err != nil {
		return err
	}
	return l.pump()
}

// pump drains both sides' events and hands transmitted bytes to the other
// side until nothing is in flight. A fatal error shows up in the trace as
// an alert and a closed event; pump returns it too.
func (l *link) pump() error {
	l.drain(l.client)
	l.drain(l.server)
	for len(l.client.inbox) > 0 || len(l.server.inbox) > 0 {
		for _, p := range []*peer{l.server, l.client} {
			if len(p.inbox) == 0 {
				continue
			}
			data := p.inbox
			p.inbox = nil
			p.line("←", "%d bytes from the wire", len(data))
			err := p.conn.HandleData(l.now, data)
			l.drain(p)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	return nil
}

// drain prints every queued event of p, moving transmitted bytes to the
// other side.
func (l *link) drain(p *peer) {
	for {
		ev := p.conn.NextEvent()
		switch ev.Kind {
		case fsm.EventNone:
			return
		case fsm.EventTransmit:
			p.line("→", "%d bytes on the wire", len(ev.Data))
			to := l.other(p)
			to.inbox = append(to.inbox, ev.Data...)
		default:
			printEvent(p, ev)
		}
	}
}

// printEvent prints one event other than a transmission.
func printEvent(p *peer, ev fsm.Event) {
	switch ev.Kind {
	case fsm.EventMessageSent:
		p.line("→", "%s", messageLabel(p, ev.Message))
	case fsm.EventMessageReceived:
		p.line("←", "%s", messageLabel(p, ev.Message))
	case fsm.EventHandshakeDone:
		p.line(" ", "handshake done: %s %s resumed=%t n=%d",
			fsm.VersionName(ev.Version), fsm.CipherSuiteName(ev.Suite), ev.Resumed, ev.Handshake)
	case fsm.EventData:
		p.line("←", "data %q", ev.Data)
	case fsm.EventAlertSent:
		p.line("→", "alert %s %s", ev.Level, ev.Alert.String())
	case fsm.EventAlertReceived:
		p.line("←", "alert %s %s", ev.Level, ev.Alert.String())
	case fsm.EventRenegotiationRequested:
		p.line(" ", "renegotiation requested (HelloRequest)")
	case fsm.EventRenegotiationStarted:
		p.line(" ", "renegotiation started")
	case fsm.EventKeyUpdateSent:
		if p.ackedKeys {
			p.line(" ", "key update acknowledged: %s; now sending with the next key", ev.KeyUpdate)
		} else {
			p.line(" ", "key update sent: %s; now sending with the next key", ev.KeyUpdate)
		}
	case fsm.EventKeyUpdateReceived:
		p.line(" ", "key update received: %s; now reading with the next key", ev.KeyUpdate)
	case fsm.EventClosed:
		if ev.Err != nil {
			p.line(" ", "closed: %v", ev.Err)
		} else {
			p.line(" ", "closed: the peer sent close_notify")
		}
	default:
		p.line(" ", "%s", ev.Kind)
	}
}

// messageLabel names a message p sent or received. A HelloRetryRequest
// is a ServerHello on the wire; it is the one after which a side waits
// for the retried hello.
func messageLabel(p *peer, m fsm.MessageType) string {
	if m == fsm.MessageServerHello {
		switch p.conn.State() {
		case fsm.StateClientWaitServerHelloRetried, fsm.StateServerWaitClientHelloRetried:
			return "HelloRetryRequest"
		}
	}
	return messageName(m.String())
}

// messageName turns a handshake message name such as "client_hello" into
// the RFC's spelling, "ClientHello".
func messageName(s string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
