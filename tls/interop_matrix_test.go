package tls_test

// The suite matrix and client certificates against real peers, one table
// over the protocol version: a version adds rows, not tests. Go's
// crypto/tls runs in process and the openssl binary as a child process
// (see internal/peers); every connection runs over TCP on 127.0.0.1.

import (
	gotls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// suiteCase is one row of the suite matrix: a version, the server's
// certificate kind, a suite and, in TLS 1.3, the key exchange group
// (the only share offered, so that no HelloRetryRequest muddles the
// matrix: TestInteropHRR covers that).
type suiteCase struct {
	version      uint16
	kind         testcert.Kind
	suite        uint16
	opensslSuite string // what openssl -ciphersuites or -cipher takes and -brief prints
	group        fsm.CurveID
	opensslGroup string // TLS 1.3 only
}

// suiteMatrix is every TLS 1.3 suite with every group and certificate
// kind, and the six TLS 1.2 suites with the certificate kind each needs
// plus Ed25519 once with an ECDHE_ECDSA suite (RFC 8422).
func suiteMatrix() []suiteCase {
	var rows []suiteCase
	for _, kind := range interopKinds {
		for _, s := range interopSuites {
			for _, cv := range interopCurves {
				rows = append(rows, suiteCase{fsm.VersionTLS13, kind, s.id, s.name, cv.id, cv.name})
			}
		}
	}
	for _, s := range interop12Cases {
		rows = append(rows, suiteCase{version: fsm.VersionTLS12, kind: s.kind, suite: s.id, opensslSuite: s.openssl})
	}
	return rows
}

func (c suiteCase) name() string {
	name := fmt.Sprintf("%s_%s_%s", fsm.VersionName(c.version), c.kind, fsm.CipherSuiteName(c.suite))
	if c.opensslGroup != "" {
		name += "_" + c.opensslGroup
	}
	return name
}

// tlsmConfig restricts a tlsm config to the row's version, suite and group.
func (c suiteCase) tlsmConfig(cfg *tls.Config) *tls.Config {
	cfg.MinVersion, cfg.MaxVersion = c.version, c.version
	cfg.CipherSuites = []uint16{c.suite}
	if c.group != 0 {
		cfg.CurvePreferences = []fsm.CurveID{c.group}
	}
	return cfg
}

// goConfig restricts a crypto/tls config to the row's version and group
// (crypto/tls does not let TLS 1.3 suites be chosen; tlsm's side does).
func (c suiteCase) goConfig(cfg *gotls.Config) *gotls.Config {
	cfg.MinVersion, cfg.MaxVersion = c.version, c.version
	if c.group != 0 {
		cfg.CurvePreferences = []gotls.CurveID{gotls.CurveID(c.group)}
	}
	return cfg
}

// opensslArgs are the s_server or s_client flags of the row.
func (c suiteCase) opensslArgs() []string {
	if c.version == fsm.VersionTLS12 {
		return []string{"-tls1_2", "-cipher", c.opensslSuite}
	}
	return []string{"-tls1_3", "-ciphersuites", c.opensslSuite, "-groups", c.opensslGroup}
}

// checkWire asserts the handshake seen on the tapped tlsm side: in TLS
// 1.3 one ClientHello with one share and the row's suite and group, in
// TLS 1.2 a ServerHello choosing the suite with no supported_versions
// and no downgrade sentinel.
func (c suiteCase) checkWire(t *testing.T, tap *tapConn, tlsmClient bool) {
	t.Helper()
	if c.version == fsm.VersionTLS12 {
		checkHello12(t, serverHelloOf(t, tap, tlsmClient), c.suite, false)
		return
	}
	checkPlainHandshake(t, requireSummary(t, tap, tlsmClient), c.suite, c.group, tlsmClient)
}

// checkGoState asserts what crypto/tls reports of the row's handshake.
func (c suiteCase) checkGoState(t *testing.T, gs gotls.ConnectionState) {
	t.Helper()
	assert.Equal(t, c.version, gs.Version)
	assert.Equal(t, c.suite, gs.CipherSuite, "crypto/tls suite %s", gotls.CipherSuiteName(gs.CipherSuite))
	if c.group != 0 {
		assert.Equal(t, gotls.CurveID(c.group), gs.CurveID, "crypto/tls CurveID")
	}
	assert.False(t, gs.HelloRetryRequest)
}

// checkState asserts a completed handshake of version with suite and,
// when peerLeaf is set, a verified peer certificate.
func checkState(t *testing.T, cs tls.ConnectionState, version, suite uint16, peerLeaf *x509.Certificate) {
	t.Helper()
	assert.True(t, cs.HandshakeComplete)
	assert.Equal(t, fsm.VersionName(version), fsm.VersionName(cs.Version), "tlsm ConnectionState.Version")
	assert.Equal(t, fsm.CipherSuiteName(suite), fsm.CipherSuiteName(cs.CipherSuite), "tlsm ConnectionState.CipherSuite")
	if peerLeaf != nil {
		if assert.NotEmpty(t, cs.PeerCertificates) {
			// Identified by serial number (a random 127-bit value), not by
			// Raw: see TestPeerCertificatesNotAliased.
			assert.Equal(t, peerLeaf.SerialNumber, cs.PeerCertificates[0].SerialNumber, "tlsm sees the wrong peer certificate")
		}
		assert.NotEmpty(t, cs.VerifiedChains, "tlsm VerifiedChains")
	}
}

// serverResult is what a tlsm server goroutine reports to its test.
type serverResult struct {
	state tls.ConnectionState
	tap   *tapConn
	err   error
}

// serveExchange accepts one connection and runs exchange on it.
func serveExchange(accept func() (*tls.Conn, *tapConn, error), out, wantIn []byte, seed uint64) <-chan serverResult {
	done := make(chan serverResult, 1)
	go func() {
		c, tap, err := accept()
		if err != nil {
			done <- serverResult{err: err}
			return
		}
		err = exchange("tlsm server", c, out, wantIn, seed)
		done <- serverResult{c.ConnectionState(), tap, err}
	}()
	return done
}

// dialGo dials a tlsm server on port with a crypto/tls client.
func dialGo(t *testing.T, port int, cfg *gotls.Config) *gotls.Conn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", peers.Addr(port), handshakeTimeout)
	require.NoError(t, err)
	return gotls.Client(raw, cfg)
}

