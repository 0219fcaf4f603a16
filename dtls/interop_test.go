package dtls_test

import (
	"context"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	pionsuite "github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
)

// Interop with real DTLS 1.2 peers over UDP on 127.0.0.1: pion/dtls v4
// and openssl s_server/s_client. Every connection authenticates both
// sides with ECDSA P-256 certificates that the peer verifies, negotiates
// DTLS-SRTP, checks that both ends export the same SRTP keying material,
// and carries interopMessages messages each way, stop and wait. A proxy
// between the two records every datagram, so the tests can check the
// cookie exchange and, with a 256-byte MTU, the fragmentation of the
// handshake.

const (
	aes128GCM = cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	chacha20  = cipher.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	// interopTimeout bounds every handshake.
	interopTimeout = 10 * time.Second
	// wireDTLS12 is DTLS 1.2 on the wire.
	wireDTLS12 = 0xfefd
)

// Profiles: clients prefer AEAD_AES_128_GCM, servers only know
// AES128_CM_HMAC_SHA1_80, so the server must pick the client's second
// choice.
var (
	clientSRTP = []uint16{fsm.SRTP_AEAD_AES_128_GCM, fsm.SRTP_AES128_CM_HMAC_SHA1_80}
	serverSRTP = []uint16{fsm.SRTP_AES128_CM_HMAC_SHA1_80}
	wantSRTP   = fsm.SRTP_AES128_CM_HMAC_SHA1_80
)

func interopCert(t testing.TB) (*testcert.Cert, dtls.Certificate) {
	t.Helper()
	cert, err := testcert.New(testcert.ECDSAP256)
	require.NoError(t, err)
	return cert, dtls.Certificate{Certificate: cert.CertDER, PrivateKey: cert.Key, Leaf: cert.Leaf}
}

// tlsmClientConfig and tlsmServerConfig authenticate both ways.
func tlsmClientConfig(t testing.TB, suite uint16, mtu int) *dtls.Config {
	cert, own := interopCert(t)
	return &dtls.Config{
		Certificates: []dtls.Certificate{own},
		RootCAs:      cert.CAPool, ServerName: "localhost",
		CipherSuites:           []uint16{suite},
		MinVersion:             fsm.VersionTLS12,
		MaxVersion:             fsm.VersionTLS12,
		SRTPProtectionProfiles: clientSRTP,
		MTU:                    mtu,
		RetransmitTimeout:      250 * time.Millisecond,
	}
}

func tlsmServerConfig(t testing.TB, suite uint16, mtu int) *dtls.Config {
	cert, own := interopCert(t)
	return &dtls.Config{
		Certificates: []dtls.Certificate{own},
		ClientAuth:   fsm.RequireAndVerifyClientCert, ClientCAs: cert.CAPool,
		CipherSuites:           []uint16{suite},
		MinVersion:             fsm.VersionTLS12,
		MaxVersion:             fsm.VersionTLS12,
		SRTPProtectionProfiles: serverSRTP,
		MTU:                    mtu,
		RetransmitTimeout:      250 * time.Millisecond,
	}
}

// checkTLSMState checks what a tlsm Conn negotiated and returns its SRTP
// keying material.
func checkTLSMState(t testing.TB, c *dtls.Conn, suite uint16) []byte {
	t.Helper()
	cs := c.ConnectionState()
	require.True(t, cs.HandshakeComplete)
	require.Equal(t, "DTLS1.2", fsm.VersionName(cs.Version))
	require.Equal(t, fsm.CipherSuiteName(suite), fsm.CipherSuiteName(cs.CipherSuite))
	require.NotEmpty(t, cs.PeerCertificates, "peer certificates")
	require.NotEmpty(t, cs.VerifiedChains, "peer certificate not verified")
	require.Equal(t, "localhost", cs.PeerCertificates[0].Subject.CommonName)
	require.Equal(t, wantSRTP, cs.SRTPProtectionProfile, "SRTP profile")
	ekm, err := c.ExportKeyingMaterial(srtpLabel, nil, srtpKeyingLen(t, cs.SRTPProtectionProfile))
	require.NoError(t, err)
	return ekm
}

