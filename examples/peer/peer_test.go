package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
)

// peerBin is the peer binary, built once by TestMain.
var peerBin string

const timeout = 10 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tlsm-peer-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	peerBin = filepath.Join(dir, "peer")
	build := exec.Command("go", "build", "-o", peerBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building peer:", err)
		return 1
	}
	return m.Run()
}

// certFiles writes a leaf for localhost/127.0.0.1 and its CA as PEM files.
func certFiles(t *testing.T, kind testcert.Kind) (cert, key, ca string) {
	t.Helper()
	c, err := testcert.New(kind)
	require.NoError(t, err)
	cert, key, ca, err = c.WriteFiles(t.TempDir())
	require.NoError(t, err)
	return cert, key, ca
}

func startPeer(t *testing.T, args ...string) *peers.Proc {
	t.Helper()
	return peers.Start(t, peerBin, args...)
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// listenPeer starts a peer server on a port of its choosing and returns it
// with its address once it listens.
func listenPeer(t *testing.T, args ...string) (*peers.Proc, string) {
	t.Helper()
	p := startPeer(t, append([]string{"-listen", peers.Addr(0)}, args...)...)
	p.WaitOutput(t, "msg=listening addr=", timeout)
	m := listeningRE.FindStringSubmatch(p.Stderr())
	require.NotNil(t, m, "no address in %q", p.Stderr())
	return p, m[1]
}

// openSSLRev starts openssl s_server -tls1_3 -rev with a test certificate.
func openSSLRev(t *testing.T, extra ...string) (*peers.Proc, string) {
	t.Helper()
	cert, key, _ := certFiles(t, testcert.ECDSAP256)
	port := peers.FreePort(t)
	srv := peers.OpenSSLServer(t, port, cert, key, append([]string{"-tls1_3", "-rev"}, extra...)...)
	return srv, peers.Addr(port)
}

func requireExit(t *testing.T, p *peers.Proc, want int) {
	t.Helper()
	code, err := p.Wait(timeout)
	require.NoError(t, err)
	require.Equal(t, want, code, "exit status\nstdout:\n%s\nstderr:\n%s", p.Stdout(), p.Stderr())
}

func requireFailed(t *testing.T, p *peers.Proc) {
	t.Helper()
	code, err := p.Wait(timeout)
	require.NoError(t, err)
	require.NotEqual(t, 0, code, "exit status\nstdout:\n%s\nstderr:\n%s", p.Stdout(), p.Stderr())
}

// requireLines checks that stderr has each line, whole.
func requireLines(t *testing.T, stderr string, lines ...string) {
	t.Helper()
	have := strings.Split(stderr, "\n")
	for _, want := range lines {
		require.Contains(t, have, want, "stderr:\n%s", stderr)
	}
}

const (
	handshake13  = "msg=handshake version=TLS1.3 cipher=TLS_AES_128_GCM_SHA256 resumed=false n=1"
	sentClose    = "msg=alert dir=sent level=warning desc=close_notify"
	receivedClos = "msg=alert dir=received level=warning desc=close_notify"
)

// (a) tlsm client against openssl s_server.
func TestClientOpenSSLServer(t *testing.T) {
	_, addr := openSSLRev(t)
	c := startPeer(t, "-connect", addr, "-insecure")
	c.Send("hello")
	c.WaitOutput(t, "olleh", timeout)
	c.Send("Q")
	requireExit(t, c, 0)
	require.Equal(t, "olleh\n", c.Stdout(), "stdout carries only application data")
	require.Regexp(t, `(?m)^msg=handshake version=TLS1\.3 cipher=TLS_\w+ resumed=false n=1$`, c.Stderr())
	// OpenSSL 3.0 has no hybrid: it takes the X25519 share sent beside ours.
	requireLines(t, c.Stderr(), "msg=key_exchange group=X25519", sentClose, "msg=closed")
}

// (b) openssl s_client against a tlsm server with -echo. s_client runs
// without -quiet so that end of input makes it send close_notify; its
// stdout then holds its session report as well as the echoed line.
func TestServerOpenSSLClient(t *testing.T) {
	srv, addr := listenPeer(t, "-echo")
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	cl := peers.Start(t, "openssl", "s_client", "-connect", peers.Loopback+":"+port, "-tls1_3")
	cl.Send("ping from openssl")
	cl.WaitOutput(t, "ping from openssl\n", timeout)
	cl.CloseStdin()
	requireExit(t, cl, 0)
	requireExit(t, srv, 0)
	require.Equal(t, "ping from openssl\n", srv.Stdout())
	require.Regexp(t, `(?m)^msg=handshake version=TLS1\.3 cipher=TLS_\w+ resumed=false n=1$`, srv.Stderr())
	requireLines(t, srv.Stderr(), receivedClos, sentClose, "msg=closed")
}

// A tlsm client and a tlsm server; the server serves -accept connections
// one after another and keeps serving after its stdin ends.
func TestPeerToPeer(t *testing.T) {
	srv, addr := listenPeer(t, "-echo", "-accept", "2")
	srv.CloseStdin()
	for _, msg := range []string{"first", "second"} {
		c := startPeer(t, "-connect", addr, "-insecure")
		c.Send(msg)
		c.WaitOutput(t, msg+"\n", timeout)
		c.CloseStdin() // end of input: close_notify and exit 0
		requireExit(t, c, 0)
		require.Equal(t, msg+"\n", c.Stdout())
		requireLines(t, c.Stderr(), handshake13, "msg=key_exchange group=X25519MLKEM768", sentClose, receivedClos, "msg=closed")
	}
	requireExit(t, srv, 0)
	require.Equal(t, "first\nsecond\n", srv.Stdout())
}

// (c) -ca verification: the right CA passes, another one fails with the
// alert the core sends.
func TestClientVerifiesCA(t *testing.T) {
	cert, key, ca := certFiles(t, testcert.ECDSAP256)
	_, _, otherCA := certFiles(t, testcert.ECDSAP384)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ip", nil},
		{"servername", []string{"-servername", "localhost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, addr := listenPeer(t, "-cert", cert, "-key", key, "-echo")
			c := startPeer(t, append([]string{"-connect", addr, "-ca", ca}, tc.args...)...)
			c.Send("verified")
			c.WaitOutput(t, "verified\n", timeout)
			c.Send("Q")
			requireExit(t, c, 0)
			requireExit(t, srv, 0)
			requireLines(t, c.Stderr(), handshake13)
		})
	}

	t.Run("wrong CA", func(t *testing.T) {
		srv, addr := listenPeer(t, "-cert", cert, "-key", key)
		c := startPeer(t, "-connect", addr, "-ca", otherCA)
		requireFailed(t, c)
		requireFailed(t, srv)
		require.Empty(t, c.Stdout())
		require.NotContains(t, c.Stderr(), "msg=handshake")
		requireLines(t, c.Stderr(), "msg=alert dir=sent level=fatal desc=unknown_ca", "msg=closed")
		require.Contains(t, c.Stderr(), "msg=error err=")
		requireLines(t, srv.Stderr(), "msg=alert dir=received level=fatal desc=unknown_ca", "msg=closed")
	})

	t.Run("no CA", func(t *testing.T) {
		// Without -ca or -insecure the system roots do not know the test CA.
		srv, addr := listenPeer(t, "-cert", cert, "-key", key)
		c := startPeer(t, "-connect", addr)
		requireFailed(t, c)
		requireFailed(t, srv)
		requireLines(t, c.Stderr(), "msg=alert dir=sent level=fatal desc=unknown_ca")
	})
}

