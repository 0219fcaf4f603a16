package tls_test

import (
	"bufio"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/renegtest"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
	"github.com/tlsm/tlsm/tls"
)

// renegSDH is what s_server prints after its r or R command sent the
// HelloRequest.
const renegSDH = "SSL_do_handshake -> 1"

// renegSServer starts openssl s_server -tls1_2 -trace and returns it with
// a tlsm client connected to it, the handshake done.
func renegSServer(t *testing.T, cfg *tls.Config, extra ...string) (*peers.Proc, *tls.Conn, *renegtest.Log) {
	t.Helper()
	cert := testcert.MustNew(testcert.ECDSAP256)
	certFile, keyFile, caFile := opensslFiles(t, cert)
	if cfg != nil && len(cfg.Certificates) > 0 {
		// s_server verifies the client's certificate with the CA of
		// renegClientCert.
		caFile = filepath.Join(t.TempDir(), "client-ca.pem")
		require.NoError(t, os.WriteFile(caFile, renegClientCert(t).CAPEM, 0o600))
	}
	port := peers.FreePort(t)
	args := append([]string{"s_server", "-accept", peers.Addr(port), "-cert", certFile, "-key", keyFile,
		"-CAfile", caFile, "-tls1_2", "-trace", "-naccept", "1"}, extra...)
	srv := renegtest.OpenSSL(t, args...)
	srv.WaitOutput(t, "ACCEPT", peers.StartTimeout)
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs, cfg.ServerName = cert.CAPool, "localhost"
	raw, err := net.DialTimeout("tcp", peers.Addr(port), renegtest.Wait)
	require.NoError(t, err)
	c := tls.Client(raw, cfg)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	log := renegtest.Watch(c)
	require.NoError(t, handshakeTLSM(c))
	require.Equal(t, fsm.VersionTLS12, c.ConnectionState().Version)
	return srv, c, log
}

// TestRenegOpenSSLServerHelloRequest: s_server r sends a HelloRequest; a
// tlsm TLS client answers with an abbreviated handshake (it resumes, as
// OpenSSL's TLS clients do). s_server sends a line between the
// HelloRequest and the new handshake: tlsm delivers it while the
// renegotiation runs.
func TestRenegOpenSSLServerHelloRequest(t *testing.T) {
	t.Parallel()
	srv, c, log := renegSServer(t, nil)
	renegtest.PingPong(t, srv, c, renegtest.Sync{R: c}, "1")

	// tlsm reads nothing until s_server has sent the HelloRequest and a
	// line after it, so that it sees the line once it has answered.
	srv.Send("r")
	srv.WaitOutput(t, renegSDH, renegtest.Wait)
	srv.Send("during")
	renegtest.WaitCount(t, srv, renegtest.HelloRequest, "ApplicationData (23)", 1)
	r := renegtest.StartReader(c)
	r.Expect(t, "during\n")
	log.WaitHandshake(t, 2)
	assert.Equal(t, "during\n", log.DataBetween(fsm.EventRenegotiationStarted, 2),
		"the line between HelloRequest and the new handshake arrives while it runs")
	renegtest.PingPong(t, srv, c, r, "2")

	renegtest.CheckHandshakes(t, log, 2, true)
	assert.Equal(t, 1, log.Count(fsm.EventRenegotiationRequested))
	msgs := renegtest.WaitTrace(t, srv, renegtest.HelloRequest, "the renegotiation", renegtest.Finished)
	renegtest.CheckTrace(t, msgs, true, false)
	assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
}

