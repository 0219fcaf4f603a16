package dtls_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
)

// Interop with GnuTLS 3.7 over DTLS 1.2, as TestInteropOpenSSL: gnutls-cli
// against a tlsm listener and dtls.Server, a tlsm client against
// gnutls-serv, certificates verified both ways, DTLS-SRTP, and messages
// each way through a recording proxy. gnutls-serv binds every interface,
// so it runs in a network namespace of its own with only loopback, where
// the proxy and the tlsm client make their sockets too.

const (
	// gnutlsPriority limits GnuTLS to DTLS 1.2.
	gnutlsPriority = "NORMAL:-VERS-ALL:+VERS-DTLS1.2"
	// gnutlsSRTP is wantSRTP in GnuTLS's words; GnuTLS 3.7 has no
	// AEAD_AES_128_GCM, so its client puts SHA1_32 first instead.
	gnutlsSRTP       = "SRTP_AES128_CM_HMAC_SHA1_80"
	gnutlsClientSRTP = "SRTP_AES128_CM_HMAC_SHA1_32:" + gnutlsSRTP
	// gnutlsPort is gnutls-serv's port, in its own namespace.
	gnutlsPort = 5684
)

// gnutlsCipher is how gnutls-cli names a cipher suite's cipher.
func gnutlsCipher(suite uint16) string {
	switch suite {
	case aes128GCM:
		return "(AES-128-GCM)"
	case chacha20:
		return "(CHACHA20-POLY1305)"
	}
	return "unknown"
}

func TestInteropGnuTLS(t *testing.T) {
	t.Parallel()
	for _, tc := range []gnutlsCase{
		{name: "tlsm-listener/AES128GCM/tlsm-asks-for-cid", suite: aes128GCM, listener: true, cid: true},
		{name: "tlsm-server/CHACHA20/mtu256", suite: chacha20, mtu: 256},
	} {
		t.Run("gnutls-cli/"+tc.name, func(t *testing.T) {
			t.Parallel()
			testGnuTLSClient(t, tc)
		})
	}
	for _, tc := range []gnutlsCase{
		{name: "CHACHA20/tlsm-asks-for-cid", suite: chacha20, cid: true},
		{name: "AES128GCM/mtu256", suite: aes128GCM, mtu: 256},
	} {
		t.Run("tlsm-client/gnutls-serv/"+tc.name, func(t *testing.T) {
			t.Parallel()
			testGnuTLSServer(t, tc)
		})
	}
}

// gnutlsCase is a tlsm end against a GnuTLS one.
type gnutlsCase struct {
	name     string
	suite    uint16
	listener bool // tlsm's server is dtls.Listen, else dtls.Server
	mtu      int
	// cid has tlsm ask for Connection IDs, which GnuTLS 3.7 does not
	// know: none are used.
	cid bool
}

// config sets tlsm's Connection IDs as the case says.
func (tc gnutlsCase) config(cfg *dtls.Config) *dtls.Config {
	if tc.cid {
		cfg.ConnectionIDs = &fsm.ConnectionIDs{Length: 8}
	}
	return cfg
}

