// Package peers runs real TLS peer programs (such as openssl s_server and
// s_client) as child processes in tests.
//
// A Proc keeps the child's standard input open, because openssl s_server and
// s_client quit when their input reaches end of file, and records standard
// output and standard error in buffers that are safe to read while the child
// is still writing. Every process is started in its own process group, and
// the whole group is killed when the test finishes.
//
// Only loopback addresses are used: servers listen on 127.0.0.1 and clients
// connect to 127.0.0.1. A server that cannot be told to listen there alone
// (gnutls-serv) runs in a network namespace of its own that has nothing
// but loopback (StartIsolated), and the test makes its sockets there.
package peers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Loopback is the only address that servers listen on and clients dial.
const Loopback = "127.0.0.1"

// StartTimeout bounds how long OpenSSLServer waits for the server to report
// that it is accepting connections.
const StartTimeout = 10 * time.Second

// InCI reports whether the tests run under continuous integration, which is
// signalled by a non-empty CI environment variable. Missing peer binaries are
// a test failure there and a skip everywhere else.
func InCI() bool { return os.Getenv("CI") != "" }

// Need makes sure binary can be found on PATH. If it cannot, the test is
// skipped, or, when InCI reports true, failed.
func Need(t testing.TB, binary string) {
	t.Helper()
	need(t, binary, InCI())
}

func need(t testing.TB, binary string, ci bool) bool {
	t.Helper()
	if _, err := exec.LookPath(binary); err != nil {
		if ci {
			t.Fatalf("peers: %s is required in CI but not found: %v", binary, err)
		} else {
			t.Skipf("peers: %s not found, skipping: %v", binary, err)
		}
		return false
	}
	return true
}

// syncBuffer is an append-only byte buffer safe for concurrent use. Every
// write wakes up goroutines waiting on the channel returned by changed.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newSyncBuffer() *syncBuffer {
	return &syncBuffer{notify: make(chan struct{})}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.notify)
	b.notify = make(chan struct{})
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.notify
}

// Proc is a running peer process started by Start.
type Proc struct {
	name   string
	args   []string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer

	stdinMu sync.Mutex
	stdin   io.WriteCloser

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // set before done is closed
}

// Start runs the program name with args. Its standard input is a pipe that
// stays open until CloseStdin is called or the test ends; its standard output
// and standard error are captured. A cleanup registered on t kills the
// process group and, if the test failed, logs what the process printed.
//
// If name is not on PATH, the test is skipped, or failed under CI (see Need).
func Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	Need(t, name)

	cmd := exec.Command(name, args...)
	setProcessGroup(cmd)
	p := &Proc{
		name:   name,
		args:   args,
		cmd:    cmd,
		stdout: newSyncBuffer(),
		stderr: newSyncBuffer(),
		done:   make(chan struct{}),
	}
	cmd.Stdout = p.stdout
	cmd.Stderr = p.stderr
	// Do not let a grandchild that inherited the output pipes block Wait.
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("peers: stdin pipe for %s: %v", name, err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("peers: start %s: %v", p.commandLine(), err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()

	t.Cleanup(func() {
		p.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			t.Errorf("peers: %s did not exit after being killed", name)
		}
		if t.Failed() {
			t.Logf("peers: %s\n--- stdout ---\n%s\n--- stderr ---\n%s",
				p.commandLine(), p.Stdout(), p.Stderr())
		}
	})
	return p
}

func (p *Proc) commandLine() string {
	return strings.Join(append([]string{p.name}, p.args...), " ")
}

// Send writes line followed by a newline to the process's standard input.
// Write errors, which mean the process has gone away, are ignored; they show
// up as missing output instead.
func (p *Proc) Send(line string) {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil {
		_, _ = io.WriteString(p.stdin, line+"\n")
	}
}

// CloseStdin closes the process's standard input, so that it reads end of
// file. openssl s_client and s_server quit on that unless -ign_eof (or
// -quiet, which implies it) was given.
func (p *Proc) CloseStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil {
		_ = p.stdin.Close()
		p.stdin = nil
	}
}