// TestRenegOpenSSLServerHelloRequestClientCert: s_server R asks for a
// client certificate and renegotiates. With -verify (s_server asks for a
// certificate from the start) tlsm sends its certificate in the first
// handshake; the renegotiation resumes that session, so no second
// Certificate is needed. With -no_resumption_on_reneg, the renegotiation is
// full, and tlsm sends its certificate again.
func TestRenegOpenSSLServerHelloRequestClientCert(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		extra   []string
		full    bool
		certReq bool // a CertificateRequest in the renegotiation
	}{
		{"Verify", []string{"-verify", "1"}, false, false},
		{"VerifyRequired", []string{"-Verify", "1"}, false, false},
		// The first handshake asks for no certificate, the second does.
		{"NoVerifyFull", []string{"-no_resumption_on_reneg"}, true, true},
		// R sets SSL_VERIFY_CLIENT_ONCE: OpenSSL asks once per
		// connection, and the first handshake did.
		{"VerifyRequiredFull", []string{"-Verify", "1", "-no_resumption_on_reneg"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := &tls.Config{Certificates: []tls.Certificate{tlsmCert(renegClientCert(t))}}
			srv, c, log := renegSServer(t, cfg, append([]string{"-verify_return_error"}, tc.extra...)...)
			r := renegtest.StartReader(c)
			renegtest.PingPong(t, srv, c, r, "1")
			srv.Send("R")
			log.WaitHandshake(t, 2)
			renegtest.PingPong(t, srv, c, r, "2")
			renegtest.CheckHandshakes(t, log, 2, !tc.full)
			msgs := renegtest.WaitTrace(t, srv, renegtest.HelloRequest, "the renegotiation", renegtest.Finished)
			renegtest.CheckTrace(t, msgs, true, tc.full)
			assert.Equal(t, tc.certReq, renegtest.Has(msgs, true, "CertificateRequest"), "CertificateRequest in %v", msgs)
			assert.Equal(t, tc.certReq, renegtest.Has(msgs, false, "Certificate"), "client Certificate in %v", msgs)
			assert.Equal(t, tc.certReq, renegtest.Has(msgs, false, "CertificateVerify"), "CertificateVerify in %v", msgs)
			if !tc.certReq && len(tc.extra) > 0 && tc.extra[0] != "-no_resumption_on_reneg" {
				// The certificate came in the first handshake.
				first := renegtest.Trace(srv.Stdout(), renegtest.Mark{})
				assert.True(t, renegtest.Has(first, false, "CertificateVerify"), "first handshake: %v", first)
			}
		})
	}
}

// renegClientCert is the certificate of tlsm clients, from its own CA.
func renegClientCert(t *testing.T) *testcert.Cert {
	t.Helper()
	c, err := testcert.NewClientCert(testcert.ECDSAP256)
	require.NoError(t, err)
	return c
}

// renegTraceAlert is how openssl -trace shows a warning no_renegotiation.
const renegTraceAlert = "Level=warning(1), description=no renegotiation(100)"

// TestRenegOpenSSLServerClientInitiated: a tlsm TLS client renegotiates
// with s_server -client_renegotiation, fully (Renegotiate: no session
// offered) and abbreviated (RenegotiateAbbreviated); Handshake starts it.
// Without -client_renegotiation, s_server refuses with a warning
// no_renegotiation and both carry on.
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
			require.False(t, c.RenegotiatePending())
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
				srv.WaitOutput(t, renegTraceAlert, renegtest.Wait)
				msgs := renegtest.Trace(srv.Stdout(), renegtest.ClientHello2)
				assert.Equal(t, []renegtest.Msg{{Sent: false, Name: "ClientHello"}}, msgs, "s_server after the ClientHello")
				// A later Renegotiate is refused again, and nothing wedges.
				require.NoError(t, c.Renegotiate())
				require.NoError(t, c.Handshake())
				renegtest.WaitCount(t, srv, renegtest.ClientHello2, renegTraceAlert, 2)
				renegtest.PingPong(t, srv, c, r, "4")
				renegtest.CheckHandshakes(t, log, 1, false)
				return
			}
			hs := log.WaitHandshake(t, 2)
			assert.Equal(t, fsm.VersionTLS12, hs.Version)
			renegtest.PingPong(t, srv, c, r, "2")
			renegtest.CheckHandshakes(t, log, 2, tc.abbr)
			assert.Equal(t, tc.abbr, c.ConnectionState().DidResume, "DidResume")
			msgs := renegtest.WaitTrace(t, srv, renegtest.ClientHello2, "the renegotiation", renegtest.Finished)
			renegtest.CheckTrace(t, msgs, true, !tc.abbr)
			assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
		})
	}
}

