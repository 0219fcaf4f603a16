package tls_test

// Interoperability tests of version negotiation and downgrade protection
// against real peers: Go's crypto/tls (in process) and the openssl binary
// (as a child process, see internal/peers). Every connection runs over TCP
// on 127.0.0.1.

import (
	gotls "crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// checkHello12 asserts a TLS 1.2 ServerHello choosing suite, with no
// supported_versions and, unless sentinel, no downgrade sentinel.
func checkHello12(t *testing.T, h helloInfo, suite uint16, sentinel bool) {
	t.Helper()
	assert.Equal(t, uint16(fsm.VersionTLS12), h.legacyVersion, "ServerHello.legacy_version")
	assert.Zero(t, h.supportedVersion, "TLS 1.2 ServerHello with supported_versions")
	assert.Equal(t, fsm.CipherSuiteName(suite), fsm.CipherSuiteName(h.suite), "ServerHello cipher suite")
	require.Len(t, h.random, 32, "ServerHello.random")
	assert.Equal(t, sentinel, h.hasSentinel(), "downgrade sentinel in ServerHello.random[24:] = %q", h.random[24:])
}

// 1. Version negotiation: every tlsm range against every peer range, both
// peers, both roles.

var (
	tls12Only = versionRange{fsm.VersionTLS12, fsm.VersionTLS12}
	tls13Only = versionRange{fsm.VersionTLS13, fsm.VersionTLS13}
	tlsBoth   = versionRange{fsm.VersionTLS12, fsm.VersionTLS13}
	// tlsEmpty is MinVersion 1.3 with MaxVersion 1.2: nothing enabled.
	tlsEmpty = versionRange{fsm.VersionTLS13, fsm.VersionTLS12}
)

// negotiation is what one side of a negotiation case saw.
type negotiation struct {
	version uint16 // negotiated version, 0 on failure
	err     error
}

// versionCase is one cell of the matrix.
type versionCase struct {
	ours, peer versionRange
	tlsmClient bool
}

// want returns the version the case must negotiate, or 0.
func (vc versionCase) want() uint16 { return vc.ours.common(vc.peer) }

// tlsmSendsAlert reports whether tlsm (rather than the peer) must send the
// protocol_version alert of a failing case: the server does, as it is the
// one to choose. (A tlsm client that enables no version sends nothing.)
func (vc versionCase) tlsmSendsAlert() bool { return !vc.tlsmClient }

// checkTLSMNegotiation asserts what tlsm saw.
func checkTLSMNegotiation(t *testing.T, vc versionCase, n negotiation) {
	t.Helper()
	want := vc.want()
	if want != 0 {
		require.NoError(t, n.err, "tlsm")
		assert.Equal(t, fsm.VersionName(want), fsm.VersionName(n.version), "tlsm negotiated version")
		return
	}
	require.Error(t, n.err, "tlsm: handshake succeeded with no version in common")
	if vc.tlsmClient && vc.ours == tlsEmpty {
		assert.ErrorIs(t, n.err, fsm.ErrUnsupportedVersion, "tlsm client enabling no version")
		return
	}
	assert.ErrorIs(t, n.err, fsm.Alert(70), "tlsm: want a protocol_version alert, got %s", describeAlert(n.err))
	if ae, ok := alertOf(n.err); ok {
		assert.Equal(t, !vc.tlsmSendsAlert(), ae.Received, "tlsm: protocol_version alert direction (%s)", describeAlert(n.err))
	}
}

// ping and pong are the application data of a negotiation case: the
// client sends ping, the server answers pong.
const (
	ping = "ping\n"
	pong = "pong\n"
)

// serveOne reads a ping and answers pong.
func serveOne(c io.ReadWriter) error {
	buf := make([]byte, len(ping))
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("server read: %w", err)
	}
	if string(buf) != ping {
		return fmt.Errorf("server read %q", buf)
	}
	_, err := io.WriteString(c, pong)
	return err
}

