package tls_test

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

// renegWait bounds every wait of the renegotiation interop tests.
const renegWait = 8 * time.Second

// renegLog records the events of a tlsm Conn that matter to
// renegotiation, in order (application data as its text).
type renegLog struct {
	mu     sync.Mutex
	events []fsm.Event
	notify chan struct{}
}

// renegWatch installs a renegLog on c; call it before the handshake.
func renegWatch(c interface{ OnEvent(func(fsm.Event)) }) *renegLog {
	l := &renegLog{notify: make(chan struct{})}
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

func (l *renegLog) snapshot() ([]fsm.Event, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]fsm.Event(nil), l.events...), l.notify
}

// waitFor waits until some event satisfies match and returns it.
func (l *renegLog) waitFor(t testing.TB, what string, match func(fsm.Event) bool) fsm.Event {
	t.Helper()
	timer := time.NewTimer(renegWait)
	defer timer.Stop()
	for {
		evs, ch := l.snapshot()
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("tlsm: no %s within %v; events:\n%s", what, renegWait, renegDescribe(evs))
		}
	}
}

// waitHandshake waits for handshake number n and returns its event.
func (l *renegLog) waitHandshake(t testing.TB, n int) fsm.Event {
	t.Helper()
	return l.waitFor(t, fmt.Sprintf("handshake %d", n), func(ev fsm.Event) bool {
		return ev.Kind == fsm.EventHandshakeDone && ev.Handshake == n
	})
}

// waitAlert waits for an alert sent (kind EventAlertSent) or received.
func (l *renegLog) waitAlert(t testing.TB, kind fsm.EventKind, level fsm.AlertLevel, a fsm.Alert) {
	t.Helper()
	l.waitFor(t, fmt.Sprintf("%v %v %v", kind, level, a), func(ev fsm.Event) bool {
		return ev.Kind == kind && ev.Level == level && ev.Alert == a
	})
}

// handshakes returns the completed handshakes, in order.
func (l *renegLog) handshakes() []fsm.Event {
	evs, _ := l.snapshot()
	var hs []fsm.Event
	for _, ev := range evs {
		if ev.Kind == fsm.EventHandshakeDone {
			hs = append(hs, ev)
		}
	}
	return hs
}

// count counts the events of a kind.
func (l *renegLog) count(kind fsm.EventKind) int {
	evs, _ := l.snapshot()
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
func (l *renegLog) dataBetween(from fsm.EventKind, n int) string {
	evs, _ := l.snapshot()
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

func renegDescribe(evs []fsm.Event) string {
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

// renegReader reads a connection in the background for the whole test,
// which is what drives a renegotiation forward in a tlsm Conn, and
// collects the application data.
type renegReader struct {
	mu     sync.Mutex
	buf    []byte
	off    int
	err    error
	notify chan struct{}
}

func renegStartReader(r io.Reader) *renegReader {
	rr := &renegReader{notify: make(chan struct{})}
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

// expect waits for want to be the next data read.
func (r *renegReader) expect(t testing.TB, want string) {
	t.Helper()
	timer := time.NewTimer(renegWait)
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
			t.Fatalf("tlsm read %q within %v; want %q", got, renegWait, want)
		}
	}
}

// result waits for the reader to stop and returns its error.
func (r *renegReader) result(t testing.TB) error {
	t.Helper()
	timer := time.NewTimer(renegWait)
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
			t.Fatalf("tlsm reader still running after %v", renegWait)
		}
	}
}

// renegMsg is a handshake message in OpenSSL's -trace output.
type renegMsg struct {
	sent bool
	name string
}

func (m renegMsg) String() string {
	if m.sent {
		return "sent " + m.name
	}
	return "received " + m.name
}

var renegTraceMsg = regexp.MustCompile(`^\s+([A-Za-z]+), Length=\d+$`)