// pionState is what a pion Conn negotiated.
type pionState struct {
	version protocol.Version
	suite   pionsuite.ID
	certs   int
	srtp    piondtls.SRTPProtectionProfile
	ekm     []byte
	err     error
}

func pionStateOf(c *piondtls.Conn) pionState {
	st, ok := c.ConnectionState()
	if !ok {
		return pionState{err: os.ErrInvalid}
	}
	ps := pionState{version: st.NegotiatedVersion(), suite: st.CipherSuiteID, certs: len(st.PeerCertificates)}
	ps.srtp, _ = c.SelectedSRTPProtectionProfile()
	ps.ekm, ps.err = st.ExportKeyingMaterial(srtpLabel, nil, 2*(16+14))
	return ps
}

// checkPionState compares the pion end with the tlsm end.
func checkPionState(t testing.TB, ps pionState, suite uint16, tlsmEKM []byte) {
	t.Helper()
	require.NoError(t, ps.err)
	require.Equal(t, protocol.Version1_2, ps.version, "pion version")
	require.Equal(t, pionsuite.ID(suite), ps.suite, "pion cipher suite")
	require.Positive(t, ps.certs, "pion saw no peer certificate")
	require.Equal(t, uint16(wantSRTP), uint16(ps.srtp), "pion SRTP profile")
	require.Len(t, tlsmEKM, 60)
	require.Equal(t, tlsmEKM, ps.ekm, "SRTP keying material differs")
}

// checkCookie checks that the server did, or did not, send a
// HelloVerifyRequest, and that the client repeated its ClientHello after
// one.
func checkCookie(t testing.TB, p *recordingProxy, cookie bool) {
	t.Helper()
	up, down := p.Stats(c2s), p.Stats(s2c)
	if cookie {
		require.Positive(t, down.fragments[hsHelloVerifyRequest], "no HelloVerifyRequest: %v", down)
		require.GreaterOrEqual(t, up.fragments[hsClientHello], 2, "ClientHello not repeated: %v", up)
	} else {
		require.Zero(t, down.fragments[hsHelloVerifyRequest], "unexpected HelloVerifyRequest: %v", down)
	}
}

// checkRecordNumbers checks that neither side sent two records with the
// same epoch and sequence number: the peer's replay window drops the
// second (RFC 6347 §4.1.2.6), which costs a retransmission timeout when it
// holds a handshake message.
func checkRecordNumbers(t testing.TB, p *recordingProxy) {
	t.Helper()
	require.Empty(t, p.Stats(c2s).dups, "client reused record numbers")
	require.Empty(t, p.Stats(s2c).dups, "server reused record numbers")
}

// checkMTU checks that every datagram one way fit mtu and that the
// sender's certificate chain was fragmented.
func checkMTU(t testing.TB, p *recordingProxy, dir, mtu int) {
	t.Helper()
	s := p.Stats(dir)
	require.LessOrEqual(t, s.maxSize, mtu, "datagram larger than the MTU: %v", s)
	require.Greater(t, s.partial[hsCertificate], 1, "certificate not fragmented: %v", s)
}

func pionOptions(suite uint16, mtu int, dtls12Only bool) []piondtls.Option {
	opts := []piondtls.Option{
		piondtls.WithCipherSuites(pionsuite.ID(suite)),
		piondtls.WithFlightInterval(250 * time.Millisecond),
	}
	if dtls12Only {
		opts = append(opts, piondtls.WithMaxVersion(protocol.Version1_2))
	}
	if mtu > 0 {
		opts = append(opts, piondtls.WithMTU(mtu))
	}
	return opts
}

