package tls_test

// Interoperability tests of TLS 1.3 features against real peers: Go's
// crypto/tls (in process) and the openssl binary (as a child process, see
// internal/peers). The suite matrix and client certificates of both
// versions are in interop_matrix_test.go. Every connection runs over TCP
// on 127.0.0.1.

import (
	"bytes"
	"context"
	gotls "crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

var interopSuites = []struct {
	id   uint16
	name string // IANA name, also what openssl -ciphersuites takes
}{
	{fsm.TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256"},
	{fsm.TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384"},
	{fsm.TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256"},
}

var interopCurves = []struct {
	id   fsm.CurveID
	name string // also what openssl -groups takes
}{
	{fsm.X25519, "X25519"},
	{fsm.CurveP256, "P-256"},
}

// interopKinds are the server certificate kinds of the matrix: ECDSA
// P-256, RSA 2048 (RSA-PSS signatures in TLS 1.3) and Ed25519.
var interopKinds = []testcert.Kind{testcert.ECDSAP256, testcert.RSA2048, testcert.Ed25519}

// handshakeTimeout bounds handshakes.
const handshakeTimeout = 10 * time.Second

// streamConn is what both *tls.Conn and *crypto/tls.Conn offer.
type streamConn interface {
	net.Conn
	Handshake() error
	CloseWrite() error
}

// exchange runs one side of a symmetric exchange: handshake, send out while
// receiving wantIn (checked byte for byte), send close_notify, expect the
// peer's close_notify, close.
func exchange(who string, c streamConn, out, wantIn []byte, seed uint64) error {
	if err := exchangeOpen(who, c, out, wantIn, seed); err != nil {
		c.Close()
		return err
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("%s: Close after close_notify both ways: %w", who, err)
	}
	return nil
}

func exchangeOpen(who string, c streamConn, out, wantIn []byte, seed uint64) error {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("%s: handshake: %w", who, err)
	}
	got, err := transfer(c, out, len(wantIn), seed)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	if err := checkSame(who+" received", wantIn, got); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("%s: CloseWrite: %w", who, err)
	}
	if err := expectEOF(c); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	return nil
}

// goServer starts a crypto/tls listener on 127.0.0.1 that accepts one
// connection and hands it to serve. The result arrives on the channel.
func goServer(t *testing.T, cfg *gotls.Config, serve func(*gotls.Conn) error) (string, <-chan error) {
	t.Helper()
	if cfg.MinVersion == 0 {
		cfg.MinVersion = gotls.VersionTLS13
	}
	ln, err := gotls.Listen("tcp", net.JoinHostPort(peers.Loopback, "0"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- fmt.Errorf("crypto/tls accept: %w", err)
			return
		}
		done <- serve(c.(*gotls.Conn))
	}()
	return ln.Addr().String(), done
}

// dialTLSM dials addr over TCP and returns a tlsm client on a tapped socket.
func dialTLSM(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, *tapConn) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, handshakeTimeout)
	require.NoError(t, err)
	tap := newTapConn(raw)
	c := tls.Client(tap, cfg)
	t.Cleanup(func() { c.Close() })
	return c, tap
}

// tlsmListener listens on 127.0.0.1 and returns its port and a function
// accepting one tapped tlsm server connection.
func tlsmListener(t *testing.T, cfg *tls.Config) (int, func() (*tls.Conn, *tapConn, error)) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(peers.Loopback, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accept := func() (*tls.Conn, *tapConn, error) {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(ioTimeout))
		raw, err := ln.Accept()
		if err != nil {
			return nil, nil, err
		}
		tap := newTapConn(raw)
		return tls.Server(tap, cfg), tap, nil
	}
	return ln.Addr().(*net.TCPAddr).Port, accept
}

func handshakeTLSM(c *tls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	return c.HandshakeContext(ctx)
}

func requireSummary(t *testing.T, tap *tapConn, asClient bool) handshakeSummary {
	t.Helper()
	s, err := tap.summary(asClient)
	require.NoError(t, err)
	return s
}