// renegTrace parses the handshake messages of an openssl -trace output;
// -trace writes "Sent Record" or "Received Record" (DTLS: "Packet")
// before each record, and one "    Name, Length=N" line per handshake
// message. Only the messages from the start of the marker's nth line on
// are returned (all when n is 0).
func renegTrace(out string, marker renegMark) []renegMsg {
	sent := false
	if marker.n > 0 {
		i := renegIndex(out, marker)
		if i < 0 {
			return nil
		}
		sent = strings.LastIndex(out[:i], "\nSent ") > strings.LastIndex(out[:i], "\nReceived ")
		out = out[i:]
	}
	var msgs []renegMsg
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Sent Record"), strings.HasPrefix(line, "Sent Packet"):
			sent = true
		case strings.HasPrefix(line, "Received Record"), strings.HasPrefix(line, "Received Packet"):
			sent = false
		default:
			if m := renegTraceMsg.FindStringSubmatch("    " + line); m != nil {
				msgs = append(msgs, renegMsg{sent, m[1]})
			}
		}
	}
	return msgs
}

// renegHas reports whether msgs holds the message.
func renegHas(msgs []renegMsg, sent bool, name string) bool {
	for _, m := range msgs {
		if m.sent == sent && m.name == name {
			return true
		}
	}
	return false
}

// renegMark names the nth occurrence of a string in openssl's output.
type renegMark struct {
	s string
	n int
}

// Marks in -trace output: the start of a renegotiation.
var (
	renegHelloRequest = renegMark{"HelloRequest, Length=", 1}
	renegClientHello2 = renegMark{"ClientHello, Length=", 2}
)

// renegIndex returns the index of the start of the line of the
// marker, or -1.
func renegIndex(out string, m renegMark) int {
	off := 0
	for range m.n {
		i := strings.Index(out[off:], m.s)
		if i < 0 {
			return -1
		}
		off += i + len(m.s)
	}
	return strings.LastIndex(out[:off], "\n") + 1
}

// renegWaitTrace waits until openssl's trace after marker satisfies ok.
func renegWaitTrace(t testing.TB, p *peers.Proc, marker renegMark, what string, ok func([]renegMsg) bool) []renegMsg {
	t.Helper()
	deadline := time.Now().Add(renegWait)
	for {
		msgs := renegTrace(p.Stdout(), marker)
		if ok(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl: %s not seen within %v; trace after %v: %v", what, renegWait, marker, msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// renegFinished says that both Finished messages were exchanged.
func renegFinished(msgs []renegMsg) bool {
	return renegHas(msgs, true, "Finished") && renegHas(msgs, false, "Finished")
}

// renegOpenSSL runs openssl with unbuffered standard output, so that its
// -trace lines can be read as they happen.
func renegOpenSSL(t *testing.T, args ...string) *peers.Proc {
	t.Helper()
	peers.Need(t, "openssl")
	peers.Need(t, "stdbuf")
	return peers.Start(t, "stdbuf", append([]string{"-o0", "openssl"}, args...)...)
}

// renegCountAfter counts s in out after the marker.
func renegCountAfter(out string, marker renegMark, s string) int {
	i := renegIndex(out, marker)
	if i < 0 {
		return 0
	}
	return strings.Count(out[i:], s)
}

// renegExpecter reads the next application data and checks it.
type renegExpecter interface {
	expect(t testing.TB, want string)
}

// renegSync reads in the foreground, for the steps before a test starts
// its background reader.
type renegSync struct{ r io.Reader }

func (s renegSync) expect(t testing.TB, want string) {
	t.Helper()
	got := make([]byte, len(want))
	_, err := io.ReadFull(s.r, got)
	require.NoError(t, err, "tlsm read")
	require.Equal(t, want, string(got), "tlsm read")
}

// renegWaitCount waits until s occurs n times after marker in p's output.
func renegWaitCount(t testing.TB, p *peers.Proc, marker renegMark, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(renegWait)
	for renegCountAfter(p.Stdout(), marker, s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("openssl: %d× %q after %v not seen within %v", n, s, marker, renegWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