// A server given -ca requires a client certificate signed by it.
func TestServerVerifiesClient(t *testing.T) {
	cert, key, ca := certFiles(t, testcert.ECDSAP256)
	srv, addr := listenPeer(t, "-ca", ca, "-echo")
	c := startPeer(t, "-connect", addr, "-insecure", "-cert", cert, "-key", key)
	c.Send("with a client certificate")
	c.WaitOutput(t, "with a client certificate\n", timeout)
	c.Send("Q")
	requireExit(t, c, 0)
	requireExit(t, srv, 0)
}

// (d) R, A, k and K are refused with msg=error on TLS 1.3, and the
// connection keeps working.
func TestCommands(t *testing.T) {
	_, addr := openSSLRev(t)
	c := startPeer(t, "-connect", addr, "-insecure")
	c.Send("abc")
	c.WaitOutput(t, "cba\n", timeout)
	for _, cmd := range []struct{ line, err string }{
		{"R", `msg=error err="tls: renegotiation needs TLS 1.2 or DTLS 1.2"`},
		{"A", `msg=error err="tls: renegotiation needs TLS 1.2 or DTLS 1.2"`},
		{"k", `msg=key_update dir=sent type=not_requested`},
		{"K", `msg=key_update dir=sent type=requested`},
	} {
		before := strings.Count(c.Stderr(), cmd.err)
		c.Send(cmd.line)
		want := "still " + cmd.line + " alive"
		c.Send(want)
		c.WaitOutput(t, reverse(want)+"\n", timeout)
		// stderr is read by its own goroutine and may lag stdout.
		require.Eventually(t, func() bool { return strings.Count(c.Stderr(), cmd.err) == before+1 }, timeout, 10*time.Millisecond,
			"after %q:\n%s", cmd.line, c.Stderr())
	}
	// A command letter is a whole line; anything longer is data.
	c.Send("Rabbit")
	c.WaitOutput(t, "tibbaR\n", timeout)
	c.Send("Q")
	requireExit(t, c, 0)
	require.Equal(t, "cba\nevila R llits\nevila A llits\nevila k llits\nevila K llits\ntibbaR\n", c.Stdout())
	require.Equal(t, 1, strings.Count(c.Stderr(), "msg=handshake"))
	// OpenSSL answers K before its next write.
	require.Eventually(t, func() bool {
		return strings.Count(c.Stderr(), "msg=key_update dir=received type=not_requested") == 1
	}, timeout, 10*time.Millisecond, c.Stderr())
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

var tls13Labels = []string{
	"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	"CLIENT_TRAFFIC_SECRET_0",
	"EXPORTER_SECRET",
	"SERVER_HANDSHAKE_TRAFFIC_SECRET",
	"SERVER_TRAFFIC_SECRET_0",
}

var keyLogLineRE = regexp.MustCompile(`^([A-Z_0-9]+) ([0-9a-f]{64}) ([0-9a-f]{64}|[0-9a-f]{96})$`)

// readKeyLog returns the sorted lines of an NSS key log, checking their
// shape: the five TLS 1.3 labels, one client random. Comments are dropped.
func readKeyLog(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") { // OpenSSL writes a comment first
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	require.Len(t, lines, 5, "%s:\n%s", file, data)
	var random string
	for i, line := range lines {
		m := keyLogLineRE.FindStringSubmatch(line)
		require.NotNil(t, m, "key log line %q", line)
		require.Equal(t, tls13Labels[i], m[1])
		if i == 0 {
			random = m[2]
		}
		require.Equal(t, random, m[2], "one client random")
	}
	return lines
}

// (e) -keylog writes the five TLS 1.3 secrets, the same ones OpenSSL logs
// on the other side.
func TestKeyLog(t *testing.T) {
	t.Run("client", func(t *testing.T) {
		dir := t.TempDir()
		ours, theirs := filepath.Join(dir, "peer.keys"), filepath.Join(dir, "openssl.keys")
		srv, addr := openSSLRev(t, "-keylogfile", theirs, "-naccept", "1")
		c := startPeer(t, "-connect", addr, "-insecure", "-keylog", ours)
		c.Send("hello")
		c.WaitOutput(t, "olleh", timeout)
		c.Send("Q")
		requireExit(t, c, 0)
		requireExit(t, srv, 0)
		require.Equal(t, readKeyLog(t, theirs), readKeyLog(t, ours))
	})
	t.Run("server", func(t *testing.T) {
		dir := t.TempDir()
		ours, theirs := filepath.Join(dir, "peer.keys"), filepath.Join(dir, "openssl.keys")
		srv, addr := listenPeer(t, "-keylog", ours, "-echo")
		port := addr[strings.LastIndexByte(addr, ':')+1:]
		cl := peers.Start(t, "openssl", "s_client", "-connect", peers.Loopback+":"+port, "-tls1_3", "-keylogfile", theirs)
		cl.Send("hello")
		cl.WaitOutput(t, "hello\n", timeout)
		cl.CloseStdin()
		requireExit(t, cl, 0)
		requireExit(t, srv, 0)
		require.Equal(t, readKeyLog(t, theirs), readKeyLog(t, ours))
	})
}

// The client's end of input sends close_notify and waits for the data
// still in flight and the peer's close_notify.
func TestClientEOF(t *testing.T) {
	_, addr := openSSLRev(t)
	c := startPeer(t, "-connect", addr, "-insecure")
	c.Send("last words")
	c.CloseStdin()
	requireExit(t, c, 0)
	require.Equal(t, "sdrow tsal\n", c.Stdout())
	requireLines(t, c.Stderr(), sentClose, receivedClos, "msg=closed")
}

// A peer that hangs up without close_notify is an error.
func TestTruncation(t *testing.T) {
	srv, addr := listenPeer(t)
	c := startPeer(t, "-connect", addr, "-insecure")
	c.WaitOutput(t, "msg=handshake", timeout)
	srv.WaitOutput(t, "msg=handshake", timeout)
	c.Kill()
	requireFailed(t, srv)
	require.Contains(t, srv.Stderr(), "msg=error err=")
	require.NotContains(t, srv.Stderr(), "desc=close_notify")
}

// DTLS 1.3 is not implemented: asking for it alone is an error, for
// either role, before any socket is opened.
func TestDTLS13PeerToPeer(t *testing.T) {
	// -max 1.3 (or -min 1.3) turns DTLS 1.3 on; k and K update keys, each
	// switched once the peer acknowledges it, and K is answered.
	srv, addr := listenPeer(t, "-dtls", "-echo", "-max", "1.3")
	c := startPeer(t, "-dtls", "-connect", addr, "-insecure", "-min", "1.3")
	roundTrip(t, c, "one")
	c.Send("k")
	roundTrip(t, c, "after k")
	c.Send("K")
	roundTrip(t, c, "after K")
	require.Eventually(t, func() bool {
		return strings.Count(c.Stderr(), "msg=key_update dir=sent") == 2 &&
			strings.Count(c.Stderr(), "msg=key_update dir=received type=not_requested") == 1
	}, timeout, 10*time.Millisecond, c.Stderr())
	c.Send("Q")
	requireExit(t, c, 0)
	requireExit(t, srv, 0)
	for _, p := range []*peers.Proc{c, srv} {
		require.Equal(t, []string{"DTLS1.3 resumed=false n=1"}, handshakes(p.Stderr()), p.Stderr())
	}
	require.Equal(t, "one\nafter k\nafter K\n", c.Stdout())
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-connect", peers.Addr(1), "-listen", peers.Addr(0)},
		{"-listen", peers.Addr(0), "-cert", "only.pem"},
		{"-listen", peers.Addr(0), "-accept", "0"},
		{"-listen", peers.Addr(0), "-bogus"},
	} {
		p := startPeer(t, args...)
		requireExit(t, p, 2)
		require.Contains(t, p.Stderr(), "usage:")
		require.Empty(t, p.Stdout())
	}
	for _, args := range [][]string{
		{"-listen", peers.Addr(0), "-min", "1.1"},
		{"-listen", peers.Addr(0), "-min", "1.3", "-max", "1.2"},
		{"-listen", peers.Addr(0), "-cert", "missing.pem", "-key", "missing.pem"},
		{"-listen", peers.Addr(0), "-cid", "4"}, // CIDs are for DTLS
		{"-listen", peers.Addr(0), "-dtls", "-cid", "256"},
	} {
		p := startPeer(t, args...)
		requireExit(t, p, 1)
		require.Contains(t, p.Stderr(), "msg=error err=")
	}
	p := startPeer(t, "-h")
	requireExit(t, p, 0)
	require.Contains(t, p.Stderr(), "-connect HOST:PORT")
}