// testGnuTLSClient runs gnutls-cli --udp against a tlsm server, which
// answers the lines gnutls-cli sends; at the end of its input gnutls-cli
// closes the connection.
func testGnuTLSClient(t *testing.T, tc gnutlsCase) {
	peers.Need(t, "gnutls-cli")
	suite, mtu := tc.suite, tc.mtu
	certFile, keyFile, caFile := opensslFiles(t)
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := newRecordingProxy(t, sock.LocalAddr())
	done := serveTLSM(t, tlsmAccept(t, sock, proxy.BackAddr(), tc.config(tlsmServerConfig(t, suite, mtu)), tc.listener), suite)

	port := proxy.Addr().(*net.UDPAddr).Port
	args := []string{"-o0", "gnutls-cli", "--udp", "--priority", gnutlsPriority,
		"--x509cafile", caFile, "--verify-hostname", "localhost",
		"--x509certfile", certFile, "--x509keyfile", keyFile,
		"--srtp-profiles", gnutlsClientSRTP,
		"--keymatexport", srtpLabel, "--keymatexportsize", "60",
		"-p", strconv.Itoa(port), peers.Loopback}
	if mtu > 0 {
		args = append(args, "--mtu", strconv.Itoa(mtu))
	}
	start := time.Now()
	cli := peers.Start(t, "stdbuf", args...)
	cli.WaitOutput(t, "- Handshake was completed", interopTimeout)
	handshake := time.Since(start)
	out := cli.Stdout()
	require.Contains(t, out, "- Status: The certificate is trusted.")
	require.Contains(t, out, "- Description: (DTLS1.2-X.509)")
	require.Contains(t, out, gnutlsCipher(suite))
	require.Contains(t, out, "- SRTP profile: "+gnutlsSRTP)
	ekm := keyingMaterialAfter(t, out, "- Key material: ")

	start = time.Now()
	resends := exchangeWithClient(t, cli, out, proxy.Diag)
	t.Logf("handshake (with process start) %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	cli.CloseStdin()
	code, err := cli.Wait(interopTimeout)
	require.NoError(t, err)
	require.Zero(t, code, "gnutls-cli exit status")

	s := waitServed(t, done)
	require.Equal(t, ekm, s.ekm, "SRTP keying material differs")
	require.False(t, s.state.ConnectionIDNegotiated, "Connection IDs with GnuTLS")
	checkSeqs(t, s.echo.seqs)
	checkCookie(t, proxy, true)
	if mtu > 0 {
		checkMTU(t, proxy, c2s, mtu)
		checkMTU(t, proxy, s2c, mtu)
	}
	checkRecordNumbers(t, proxy)
}

// testGnuTLSServer runs a tlsm client against gnutls-serv --udp --echo,
// which sends every message back as it came.
func testGnuTLSServer(t *testing.T, tc gnutlsCase) {
	suite, mtu := tc.suite, tc.mtu
	certFile, keyFile, caFile := opensslFiles(t)
	args := []string{"--udp", "--echo", "-p", strconv.Itoa(gnutlsPort), "--priority", gnutlsPriority,
		"--x509certfile", certFile, "--x509keyfile", keyFile,
		"--require-client-cert", "--verify-client-cert", "--x509cafile", caFile,
		"--srtp-profiles", gnutlsSRTP}
	if mtu > 0 {
		args = append(args, "--mtu", strconv.Itoa(mtu))
	}
	srv := peers.StartIsolated(t, "gnutls-serv", args...)
	srv.WaitOutput(t, fmt.Sprintf("port %d...done", gnutlsPort), peers.StartTimeout)
	ns := srv.NetNS()
	proxy := newRecordingProxyIn(t, ns, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: gnutlsPort})
	csock, err := ns.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	c := dtls.Client(csock, proxy.Addr(), tc.config(tlsmClientConfig(t, suite, mtu)))
	defer c.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx))
	handshake := time.Since(start)
	checkTLSMState(t, c, suite)
	require.False(t, c.ConnectionState().ConnectionIDNegotiated, "Connection IDs with GnuTLS")

	start = time.Now()
	resends := exchangeReplies(t, c, 0, interopMessages, echoed, proxy.Diag)
	t.Logf("handshake %v, %d round trips %v, %d resent", handshake, interopMessages, time.Since(start), resends)
	require.LessOrEqual(t, resends, maxLosses, "too many losses on loopback")
	require.NoError(t, c.Close())

	checkCookie(t, proxy, true)
	if mtu > 0 {
		checkMTU(t, proxy, c2s, mtu)
		checkMTU(t, proxy, s2c, mtu)
	}
	checkRecordNumbers(t, proxy)
}

// echoed is the answer of an echo server.
func echoed(msg []byte) []byte { return msg }