func TestInteropPion(t *testing.T) {
	t.Parallel()
	clientCases := []struct {
		name   string
		suite  uint16
		cookie bool // pion's server makes the client prove its address
		mtu    int
	}{
		{name: "AES128GCM/cookie", suite: aes128GCM, cookie: true},
		{name: "CHACHA20/no-cookie/mtu256", suite: chacha20, cookie: false, mtu: 256},
	}
	for _, tc := range clientCases {
		t.Run("tlsm-client/pion-server/"+tc.name, func(t *testing.T) {
			t.Parallel()
			cert, _ := interopCert(t)
			sock, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			opts := []piondtls.ServerOption{
				piondtls.WithCertificates(cert.TLSCertificate()),
				piondtls.WithClientAuth(piondtls.RequireAndVerifyClientCert),
				piondtls.WithClientCAs(cert.CAPool),
				piondtls.WithSRTPProtectionProfiles(piondtls.SRTP_AES128_CM_HMAC_SHA1_80),
				piondtls.WithInsecureSkipVerifyHello(!tc.cookie),
			}
			for _, o := range pionOptions(tc.suite, tc.mtu, true) {
				opts = append(opts, o)
			}
			ln, err := piondtls.Listen(sock, opts...)
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close(); sock.Close() })

			type served struct {
				state pionState
				echo  echoResult
			}
			done := make(chan served, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- served{state: pionState{err: err}}
					return
				}
				defer c.Close()
				pc := c.(*piondtls.Conn)
				ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
				defer cancel()
				if err := pc.HandshakeContext(ctx); err != nil {
					done <- served{state: pionState{err: err}}
					return
				}
				st := pionStateOf(pc)
				done <- served{state: st, echo: serveEcho(pc)}
			}()

			proxy := newRecordingProxy(t, sock.LocalAddr())
			csock, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			c := dtls.Client(csock, proxy.Addr(), tlsmClientConfig(t, tc.suite, tc.mtu))
			defer c.Close()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			defer cancel()
			require.NoError(t, c.HandshakeContext(ctx))
			handshake := time.Since(start)
			ekm := checkTLSMState(t, c, tc.suite)

			start = time.Now()
			resends := exchange(t, c, proxy.Diag)
			t.Logf("handshake %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
			require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
			require.NoError(t, c.Close())

			var s served
			select {
			case s = <-done:
			case <-time.After(interopTimeout):
				t.Fatal("pion server did not finish")
			}
			checkPionState(t, s.state, tc.suite, ekm)
			require.NoError(t, s.echo.err, "pion server")
			checkSeqs(t, s.echo.seqs)
			checkCookie(t, proxy, tc.cookie)
			if tc.mtu > 0 {
				checkMTU(t, proxy, c2s, tc.mtu)
			}
			checkRecordNumbers(t, proxy)
		})
	}

	serverCases := []struct {
		name       string
		suite      uint16
		listener   bool // dtls.Listen, else dtls.Server on a socket of its own
		cookie     bool // tlsm's server makes the client prove its address
		mtu        int
		dtls12Only bool // pion offers DTLS 1.2 only, else 1.2 and 1.3
	}{
		{name: "listener/AES128GCM", suite: aes128GCM, listener: true, cookie: true, dtls12Only: true},
		{name: "server/CHACHA20/mtu256", suite: chacha20, cookie: true, mtu: 256, dtls12Only: true},
		{name: "server/no-cookie/AES128GCM", suite: aes128GCM, cookie: false, dtls12Only: true},
		{name: "listener/pion-offers-DTLS1.3", suite: aes128GCM, listener: true, cookie: true},
	}
	for _, tc := range serverCases {
		t.Run("pion-client/tlsm-server/"+tc.name, func(t *testing.T) {
			t.Parallel()
			cert, _ := interopCert(t)
			cfg := tlsmServerConfig(t, tc.suite, tc.mtu)
			cfg.InsecureSkipHelloVerify = !tc.cookie
			sock, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			proxy := newRecordingProxy(t, sock.LocalAddr())

			var accept func() (*dtls.Conn, error)
			if tc.listener {
				ln := dtls.NewListener(sock, cfg)
				t.Cleanup(func() { ln.Close() })
				accept = func() (*dtls.Conn, error) {
					c, err := ln.Accept()
					if err != nil {
						return nil, err
					}
					return c.(*dtls.Conn), nil
				}
			} else {
				accept = func() (*dtls.Conn, error) { return dtls.Server(sock, proxy.BackAddr(), cfg), nil }
			}
			done := serveTLSM(t, accept, tc.suite)

			opts := []piondtls.ClientOption{
				piondtls.WithCertificates(cert.TLSCertificate()),
				piondtls.WithRootCAs(cert.CAPool),
				piondtls.WithServerName("localhost"),
				piondtls.WithSRTPProtectionProfiles(piondtls.SRTP_AEAD_AES_128_GCM, piondtls.SRTP_AES128_CM_HMAC_SHA1_80),
			}
			for _, o := range pionOptions(tc.suite, tc.mtu, tc.dtls12Only) {
				opts = append(opts, o)
			}
			csock, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			c, err := piondtls.Client(csock, proxy.Addr(), opts...)
			require.NoError(t, err)
			defer c.Close()
			defer csock.Close()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			defer cancel()
			require.NoError(t, c.HandshakeContext(ctx), "pion client handshake")
			handshake := time.Since(start)
			ps := pionStateOf(c)

			start = time.Now()
			resends := exchange(t, c, proxy.Diag)
			t.Logf("handshake %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
			require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
			require.NoError(t, c.Close())

			s := waitServed(t, done)
			checkPionState(t, ps, tc.suite, s.ekm)
			checkSeqs(t, s.echo.seqs)
			checkCookie(t, proxy, tc.cookie)
			if tc.mtu > 0 {
				checkMTU(t, proxy, s2c, tc.mtu)
			}
			checkRecordNumbers(t, proxy)
		})
	}
}