// TestReconnectResumes: a peer client with -reconnect 2 against a peer
// server with -accept 3 resumes the session, for each version.
func TestReconnectResumes(t *testing.T) {
	for _, v := range []string{"1.2", "1.3"} {
		srv, addr := listenPeer(t, "-accept", "3", "-echo")
		c := startPeer(t, "-connect", addr, "-insecure", "-reconnect", "2", "-max", v)
		c.WaitOutput(t, "resumed=true", timeout)
		c.Send("Q")
		requireExit(t, c, 0)
		lines := strings.Count(c.Stderr(), "msg=handshake version=TLS"+v)
		require.Equal(t, 3, lines, c.Stderr())
		require.Equal(t, 1, strings.Count(c.Stderr(), "resumed=false"), c.Stderr())
		require.Equal(t, 2, strings.Count(c.Stderr(), "resumed=true"), c.Stderr())
		requireExit(t, srv, 0)
		require.Equal(t, 2, strings.Count(srv.Stderr(), "resumed=true"), srv.Stderr())
	}
}

// handshakeRE matches a msg=handshake line and captures its version,
// resumed and n.
var handshakeRE = regexp.MustCompile(`(?m)^msg=handshake version=(\S+) cipher=\S+ resumed=(true|false) n=(\d+)$`)

