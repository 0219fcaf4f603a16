package dtls_test

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/renegtest"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// renegSDH is what s_server prints after its r command sent the
// HelloRequest.
const renegSDH = "SSL_do_handshake -> 1"

// renegTraceAlert is how openssl -trace shows a warning no_renegotiation.
const renegTraceAlert = "Level=warning(1), description=no renegotiation(100)"

// renegRTO keeps retransmissions quick should a datagram be lost.
const renegRTO = 200 * time.Millisecond

// renegSServer starts openssl s_server -dtls1_2 -trace and returns it with
// a tlsm DTLS client connected to it, the handshake done.
func renegSServer(t *testing.T, cfg *dtls.Config, extra ...string) (*peers.Proc, *dtls.Conn, *renegtest.Log) {
	t.Helper()
	certFile, keyFile, roots := renegOpenSSLCert(t)
	port := peers.FreeUDPPort(t)
	args := append([]string{"s_server", "-accept", peers.Addr(port), "-cert", certFile, "-key", keyFile,
		"-dtls1_2", "-state", "-naccept", "1"}, extra...)
	srv := renegtest.OpenSSL(t, args...)
	srv.WaitOutput(t, "ACCEPT", peers.StartTimeout)
	pc, err := net.ListenPacket("udp", peers.Addr(0))
	require.NoError(t, err)
	raddr, err := net.ResolveUDPAddr("udp", peers.Addr(port))
	require.NoError(t, err)
	if cfg == nil {
		cfg = &dtls.Config{}
	}
	cfg.RootCAs, cfg.ServerName, cfg.RetransmitTimeout = roots, "localhost", renegRTO
	c := dtls.Client(pc, raddr, cfg)
	t.Cleanup(func() { c.Close() })
	log := renegtest.Watch(c)
	renegHandshake(t, c)
	return srv, c, log
}

// renegOpenSSLCert makes a self-signed certificate with openssl itself, as
// INTEROP.md does: OpenSSL 3.0's DTLS s_server -trace fails a connection
// after printing a Go-made certificate in a renegotiation (its
// certificate printer leaves an ASN.1 error queued, which the next
// SSL_read reports), a quirk of the tracer, not of the protocol.
func renegOpenSSLCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	keyFile, certFile = filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	for _, args := range [][]string{
		{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyFile},
		{"req", "-new", "-x509", "-key", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=localhost",
			"-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"},
	} {
		out, err := exec.Command("openssl", args...).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	pemBytes, err := os.ReadFile(certFile)
	require.NoError(t, err)
	roots = x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pemBytes))
	return certFile, keyFile, roots
}

func renegHandshake(t *testing.T, c *dtls.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), renegtest.Wait)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx))
	require.Equal(t, record.VersionDTLS12, c.ConnectionState().Version)
}

// TestRenegOpenSSLServerHelloRequest: s_server -dtls1_2 r sends a
// HelloRequest; a tlsm DTLS client answers with a full handshake, offering
// no session, as OpenSSL's DTLS clients do (SSL_renegotiate(3): "For
// historical reasons, DTLS clients will not attempt to resume"). s_server
// sends a line between the HelloRequest and the new handshake: tlsm
// delivers it while the renegotiation runs.
func TestRenegOpenSSLServerHelloRequest(t *testing.T) {
	t.Parallel()
	srv, c, log := renegSServer(t, nil)
	renegtest.PingPong(t, srv, c, renegtest.Sync{R: c}, "1")

	// tlsm reads nothing until s_server has sent the HelloRequest and a
	// line after it.
	srv.Send("r")
	srv.WaitOutput(t, renegSDH, renegtest.Wait)
	srv.Send("during")
	time.Sleep(200 * time.Millisecond) // the line goes out right after the HelloRequest
	r := renegtest.StartReader(c)
	r.Expect(t, "during\n")
	started := log.WaitFor(t, "renegotiation_started", func(ev fsm.Event) bool { return ev.Kind == fsm.EventRenegotiationStarted })
	assert.False(t, started.Resumed, "the DTLS client offers no session")
	renegWaitRenegotiated(t, log, 2)
	assert.Equal(t, "during\n", log.DataBetween(fsm.EventRenegotiationStarted, 2),
		"the line between HelloRequest and the new handshake arrives while it runs")
	renegtest.PingPong(t, srv, c, r, "2")

	renegtest.CheckHandshakes(t, log, 2, false)
	renegCheckCertificates(t, srv, 2)
	assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
}