// checkPlainHandshake asserts a single ClientHello with one key share for
// group, no HelloRetryRequest, and a ServerHello choosing suite and group.
func checkPlainHandshake(t *testing.T, s handshakeSummary, suite uint16, group fsm.CurveID, clientIsTLSM bool) {
	t.Helper()
	require.Len(t, s.ClientHelloShares, 1, "ClientHellos on the wire")
	if clientIsTLSM {
		assert.Equal(t, []uint16{uint16(group)}, s.ClientHelloShares[0], "key shares offered by tlsm")
	}
	assert.False(t, s.HRR, "unexpected HelloRetryRequest")
	assert.Equal(t, suite, s.Suite, "ServerHello cipher suite")
	assert.Equal(t, uint16(group), s.Group, "ServerHello key share group")
}

// opensslFiles writes cert's PEM files into a temporary directory.
func opensslFiles(t *testing.T, cert *testcert.Cert) (certFile, keyFile, caFile string) {
	t.Helper()
	certFile, keyFile, caFile, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	return certFile, keyFile, caFile
}

// revExchange sends 1 MiB of random lines to an `openssl s_server -rev`
// and checks that every line comes back reversed.
func revExchange(c *tls.Conn, seed uint64, size int) error {
	lines := randomLines(seed, size, 4000)
	return exchangeExpect("tlsm client", c, lines, reverseLines(lines), seed+1)
}

// exchangeExpect is exchange without the close_notify dance, for openssl
// peers that simply close when we do.
func exchangeExpect(who string, c *tls.Conn, out, wantIn []byte, seed uint64) error {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	got, err := transfer(c, out, len(wantIn), seed)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	return checkSame(who+" received", wantIn, got)
}

// feedLines writes data (newline-terminated lines) to a process's stdin.
func feedLines(p *peers.Proc, data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		p.Send(string(data[:i]))
		data = data[i+1:]
	}
}