// askOne sends a ping and expects want back.
func askOne(c io.ReadWriter, want string) error {
	if _, err := io.WriteString(c, ping); err != nil {
		return fmt.Errorf("client write: %w", err)
	}
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("client read: %w", err)
	}
	if string(buf) != want {
		return fmt.Errorf("client read %q, want %q", buf, want)
	}
	return nil
}

func TestInterop12VersionNegotiation(t *testing.T) {
	t.Parallel()
	cert := testcert.MustNew(testcert.ECDSAP256)
	type namedRange struct {
		name string
		r    versionRange
	}
	ranges := []namedRange{{"1.2", tls12Only}, {"1.3", tls13Only}, {"both", tlsBoth}}
	// tlsm also runs with MinVersion 1.3 and MaxVersion 1.2.
	ourRanges := append(slices.Clone(ranges), namedRange{"none", tlsEmpty})

	for _, ours := range ourRanges {
		for _, peer := range ranges {
			for _, tlsmClient := range []bool{true, false} {
				vc := versionCase{ours: ours.r, peer: peer.r, tlsmClient: tlsmClient}
				role := "tlsm-server"
				if tlsmClient {
					role = "tlsm-client"
				}
				name := fmt.Sprintf("%s_tlsm-%s_peer-%s", role, ours.name, peer.name)
				t.Run("crypto-tls_"+name, func(t *testing.T) {
					t.Parallel()
					versionCaseGo(t, vc, cert)
				})
				t.Run("openssl_"+name, func(t *testing.T) {
					t.Parallel()
					peers.Need(t, "openssl")
					versionCaseOpenSSL(t, vc, cert)
				})
			}
		}
	}
}

func versionCaseGo(t *testing.T, vc versionCase, cert *testcert.Cert) {
	want := vc.want()
	var ours, theirs negotiation
	if vc.tlsmClient {
		var goState gotls.ConnectionState
		addr, done := goServer(t, goVersionRange(&gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}}, vc.peer),
			func(c *gotls.Conn) error {
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				if err := c.Handshake(); err != nil {
					return err
				}
				goState = c.ConnectionState()
				return serveOne(c)
			})
		c, _ := dialTLSM(t, addr, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MinVersion: vc.ours.min, MaxVersion: vc.ours.max})
		c.SetDeadline(time.Now().Add(ioTimeout))
		ours.err = handshakeTLSM(c)
		if ours.err == nil {
			ours.version = c.ConnectionState().Version
			ours.err = askOne(c, pong)
		}
		c.Close()
		theirs.err = <-done
		theirs.version = goState.Version
	} else {
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, MinVersion: vc.ours.min, MaxVersion: vc.ours.max})
		done := make(chan negotiation, 1)
		go func() {
			c, _, err := accept()
			if err != nil {
				done <- negotiation{err: err}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			var n negotiation
			if n.err = handshakeTLSM(c); n.err == nil {
				n.version = c.ConnectionState().Version
				n.err = serveOne(c)
			}
			done <- n
		}()
		raw, err := net.DialTimeout("tcp", peers.Addr(port), handshakeTimeout)
		require.NoError(t, err)
		gc := gotls.Client(raw, goVersionRange(&gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}, vc.peer))
		gc.SetDeadline(time.Now().Add(ioTimeout))
		if theirs.err = gc.Handshake(); theirs.err == nil {
			theirs.version = gc.ConnectionState().Version
			theirs.err = askOne(gc, pong)
		}
		gc.Close()
		ours = <-done
	}

	checkTLSMNegotiation(t, vc, ours)
	if want != 0 {
		require.NoError(t, theirs.err, "crypto/tls")
		assert.Equal(t, fsm.VersionName(want), fsm.VersionName(theirs.version), "crypto/tls negotiated version")
		return
	}
	require.Error(t, theirs.err, "crypto/tls: handshake succeeded with no version in common")
	if vc.tlsmClient && vc.ours == tlsEmpty {
		return // tlsm sent nothing; crypto/tls saw the connection close
	}
	assert.True(t, goVersionError(theirs.err, !vc.tlsmSendsAlert()),
		"crypto/tls error %q: want a protocol_version alert %s", theirs.err, map[bool]string{true: "sent", false: "received"}[!vc.tlsmSendsAlert()])
}