// renegStateCertificate is what s_server -state prints when it sends its
// certificate: once in a full handshake, not in an abbreviated one.
// (-trace is not used over DTLS: OpenSSL 3.0's tracer leaves an ASN.1
// error queued after printing a renegotiation's Certificate, which then
// ends s_server's connection.)
const renegStateCertificate = "SSL_accept:SSLv3/TLS write certificate"

// renegCheckCertificates waits until s_server has sent its certificate
// want times in all.
func renegCheckCertificates(t *testing.T, srv *peers.Proc, want int) {
	t.Helper()
	// -state writes to standard error.
	require.Eventually(t, func() bool { return strings.Count(srv.Stderr(), renegStateCertificate) >= want },
		renegtest.Wait, 10*time.Millisecond, "s_server certificates sent: want %d", want)
	require.Equal(t, want, strings.Count(srv.Stderr(), renegStateCertificate))
}

// TestRenegOpenSSLServerClientInitiated: a tlsm DTLS client renegotiates
// with s_server -dtls1_2 -client_renegotiation, fully and abbreviated.
// Without -client_renegotiation s_server refuses with a warning
// no_renegotiation and both carry on; a second attempt trips an OpenSSL
// quirk (see below).
func TestRenegOpenSSLServerClientInitiated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		abbr    bool
		allowed bool
	}{
		{"Full", false, true},
		{"Abbreviated", true, true},
		{"FullRefused", false, false},
		{"AbbreviatedRefused", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var extra []string
			if tc.allowed {
				extra = append(extra, "-client_renegotiation")
			}
			srv, c, log := renegSServer(t, nil, extra...)
			r := renegtest.StartReader(c)
			renegtest.PingPong(t, srv, c, r, "1")
			if tc.abbr {
				require.NoError(t, c.RenegotiateAbbreviated())
			} else {
				require.NoError(t, c.Renegotiate())
			}
			require.True(t, c.RenegotiatePending())
			require.NoError(t, c.Handshake())
			require.False(t, c.RenegotiatePending(), "the ClientHello is sent")
			started := log.WaitFor(t, "renegotiation_started", func(ev fsm.Event) bool { return ev.Kind == fsm.EventRenegotiationStarted })
			assert.Equal(t, tc.abbr, started.Resumed, "offers the session")

			if !tc.allowed {
				log.WaitAlert(t, fsm.EventAlertReceived, record.LevelWarning, record.AlertNoRenegotiation)
				renegtest.PingPong(t, srv, c, r, "2")
				renegtest.PingPong(t, srv, c, r, "3")
				renegtest.CheckHandshakes(t, log, 1, false)
				assert.Zero(t, log.Count(fsm.EventAlertSent), "tlsm sent an alert")
				srv.WaitOutput(t, "SSL3 alert write:warning:no renegotiation", renegtest.Wait)
				return
			}
			renegWaitRenegotiated(t, log, 2)
			log.WaitHandshake(t, 2)
			renegtest.PingPong(t, srv, c, r, "2")
			renegtest.CheckHandshakes(t, log, 2, tc.abbr)
			assert.Equal(t, tc.abbr, c.ConnectionState().DidResume, "DidResume")
			if tc.abbr {
				renegCheckCertificates(t, srv, 1)
			} else {
				renegCheckCertificates(t, srv, 2)
			}
			assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
		})
	}
}

// renegListener listens with a tlsm DTLS 1.2 server and returns its port
// and a function accepting one connection, watched, handshake done.
func renegListener(t *testing.T, cfg *dtls.Config) (int, func() (*dtls.Conn, *renegtest.Log)) {
	t.Helper()
	cert := testcert.MustNew(testcert.ECDSAP256)
	cfg.Certificates = []dtls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}
	cfg.MaxVersion = fsm.VersionTLS12 // the core numbers DTLS 1.2 as TLS 1.2
	cfg.RetransmitTimeout = renegRTO
	ln, err := dtls.Listen("udp", peers.Addr(0), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.UDPAddr).Port, func() (*dtls.Conn, *renegtest.Log) {
		t.Helper()
		type accepted struct {
			c   net.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			c, err := ln.Accept()
			ch <- accepted{c, err}
		}()
		var a accepted
		select {
		case a = <-ch:
		case <-time.After(renegtest.Wait):
			t.Fatal("no DTLS connection accepted")
		}
		require.NoError(t, a.err)
		c := a.c.(*dtls.Conn)
		t.Cleanup(func() { c.Close() })
		log := renegtest.Watch(c)
		renegHandshake(t, c)
		return c, log
	}
}

