package tls_test

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// traceKeyUpdates parses OpenSSL's -trace output and returns the request
// types of the KeyUpdates it sent and received, in order.
func traceKeyUpdates(trace string) (sent, received []string) {
	var dir *[]string
	for _, line := range strings.Split(trace, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Sent Record"):
			dir = &sent
		case strings.HasPrefix(line, "Received Record"):
			dir = &received
		case (line == traceNotRequested || line == traceRequested) && dir != nil:
			*dir = append(*dir, line)
		}
	}
	return sent, received
}

const (
	traceNotRequested = "update_not_requested (0)"
	traceRequested    = "update_requested (1)"
)

func writeCertFiles(t *testing.T) (*testcert.Cert, string, string) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	certFile, keyFile, _, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	return cert, certFile, keyFile
}

// TestKeyUpdateOpenSSLServer: tlsm client ↔ openssl s_server -tls1_3, key
// updates in both directions. s_server prints what it receives and sends
// the lines of its standard input.
func TestKeyUpdateOpenSSLServer(t *testing.T) {
	cert, certFile, keyFile := writeCertFiles(t)
	port := peers.FreePort(t)
	srv := unbuffered(t, "s_server", "-accept", peers.Addr(port), "-cert", certFile, "-key", keyFile, "-tls1_3", "-trace")
	srv.WaitOutput(t, "ACCEPT", peers.StartTimeout)
	c, err := tls.Dial("tcp", peers.Addr(port), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	log := watchKeyUpdates(c)
	toServer := func(line string) {
		t.Helper()
		_, err := c.Write([]byte(line + "\n"))
		require.NoError(t, err)
		srv.WaitOutput(t, line+"\n", 5*time.Second)
	}
	fromServer := func(line string) {
		t.Helper()
		srv.Send(line)
		got := make([]byte, len(line)+1)
		_, err := io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, line+"\n", string(got))
	}

	// tlsm sends k, then K; OpenSSL answers K before its next write.
	require.NoError(t, c.KeyUpdate(tls.UpdateNotRequested))
	toServer("abc")
	require.NoError(t, c.KeyUpdate(tls.UpdateRequested))
	toServer("def")
	fromServer("ghi")
	waitTrace(t, srv, []string{traceNotRequested}, []string{traceNotRequested, traceRequested})
	_, got := log.counts()
	require.Equal(t, map[fsm.KeyUpdateType]int{tls.UpdateNotRequested: 1}, got)

	// OpenSSL sends k, then K; tlsm answers K exactly once, before its
	// next application data.
	srv.Send("k")
	waitCount(t, srv, "SSL_do_handshake -> 1", 1)
	fromServer("jkl")
	srv.Send("K")
	waitCount(t, srv, "SSL_do_handshake -> 1", 2)
	fromServer("mno")
	require.Equal(t, tls.UpdateNotRequested, c.PendingKeyUpdate(), "answer owed")
	toServer("pqr")
	toServer("stu")
	waitTrace(t, srv, []string{traceNotRequested, traceNotRequested, traceRequested},
		[]string{traceNotRequested, traceRequested, traceNotRequested})
	_, got = log.counts()
	require.Equal(t, 2, got[tls.UpdateNotRequested])
	require.Equal(t, 1, got[tls.UpdateRequested])
}

// unbuffered runs openssl with its standard output unbuffered, so that its
// -trace lines can be read as they happen.
func unbuffered(t *testing.T, args ...string) *peers.Proc {
	peers.Need(t, "openssl")
	return peers.Start(t, "stdbuf", append([]string{"-o0", "openssl"}, args...)...)
}

// waitTrace waits until the KeyUpdates in p's trace are exactly sent and
// received (the trace may lag the data), failing after 5 s.
func waitTrace(t *testing.T, p *peers.Proc, sent, received []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, r := traceKeyUpdates(p.Stdout())
		if slices.Equal(s, sent) && slices.Equal(r, received) {
			return
		}
		if time.Now().After(deadline) {
			require.Equal(t, sent, s, "KeyUpdates sent by openssl")
			require.Equal(t, received, r, "KeyUpdates received by openssl")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitCount(t *testing.T, p *peers.Proc, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(p.Stdout()+p.Stderr(), s) < n {
		require.True(t, time.Now().Before(deadline), "waiting for %d× %q", n, s)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKeyUpdateOpenSSLClient: openssl s_client -tls1_3 ↔ tlsm server
// echoing lines, key updates in both directions.
func TestKeyUpdateOpenSSLClient(t *testing.T) {
	cert, _, _ := writeCertFiles(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}})
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cli := unbuffered(t, "s_client", "-connect", peers.Addr(port), "-tls1_3", "-trace")
	raw, err := ln.Accept()
	require.NoError(t, err)
	c := raw.(*tls.Conn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	log := watchKeyUpdates(c)
	require.NoError(t, c.Handshake())

	echo := func(line string) {
		t.Helper()
		cli.Send(line)
		buf := make([]byte, len(line)+1)
		_, err := io.ReadFull(c, buf)
		require.NoError(t, err)
		require.Equal(t, line+"\n", string(buf))
		_, err = c.Write(buf)
		require.NoError(t, err)
		cli.WaitOutput(t, line+"\n", 5*time.Second)
	}
	// OpenSSL sends k, then K.
	echo("first")
	cli.Send("k")
	waitCount(t, cli, "KEYUPDATE", 1)
	echo("second")
	cli.Send("K")
	waitCount(t, cli, "KEYUPDATE", 2)
	echo("third")
	echo("fourth")
	_, got := log.counts()
	require.Equal(t, 1, got[tls.UpdateNotRequested])
	require.Equal(t, 1, got[tls.UpdateRequested])
	// tlsm answers K exactly once.
	waitTrace(t, cli, []string{traceNotRequested, traceRequested}, []string{traceNotRequested})

	// tlsm sends k, then K; OpenSSL answers K before its next write.
	require.NoError(t, c.KeyUpdate(tls.UpdateNotRequested))
	_, err = c.Write([]byte("from tlsm 1\n"))
	require.NoError(t, err)
	cli.WaitOutput(t, "from tlsm 1\n", 5*time.Second)
	require.NoError(t, c.KeyUpdate(tls.UpdateRequested))
	_, err = c.Write([]byte("from tlsm 2\n"))
	require.NoError(t, err)
	cli.WaitOutput(t, "from tlsm 2\n", 5*time.Second)
	echo("fifth")
	waitTrace(t, cli, []string{traceNotRequested, traceRequested, traceNotRequested},
		[]string{traceNotRequested, traceNotRequested, traceRequested})
	_, got = log.counts()
	require.Equal(t, 2, got[tls.UpdateNotRequested], "OpenSSL's answer to K arrived")
}
