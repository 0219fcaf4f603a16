// Package renegtest holds what the renegotiation interop tests of packages
// tls and dtls share, so that both transports run one flow: an event log
// of a tlsm connection, a background reader, a parser of openssl -trace
// output, and the checks of a renegotiation's data and messages.
package renegtest

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
)

// Wait bounds every wait of the renegotiation interop tests.
const Wait = 8 * time.Second

// Log records the events of a tlsm Conn that matter to
// renegotiation, in order (application data as its text).
type Log struct {
	mu     sync.Mutex
	events []fsm.Event
	notify chan struct{}
}

// Watch installs a Log on c; call it before the handshake.
func Watch(c interface{ OnEvent(func(fsm.Event)) }) *Log {
	l := &Log{notify: make(chan struct{})}
	c.OnEvent(func(ev fsm.Event) {
		switch ev.Kind {
		case fsm.EventHandshakeDone, fsm.EventAlertSent, fsm.EventAlertReceived, fsm.EventClosed,
			fsm.EventRenegotiationRequested, fsm.EventRenegotiationStarted, fsm.EventData:
		default:
			return
		}
		ev.Data = bytes.Clone(ev.Data)
		l.mu.Lock()
		l.events = append(l.events, ev)
		close(l.notify)
		l.notify = make(chan struct{})
		l.mu.Unlock()
	})
	return l
}

func (l *Log) Snapshot() ([]fsm.Event, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]fsm.Event(nil), l.events...), l.notify
}

// waitFor waits until some event satisfies match and returns it.
func (l *Log) WaitFor(t testing.TB, what string, match func(fsm.Event) bool) fsm.Event {
	t.Helper()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for {
		evs, ch := l.Snapshot()
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("tlsm: no %s within %v; events:\n%s", what, Wait, Describe(evs))
		}
	}
}

// waitHandshake waits for handshake number n and returns its event.
func (l *Log) WaitHandshake(t testing.TB, n int) fsm.Event {
	t.Helper()
	return l.WaitFor(t, fmt.Sprintf("handshake %d", n), func(ev fsm.Event) bool {
		return ev.Kind == fsm.EventHandshakeDone && ev.Handshake == n
	})
}

// waitAlert waits for an alert sent (kind EventAlertSent) or received.
func (l *Log) WaitAlert(t testing.TB, kind fsm.EventKind, level fsm.AlertLevel, a fsm.Alert) {
	t.Helper()
	l.WaitFor(t, fmt.Sprintf("%v %v %v", kind, level, a), func(ev fsm.Event) bool {
		return ev.Kind == kind && ev.Level == level && ev.Alert == a
	})
}

// handshakes returns the completed handshakes, in order.
func (l *Log) Handshakes() []fsm.Event {
	evs, _ := l.Snapshot()
	var hs []fsm.Event
	for _, ev := range evs {
		if ev.Kind == fsm.EventHandshakeDone {
			hs = append(hs, ev)
		}
	}
	return hs
}

// count counts the events of a kind.
func (l *Log) Count(kind fsm.EventKind) int {
	evs, _ := l.Snapshot()
	n := 0
	for _, ev := range evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// dataBetween returns the application data delivered after the first
// event of kind from and before handshake n completed.
func (l *Log) DataBetween(from fsm.EventKind, n int) string {
	evs, _ := l.Snapshot()
	var b strings.Builder
	in := false
	for _, ev := range evs {
		switch {
		case ev.Kind == from:
			in = true
		case ev.Kind == fsm.EventHandshakeDone && ev.Handshake == n:
			return b.String()
		case ev.Kind == fsm.EventData && in:
			b.Write(ev.Data)
		}
	}
	return b.String()
}

func Describe(evs []fsm.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		switch ev.Kind {
		case fsm.EventHandshakeDone:
			fmt.Fprintf(&b, "  handshake n=%d resumed=%v\n", ev.Handshake, ev.Resumed)
		case fsm.EventAlertSent, fsm.EventAlertReceived:
			fmt.Fprintf(&b, "  %v %v %v\n", ev.Kind, ev.Level, ev.Alert)
		case fsm.EventData:
			fmt.Fprintf(&b, "  data %q\n", ev.Data)
		case fsm.EventRenegotiationStarted:
			fmt.Fprintf(&b, "  %v resumed=%v\n", ev.Kind, ev.Resumed)
		default:
			fmt.Fprintf(&b, "  %v %v\n", ev.Kind, ev.Err)
		}
	}
	return b.String()
}