func versionCaseOpenSSL(t *testing.T, vc versionCase, cert *testcert.Cert) {
	want := vc.want()
	var ours negotiation
	var peer *peers.Proc
	if vc.tlsmClient {
		certFile, keyFile, _ := opensslFiles(t, cert)
		port := peers.FreePort(t)
		peer = peers.OpenSSLServer(t, port, certFile, keyFile,
			append([]string{"-rev", "-naccept", "1"}, opensslVersionArgs(vc.peer)...)...)
		c, _ := dialTLSM(t, peers.Addr(port), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MinVersion: vc.ours.min, MaxVersion: vc.ours.max})
		c.SetDeadline(time.Now().Add(ioTimeout))
		ours.err = handshakeTLSM(c)
		if ours.err == nil {
			ours.version = c.ConnectionState().Version
			ours.err = askOne(c, "gnip\n")
		}
		c.Close()
	} else {
		_, _, caFile := opensslFiles(t, cert)
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, MinVersion: vc.ours.min, MaxVersion: vc.ours.max})
		done := make(chan negotiation, 1)
		go func() {
			c, _, err := accept()
			if err != nil {
				done <- negotiation{err: err}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			var n negotiation
			if n.err = handshakeTLSM(c); n.err == nil {
				n.version = c.ConnectionState().Version
				n.err = serveOne(c)
			}
			done <- n
		}()
		peer = peers.OpenSSLClient(t, port, append([]string{"-quiet", "-brief", "-servername", "localhost",
			"-CAfile", caFile, "-verify_return_error"}, opensslVersionArgs(vc.peer)...)...)
		peer.Send(strings.TrimSuffix(ping, "\n"))
		select {
		case ours = <-done:
		case <-time.After(ioTimeout + 5*time.Second):
			t.Fatal("tlsm server did not finish")
		}
		if want != 0 {
			assert.Equal(t, pong, waitStdout(peer, len(pong), ioTimeout), "s_client stdout")
		}
	}
	_, err := peer.Wait(ioTimeout)
	require.NoError(t, err)

	checkTLSMNegotiation(t, vc, ours)
	info := peer.Stderr()
	if want != 0 {
		assert.Contains(t, info, "Protocol version: "+opensslVersionName(want), "openssl negotiated version")
		return
	}
	assert.NotContains(t, info, "CONNECTION ESTABLISHED")
	switch {
	case vc.tlsmClient && vc.ours == tlsEmpty:
		// tlsm sent nothing.
	case vc.tlsmSendsAlert():
		assert.Contains(t, info, "alert protocol version", "openssl did not receive a protocol_version alert")
	default:
		assert.Contains(t, info, "unsupported protocol", "openssl did not refuse the version")
	}
}