// TestRenegOpenSSLServerWriteStartsIt: Renegotiate, then Write. The Write
// starts the renegotiation (SSL_renegotiate(3): "the next time an IO
// operation such as SSL_read_ex() or SSL_write_ex() takes place"); its
// data goes out before the ClientHello.
func TestRenegOpenSSLServerWriteStartsIt(t *testing.T) {
	t.Parallel()
	srv, c, log := renegSServer(t, nil, "-client_renegotiation")
	r := renegtest.StartReader(c)
	renegtest.PingPong(t, srv, c, r, "1")
	require.NoError(t, c.Renegotiate())
	_, err := c.Write([]byte("to-openssl-2\n"))
	require.NoError(t, err)
	log.WaitHandshake(t, 2)
	srv.WaitOutput(t, "to-openssl-2\n", renegtest.Wait)
	srv.Send("from-openssl-2")
	r.Expect(t, "from-openssl-2\n")
	renegtest.PingPong(t, srv, c, r, "3")
	renegtest.CheckHandshakes(t, log, 2, false)
}

// TestRenegOpenSSLServerWriteWhileRunning: a Write while the client's
// renegotiation runs. RFC 5246 lets application data interleave with a
// renegotiation, but an OpenSSL server takes none between its ServerHello
// and the client's Finished (ossl_statem_app_data_allowed), and
// crypto/tls none at all during a renegotiation; OpenSSL's SSL_write and
// crypto/tls's Write both finish the handshake before sending data.
// tlsm's Write must not break the connection.
func TestRenegOpenSSLServerWriteWhileRunning(t *testing.T) {
	t.Parallel()
	srv, c, log := renegSServer(t, nil, "-client_renegotiation")
	renegtest.PingPong(t, srv, c, renegtest.Sync{R: c}, "1")
	require.NoError(t, c.Renegotiate())
	require.NoError(t, c.Handshake())
	// s_server reads the ClientHello and answers with its flight; tlsm
	// reads nothing yet, so its renegotiation is still running when it
	// writes, and the line reaches s_server after its ServerHello.
	renegtest.WaitTrace(t, srv, renegtest.ClientHello2, "ServerHelloDone", func(m []renegtest.Msg) bool { return renegtest.Has(m, true, "ServerHelloDone") })
	_, err := c.Write([]byte("to-openssl-2\n"))
	require.NoError(t, err)
	r := renegtest.StartReader(c)
	ev := log.WaitFor(t, "handshake 2 or the end", func(ev fsm.Event) bool {
		return ev.Kind == fsm.EventHandshakeDone && ev.Handshake == 2 || ev.Kind == fsm.EventClosed
	})
	require.Equal(t, "handshake", ev.Kind.String(),
		"the renegotiation did not complete: tlsm sent application data in the middle of its handshake, and s_server ended the connection: %v", ev.Err)
	srv.WaitOutput(t, "to-openssl-2\n", renegtest.Wait)
	srv.Send("from-openssl-2")
	r.Expect(t, "from-openssl-2\n")
	renegtest.PingPong(t, srv, c, r, "3")
	renegtest.CheckHandshakes(t, log, 2, false)
	assert.Zero(t, log.Count(fsm.EventAlertReceived), "alerts received")
}

// renegTLSMServer listens with a tlsm TLS 1.2 server and returns its port
// and a function accepting one connection, watched, handshake done.
func renegTLSMServer(t *testing.T, cfg *tls.Config) (int, func() (*tls.Conn, *renegtest.Log)) {
	t.Helper()
	cert := testcert.MustNew(testcert.ECDSAP256)
	cfg.Certificates = []tls.Certificate{tlsmCert(cert)}
	cfg.MaxVersion = fsm.VersionTLS12
	ln, err := net.Listen("tcp", peers.Addr(0))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, func() (*tls.Conn, *renegtest.Log) {
		t.Helper()
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(renegtest.Wait))
		raw, err := ln.Accept()
		require.NoError(t, err)
		c := tls.Server(raw, cfg)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
		log := renegtest.Watch(c)
		require.NoError(t, handshakeTLSM(c))
		require.Equal(t, fsm.VersionTLS12, c.ConnectionState().Version)
		return c, log
	}
}