// Reader reads a connection (records, for DTLS) in the background for the whole test,
// which is what drives a renegotiation forward in a tlsm Conn, and
// collects the application data.
type Reader struct {
	mu     sync.Mutex
	buf    []byte
	off    int
	err    error
	notify chan struct{}
}

// StartReader reads r in the background until it fails.
func StartReader(r io.Reader) *Reader {
	rr := &Reader{notify: make(chan struct{})}
	go func() {
		b := make([]byte, 1<<16)
		for {
			n, err := r.Read(b)
			rr.mu.Lock()
			rr.buf = append(rr.buf, b[:n]...)
			rr.err = err
			close(rr.notify)
			rr.notify = make(chan struct{})
			rr.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return rr
}

// Expect waits for want to be the next data read.
func (r *Reader) Expect(t testing.TB, want string) {
	t.Helper()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		got, err, ch := string(r.buf[r.off:]), r.err, r.notify
		if len(got) >= len(want) {
			r.off += len(want)
		}
		r.mu.Unlock()
		if len(got) >= len(want) {
			require.Equal(t, want, got[:len(want)], "tlsm read")
			return
		}
		if err != nil {
			t.Fatalf("tlsm read %q, then %v; want %q", got, err, want)
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("tlsm read %q within %v; want %q", got, Wait, want)
		}
	}
}

// Result waits for the reader to stop and returns its error.
func (r *Reader) Result(t testing.TB) error {
	t.Helper()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		err, ch := r.err, r.notify
		r.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("tlsm reader still running after %v", Wait)
		}
	}
}

// Msg is a handshake message in OpenSSL's -trace output.
type Msg struct {
	Sent bool
	Name string
}

func (m Msg) String() string {
	if m.Sent {
		return "sent " + m.Name
	}
	return "received " + m.Name
}

var traceMsg = regexp.MustCompile(`^\s+([A-Za-z]+), Length=\d+$`)

// Trace parses the handshake messages of an openssl -trace output;
// -trace writes "Sent Record" or "Received Record" (DTLS: "Packet")
// before each record, and one "    Name, Length=N" line per handshake
// message. Only the messages from the start of the marker's nth line on
// are returned (all when n is 0).
func Trace(out string, marker Mark) []Msg {
	sent := false
	if marker.N > 0 {
		i := Index(out, marker)
		if i < 0 {
			return nil
		}
		sent = strings.LastIndex(out[:i], "\nSent ") > strings.LastIndex(out[:i], "\nReceived ")
		out = out[i:]
	}
	var msgs []Msg
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Sent Record"), strings.HasPrefix(line, "Sent Packet"):
			sent = true
		case strings.HasPrefix(line, "Received Record"), strings.HasPrefix(line, "Received Packet"):
			sent = false
		default:
			if m := traceMsg.FindStringSubmatch("    " + line); m != nil {
				msgs = append(msgs, Msg{sent, m[1]})
			}
		}
	}
	return msgs
}

// Has reports whether msgs holds the message.
func Has(msgs []Msg, sent bool, name string) bool {
	for _, m := range msgs {
		if m.Sent == sent && m.Name == name {
			return true
		}
	}
	return false
}

// Mark names the nth occurrence of a string in openssl's output.
type Mark struct {
	S string
	N int
}

// Marks in -trace output: the start of a renegotiation.
var HelloRequest = Mark{"HelloRequest, Length=", 1}

// Index returns the index of the start of the line of the
// marker, or -1.
func Index(out string, m Mark) int {
	off := 0
	for range m.N {
		i := strings.Index(out[off:], m.S)
		if i < 0 {
			return -1
		}
		off += i + len(m.S)
	}
	return strings.LastIndex(out[:off], "\n") + 1
}

// WaitTrace waits until openssl's trace after marker satisfies ok.
func WaitTrace(t testing.TB, p *peers.Proc, marker Mark, what string, ok func([]Msg) bool) []Msg {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		msgs := Trace(p.Stdout(), marker)
		if ok(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl: %s not seen within %v; trace after %v: %v", what, Wait, marker, msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Finished says that both Finished messages were exchanged.
func Finished(msgs []Msg) bool {
	return Has(msgs, true, "Finished") && Has(msgs, false, "Finished")
}

// OpenSSL runs openssl with unbuffered standard output, so that its
// -trace lines can be read as they happen.
func OpenSSL(t *testing.T, args ...string) *peers.Proc {
	t.Helper()
	peers.Need(t, "openssl")
	peers.Need(t, "stdbuf")
	return peers.Start(t, "stdbuf", append([]string{"-o0", "openssl"}, args...)...)
}

// Expecter reads the next application data and checks it.
type Expecter interface {
	Expect(t testing.TB, want string)
}