// tlsmServed is what a tlsm server saw.
type tlsmServed struct {
	ekm  []byte
	echo echoResult
	errs []string
}

// serveTLSM runs a tlsm server Conn from accept in the background: it
// completes the handshake, checks what was negotiated, exports the SRTP
// keying material and answers messages until the client closes. The Conn
// is closed when the test ends, if not before.
func serveTLSM(t testing.TB, accept func() (*dtls.Conn, error), suite uint16) <-chan tlsmServed {
	done := make(chan tlsmServed, 1)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		var s tlsmServed
		defer func() { done <- s }()
		fail := func(format string, args ...any) { s.errs = append(s.errs, fmt.Sprintf(format, args...)) }
		c, err := accept()
		if err != nil {
			fail("accept: %v", err)
			return
		}
		defer c.Close()
		go func() {
			<-stop
			c.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			fail("handshake: %v", err)
			return
		}
		cs := c.ConnectionState()
		if v := fsm.VersionName(cs.Version); v != "DTLS1.2" {
			fail("version %s", v)
		}
		if cs.CipherSuite != suite {
			fail("cipher suite %s", fsm.CipherSuiteName(cs.CipherSuite))
		}
		if len(cs.VerifiedChains) == 0 {
			fail("client certificate not verified")
		}
		if cs.SRTPProtectionProfile != wantSRTP {
			fail("SRTP profile %#04x", cs.SRTPProtectionProfile)
		}
		if s.ekm, err = c.ExportKeyingMaterial(srtpLabel, nil, 60); err != nil {
			fail("export: %v", err)
		}
		s.echo = serveEcho(c)
	}()
	return done
}

// waitServed waits for the tlsm server of serveTLSM and checks it went well.
func waitServed(t testing.TB, done <-chan tlsmServed) tlsmServed {
	t.Helper()
	select {
	case s := <-done:
		require.Empty(t, s.errs, "tlsm server")
		require.NoError(t, s.echo.err, "tlsm server")
		return s
	case <-time.After(interopTimeout):
		t.Fatal("tlsm server did not finish")
		return tlsmServed{}
	}
}

// opensslFiles writes the certificate chain, key and CA for openssl.
func opensslFiles(t testing.TB) (certFile, keyFile, caFile string) {
	t.Helper()
	cert, _ := interopCert(t)
	certFile, keyFile, caFile, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	return certFile, keyFile, caFile
}

