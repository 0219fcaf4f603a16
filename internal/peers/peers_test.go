package peers

import (
	"bufio"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/internal/testcert"
)

func writeCert(t *testing.T, kind testcert.Kind) (*testcert.Cert, string, string, string) {
	t.Helper()
	c, err := testcert.New(kind)
	require.NoError(t, err)
	certFile, keyFile, caFile, err := c.WriteFiles(t.TempDir())
	require.NoError(t, err)
	return c, certFile, keyFile, caFile
}

// A Go crypto/tls client talks to openssl s_server -rev, which sends every
// line back reversed.
func TestOpenSSLServerReversesLines(t *testing.T) {
	t.Parallel()
	for _, kind := range testcert.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			testReverse(t, kind)
		})
	}
}

func testReverse(t *testing.T, kind testcert.Kind) {
	c, certFile, keyFile, _ := writeCert(t, kind)
	port := FreePort(t)
	srv := OpenSSLServer(t, port, certFile, keyFile, "-tls1_3", "-rev")

	conn, err := tls.Dial("tcp", Addr(port), &tls.Config{
		RootCAs:    c.CAPool,
		ServerName: "localhost",
		MinVersion: tls.VersionTLS13,
	})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	assert.Equal(t, uint16(tls.VersionTLS13), conn.ConnectionState().Version)

	_, err = conn.Write([]byte("hello\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err, "stdout: %s\nstderr: %s", srv.Stdout(), srv.Stderr())
	assert.Equal(t, "olleh", strings.TrimRight(line, "\r\n"))
}

// openssl s_client talks to a Go crypto/tls server in both directions.
func TestOpenSSLClientToGoServer(t *testing.T) {
	t.Parallel()
	c, _, _, caFile := writeCert(t, testcert.ECDSAP256)
	ln, err := tls.Listen("tcp", net.JoinHostPort(Loopback, "0"), &tls.Config{
		Certificates: []tls.Certificate{c.TLSCertificate()},
		MinVersion:   tls.VersionTLS13,
	})
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	type result struct {
		line string
		sni  string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- result{err: err}
			return
		}
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err == nil {
			_, err = tc.Write([]byte("pong from go\n"))
		}
		got <- result{line: line, sni: tc.ConnectionState().ServerName, err: err}
	}()

	cli := OpenSSLClient(t, port, "-tls1_3", "-quiet",
		"-servername", "localhost", "-CAfile", caFile, "-verify_return_error")
	cli.Send("ping from openssl")

	select {
	case r := <-got:
		require.NoError(t, r.err, "stdout: %s\nstderr: %s", cli.Stdout(), cli.Stderr())
		assert.Equal(t, "ping from openssl\n", r.line)
		assert.Equal(t, "localhost", r.sni)
	case <-time.After(5 * time.Second):
		t.Fatalf("server got nothing\nstdout: %s\nstderr: %s", cli.Stdout(), cli.Stderr())
	}
	cli.WaitOutput(t, "pong from go", 5*time.Second)
}

func TestWaitExitCode(t *testing.T) {
	t.Parallel()
	p := Start(t, "openssl", "version")
	code, err := p.Wait(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Contains(t, p.Stdout(), "OpenSSL")

	// Note: "openssl no-FOO" is a feature query that exits 0, so use a
	// missing input file to get a failure.
	p = Start(t, "openssl", "x509", "-noout", "-in", filepath.Join(t.TempDir(), "missing.pem"))
	code, err = p.Wait(5 * time.Second)
	require.NoError(t, err)
	assert.NotEqual(t, 0, code)
	assert.NotEmpty(t, p.Stderr())
}

func TestWaitTimeoutAndKill(t *testing.T) {
	t.Parallel()
	// s_server never exits by itself while stdin stays open.
	_, certFile, keyFile, _ := writeCert(t, testcert.Ed25519)
	srv := OpenSSLServer(t, FreePort(t), certFile, keyFile, "-tls1_3")
	_, err := srv.Wait(100 * time.Millisecond)
	assert.Error(t, err)
	assert.False(t, srv.Exited())
	srv.Kill()
	code, err := srv.Wait(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, -1, code)
	srv.Kill() // idempotent
}

func TestFreePorts(t *testing.T) {
	t.Parallel()
	p := FreePort(t)
	assert.Greater(t, p, 0)
	l, err := net.Listen("tcp", Addr(p))
	require.NoError(t, err)
	l.Close()

	u := FreeUDPPort(t)
	assert.Greater(t, u, 0)
	pc, err := net.ListenPacket("udp", Addr(u))
	require.NoError(t, err)
	pc.Close()
}

// fakeTB records Skip and Fatal calls instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()                  {}
func (f *fakeTB) Skipf(string, ...any)     { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any)    { f.failed = true }
func (f *fakeTB) Logf(string, ...any)      {}
func (f *fakeTB) Cleanup(func())           {}
func (f *fakeTB) Errorf(string, ...any)    { f.failed = true }
func (f *fakeTB) Name() string             { return "fake" }
func (f *fakeTB) Setenv(key, value string) {}
func (f *fakeTB) TempDir() string          { return "" }
func (f *fakeTB) Failed() bool             { return f.failed }
func (f *fakeTB) Skipped() bool            { return f.skipped }
func (f *fakeTB) Log(...any)               {}
func (f *fakeTB) Error(...any)             { f.failed = true }
func (f *fakeTB) Fatal(...any)             { f.failed = true }
func (f *fakeTB) Skip(...any)              { f.skipped = true }
func (f *fakeTB) FailNow()                 { f.failed = true }
func (f *fakeTB) SkipNow()                 { f.skipped = true }
func (f *fakeTB) Fail()                    { f.failed = true }

func TestNeedMissingBinary(t *testing.T) {
	t.Parallel()
	const missing = "tlsm-no-such-binary-for-tests"

	local := &fakeTB{}
	assert.False(t, need(local, missing, false))
	assert.True(t, local.skipped)
	assert.False(t, local.failed)

	ci := &fakeTB{}
	assert.False(t, need(ci, missing, true))
	assert.True(t, ci.failed)
	assert.False(t, ci.skipped)
}