// waitStdout waits until p has printed at least n bytes on stdout.
func waitStdout(p *peers.Proc, n int, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		out := p.Stdout()
		if len(out) >= n || p.Exited() || time.Now().After(deadline) {
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// 2. HelloRetryRequest, forced once per peer and role.

// checkHRR asserts two ClientHellos, the first without a P-256 share and
// the second with only a P-256 share, and an HRR asking for P-256.
func checkHRR(t *testing.T, s handshakeSummary, clientIsTLSM bool) {
	t.Helper()
	require.Len(t, s.ClientHelloShares, 2, "ClientHellos on the wire: want 2 (HelloRetryRequest)")
	assert.NotContains(t, s.ClientHelloShares[0], uint16(fsm.CurveP256), "first ClientHello already offers P-256")
	if clientIsTLSM {
		// The default: the hybrid, and its ECDH half on its own.
		assert.Equal(t, []uint16{uint16(fsm.X25519MLKEM768), uint16(fsm.X25519)}, s.ClientHelloShares[0], "tlsm's first key shares")
	}
	assert.Equal(t, []uint16{uint16(fsm.CurveP256)}, s.ClientHelloShares[1], "key share after HelloRetryRequest")
	assert.True(t, s.HRR, "no HelloRetryRequest on the wire")
	assert.Equal(t, uint16(fsm.CurveP256), s.HRRGroup, "HelloRetryRequest selected_group")
	assert.Equal(t, uint16(fsm.CurveP256), s.Group, "ServerHello key share group")
}

func TestInteropHRR(t *testing.T) {
	t.Parallel()
	cert := testcert.MustNew(testcert.ECDSAP256)
	const size = 64 << 10

	t.Run("tlsm-client_crypto-tls-server", func(t *testing.T) {
		t.Parallel()
		seed := seedFor(t.Name())
		toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
		var goState gotls.ConnectionState
		addr, done := goServer(t, &gotls.Config{
			Certificates:     []gotls.Certificate{cert.TLSCertificate()},
			CurvePreferences: []gotls.CurveID{gotls.CurveP256},
		}, func(c *gotls.Conn) error {
			err := exchange("crypto/tls server", c, toClient, toServer, seed+2)
			goState = c.ConnectionState()
			return err
		})
		// Default preferences: X25519 first, so the first share is X25519.
		c, tap := dialTLSM(t, addr, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
		require.NoError(t, exchange("tlsm client", c, toServer, toClient, seed+3))
		require.NoError(t, <-done)
		assert.True(t, goState.HelloRetryRequest, "crypto/tls did not send a HelloRetryRequest")
		assert.Equal(t, gotls.CurveP256, goState.CurveID)
		checkHRR(t, requireSummary(t, tap, true), true)
	})

	t.Run("crypto-tls-client_tlsm-server", func(t *testing.T) {
		t.Parallel()
		seed := seedFor(t.Name())
		toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
		port, accept := tlsmListener(t, &tls.Config{
			Certificates:     []tls.Certificate{tlsmCert(cert)},
			CurvePreferences: []fsm.CurveID{fsm.CurveP256},
		})
		tapc := make(chan *tapConn, 1)
		done := make(chan error, 1)
		go func() {
			c, tap, err := accept()
			tapc <- tap
			if err != nil {
				done <- err
				return
			}
			done <- exchange("tlsm server", c, toClient, toServer, seed+2)
		}()
		raw, err := net.DialTimeout("tcp", peers.Addr(port), handshakeTimeout)
		require.NoError(t, err)
		// crypto/tls defaults: key shares for X25519MLKEM768 and X25519.
		gc := gotls.Client(raw, &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MinVersion: gotls.VersionTLS13})
		require.NoError(t, exchange("crypto/tls client", gc, toServer, toClient, seed+3))
		require.NoError(t, <-done)
		gs := gc.ConnectionState()
		assert.True(t, gs.HelloRetryRequest, "crypto/tls client saw no HelloRetryRequest")
		assert.Equal(t, gotls.CurveP256, gs.CurveID)
		checkHRR(t, requireSummary(t, <-tapc, false), false)
	})

	t.Run("tlsm-client_openssl-server", func(t *testing.T) {
		t.Parallel()
		certFile, keyFile, _ := opensslFiles(t, cert)
		port := peers.FreePort(t)
		srv := peers.OpenSSLServer(t, port, certFile, keyFile, "-tls1_3", "-rev", "-naccept", "1",
			"-groups", "P-256", "-trace")
		c, tap := dialTLSM(t, peers.Addr(port), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
		require.NoError(t, handshakeTLSM(c))
		require.NoError(t, revExchange(c, seedFor(t.Name()), size))
		require.NoError(t, c.Close())
		_, err := srv.Wait(ioTimeout)
		require.NoError(t, err)
		assert.Equal(t, 2, strings.Count(srv.Stdout(), "ClientHello, Length="), "ClientHellos in s_server -trace")
		checkHRR(t, requireSummary(t, tap, true), true)
	})

	t.Run("openssl-client_tlsm-server", func(t *testing.T) {
		t.Parallel()
		_, _, caFile := opensslFiles(t, cert)
		trace := filepath.Join(t.TempDir(), "trace.txt")
		seed := seedFor(t.Name())
		toServer, toClient := randomLines(seed, size, 200), randomLines(seed+1, size, 200)
		port, accept := tlsmListener(t, &tls.Config{
			Certificates:     []tls.Certificate{tlsmCert(cert)},
			CurvePreferences: []fsm.CurveID{fsm.CurveP256},
		})
		type result struct {
			tap *tapConn
			err error
		}
		done := make(chan result, 1)
		go func() {
			_, tap, err := opensslClientServe(accept, toServer, toClient, seed+2)
			done <- result{tap, err}
		}()
		// openssl's default groups start with X25519, its only key share.
		cli := peers.OpenSSLClient(t, port, "-tls1_3", "-quiet", "-servername", "localhost",
			"-CAfile", caFile, "-verify_return_error", "-trace", "-msgfile", trace)
		go feedLines(cli, toServer)
		r := <-done
		require.NoError(t, r.err)
		require.NoError(t, checkSame("s_client stdout", toClient, []byte(waitStdout(cli, len(toClient), ioTimeout))))
		_, err := cli.Wait(ioTimeout)
		require.NoError(t, err)
		traced, err := os.ReadFile(trace)
		require.NoError(t, err)
		assert.Equal(t, 2, strings.Count(string(traced), "ClientHello, Length="), "ClientHellos in s_client -trace")
		checkHRR(t, requireSummary(t, r.tap, false), false)
	})
}

// 3. KeyLogWriter.

var tls13KeyLogLabels = []string{
	"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	"SERVER_HANDSHAKE_TRAFFIC_SECRET",
	"CLIENT_TRAFFIC_SECRET_0",
	"SERVER_TRAFFIC_SECRET_0",
	"EXPORTER_SECRET",
}

// checkTLSMKeyLog asserts exactly the five TLS 1.3 labels, one client
// random, and secrets of the suite's hash length.
func checkTLSMKeyLog(t *testing.T, text string, suite uint16) map[string]string {
	t.Helper()
	kl, err := keyLog(text)
	require.NoError(t, err)
	var labels []string
	for l := range kl {
		labels = append(labels, l)
	}
	require.ElementsMatch(t, tls13KeyLogLabels, labels, "tlsm key log:\n%s", text)
	random := strings.Fields(kl[tls13KeyLogLabels[0]])[0]
	assert.Len(t, random, 64)
	for _, l := range tls13KeyLogLabels {
		f := strings.Fields(kl[l])
		assert.Equal(t, random, f[0], "client random of %s", l)
		assert.Len(t, f[1], 2*suiteHash(suite)().Size(), "secret length of %s", l)
	}
	return kl
}

// checkExporterSecret checks tlsm's EXPORTER_SECRET line against an
// exporter value computed by the peer.
func checkExporterSecret(t *testing.T, kl map[string]string, suite uint16, label string, peerValue []byte) {
	t.Helper()
	secret, err := hex.DecodeString(strings.Fields(kl["EXPORTER_SECRET"])[1])
	require.NoError(t, err)
	assert.Equal(t, peerValue, exportFromSecret(suiteHash(suite), secret, label, nil, len(peerValue)),
		"EXPORTER_SECRET does not derive the peer's exporter value")
}

func TestInteropKeyLog(t *testing.T) {
	t.Parallel()
	cert := testcert.MustNew(testcert.ECDSAP256)
	const size = 4 << 10
	const label = "EXPERIMENTAL tlsm keylog"

	for _, s := range interopSuites {
		t.Run("crypto-tls-server_"+s.name, func(t *testing.T) {
			t.Parallel()
			var tlsmLog, goLog syncBuffer
			var goExport []byte
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
			addr, done := goServer(t, &gotls.Config{
				Certificates: []gotls.Certificate{cert.TLSCertificate()},
				KeyLogWriter: &goLog,
			}, func(c *gotls.Conn) error {
				err := exchange("crypto/tls server", c, toClient, toServer, seed+2)
				if err == nil {
					st := c.ConnectionState()
					goExport, err = st.ExportKeyingMaterial(label, nil, 32)
				}
				return err
			})
			c, _ := dialTLSM(t, addr, &tls.Config{
				RootCAs:      cert.CAPool,
				ServerName:   "localhost",
				CipherSuites: []uint16{s.id},
				KeyLogWriter: &tlsmLog,
			})
			require.NoError(t, exchange("tlsm client", c, toServer, toClient, seed+3))
			require.NoError(t, <-done)

			kl := checkTLSMKeyLog(t, tlsmLog.String(), s.id)
			gkl, err := keyLog(goLog.String())
			require.NoError(t, err)
			require.Len(t, gkl, 4, "crypto/tls key log:\n%s", goLog.String())
			for l, v := range gkl {
				assert.Equal(t, v, kl[l], "%s differs from crypto/tls", l)
			}
			checkExporterSecret(t, kl, s.id, label, goExport)
		})

		t.Run("crypto-tls-client_"+s.name, func(t *testing.T) {
			t.Parallel()
			var tlsmLog, goLog syncBuffer
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
			port, accept := tlsmListener(t, &tls.Config{
				Certificates: []tls.Certificate{tlsmCert(cert)},
				CipherSuites: []uint16{s.id},
				KeyLogWriter: &tlsmLog,
			})
			done := make(chan error, 1)
			go func() {
				c, _, err := accept()
				if err != nil {
					done <- err
					return
				}
				done <- exchange("tlsm server", c, toClient, toServer, seed+2)
			}()
			raw, err := net.DialTimeout("tcp", peers.Addr(port), handshakeTimeout)
			require.NoError(t, err)
			gc := gotls.Client(raw, &gotls.Config{
				RootCAs:      cert.CAPool,
				ServerName:   "localhost",
				MinVersion:   gotls.VersionTLS13,
				KeyLogWriter: &goLog,
			})
			require.NoError(t, exchange("crypto/tls client", gc, toServer, toClient, seed+3))
			require.NoError(t, <-done)
			gs := gc.ConnectionState()
			goExport, err := gs.ExportKeyingMaterial(label, nil, 32)
			require.NoError(t, err)

			kl := checkTLSMKeyLog(t, tlsmLog.String(), s.id)
			gkl, err := keyLog(goLog.String())
			require.NoError(t, err)
			require.Len(t, gkl, 4, "crypto/tls key log:\n%s", goLog.String())
			for l, v := range gkl {
				assert.Equal(t, v, kl[l], "%s differs from crypto/tls", l)
			}
			checkExporterSecret(t, kl, s.id, label, goExport)
		})
	}

	// OpenSSL logs all five lines, EXPORTER_SECRET included.
	t.Run("openssl-server", func(t *testing.T) {
		t.Parallel()
		var tlsmLog syncBuffer
		certFile, keyFile, _ := opensslFiles(t, cert)
		keys := filepath.Join(t.TempDir(), "keys.log")
		port := peers.FreePort(t)
		srv := peers.OpenSSLServer(t, port, certFile, keyFile, "-tls1_3", "-rev", "-naccept", "1", "-keylogfile", keys)
		c, _ := dialTLSM(t, peers.Addr(port), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", KeyLogWriter: &tlsmLog})
		require.NoError(t, handshakeTLSM(c))
		require.NoError(t, revExchange(c, seedFor(t.Name()), size))
		suite := c.ConnectionState().CipherSuite
		require.NoError(t, c.Close())
		_, err := srv.Wait(ioTimeout)
		require.NoError(t, err)
		text, err := os.ReadFile(keys)
		require.NoError(t, err)
		okl, err := keyLog(string(text))
		require.NoError(t, err)
		assert.Equal(t, okl, checkTLSMKeyLog(t, tlsmLog.String(), suite), "tlsm key log differs from openssl s_server's")
	})

	t.Run("openssl-client", func(t *testing.T) {
		t.Parallel()
		var tlsmLog syncBuffer
		_, _, caFile := opensslFiles(t, cert)
		keys := filepath.Join(t.TempDir(), "keys.log")
		seed := seedFor(t.Name())
		toServer, toClient := randomLines(seed, size, 200), randomLines(seed+1, size, 200)
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, KeyLogWriter: &tlsmLog})
		type result struct {
			state tls.ConnectionState
			err   error
		}
		done := make(chan result, 1)
		go func() {
			st, _, err := opensslClientServe(accept, toServer, toClient, seed+2)
			done <- result{st, err}
		}()
		cli := peers.OpenSSLClient(t, port, "-tls1_3", "-quiet", "-servername", "localhost",
			"-CAfile", caFile, "-verify_return_error", "-keylogfile", keys)
		go feedLines(cli, toServer)
		r := <-done
		require.NoError(t, r.err)
		_, err := cli.Wait(ioTimeout)
		require.NoError(t, err)
		text, err := os.ReadFile(keys)
		require.NoError(t, err)
		okl, err := keyLog(string(text))
		require.NoError(t, err)
		assert.Equal(t, okl, checkTLSMKeyLog(t, tlsmLog.String(), r.state.CipherSuite), "tlsm key log differs from openssl s_client's")
	})
}

// 4. Exporters.

var exporterCases = []struct {
	label   string
	context []byte
	length  int
}{
	{"EXPERIMENTAL tlsm", nil, 32},
	{"EXPERIMENTAL tlsm", []byte{}, 32},
	{"EXPERIMENTAL tlsm", []byte("some context"), 32},
	{"EXTRACTOR-dtls_srtp", nil, 60},
	{"EXPERIMENTAL a longer label for the exporter test", bytes.Repeat([]byte{0xa5}, 200), 100},
	{"EXPERIMENTAL tlsm", []byte("x"), 1},
}

func checkExporters(t *testing.T, tc *tls.Conn, gs *gotls.ConnectionState) {
	t.Helper()
	for _, ec := range exporterCases {
		want, err := gs.ExportKeyingMaterial(ec.label, ec.context, ec.length)
		require.NoError(t, err)
		got, err := tc.ExportKeyingMaterial(ec.label, ec.context, ec.length)
		require.NoError(t, err, "tlsm ExportKeyingMaterial(%q, %x, %d)", ec.label, ec.context, ec.length)
		assert.Equal(t, want, got, "ExportKeyingMaterial(%q, %x, %d)", ec.label, ec.context, ec.length)
	}
}

func TestInteropExporter(t *testing.T) {
	t.Parallel()
	cert := testcert.MustNew(testcert.ECDSAP256)
	const size = 4 << 10

	for _, s := range interopSuites {
		t.Run("crypto-tls-server_"+s.name, func(t *testing.T) {
			t.Parallel()
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
			var goState gotls.ConnectionState
			addr, done := goServer(t, &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}},
				func(c *gotls.Conn) error {
					err := exchange("crypto/tls server", c, toClient, toServer, seed+2)
					goState = c.ConnectionState()
					return err
				})
			c, _ := dialTLSM(t, addr, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", CipherSuites: []uint16{s.id}})
			require.NoError(t, exchange("tlsm client", c, toServer, toClient, seed+3))
			require.NoError(t, <-done)
			checkExporters(t, c, &goState)
		})

		t.Run("crypto-tls-client_"+s.name, func(t *testing.T) {
			t.Parallel()
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
			port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, CipherSuites: []uint16{s.id}})
			type result struct {
				c   *tls.Conn
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, _, err := accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				done <- result{c, exchange("tlsm server", c, toClient, toServer, seed+2)}
			}()
			raw, err := net.DialTimeout("tcp", peers.Addr(port), handshakeTimeout)
			require.NoError(t, err)
			gc := gotls.Client(raw, &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MinVersion: gotls.VersionTLS13})
			require.NoError(t, exchange("crypto/tls client", gc, toServer, toClient, seed+3))
			r := <-done
			require.NoError(t, r.err)
			gs := gc.ConnectionState()
			checkExporters(t, r.c, &gs)
		})
	}

	// openssl s_client -keymatexport exports with no context, which TLS 1.3
	// treats as an empty one.
	t.Run("openssl-client", func(t *testing.T) {
		t.Parallel()
		const label = "EXPERIMENTAL tlsm openssl"
		_, _, caFile := opensslFiles(t, cert)
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
		type result struct {
			export []byte
			err    error
		}
		done := make(chan result, 1)
		go func() {
			c, _, err := accept()
			if err != nil {
				done <- result{err: err}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			if err := handshakeTLSM(c); err != nil {
				done <- result{err: err}
				return
			}
			// Wait for a line, so that s_client has printed its summary.
			var b [64]byte
			if _, err := c.Read(b[:]); err != nil {
				done <- result{err: err}
				return
			}
			ekm, err := c.ExportKeyingMaterial(label, nil, 48)
			done <- result{ekm, err}
		}()
		cli := peers.OpenSSLClient(t, port, "-tls1_3", "-servername", "localhost", "-CAfile", caFile,
			"-verify_return_error", "-keymatexport", label, "-keymatexportlen", "48")
		cli.WaitOutput(t, "Keying material: ", handshakeTimeout)
		cli.Send("go")
		r := <-done
		require.NoError(t, r.err)
		cli.CloseStdin()
		_, err := cli.Wait(ioTimeout)
		require.NoError(t, err)
		m := regexp.MustCompile(`Keying material: ([0-9A-Fa-f]+)`).FindStringSubmatch(cli.Stdout())
		require.NotNil(t, m)
		assert.Equal(t, strings.ToUpper(hex.EncodeToString(r.export)), strings.ToUpper(m[1]))
	})
}