// TestRenegOpenSSLClient: s_client -tls1_2 R renegotiates with a tlsm
// server. With AllowClientRenegotiation the renegotiation completes (a
// full one: s_client does not resume on R); by default tlsm answers with
// a warning no_renegotiation, which OpenSSL, having asked for the
// renegotiation, turns into a fatal handshake_failure
// (SSL_R_NO_RENEGOTIATION): the connection ends on OpenSSL's side.
func TestRenegOpenSSLClient(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{true, false} {
		t.Run(map[bool]string{true: "Allowed", false: "Refused"}[allow], func(t *testing.T) {
			t.Parallel()
			port, accept := renegTLSMServer(t, &tls.Config{AllowClientRenegotiation: allow})
			cli := renegtest.OpenSSL(t, "s_client", "-connect", peers.Addr(port), "-tls1_2", "-trace")
			c, log := accept()
			r := renegtest.StartReader(c)
			renegtest.PingPong(t, cli, c, r, "1")
			renegtest.PingPong(t, cli, c, r, "2")
			cli.Send("R")
			if !allow {
				log.WaitAlert(t, fsm.EventAlertSent, record.LevelWarning, record.AlertNoRenegotiation)
				log.WaitAlert(t, fsm.EventAlertReceived, record.LevelFatal, record.AlertHandshakeFailure)
				require.Error(t, r.Result(t), "tlsm read after the fatal alert")
				cli.WaitOutput(t, renegTraceAlert, renegtest.Wait)
				cli.WaitOutput(t, "no renegotiation", renegtest.Wait)
				code, err := cli.Wait(renegtest.Wait)
				require.NoError(t, err)
				assert.NotZero(t, code, "s_client exit status")
				renegtest.CheckHandshakes(t, log, 1, false)
				assert.Equal(t, 1, log.Count(fsm.EventAlertSent), "tlsm sent one alert")
				return
			}
			log.WaitHandshake(t, 2)
			renegtest.PingPong(t, cli, c, r, "3")
			renegtest.CheckHandshakes(t, log, 2, false)
			msgs := renegtest.WaitTrace(t, cli, renegtest.ClientHello2, "the renegotiation", renegtest.Finished)
			renegtest.CheckTrace(t, msgs, false, true)
			assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
		})
	}
}

// TestRenegOpenSSLClientHelloRequest: a tlsm server's Renegotiate sends a
// HelloRequest; s_client -tls1_2 answers with an abbreviated handshake.
// tlsm writes a line right after the HelloRequest: OpenSSL takes
// application data after its ClientHello until the ServerHello.
func TestRenegOpenSSLClientHelloRequest(t *testing.T) {
	t.Parallel()
	port, accept := renegTLSMServer(t, &tls.Config{})
	cli := renegtest.OpenSSL(t, "s_client", "-connect", peers.Addr(port), "-tls1_2", "-trace")
	c, log := accept()
	renegtest.PingPong(t, cli, c, renegtest.Sync{R: c}, "1")
	require.NoError(t, c.Renegotiate())
	require.True(t, c.RenegotiatePending())
	require.NoError(t, c.Handshake())
	require.Equal(t, 1, log.Count(fsm.EventRenegotiationRequested))
	// tlsm reads nothing until s_client has printed the line, so it sees
	// the ClientHello only after writing.
	_, err := c.Write([]byte("during\n"))
	require.NoError(t, err)
	require.True(t, c.RenegotiatePending(), "HelloRequest not yet answered")
	cli.WaitOutput(t, "during\n", renegtest.Wait)
	r := renegtest.StartReader(c)
	log.WaitHandshake(t, 2)
	require.False(t, c.RenegotiatePending())
	renegtest.PingPong(t, cli, c, r, "2")
	renegtest.CheckHandshakes(t, log, 2, true)
	msgs := renegtest.WaitTrace(t, cli, renegtest.HelloRequest, "the renegotiation", renegtest.Finished)
	renegtest.CheckTrace(t, msgs, false, false)
	// The line came between s_client's ClientHello and the ServerHello.
	out := cli.Stdout()
	i, j, k := strings.Index(out, "ClientHello, Length="), strings.Index(out, "during\n"), renegtest.Index(out, renegtest.Mark{S: "ServerHello, Length=", N: 2})
	assert.True(t, renegtest.Index(out, renegtest.ClientHello2) < j && j < k, "s_client read the line after its ClientHello (%d) and before the ServerHello (%d): %d", i, k, j)
}