// opensslClientRun runs `openssl s_client -brief` with args against a
// tlsm server on port fed toServer, and waits until s_client printed
// toClient and exited cleanly; it returns s_client's stderr and the tlsm
// server's result.
func opensslClientRun(t *testing.T, port int, accept func() (*tls.Conn, *tapConn, error), toServer, toClient []byte, seed uint64, args ...string) (string, serverResult) {
	t.Helper()
	done := make(chan serverResult, 1)
	printed := make(chan struct{})
	go func() {
		st, tap, err := opensslClientServeUntil(accept, toServer, toClient, seed, printed)
		done <- serverResult{st, tap, err}
	}()
	cli := peers.OpenSSLClient(t, port, append([]string{"-quiet", "-brief", "-servername", "localhost", "-verify_return_error"}, args...)...)
	go feedLines(cli, toServer)

	// Close only once s_client has printed everything: it can exit on
	// close_notify with received data unprinted.
	out := waitStdout(cli, len(toClient), ioTimeout)
	close(printed)
	var r serverResult
	select {
	case r = <-done:
	case <-time.After(ioTimeout + 5*time.Second):
		t.Fatal("tlsm server did not finish")
	}
	require.NoError(t, r.err)
	require.NoError(t, checkSame("openssl s_client stdout", toClient, []byte(out)))
	code, err := cli.Wait(ioTimeout)
	require.NoError(t, err)
	assert.Equal(t, 0, code, "s_client exit status")
	return cli.Stderr(), r
}

// 1. The suite matrix against crypto/tls and openssl, both roles.