// PeerCertificates must stay intact after the handshake: the parsed
// certificates (Raw, and fields such as an Ed25519 public key that
// x509.ParseCertificate slices out of its input) must not alias a buffer
// that tlsm later reuses.
func TestPeerCertificatesNotAliased(t *testing.T) {
	t.Parallel()
	serverCert := testcert.MustNew(testcert.Ed25519)
	clientCert := testcert.MustNew(testcert.ECDSAP256)
	const size = 64 << 10

	checkRaw := func(t *testing.T, when string, cs tls.ConnectionState, want *testcert.Cert) {
		t.Helper()
		require.Len(t, cs.PeerCertificates, len(want.CertDER))
		for i, der := range want.CertDER {
			assert.NoError(t, checkSame(fmt.Sprintf("%s: tlsm PeerCertificates[%d].Raw vs the certificate the peer sent", when, i),
				der, cs.PeerCertificates[i].Raw), "BUG: parsed peer certificates alias a reused handshake buffer")
		}
		if assert.NotEmpty(t, cs.VerifiedChains) {
			assert.NoError(t, checkSame(when+": VerifiedChains[0][0].Raw", want.CertDER[0], cs.VerifiedChains[0][0].Raw))
		}
		assert.Equal(t, want.Leaf.PublicKey, cs.PeerCertificates[0].PublicKey, "%s: leaf public key", when)
	}

	t.Run("client", func(t *testing.T) {
		t.Parallel()
		seed := seedFor(t.Name())
		toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
		addr, done := goServer(t, &gotls.Config{Certificates: []gotls.Certificate{serverCert.TLSCertificate()}},
			func(c *gotls.Conn) error { return exchange("crypto/tls server", c, toClient, toServer, seed+2) })
		c, _ := dialTLSM(t, addr, &tls.Config{RootCAs: serverCert.CAPool, ServerName: "localhost"})
		require.NoError(t, handshakeTLSM(c))
		checkRaw(t, "after the handshake", c.ConnectionState(), serverCert)
		require.NoError(t, exchange("tlsm client", c, toServer, toClient, seed+3))
		require.NoError(t, <-done)
		checkRaw(t, "after 64 KiB each way", c.ConnectionState(), serverCert)
	})

	t.Run("server", func(t *testing.T) {
		t.Parallel()
		seed := seedFor(t.Name())
		toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
		port, accept := tlsmListener(t, &tls.Config{
			Certificates: []tls.Certificate{tlsmCert(serverCert)},
			ClientAuth:   fsm.RequireAndVerifyClientCert,
			ClientCAs:    clientCert.CAPool,
		})
		type result struct {
			afterHandshake, afterData tls.ConnectionState
			err                       error
		}
		done := make(chan result, 1)
		go func() {
			c, _, err := accept()
			if err != nil {
				done <- result{err: err}
				return
			}
			c.SetDeadline(time.Now().Add(ioTimeout))
			if err := handshakeTLSM(c); err != nil {
				done <- result{err: err}
				return
			}
			st := c.ConnectionState()
			err = exchange("tlsm server", c, toClient, toServer, seed+2)
			done <- result{st, c.ConnectionState(), err}
		}()
		raw, err := net.DialTimeout("tcp", peers.Addr(port), handshakeTimeout)
		require.NoError(t, err)
		gc := gotls.Client(raw, &gotls.Config{
			RootCAs:      serverCert.CAPool,
			ServerName:   "localhost",
			MinVersion:   gotls.VersionTLS13,
			Certificates: []gotls.Certificate{clientCert.TLSCertificate()},
		})
		require.NoError(t, exchange("crypto/tls client", gc, toServer, toClient, seed+3))
		r := <-done
		require.NoError(t, r.err)
		checkRaw(t, "after the handshake", r.afterHandshake, clientCert)
		checkRaw(t, "after 64 KiB each way", r.afterData, clientCert)
	})
}