// Stdout returns everything the process has written to standard output so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns everything the process has written to standard error so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Pid returns the process id, which is also its process group id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitOutput waits until standard output or standard error contains substr.
// It fails the test, showing both outputs, if that does not happen within
// timeout or if the process exits first without printing it.
func (p *Proc) WaitOutput(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		outCh, errCh := p.stdout.changed(), p.stderr.changed()
		if p.contains(substr) {
			return
		}
		select {
		case <-outCh:
		case <-errCh:
		case <-p.done:
			// Output is complete once the process has been reaped.
			if p.contains(substr) {
				return
			}
			t.Fatalf("peers: %s exited (%v) before printing %q\n--- stdout ---\n%s\n--- stderr ---\n%s",
				p.commandLine(), p.waitErr, substr, p.Stdout(), p.Stderr())
		case <-deadline.C:
			t.Fatalf("peers: %s did not print %q within %v\n--- stdout ---\n%s\n--- stderr ---\n%s",
				p.commandLine(), substr, timeout, p.Stdout(), p.Stderr())
		}
	}
}

func (p *Proc) contains(substr string) bool {
	return strings.Contains(p.Stdout(), substr) || strings.Contains(p.Stderr(), substr)
}

// Wait waits up to timeout for the process to exit and returns its exit code.
// A process killed by a signal reports -1 with a nil error. If the process is
// still running after timeout, Wait returns -1 and an error and leaves the
// process running (the test cleanup still kills it).
func (p *Proc) Wait(timeout time.Duration) (exitCode int, err error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1, fmt.Errorf("peers: %s still running after %v", p.name, timeout)
	}
	var exitErr *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0, nil
	case errors.As(p.waitErr, &exitErr):
		return exitErr.ExitCode(), nil
	case errors.Is(p.waitErr, exec.ErrWaitDelay):
		return p.cmd.ProcessState.ExitCode(), nil
	default:
		return -1, p.waitErr
	}
}

// Kill kills the process and every process in its process group. It is safe
// to call more than once and after the process has exited.
func (p *Proc) Kill() {
	// Kill before closing stdin: a peer that saw its input end first could
	// still close cleanly, which is what a test that kills it rules out.
	if !p.Exited() {
		killProcessGroup(p.cmd)
	}
	p.CloseStdin()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago: it
// listens on port 0 and closes the listener again.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(Loopback, "0"))
	if err != nil {
		t.Fatalf("peers: free TCP port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(Loopback, "0"))
	if err != nil {
		t.Fatalf("peers: free UDP port: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Addr returns "127.0.0.1:port".
func Addr(port int) string {
	return net.JoinHostPort(Loopback, strconv.Itoa(port))
}

// OpenSSLServer starts `openssl s_server -accept 127.0.0.1:PORT -cert
// certFile -key keyFile extra...` and waits until it prints ACCEPT, which it
// does once it is listening. The server keeps accepting connections one after
// another until the test ends.
//
// Only the first certificate in certFile is sent; pass "-cert_chain", file
// in extra to send more.
func OpenSSLServer(t testing.TB, port int, certFile, keyFile string, extra ...string) *Proc {
	t.Helper()
	args := append([]string{
		"s_server",
		"-accept", Addr(port),
		"-cert", certFile,
		"-key", keyFile,
	}, extra...)
	p := Start(t, "openssl", args...)
	p.WaitOutput(t, "ACCEPT", StartTimeout)
	return p
}

// OpenSSLClient starts `openssl s_client -connect 127.0.0.1:PORT extra...`.
// It does not wait for the handshake; use WaitOutput for that. No SNI is sent
// for an IP address, so pass "-servername", "localhost" in extra when the
// server needs it.
func OpenSSLClient(t testing.TB, port int, extra ...string) *Proc {
	t.Helper()
	args := append([]string{"s_client", "-connect", Addr(port)}, extra...)
	return Start(t, "openssl", args...)
}