// renegGoEcho runs a crypto/tls client that writes back every line it
// reads; crypto/tls handles a HelloRequest inside Read. The errors of
// Reads it survived, of Writes, and the one that ended it arrive on the
// channels.
func renegGoEcho(t *testing.T, port int, policy gotls.RenegotiationSupport) (readErrs, writeErrs, done <-chan error) {
	t.Helper()
	cert := testcert.MustNew(testcert.ECDSAP256)
	cfg := &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MaxVersion: gotls.VersionTLS12, Renegotiation: policy}
	rerrs, werrs, end := make(chan error, 16), make(chan error, 16), make(chan error, 1)
	go func() {
		c, err := gotls.Dial("tcp", peers.Addr(port), cfg)
		if err != nil {
			end <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		for failures := 0; ; {
			line, err := br.ReadString('\n')
			if err != nil {
				// A refused HelloRequest fails one Read; go on reading.
				if failures++; errors.Is(err, io.EOF) || failures > 2 || strings.Contains(err.Error(), "timeout") {
					end <- err
					return
				}
				rerrs <- err
				continue
			}
			if _, err := c.Write([]byte(line)); err != nil {
				werrs <- err
			}
		}
	}()
	return rerrs, werrs, end
}

// renegEcho writes a line and expects it back.
func renegEcho(t *testing.T, c *tls.Conn, r renegtest.Expecter, line string) {
	t.Helper()
	_, err := c.Write([]byte(line + "\n"))
	require.NoError(t, err)
	r.Expect(t, line+"\n")
}

// TestRenegCryptoTLSClient: a tlsm server renegotiates (HelloRequest)
// with a crypto/tls client reading in a loop. RenegotiateFreelyAsClient
// answers every request, with a full handshake (crypto/tls never resumes
// in a renegotiation). RenegotiateOnceAsClient answers the first and
// refuses the second with a warning no_renegotiation, after which
// crypto/tls can still read but no longer write (its Read returned the
// error and the error is sticky on its write side).
func TestRenegCryptoTLSClient(t *testing.T) {
	t.Parallel()
	t.Run("Freely", func(t *testing.T) {
		t.Parallel()
		port, accept := renegTLSMServer(t, &tls.Config{})
		_, _, done := renegGoEcho(t, port, gotls.RenegotiateFreelyAsClient)
		c, log := accept()
		r := renegtest.StartReader(c)
		renegEcho(t, c, r, "line-1")
		for n := 2; n <= 4; n++ {
			require.NoError(t, c.Renegotiate())
			require.NoError(t, c.Handshake())
			log.WaitHandshake(t, n)
			require.False(t, c.RenegotiatePending())
			renegEcho(t, c, r, fmt.Sprintf("line-%d", n))
		}
		renegtest.CheckHandshakes(t, log, 4, false)
		assert.Equal(t, 3, log.Count(fsm.EventRenegotiationStarted))
		assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
		require.NoError(t, c.Close())
		assert.ErrorIs(t, renegRecv(t, done), io.EOF, "crypto/tls reads close_notify")
	})
	t.Run("Once", func(t *testing.T) {
		t.Parallel()
		port, accept := renegTLSMServer(t, &tls.Config{})
		rerrs, werrs, _ := renegGoEcho(t, port, gotls.RenegotiateOnceAsClient)
		c, log := accept()
		r := renegtest.StartReader(c)
		renegEcho(t, c, r, "line-1")
		require.NoError(t, c.Renegotiate())
		require.NoError(t, c.Handshake())
		log.WaitHandshake(t, 2)
		renegEcho(t, c, r, "line-2")

		require.NoError(t, c.Renegotiate())
		require.NoError(t, c.Handshake())
		log.WaitAlert(t, fsm.EventAlertReceived, record.LevelWarning, record.AlertNoRenegotiation)
		require.False(t, c.RenegotiatePending(), "the request was answered")
		assert.ErrorContains(t, renegRecv(t, rerrs), "no renegotiation", "crypto/tls Read")
		// tlsm carries on: crypto/tls reads the next line, but cannot
		// write it back.
		_, err := c.Write([]byte("line-3\n"))
		require.NoError(t, err)
		werr := renegRecv(t, werrs)
		assert.ErrorContains(t, werr, "no renegotiation")
		renegtest.CheckHandshakes(t, log, 2, false)
		assert.Zero(t, log.Count(fsm.EventAlertSent), "tlsm sent an alert")
	})
}