func TestInteropCryptoTLSServer(t *testing.T) {
	t.Parallel()
	for _, row := range suiteMatrix() {
		t.Run(row.name(), func(t *testing.T) {
			t.Parallel()
			cert := testcert.MustNew(row.kind)
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, mib), randomBytes(seed+1, mib)

			var goState gotls.ConnectionState
			addr, done := goServer(t, row.goConfig(&gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}}),
				func(c *gotls.Conn) error {
					err := exchange("crypto/tls server", c, toClient, toServer, seed+2)
					goState = c.ConnectionState()
					return err
				})
			c, tap := dialTLSM(t, addr, row.tlsmConfig(&tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}))
			require.NoError(t, handshakeTLSM(c))
			checkState(t, c.ConnectionState(), row.version, row.suite, cert.Leaf)
			require.NoError(t, exchange("tlsm client", c, toServer, toClient, seed+3))
			require.NoError(t, <-done)

			row.checkGoState(t, goState)
			row.checkWire(t, tap, true)
		})
	}
}

func TestInteropCryptoTLSClient(t *testing.T) {
	t.Parallel()
	for _, row := range suiteMatrix() {
		t.Run(row.name(), func(t *testing.T) {
			t.Parallel()
			cert := testcert.MustNew(row.kind)
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, mib), randomBytes(seed+1, mib)

			port, accept := tlsmListener(t, row.tlsmConfig(&tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}}))
			done := serveExchange(accept, toClient, toServer, seed+2)
			gc := dialGo(t, port, row.goConfig(&gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}))
			require.NoError(t, exchange("crypto/tls client", gc, toServer, toClient, seed+3))
			r := <-done
			require.NoError(t, r.err)

			gs := gc.ConnectionState()
			row.checkGoState(t, gs)
			if assert.NotEmpty(t, gs.PeerCertificates) {
				assert.True(t, cert.Leaf.Equal(gs.PeerCertificates[0]))
			}
			checkState(t, r.state, row.version, row.suite, nil)
			row.checkWire(t, r.tap, false)
		})
	}
}

func TestInteropOpenSSLServer(t *testing.T) {
	t.Parallel()
	peers.Need(t, "openssl")
	for _, row := range suiteMatrix() {
		t.Run(row.name(), func(t *testing.T) {
			t.Parallel()
			cert := testcert.MustNew(row.kind)
			certFile, keyFile, _ := opensslFiles(t, cert)
			port := peers.FreePort(t)
			srv := peers.OpenSSLServer(t, port, certFile, keyFile, append([]string{"-rev", "-naccept", "1"}, row.opensslArgs()...)...)

			c, tap := dialTLSM(t, peers.Addr(port), row.tlsmConfig(&tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}))
			require.NoError(t, handshakeTLSM(c))
			checkState(t, c.ConnectionState(), row.version, row.suite, cert.Leaf)
			require.NoError(t, revExchange(c, seedFor(t.Name()), mib))
			require.NoError(t, c.Close())

			_, err := srv.Wait(ioTimeout)
			require.NoError(t, err)
			// s_server -rev reports the connection on stderr.
			out := srv.Stderr()
			assert.Contains(t, out, "Protocol version: "+opensslVersionName(row.version))
			assert.Contains(t, out, "Ciphersuite: "+row.opensslSuite+"\n")
			row.checkWire(t, tap, true)
		})
	}
}

func TestInteropOpenSSLClient(t *testing.T) {
	t.Parallel()
	peers.Need(t, "openssl")
	for _, row := range suiteMatrix() {
		t.Run(row.name(), func(t *testing.T) {
			t.Parallel()
			cert := testcert.MustNew(row.kind)
			_, _, caFile := opensslFiles(t, cert)
			seed := seedFor(t.Name())
			toServer := randomLines(seed, mib, 4000)
			toClient := randomLines(seed+1, mib, 4000)

			port, accept := tlsmListener(t, row.tlsmConfig(&tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}}))
			info, r := opensslClientRun(t, port, accept, toServer, toClient, seed+2, append([]string{"-CAfile", caFile}, row.opensslArgs()...)...)

			checkState(t, r.state, row.version, row.suite, nil)
			// s_client -brief reports the connection on stderr.
			assert.Contains(t, info, "Protocol version: "+opensslVersionName(row.version))
			assert.Contains(t, info, "Ciphersuite: "+row.opensslSuite+"\n")
			assert.Contains(t, info, "Verification: OK")
			row.checkWire(t, r.tap, false)
		})
	}
}