// opensslSuite is the OpenSSL name of a cipher suite.
func opensslSuite(suite uint16) string {
	switch suite {
	case aes128GCM:
		return "ECDHE-ECDSA-AES128-GCM-SHA256"
	case chacha20:
		return "ECDHE-ECDSA-CHACHA20-POLY1305"
	}
	return "unknown"
}

// opensslSession decodes the SSL SESSION PARAMETERS that s_server prints
// after a handshake (an ASN.1 SSL_SESSION) for the protocol version and
// the cipher suite.
func opensslSession(t testing.TB, out string) (version, suite uint16) {
	t.Helper()
	i := strings.Index(out, "-----BEGIN SSL SESSION PARAMETERS-----")
	require.GreaterOrEqual(t, i, 0, "no session parameters in s_server's output")
	block, _ := pem.Decode([]byte(out[i:]))
	require.NotNil(t, block)
	var sess struct {
		Version    int
		SSLVersion int
		Cipher     []byte
	}
	_, err := asn1.Unmarshal(block.Bytes, &sess)
	require.NoError(t, err)
	require.Len(t, sess.Cipher, 2)
	return uint16(sess.SSLVersion), uint16(sess.Cipher[0])<<8 | uint16(sess.Cipher[1])
}

// opensslMTU is the MTU of every openssl test.
const opensslMTU = 256

// opensslSRTP is the OpenSSL name of wantSRTP.
const opensslSRTP = "SRTP_AES128_CM_SHA1_80"