// handshakes returns the msg=handshake lines of stderr as
// "version resumed=R n=N".
func handshakes(stderr string) []string {
	var hs []string
	for _, m := range handshakeRE.FindAllStringSubmatch(stderr, -1) {
		hs = append(hs, fmt.Sprintf("%s resumed=%s n=%s", m[1], m[2], m[3]))
	}
	return hs
}

// roundTrip sends line from c and waits for it to come back the count-th
// time on c's stdout.
func roundTrip(t *testing.T, c *peers.Proc, line string) {
	t.Helper()
	before := strings.Count(c.Stdout(), line+"\n")
	c.Send(line)
	require.Eventually(t, func() bool { return strings.Count(c.Stdout(), line+"\n") > before }, timeout, 10*time.Millisecond,
		"%q did not come back\nstdout:\n%s\nstderr:\n%s", line, c.Stdout(), c.Stderr())
}

// waitStderr waits until stderr has want at least n times.
func waitStderr(t *testing.T, p *peers.Proc, want string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Count(p.Stderr(), want) >= n }, timeout, 10*time.Millisecond,
		"waiting for %d× %q\nstderr:\n%s", n, want, p.Stderr())
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// DTLS between two peers: records echoed one by one, Q closes both ends.
// With -mtu 256 the certificate flight is fragmented and a long line
// travels as several records, each echoed on its own.
func TestDTLSPeerToPeer(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default MTU", nil},
		{"MTU 256", []string{"-mtu", "256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, addr := listenPeer(t, append([]string{"-dtls", "-echo"}, tc.args...)...)
			c := startPeer(t, append([]string{"-dtls", "-connect", addr, "-insecure"}, tc.args...)...)
			lines := []string{"one", "two", "three", strings.Repeat("0123456789", 60)}
			for _, line := range lines {
				roundTrip(t, c, line)
			}
			c.Send("Q")
			requireExit(t, c, 0)
			requireExit(t, srv, 0)
			want := strings.Join(lines, "\n") + "\n"
			require.Equal(t, want, c.Stdout())
			require.Equal(t, want, srv.Stdout())
			for _, p := range []*peers.Proc{c, srv} {
				require.Equal(t, []string{"DTLS1.2 resumed=false n=1"}, handshakes(p.Stderr()), p.Stderr())
				requireLines(t, p.Stderr(), "msg=closed")
			}
			requireLines(t, c.Stderr(), sentClose)
			requireLines(t, srv.Stderr(), receivedClos, sentClose)
		})
	}
}