// renegRecv receives from ch within renegtest.Wait.
func renegRecv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(renegtest.Wait):
		t.Fatalf("nothing within %v", renegtest.Wait)
		panic("unreachable")
	}
}

// renegGnuTLSCLI starts gnutls-cli -p port 127.0.0.1, TLS 1.2 only,
// inline commands on, and waits for its handshake.
func renegGnuTLSCLI(t *testing.T, port int) *peers.Proc {
	t.Helper()
	peers.Need(t, "gnutls-cli")
	p := peers.Start(t, "stdbuf", "-o0", "gnutls-cli", "--insecure", "--inline-commands",
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2", "-p", fmt.Sprint(port), peers.Loopback)
	return p
}

// TestRenegGnuTLSClient: gnutls-cli against a tlsm TLS server. Its
// ^renegotiate^ command renegotiates, fully; tlsm takes it with
// AllowClientRenegotiation. A tlsm HelloRequest makes gnutls-cli
// renegotiate, fully too.
//
// By default tlsm refuses with a warning no_renegotiation; gnutls-cli
// retries a handshake that failed with a non-fatal error, sending a new
// ClientHello each time, until GnuTLS gives up after 16 warnings with
// GNUTLS_E_INTERNAL_ERROR and a fatal internal_error alert. tlsm answers
// every one of them with the same warning and never wedges.
func TestRenegGnuTLSClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		allow, hello bool
		cliSays      string // what gnutls-cli prints after the renegotiation
	}{
		{"ClientAllowed", true, false, "- ReHandshake was completed"},
		{"ClientRefused", false, false, "*** ReHandshake has failed"},
		{"HelloRequest", false, true, "*** Rehandshake was performed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, accept := renegTLSMServer(t, &tls.Config{AllowClientRenegotiation: tc.allow})
			cli := renegGnuTLSCLI(t, port)
			c, log := accept()
			r := renegtest.StartReader(c)
			cli.WaitOutput(t, "- Handshake was completed", renegtest.Wait)
			renegtest.PingPong(t, cli, c, r, "1")
			if tc.hello {
				require.NoError(t, c.Renegotiate())
				require.NoError(t, c.Handshake())
			} else {
				cli.Send("^renegotiate^")
			}
			if !tc.allow && !tc.hello {
				// gnutls-cli asks again after each refusal (GnuTLS 3.7
				// would give up after 16); tlsm refuses
				// MaxRefusedRenegotiations of them with warnings, then
				// ends the connection.
				log.WaitAlert(t, fsm.EventAlertSent, record.LevelFatal, record.AlertUnexpectedMessage)
				cli.WaitOutput(t, tc.cliSays, renegtest.Wait)
				cli.WaitOutput(t, "Received alert [100]: No renegotiation is allowed", renegtest.Wait)
				require.Error(t, r.Result(t))
				code, err := cli.Wait(renegtest.Wait)
				require.NoError(t, err)
				assert.NotZero(t, code, "gnutls-cli exit status")
				renegtest.CheckHandshakes(t, log, 1, false)
				warnings := 0
				evs, _ := log.Snapshot()
				for _, ev := range evs {
					if ev.Kind == fsm.EventAlertSent && ev.Level == record.LevelWarning {
						assert.Equal(t, record.AlertNoRenegotiation, ev.Alert, "tlsm's warnings are no_renegotiation")
						warnings++
					}
				}
				assert.Equal(t, fsm.MaxRefusedRenegotiations, warnings, "one warning per gnutls ClientHello, up to the bound")
				return
			}
			log.WaitHandshake(t, 2)
			cli.WaitOutput(t, tc.cliSays, renegtest.Wait)
			if tc.hello {
				cli.WaitOutput(t, "*** Received rehandshake request", renegtest.Wait)
			}
			renegtest.PingPong(t, cli, c, r, "2")
			renegtest.CheckHandshakes(t, log, 2, false)
			assert.Zero(t, log.Count(fsm.EventAlertSent)+log.Count(fsm.EventAlertReceived), "alerts")
		})
	}
}