// TestRenegOpenSSLClient: s_client -dtls1_2 R renegotiates with a tlsm
// DTLS server. With AllowClientRenegotiation the renegotiation completes;
// by default tlsm refuses with a warning no_renegotiation, which OpenSSL,
// having asked for the renegotiation, turns into a fatal
// handshake_failure.
func TestRenegOpenSSLClient(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{true, false} {
		t.Run(map[bool]string{true: "Allowed", false: "Refused"}[allow], func(t *testing.T) {
			t.Parallel()
			port, accept := renegListener(t, &dtls.Config{AllowClientRenegotiation: allow})
			cli := renegtest.OpenSSL(t, "s_client", "-connect", peers.Addr(port), "-dtls1_2", "-trace")
			c, log := accept()
			r := renegtest.StartReader(c)
			renegtest.PingPong(t, cli, c, r, "1")
			cli.Send("R")
			if !allow {
				log.WaitAlert(t, fsm.EventAlertSent, record.LevelWarning, record.AlertNoRenegotiation)
				cli.WaitOutput(t, renegTraceAlert, renegtest.Wait)
				log.WaitAlert(t, fsm.EventAlertReceived, record.LevelFatal, record.AlertHandshakeFailure)
				require.Error(t, r.Result(t), "tlsm read after the fatal alert")
				renegtest.CheckHandshakes(t, log, 1, false)
				// One warning per ClientHello: s_client may have sent its
				// again (OpenSSL retransmits after 1 s) before it read ours.
				evs, _ := log.Snapshot()
				for _, ev := range evs {
					if ev.Kind == fsm.EventAlertSent {
						assert.Equal(t, record.LevelWarning, ev.Level, "tlsm sent only warnings")
						assert.Equal(t, record.AlertNoRenegotiation, ev.Alert, "tlsm sent only no_renegotiation")
					}
				}
				return
			}
			log.WaitHandshake(t, 2)
			renegtest.PingPong(t, cli, c, r, "2")
			renegtest.CheckHandshakes(t, log, 2, false)
			msgs := renegtest.WaitTrace(t, cli, renegClientHello3, "the renegotiation", renegtest.Finished)
			renegtest.CheckTrace(t, msgs, false, true)
			assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
		})
	}
}

// TestRenegOpenSSLClientHelloRequest: a tlsm DTLS server's Renegotiate
// sends a HelloRequest; s_client -dtls1_2 answers with a full handshake.
// tlsm writes a line right after the HelloRequest, which s_client takes
// after its ClientHello, before the ServerHello.
func TestRenegOpenSSLClientHelloRequest(t *testing.T) {
	t.Parallel()
	port, accept := renegListener(t, &dtls.Config{})
	cli := renegtest.OpenSSL(t, "s_client", "-connect", peers.Addr(port), "-dtls1_2", "-trace")
	c, log := accept()
	r := renegtest.StartReader(c)
	renegtest.PingPong(t, cli, c, r, "1")
	require.NoError(t, c.Renegotiate())
	require.True(t, c.RenegotiatePending())
	require.NoError(t, c.Handshake())
	require.Equal(t, 1, log.Count(fsm.EventRenegotiationRequested))
	renegWaitRenegotiated(t, log, 2)
	require.False(t, c.RenegotiatePending())
	renegtest.PingPong(t, cli, c, r, "2")
	renegtest.CheckHandshakes(t, log, 2, false)
	msgs := renegtest.WaitTrace(t, cli, renegtest.HelloRequest, "the renegotiation", renegtest.Finished)
	renegtest.CheckTrace(t, msgs, false, true)
	assert.True(t, strings.Contains(cli.Stdout(), "HelloRequest"))
}

// renegWaitRenegotiated waits for handshake n, failing at once should
// the connection end instead.
func renegWaitRenegotiated(t *testing.T, log *renegtest.Log, n int) {
	t.Helper()
	ev := log.WaitFor(t, "the renegotiation's end", func(ev fsm.Event) bool {
		return ev.Kind == fsm.EventHandshakeDone && ev.Handshake == n || ev.Kind == fsm.EventClosed
	})
	if ev.Kind == fsm.EventClosed {
		evs, _ := log.Snapshot()
		t.Fatalf("the connection ended instead of completing handshake %d: %v; events:\n%s", n, ev.Err, renegtest.Describe(evs))
	}
}

// renegClientHello3 marks the renegotiation's ClientHello in -trace
// output: the first handshake has two, the second after the cookie.
var renegClientHello3 = renegtest.Mark{S: "ClientHello, Length=", N: 3}