// DTLS Connection IDs between two peers: each logs the CIDs, the server
// asking for 8 bytes and the client for none, and data flows.
func TestDTLSConnectionIDs(t *testing.T) {
	srv, addr := listenPeer(t, "-dtls", "-echo", "-cid", "8")
	c := startPeer(t, "-dtls", "-connect", addr, "-insecure", "-cid", "0")
	roundTrip(t, c, "over a CID")
	c.Send("Q")
	requireExit(t, c, 0)
	requireExit(t, srv, 0)
	cid := regexp.MustCompile(`(?m)^msg=connection_id local=([0-9a-f]+|none) peer=([0-9a-f]+|none)$`)
	cm, sm := cid.FindStringSubmatch(c.Stderr()), cid.FindStringSubmatch(srv.Stderr())
	require.NotNil(t, cm, c.Stderr())
	require.NotNil(t, sm, srv.Stderr())
	require.Equal(t, "none", cm[1], "the client asked for none")
	require.Len(t, sm[1], 16, "the server asked for 8 bytes")
	require.Equal(t, sm[1], cm[2])
	require.Equal(t, cm[1], sm[2])
}

// A DTLS server with -accept 2 serves one client after the other; the
// second resumes the session of the first (-reconnect).
func TestDTLSAcceptAndResume(t *testing.T) {
	srv, addr := listenPeer(t, "-dtls", "-echo", "-accept", "2")
	srv.CloseStdin()
	c := startPeer(t, "-dtls", "-connect", addr, "-insecure", "-reconnect", "1")
	roundTrip(t, c, "resumed over UDP")
	c.Send("Q")
	requireExit(t, c, 0)
	requireExit(t, srv, 0)
	require.Equal(t, []string{"DTLS1.2 resumed=false n=1", "DTLS1.2 resumed=true n=1"}, handshakes(c.Stderr()), c.Stderr())
	require.Equal(t, []string{"DTLS1.2 resumed=false n=1", "DTLS1.2 resumed=true n=1"}, handshakes(srv.Stderr()), srv.Stderr())
}