// 2. Client certificates, per version, peer and direction.

func TestInteropClientCert(t *testing.T) {
	t.Parallel()
	for _, version := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		t.Run(fsm.VersionName(version), func(t *testing.T) {
			t.Parallel()
			clientCertCases(t, version)
		})
	}
}

// clientCertCases runs the client certificate cases of one version.
func clientCertCases(t *testing.T, version uint16) {
	serverCert := testcert.MustNew(testcert.ECDSAP256)
	const size = 64 << 10
	only := suiteCase{version: version}
	opensslVersion := "-tls1_3"
	if version == fsm.VersionTLS12 {
		opensslVersion = "-tls1_2"
	}

	for _, kind := range interopKinds {
		clientCert := testcert.MustNew(kind)

		t.Run("tlsm-client_crypto-tls-server_"+kind.String(), func(t *testing.T) {
			t.Parallel()
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
			var goState gotls.ConnectionState
			addr, done := goServer(t, only.goConfig(&gotls.Config{
				Certificates: []gotls.Certificate{serverCert.TLSCertificate()},
				ClientAuth:   gotls.RequireAndVerifyClientCert,
				ClientCAs:    clientCert.CAPool,
			}), func(c *gotls.Conn) error {
				err := exchange("crypto/tls server", c, toClient, toServer, seed+2)
				goState = c.ConnectionState()
				return err
			})
			c, _ := dialTLSM(t, addr, &tls.Config{
				RootCAs:      serverCert.CAPool,
				ServerName:   "localhost",
				Certificates: []tls.Certificate{tlsmCert(clientCert)},
			})
			require.NoError(t, handshakeTLSM(c))
			cs := c.ConnectionState()
			checkState(t, cs, version, cs.CipherSuite, serverCert.Leaf)
			require.NoError(t, exchange("tlsm client", c, toServer, toClient, seed+3))
			require.NoError(t, <-done)
			assert.Equal(t, version, goState.Version)
			require.NotEmpty(t, goState.PeerCertificates)
			assert.True(t, clientCert.Leaf.Equal(goState.PeerCertificates[0]), "crypto/tls got the wrong client certificate")
			assert.NotEmpty(t, goState.VerifiedChains)
		})

		t.Run("crypto-tls-client_tlsm-server_"+kind.String(), func(t *testing.T) {
			t.Parallel()
			seed := seedFor(t.Name())
			toServer, toClient := randomBytes(seed, size), randomBytes(seed+1, size)
			port, accept := tlsmListener(t, &tls.Config{
				Certificates: []tls.Certificate{tlsmCert(serverCert)},
				ClientAuth:   fsm.RequireAndVerifyClientCert,
				ClientCAs:    clientCert.CAPool,
			})
			done := serveExchange(accept, toClient, toServer, seed+2)
			gc := dialGo(t, port, only.goConfig(&gotls.Config{
				RootCAs:      serverCert.CAPool,
				ServerName:   "localhost",
				Certificates: []gotls.Certificate{clientCert.TLSCertificate()},
			}))
			require.NoError(t, exchange("crypto/tls client", gc, toServer, toClient, seed+3))
			r := <-done
			require.NoError(t, r.err)
			assert.Equal(t, version, gc.ConnectionState().Version)
			checkState(t, r.state, version, r.state.CipherSuite, clientCert.Leaf)
		})

		t.Run("tlsm-client_openssl-server_"+kind.String(), func(t *testing.T) {
			t.Parallel()
			certFile, keyFile, _ := opensslFiles(t, serverCert)
			_, _, clientCAFile := opensslFiles(t, clientCert)
			port := peers.FreePort(t)
			srv := peers.OpenSSLServer(t, port, certFile, keyFile, opensslVersion, "-rev", "-naccept", "1",
				"-Verify", "1", "-CAfile", clientCAFile, "-verify_return_error")
			c, _ := dialTLSM(t, peers.Addr(port), &tls.Config{
				RootCAs:      serverCert.CAPool,
				ServerName:   "localhost",
				Certificates: []tls.Certificate{tlsmCert(clientCert)},
			})
			require.NoError(t, handshakeTLSM(c))
			cs := c.ConnectionState()
			checkState(t, cs, version, cs.CipherSuite, serverCert.Leaf)
			require.NoError(t, revExchange(c, seedFor(t.Name()), size))
			require.NoError(t, c.Close())
			_, err := srv.Wait(ioTimeout)
			require.NoError(t, err)
			out := srv.Stderr()
			assert.Contains(t, out, "Protocol version: "+opensslVersionName(version))
			assert.Contains(t, out, "Peer certificate: O = tlsm test, CN = localhost", "s_server did not get our client certificate")
			assert.Contains(t, out, "depth=1 O = tlsm test, CN = tlsm test CA "+kind.String(), "s_server did not verify our chain")
			assert.NotContains(t, out, "No peer certificate")
		})

		t.Run("openssl-client_tlsm-server_"+kind.String(), func(t *testing.T) {
			t.Parallel()
			_, _, caFile := opensslFiles(t, serverCert)
			clientCertFile, clientKeyFile, _ := opensslFiles(t, clientCert)
			seed := seedFor(t.Name())
			toServer, toClient := randomLines(seed, size, 200), randomLines(seed+1, size, 200)
			port, accept := tlsmListener(t, &tls.Config{
				Certificates: []tls.Certificate{tlsmCert(serverCert)},
				ClientAuth:   fsm.RequireAndVerifyClientCert,
				ClientCAs:    clientCert.CAPool,
			})
			info, r := opensslClientRun(t, port, accept, toServer, toClient, seed+2,
				opensslVersion, "-CAfile", caFile, "-cert", clientCertFile, "-key", clientKeyFile)
			checkState(t, r.state, version, r.state.CipherSuite, clientCert.Leaf)
			assert.Contains(t, info, "Protocol version: "+opensslVersionName(version))
		})
	}

	// Without a certificate, a server that requires one must refuse.
	t.Run("tlsm-client_crypto-tls-server_missing", func(t *testing.T) {
		t.Parallel()
		addr, done := goServer(t, only.goConfig(&gotls.Config{
			Certificates: []gotls.Certificate{serverCert.TLSCertificate()},
			ClientAuth:   gotls.RequireAndVerifyClientCert,
			ClientCAs:    serverCert.CAPool,
		}), func(c *gotls.Conn) error {
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			return c.Handshake()
		})
		c, _ := dialTLSM(t, addr, &tls.Config{RootCAs: serverCert.CAPool, ServerName: "localhost"})
		c.SetDeadline(time.Now().Add(ioTimeout))
		err := handshakeTLSM(c)
		if err == nil {
			_, err = c.Read(make([]byte, 1))
		}
		assert.Error(t, err, "tlsm client without a certificate was not refused")
		assert.Error(t, <-done, "crypto/tls server accepted a client without a certificate")
	})

	t.Run("crypto-tls-client_tlsm-server_missing", func(t *testing.T) {
		t.Parallel()
		port, accept := tlsmListener(t, &tls.Config{
			Certificates: []tls.Certificate{tlsmCert(serverCert)},
			ClientAuth:   fsm.RequireAndVerifyClientCert,
			ClientCAs:    serverCert.CAPool,
		})
		done := make(chan error, 1)
		go func() {
			c, _, err := accept()
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			done <- handshakeTLSM(c)
		}()
		gc := dialGo(t, port, only.goConfig(&gotls.Config{RootCAs: serverCert.CAPool, ServerName: "localhost"}))
		defer gc.Close()
		gc.SetDeadline(time.Now().Add(ioTimeout))
		err := gc.Handshake()
		if err == nil {
			_, err = gc.Read(make([]byte, 1))
		}
		assert.Error(t, err, "crypto/tls client without a certificate was not refused")
		var ae gotls.AlertError
		if version == fsm.VersionTLS13 && errors.As(err, &ae) {
			assert.Equal(t, gotls.AlertError(116), ae, "want a certificate_required alert")
		}
		assert.Error(t, <-done, "tlsm server accepted a client without a certificate")
	})
}