func TestInteropOpenSSL(t *testing.T) {
	t.Parallel()
	peers.Need(t, "openssl")

	for _, tc := range []struct {
		name   string
		listen bool // s_server -listen: DTLSv1_listen's cookie exchange
		suite  uint16
	}{
		{name: "listen/AES128GCM", listen: true, suite: aes128GCM},
		{name: "no-listen/CHACHA20", listen: false, suite: chacha20},
	} {
		t.Run("tlsm-client/s_server/"+tc.name, func(t *testing.T) {
			t.Parallel()
			certFile, keyFile, caFile := opensslFiles(t)
			port := peers.FreeUDPPort(t)
			args := []string{"-dtls1_2", "-mtu", "256",
				"-Verify", "1", "-CAfile", caFile, "-verify_return_error",
				"-use_srtp", opensslSRTP,
				"-keymatexport", srtpLabel, "-keymatexportlen", "60"}
			if tc.listen {
				args = append(args, "-listen")
			}
			srv := peers.OpenSSLServer(t, port, certFile, keyFile, args...)
			addr, err := net.ResolveUDPAddr("udp", peers.Addr(port))
			require.NoError(t, err)
			proxy := newRecordingProxy(t, addr)

			csock, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			c := dtls.Client(csock, proxy.Addr(), tlsmClientConfig(t, tc.suite, opensslMTU))
			defer c.Close()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
			defer cancel()
			require.NoError(t, c.HandshakeContext(ctx))
			handshake := time.Since(start)
			ekm := checkTLSMState(t, c, tc.suite)

			srv.WaitOutput(t, "Keying material: ", interopTimeout)
			out := srv.Stdout()
			version, suite := opensslSession(t, out)
			require.Equal(t, uint16(wireDTLS12), version, "s_server's protocol version")
			require.Equal(t, tc.suite, suite, "s_server's cipher suite")
			require.Contains(t, out, "CIPHER is "+opensslSuite(tc.suite))
			require.Contains(t, out, "SRTP Extension negotiated, profile="+opensslSRTP)
			require.Equal(t, ekm, keyingMaterial(t, out), "SRTP keying material differs")

			start = time.Now()
			resends := exchangeWithServer(t, c, srv, proxy.Diag)
			t.Logf("handshake %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
			require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")

			// openssl checks the MTU too: its datagrams fit, and it
			// fragmented its certificate.
			checkMTU(t, proxy, c2s, opensslMTU)
			checkMTU(t, proxy, s2c, opensslMTU)
			// s_server turns on SSL_OP_COOKIE_EXCHANGE for DTLS with or
			// without -listen; -listen makes it stateless (DTLSv1_listen).
			checkCookie(t, proxy, true)
			// s_server prints DONE when it reads close_notify.
			require.NoError(t, c.Close())
			srv.WaitOutput(t, "DONE", interopTimeout)
			require.NotContains(t, srv.Stdout(), "ERROR")
			checkRecordNumbers(t, proxy)
		})
	}

	t.Run("s_client/tlsm-listener/AES128GCM", func(t *testing.T) {
		t.Parallel()
		certFile, keyFile, caFile := opensslFiles(t)
		const suite = aes128GCM
		ln, err := dtls.Listen("udp", "127.0.0.1:0", tlsmServerConfig(t, suite, opensslMTU))
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		proxy := newRecordingProxy(t, ln.Addr())

		done := serveTLSM(t, func() (*dtls.Conn, error) {
			c, err := ln.Accept()
			if err != nil {
				return nil, err
			}
			return c.(*dtls.Conn), nil
		}, suite)

		start := time.Now()
		port := proxy.Addr().(*net.UDPAddr).Port
		cli := peers.OpenSSLClient(t, port, "-dtls1_2", "-mtu", "256",
			"-servername", "localhost",
			"-cert", certFile, "-key", keyFile,
			"-CAfile", caFile, "-verify_return_error", "-verify_hostname", "localhost",
			"-cipher", opensslSuite(suite),
			"-use_srtp", "SRTP_AEAD_AES_128_GCM:"+opensslSRTP,
			"-keymatexport", srtpLabel, "-keymatexportlen", "60")
		cli.WaitOutput(t, "Keying material: ", interopTimeout)
		handshake := time.Since(start)
		out := cli.Stdout()
		require.Contains(t, out, "Protocol  : DTLSv1.2")
		require.Contains(t, out, "Cipher    : "+opensslSuite(suite))
		require.Contains(t, out, "SRTP Extension negotiated, profile="+opensslSRTP)
		require.Contains(t, out, "Verify return code: 0 (ok)")

		start = time.Now()
		resends := exchangeWithClient(t, cli, out, proxy.Diag)
		t.Logf("handshake (with process start) %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
		require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
		// At the end of its input s_client sends close_notify and exits,
		// which ends the echo with io.EOF.
		start = time.Now()
		cli.CloseStdin()
		code, err := cli.Wait(interopTimeout)
		t.Logf("s_client exited %v after the end of its input", time.Since(start))
		require.NoError(t, err)
		require.Zero(t, code, "s_client exit status")

		s := waitServed(t, done)
		require.Equal(t, keyingMaterial(t, out), s.ekm, "SRTP keying material differs")
		checkSeqs(t, s.echo.seqs)
		checkCookie(t, proxy, true)
		checkMTU(t, proxy, c2s, opensslMTU)
		checkMTU(t, proxy, s2c, opensslMTU)
		checkRecordNumbers(t, proxy)
	})
}

// exchangeWithServer runs interopMessages round trips between a tlsm
// client c and openssl s_server srv, which prints what it receives and
// sends the lines of its stdin: the test sends a message from c, waits
// for srv to print it, has srv answer, and checks the answer c reads.
func exchangeWithServer(t testing.TB, c *dtls.Conn, srv *peers.Proc, diag func() string) (resends int) {
	t.Helper()
	buf := make([]byte, 1<<16)
	off := len(srv.Stdout())
	for i := range interopMessages {
		msg := message("c2s", i, randomPayload(i))
		ans := string(answer([]byte(msg)))
		// Client to server.
		for attempt := 1; ; attempt++ {
			require.LessOrEqual(t, attempt, maxAttempts, "message %d never reached s_server", i)
			if attempt > 1 {
				resends++
				t.Logf("message %d: s_server did not print it within %v, resending; %s", i, replyWait, diag())
			}
			_, err := c.Write([]byte(msg))
			require.NoError(t, err)
			var ok bool
			if off, ok = waitOutput(srv, off, msg, replyWait); ok {
				break
			}
		}
		// Server to client.
	answer:
		for attempt := 1; ; attempt++ {
			require.LessOrEqual(t, attempt, maxAttempts, "answer %d never reached tlsm", i)
			if attempt > 1 {
				resends++
				t.Logf("answer %d: not read within %v, resending; %s", i, replyWait, diag())
			}
			srv.Send(strings.TrimSuffix(ans, "\n"))
			require.NoError(t, c.SetReadDeadline(time.Now().Add(replyWait)))
			for {
				n, err := c.Read(buf)
				if isTimeout(err) {
					continue answer
				}
				require.NoError(t, err, "read answer %d", i)
				// s_server sends what one read of its stdin returned:
				// after a resend, that may be two lines.
				got := false
				for _, line := range strings.SplitAfter(string(buf[:n]), "\n") {
					if seq := seqOf([]byte(line)); line == "" || seq >= 0 && seq < i {
						continue
					}
					require.Equal(t, ans, line, "answer %d", i)
					got = true
				}
				if got {
					break answer
				}
			}
		}
	}
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	return resends
}

// exchangeWithClient runs interopMessages round trips between openssl
// s_client cli, which sends the lines of its stdin and prints what it
// receives, and a tlsm server that answers each message.
func exchangeWithClient(t testing.TB, cli *peers.Proc, before string, diag func() string) (resends int) {
	t.Helper()
	off := len(before)
	for i := range interopMessages {
		msg := message("c2s", i, randomPayload(i))
		ans := string(answer([]byte(msg)))
		for attempt := 1; ; attempt++ {
			require.LessOrEqual(t, attempt, maxAttempts, "no answer to message %d", i)
			if attempt > 1 {
				resends++
				t.Logf("message %d: no answer within %v, resending; %s", i, replyWait, diag())
			}
			cli.Send(strings.TrimSuffix(msg, "\n"))
			var ok bool
			if off, ok = waitOutput(cli, off, ans, replyWait); ok {
				break
			}
		}
	}
	return resends
}

// TestListenerRecordNumbersAfterCookie drives a Listener with a raw tlsm
// client core, so the record numbers are under the test's control. RFC
// 6347 §4.2.1: a stateless server "MUST use the record sequence number in
// the ClientHello as the record sequence number in the
// HelloVerifyRequest", so that its HelloVerifyRequests, and then its
// ServerHello, never reuse a record number. A peer's replay window drops a
// record whose number it has seen: pion and OpenSSL then wait a whole
// retransmission timeout for the ServerHello (see the reused record
// numbers TestInteropPion and TestInteropOpenSSL report for the listener).
func TestListenerRecordNumbersAfterCookie(t *testing.T) {
	cc, sc := configs(t)
	ln := listen(t, sc)
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer raw.Close()
	buf := make([]byte, 1<<16)
	read := func() []byte {
		t.Helper()
		require.NoError(t, raw.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := raw.ReadFrom(buf)
		require.NoError(t, err)
		return append([]byte(nil), buf[:n]...)
	}

	// A client whose epoch-0 record numbers start at 7, as after a
	// retransmission or two.
	client := fsm.NewDTLSClient(cc)
	hello := firstFlight(t, client)
	setRecordSeq(hello, 7)
	_, err = raw.WriteTo(hello, ln.Addr())
	require.NoError(t, err)
	hvr := read()
	require.Equal(t, byte(hsHelloVerifyRequest), hvr[13], "HelloVerifyRequest")
	hvrSeq := recordSeq(hvr)
	assert.Equal(t, uint64(7), hvrSeq, "HelloVerifyRequest's record number is not the ClientHello's")

	require.NoError(t, client.HandleDatagram(time.Now(), hvr))
	hello2 := nextTransmit(t, client)
	setRecordSeq(hello2, 8)
	_, err = raw.WriteTo(hello2, ln.Addr())
	require.NoError(t, err)
	flight := read()
	require.Equal(t, byte(22), flight[0])
	require.Equal(t, byte(2), flight[13], "ServerHello")
	assert.Greater(t, recordSeq(flight), hvrSeq,
		"ServerHello's record number %d reuses or precedes the HelloVerifyRequest's %d", recordSeq(flight), hvrSeq)
}