// (b) A DTLS peer client against openssl s_server -dtls1_2 -listen (the
// cookie exchange): s_server prints what it receives and sends its stdin.
func TestDTLSClientOpenSSLServer(t *testing.T) {
	cert, key, ca := certFiles(t, testcert.ECDSAP256)
	p := peers.FreeUDPPort(t)
	srv := peers.OpenSSLServer(t, p, cert, key, "-dtls1_2", "-listen")
	c := startPeer(t, "-dtls", "-connect", peers.Addr(p), "-ca", ca)
	c.WaitOutput(t, "msg=handshake", timeout)
	c.Send("hello openssl")
	srv.WaitOutput(t, "hello openssl\n", timeout)
	srv.Send("hello tlsm")
	c.WaitOutput(t, "hello tlsm\n", timeout)
	c.Send("Q")
	requireExit(t, c, 0)
	require.Equal(t, "hello tlsm\n", c.Stdout())
	require.Equal(t, []string{"DTLS1.2 resumed=false n=1"}, handshakes(c.Stderr()), c.Stderr())
	requireLines(t, c.Stderr(), sentClose, "msg=closed")
}

// (c) openssl s_client -dtls1_2 against a DTLS peer server with -echo.
func TestDTLSServerOpenSSLClient(t *testing.T) {
	srv, addr := listenPeer(t, "-dtls", "-echo")
	cl := peers.OpenSSLClient(t, mustAtoi(t, port(addr)), "-dtls1_2")
	srv.WaitOutput(t, "msg=handshake", timeout)
	cl.WaitOutput(t, "Verify return code", timeout) // s_client reads stdin after its report
	cl.Send("ping over DTLS")
	cl.WaitOutput(t, "ping over DTLS\n", timeout)
	cl.CloseStdin() // s_client sends close_notify
	requireExit(t, cl, 0)
	requireExit(t, srv, 0)
	require.Equal(t, "ping over DTLS\n", srv.Stdout())
	require.Equal(t, []string{"DTLS1.2 resumed=false n=1"}, handshakes(srv.Stderr()), srv.Stderr())
	requireLines(t, srv.Stderr(), receivedClos, sentClose, "msg=closed")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

// renegotiationGap outlasts the server's least time between two
// renegotiations a client starts (fsm.DefaultMinRenegotiationInterval).
const renegotiationGap = fsm.DefaultMinRenegotiationInterval + 200*time.Millisecond

// (d) Client-initiated renegotiation between two peers, TLS 1.2 and DTLS
// 1.2: R is a full handshake (n=2), A resumes (n=3), and data still flows.
func TestClientRenegotiation(t *testing.T) {
	for _, transport := range []string{"tls", "dtls"} {
		t.Run(transport, func(t *testing.T) {
			var extra []string
			version := "TLS1.2"
			if transport == "dtls" {
				extra, version = []string{"-dtls"}, "DTLS1.2"
			}
			srv, addr := listenPeer(t, append([]string{"-echo", "-client-renegotiation"}, extra...)...)
			c := startPeer(t, append([]string{"-connect", addr, "-insecure", "-max", "1.2"}, extra...)...)
			roundTrip(t, c, "before")

			c.Send("R")
			waitStderr(t, c, "resumed=false n=2", 1)
			roundTrip(t, c, "after R")
			time.Sleep(renegotiationGap)
			c.Send("A")
			waitStderr(t, c, "resumed=true n=3", 1)
			roundTrip(t, c, "after A")
			c.Send("Q")
			requireExit(t, c, 0)
			requireExit(t, srv, 0)

			want := []string{version + " resumed=false n=1", version + " resumed=false n=2", version + " resumed=true n=3"}
			require.Equal(t, want, handshakes(c.Stderr()), c.Stderr())
			require.Equal(t, want, handshakes(srv.Stderr()), srv.Stderr())
			requireLines(t, c.Stderr(), "msg=renegotiation event=started resumed=false", "msg=renegotiation event=started resumed=true")
			require.Equal(t, 2, strings.Count(srv.Stderr(), "msg=renegotiation event=started"), srv.Stderr())
			require.NotContains(t, c.Stderr()+srv.Stderr(), "no_renegotiation")
			require.NotContains(t, c.Stderr()+srv.Stderr(), "msg=error")
			require.Equal(t, "before\nafter R\nafter A\n", c.Stdout())
		})
	}
}

// (e) A server without -client-renegotiation refuses R and A with a
// warning no_renegotiation; the connection carries on.
func TestClientRenegotiationRefused(t *testing.T) {
	for _, transport := range []string{"tls", "dtls"} {
		t.Run(transport, func(t *testing.T) {
			var extra []string
			if transport == "dtls" {
				extra = []string{"-dtls"}
			}
			const refused = "msg=alert dir=received level=warning desc=no_renegotiation"
			srv, addr := listenPeer(t, append([]string{"-echo"}, extra...)...)
			c := startPeer(t, append([]string{"-connect", addr, "-insecure", "-max", "1.2"}, extra...)...)
			roundTrip(t, c, "before")
			for i, cmd := range []string{"R", "A"} {
				c.Send(cmd)
				waitStderr(t, c, refused, i+1)
				roundTrip(t, c, "after "+cmd)
			}
			c.Send("Q")
			requireExit(t, c, 0)
			requireExit(t, srv, 0)
			require.Len(t, handshakes(c.Stderr()), 1, c.Stderr())
			require.Equal(t, 2, strings.Count(srv.Stderr(), "msg=alert dir=sent level=warning desc=no_renegotiation"), srv.Stderr())
			require.Equal(t, "before\nafter R\nafter A\n", c.Stdout())
		})
	}
}

// A -no-renegotiation client can start none either.
func TestNoRenegotiationCommand(t *testing.T) {
	srv, addr := listenPeer(t, "-echo", "-client-renegotiation")
	c := startPeer(t, "-connect", addr, "-insecure", "-max", "1.2", "-no-renegotiation")
	roundTrip(t, c, "before")
	c.Send("R")
	waitStderr(t, c, `msg=error err="tls: renegotiation is disabled"`, 1)
	roundTrip(t, c, "after")
	c.Send("Q")
	requireExit(t, c, 0)
	requireExit(t, srv, 0)
}

// (f) openssl s_server -tls1_2 sends a HelloRequest (r). Without
// -no-renegotiation the peer client renegotiates and, being a TLS client,
// resumes; with it the peer answers a warning no_renegotiation. OpenSSL
// 3.0 takes that warning as fatal (rec_layer_s3.c: "if application tried to
// renegotiate it presumably had a good reason"), answering a fatal
// handshake_failure, so carrying on is checked against a peer server below.
func TestServerRenegotiationOpenSSL(t *testing.T) {
	cert, key, ca := certFiles(t, testcert.ECDSAP256)

	t.Run("renegotiate", func(t *testing.T) {
		p := peers.FreePort(t)
		srv := peers.OpenSSLServer(t, p, cert, key, "-tls1_2", "-state")
		c := startPeer(t, "-connect", peers.Addr(p), "-ca", ca)
		c.WaitOutput(t, "msg=handshake", timeout)
		c.Send("before")
		srv.WaitOutput(t, "before\n", timeout)
		srv.Send("r")
		waitStderr(t, c, "msg=handshake version=TLS1.2 cipher=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 resumed=true n=2", 1)
		c.Send("after")
		srv.WaitOutput(t, "after\n", timeout)
		srv.Send("from openssl")
		c.WaitOutput(t, "from openssl\n", timeout)
		c.Send("Q")
		requireExit(t, c, 0)
		require.Equal(t, []string{"TLS1.2 resumed=false n=1", "TLS1.2 resumed=true n=2"}, handshakes(c.Stderr()), c.Stderr())
		requireLines(t, c.Stderr(), "msg=renegotiation event=requested dir=received", "msg=renegotiation event=started resumed=true")
		require.Equal(t, 2, strings.Count(srv.Stderr(), "read finished"), srv.Stderr()) // -state
	})

	t.Run("no-renegotiation", func(t *testing.T) {
		p := peers.FreePort(t)
		srv := peers.OpenSSLServer(t, p, cert, key, "-tls1_2")
		c := startPeer(t, "-connect", peers.Addr(p), "-ca", ca, "-no-renegotiation")
		c.WaitOutput(t, "msg=handshake", timeout)
		c.Send("before")
		srv.WaitOutput(t, "before\n", timeout)
		srv.Send("r")
		waitStderr(t, c, "msg=alert dir=sent level=warning desc=no_renegotiation", 1)
		requireLines(t, c.Stderr(), "msg=renegotiation event=requested dir=received")
		require.NotContains(t, c.Stderr(), "event=started")
		require.Len(t, handshakes(c.Stderr()), 1, c.Stderr())
		// OpenSSL 3.0 ends the connection here; the peer must report it.
		requireFailed(t, c)
		requireLines(t, c.Stderr(), "msg=alert dir=received level=fatal desc=handshake_failure", "msg=closed")
	})
}

// A HelloRequest from a peer server (R on the server): a -no-renegotiation
// client refuses with a warning and both carry on; a client without it
// renegotiates, resuming over TLS and not over DTLS (as OpenSSL does).
func TestServerRenegotiationPeer(t *testing.T) {
	for _, tc := range []struct {
		transport string
		resumed   string
	}{{"tls", "true"}, {"dtls", "false"}} {
		var extra []string
		version := "TLS1.2"
		if tc.transport == "dtls" {
			extra, version = []string{"-dtls"}, "DTLS1.2"
		}
		t.Run(tc.transport+"/renegotiate", func(t *testing.T) {
			srv, addr := listenPeer(t, append([]string{"-echo", "-max", "1.2"}, extra...)...)
			c := startPeer(t, append([]string{"-connect", addr, "-insecure"}, extra...)...)
			roundTrip(t, c, "before")
			srv.Send("R")
			waitStderr(t, c, "resumed="+tc.resumed+" n=2", 1)
			roundTrip(t, c, "after")
			c.Send("Q")
			requireExit(t, c, 0)
			requireExit(t, srv, 0)
			want := []string{version + " resumed=false n=1", version + " resumed=" + tc.resumed + " n=2"}
			require.Equal(t, want, handshakes(c.Stderr()), c.Stderr())
			require.Equal(t, want, handshakes(srv.Stderr()), srv.Stderr())
			requireLines(t, srv.Stderr(), "msg=renegotiation event=requested dir=sent")
			requireLines(t, c.Stderr(), "msg=renegotiation event=requested dir=received",
				"msg=renegotiation event=started resumed="+tc.resumed)
		})
		t.Run(tc.transport+"/no-renegotiation", func(t *testing.T) {
			srv, addr := listenPeer(t, append([]string{"-echo", "-max", "1.2"}, extra...)...)
			c := startPeer(t, append([]string{"-connect", addr, "-insecure", "-no-renegotiation"}, extra...)...)
			roundTrip(t, c, "before")
			srv.Send("R")
			waitStderr(t, srv, "msg=alert dir=received level=warning desc=no_renegotiation", 1)
			roundTrip(t, c, "after")
			c.Send("Q")
			requireExit(t, c, 0)
			requireExit(t, srv, 0)
			requireLines(t, c.Stderr(), "msg=alert dir=sent level=warning desc=no_renegotiation")
			require.Len(t, handshakes(c.Stderr()), 1, c.Stderr())
			require.Len(t, handshakes(srv.Stderr()), 1, srv.Stderr())
		})
	}
}