// serveOneAsync accepts one connection, completes the handshake and
// answers one line (serveOne); the result arrives on the channel.
func serveOneAsync(accept func() (*tls.Conn, *tapConn, error)) <-chan serverResult {
	done := make(chan serverResult, 1)
	go func() {
		c, tap, err := accept()
		if err != nil {
			done <- serverResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		if err := handshakeTLSM(c); err != nil {
			done <- serverResult{tap: tap, err: err}
			return
		}
		done <- serverResult{c.ConnectionState(), tap, serveOne(c)}
	}()
	return done
}

// 2. Downgrade protection (RFC 8446, section 4.1.3).

func TestInterop12Downgrade(t *testing.T) {
	t.Parallel()
	cert := testcert.MustNew(testcert.ECDSAP256)

	// A server that only supports TLS 1.2 sets no sentinel, so a tlsm
	// client that offers TLS 1.3 goes ahead with TLS 1.2.
	t.Run("tlsm-client-max13_crypto-tls-server-12", func(t *testing.T) {
		t.Parallel()
		var goState gotls.ConnectionState
		addr, done := goServer(t, goVersionRange(&gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}}, tls12Only),
			func(c *gotls.Conn) error {
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				if err := c.Handshake(); err != nil {
					return err
				}
				goState = c.ConnectionState()
				return serveOne(c)
			})
		c, tap := dialTLSM(t, addr, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MaxVersion: fsm.VersionTLS13})
		c.SetDeadline(time.Now().Add(ioTimeout))
		require.NoError(t, handshakeTLSM(c))
		require.NoError(t, askOne(c, pong))
		require.NoError(t, <-done)
		cs := c.ConnectionState()
		checkState(t, cs, fsm.VersionTLS12, goState.CipherSuite, cert.Leaf)
		assert.Equal(t, uint16(gotls.VersionTLS12), goState.Version)
		checkHello12(t, serverHelloOf(t, tap, true), goState.CipherSuite, false)
	})

	t.Run("tlsm-client-max13_openssl-server-12", func(t *testing.T) {
		t.Parallel()
		certFile, keyFile, _ := opensslFiles(t, cert)
		port := peers.FreePort(t)
		srv := peers.OpenSSLServer(t, port, certFile, keyFile, "-tls1_2", "-rev", "-naccept", "1")
		c, tap := dialTLSM(t, peers.Addr(port), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MaxVersion: fsm.VersionTLS13})
		c.SetDeadline(time.Now().Add(ioTimeout))
		require.NoError(t, handshakeTLSM(c))
		require.NoError(t, askOne(c, "gnip\n"))
		cs := c.ConnectionState()
		require.NoError(t, c.Close())
		_, err := srv.Wait(ioTimeout)
		require.NoError(t, err)
		checkState(t, cs, fsm.VersionTLS12, cs.CipherSuite, cert.Leaf)
		assert.Contains(t, srv.Stderr(), "Protocol version: TLSv1.2")
		checkHello12(t, serverHelloOf(t, tap, true), cs.CipherSuite, false)
	})

	// tlsmServer12 runs a tlsm server with cfg against a crypto/tls client
	// with goCfg, and returns both states, the client's error and the
	// ServerHello on the wire.
	tlsmServer12 := func(t *testing.T, cfg *tls.Config, goCfg *gotls.Config) (tls.ConnectionState, gotls.ConnectionState, helloInfo, error) {
		t.Helper()
		port, accept := tlsmListener(t, cfg)
		done := serveOneAsync(accept)
		raw, err := net.DialTimeout("tcp", peers.Addr(port), handshakeTimeout)
		require.NoError(t, err)
		gc := gotls.Client(raw, goCfg)
		gc.SetDeadline(time.Now().Add(ioTimeout))
		gerr := gc.Handshake()
		if gerr == nil {
			gerr = askOne(gc, pong)
		}
		gc.Close()
		r := <-done
		var h helloInfo
		if r.tap != nil {
			h = serverHelloOf(t, r.tap, false)
		}
		if gerr == nil {
			require.NoError(t, r.err, "tlsm server")
		}
		return r.state, gc.ConnectionState(), h, gerr
	}
	goClient := func(r versionRange) *gotls.Config {
		return goVersionRange(&gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}, r)
	}

	// A tlsm server that could do TLS 1.3 marks a TLS 1.2 ServerHello.
	t.Run("tlsm-server-max13_crypto-tls-client-12", func(t *testing.T) {
		t.Parallel()
		st, gs, h, gerr := tlsmServer12(t, &tls.Config{
			Certificates: []tls.Certificate{tlsmCert(cert)},
			MinVersion:   fsm.VersionTLS12,
			MaxVersion:   fsm.VersionTLS13,
		}, goClient(tls12Only))
		require.NoError(t, gerr)
		checkState(t, st, fsm.VersionTLS12, gs.CipherSuite, nil)
		assert.Equal(t, uint16(gotls.VersionTLS12), gs.Version)
		checkHello12(t, h, gs.CipherSuite, true)
		assert.Equal(t, "DOWNGRD\x01", string(h.random[24:32]), "ServerHello.random[24:32]")
	})

	t.Run("tlsm-server-max13_openssl-client-12", func(t *testing.T) {
		t.Parallel()
		peers.Need(t, "openssl")
		_, _, caFile := opensslFiles(t, cert)
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
		done := serveOneAsync(accept)
		cli := peers.OpenSSLClient(t, port, "-tls1_2", "-quiet", "-brief", "-servername", "localhost",
			"-CAfile", caFile, "-verify_return_error")
		cli.Send(strings.TrimSuffix(ping, "\n"))
		r := <-done
		require.NoError(t, r.err)
		assert.Equal(t, pong, waitStdout(cli, len(pong), ioTimeout))
		_, err := cli.Wait(ioTimeout)
		require.NoError(t, err)
		checkState(t, r.state, fsm.VersionTLS12, r.state.CipherSuite, nil)
		h := serverHelloOf(t, r.tap, false)
		checkHello12(t, h, r.state.CipherSuite, true)
	})

	// A tlsm server limited to TLS 1.2 sets no sentinel: a crypto/tls
	// client offering TLS 1.3 would abort on one.
	for _, peer := range []struct {
		name string
		r    versionRange
	}{{"12", tls12Only}, {"13", tlsBoth}} {
		t.Run("tlsm-server-max12_crypto-tls-client-"+peer.name, func(t *testing.T) {
			t.Parallel()
			st, gs, h, gerr := tlsmServer12(t, &tls.Config{
				Certificates: []tls.Certificate{tlsmCert(cert)},
				MaxVersion:   fsm.VersionTLS12,
			}, goClient(peer.r))
			require.NoError(t, gerr)
			checkState(t, st, fsm.VersionTLS12, gs.CipherSuite, nil)
			assert.Equal(t, uint16(gotls.VersionTLS12), gs.Version)
			checkHello12(t, h, gs.CipherSuite, false)
		})
	}

	// TLS 1.3 is also off when no TLS 1.3 suite is enabled (see
	// Config.CipherSuites): such a server is a TLS 1.2 server and must not
	// set the sentinel, or every client offering TLS 1.3 aborts.
	t.Run("tlsm-server-12-suites-only_crypto-tls-client-13", func(t *testing.T) {
		t.Parallel()
		st, gs, h, gerr := tlsmServer12(t, &tls.Config{
			Certificates: []tls.Certificate{tlsmCert(cert)},
			CipherSuites: cipher.TLS12Suites(),
		}, goClient(tlsBoth))
		assert.NoError(t, gerr, "a tlsm server with only TLS 1.2 suites (TLS 1.3 off) set the downgrade sentinel")
		if gerr == nil {
			checkState(t, st, fsm.VersionTLS12, gs.CipherSuite, nil)
		}
		checkHello12(t, h, h.suite, false)
	})

	// An active attacker removes supported_versions from the ClientHello
	// of a client offering TLS 1.3, so that a server supporting TLS 1.3
	// negotiates TLS 1.2: the sentinel must make the client abort with an
	// illegal_parameter alert.
	t.Run("attack_tlsm-client_crypto-tls-server", func(t *testing.T) {
		t.Parallel()
		addr, done := goServer(t, goVersionRange(&gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}}, tlsBoth),
			func(c *gotls.Conn) error {
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				return c.Handshake()
			})
		proxy, proxied := downgradeProxy(t, addr)
		c, tap := dialTLSM(t, proxy, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
		c.SetDeadline(time.Now().Add(ioTimeout))
		err := handshakeTLSM(c)
		c.Close()
		require.NoError(t, <-proxied)
		require.Error(t, err, "tlsm client accepted a downgrade to TLS 1.2")
		assert.ErrorIs(t, err, fsm.Alert(47), "want illegal_parameter, got %s", describeAlert(err))
		if ae, ok := alertOf(err); ok {
			assert.False(t, ae.Received, "tlsm must send the alert")
		}
		gerr := <-done
		require.Error(t, gerr)
		assert.Contains(t, gerr.Error(), "illegal parameter", "crypto/tls server did not receive illegal_parameter")
		assert.True(t, serverHelloOf(t, tap, true).hasSentinel(), "crypto/tls sent no sentinel")
	})

	t.Run("attack_tlsm-client_openssl-server", func(t *testing.T) {
		t.Parallel()
		certFile, keyFile, _ := opensslFiles(t, cert)
		port := peers.FreePort(t)
		srv := peers.OpenSSLServer(t, port, certFile, keyFile, "-rev", "-naccept", "1")
		proxy, proxied := downgradeProxy(t, peers.Addr(port))
		c, tap := dialTLSM(t, proxy, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
		c.SetDeadline(time.Now().Add(ioTimeout))
		err := handshakeTLSM(c)
		c.Close()
		require.NoError(t, <-proxied)
		require.Error(t, err, "tlsm client accepted a downgrade to TLS 1.2")
		assert.ErrorIs(t, err, fsm.Alert(47), "want illegal_parameter, got %s", describeAlert(err))
		_, werr := srv.Wait(ioTimeout)
		require.NoError(t, werr)
		assert.Contains(t, srv.Stderr(), "alert illegal parameter")
		assert.True(t, serverHelloOf(t, tap, true).hasSentinel(), "openssl sent no sentinel")
	})

	t.Run("attack_crypto-tls-client_tlsm-server", func(t *testing.T) {
		t.Parallel()
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
		type result struct {
			tap *tapConn
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, tap, err := accept()
			if err != nil {
				done <- result{err: err}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			done <- result{tap, handshakeTLSM(c)}
		}()
		proxy, proxied := downgradeProxy(t, peers.Addr(port))
		raw, err := net.DialTimeout("tcp", proxy, handshakeTimeout)
		require.NoError(t, err)
		gc := gotls.Client(raw, goClient(tlsBoth))
		gc.SetDeadline(time.Now().Add(ioTimeout))
		gerr := gc.Handshake()
		gc.Close()
		r := <-done
		require.NoError(t, <-proxied)
		require.Error(t, gerr, "crypto/tls accepted the downgrade: tlsm set no sentinel")
		assert.Contains(t, gerr.Error(), "downgrade attempt detected")
		require.Error(t, r.err)
		assert.ErrorIs(t, r.err, fsm.Alert(47), "want illegal_parameter, got %s", describeAlert(r.err))
		h := serverHelloOf(t, r.tap, false)
		checkHello12(t, h, h.suite, true)
	})

	t.Run("attack_openssl-client_tlsm-server", func(t *testing.T) {
		t.Parallel()
		peers.Need(t, "openssl")
		_, _, caFile := opensslFiles(t, cert)
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
		type result struct {
			tap *tapConn
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, tap, err := accept()
			if err != nil {
				done <- result{err: err}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			done <- result{tap, handshakeTLSM(c)}
		}()
		proxy, proxied := downgradeProxy(t, peers.Addr(port))
		_, proxyPort, err := net.SplitHostPort(proxy)
		require.NoError(t, err)
		pport, err := strconv.Atoi(proxyPort)
		require.NoError(t, err)
		cli := peers.OpenSSLClient(t, pport, "-quiet", "-brief", "-servername", "localhost", "-CAfile", caFile, "-verify_return_error")
		r := <-done
		require.NoError(t, <-proxied)
		_, werr := cli.Wait(ioTimeout)
		require.NoError(t, werr)
		require.Error(t, r.err)
		assert.ErrorIs(t, r.err, fsm.Alert(47), "want illegal_parameter, got %s", describeAlert(r.err))
		assert.Contains(t, cli.Stderr(), "inappropriate fallback", "s_client did not detect the downgrade")
		h := serverHelloOf(t, r.tap, false)
		checkHello12(t, h, h.suite, true)
	})
}
