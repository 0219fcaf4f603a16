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
	for _, tc := range []struct {
		name     string
		suite    uint16
		listener bool // dtls.Listen, else dtls.Server on a socket of its own
		mtu      int
	}{
		{name: "tlsm-listener/AES128GCM", suite: aes128GCM, listener: true},
		{name: "tlsm-server/CHACHA20/mtu256", suite: chacha20, mtu: 256},
	} {
		t.Run("gnutls-cli/"+tc.name, func(t *testing.T) {
			t.Parallel()
			testGnuTLSClient(t, tc.suite, tc.listener, tc.mtu)
		})
	}
	for _, tc := range []struct {
		name  string
		suite uint16
		mtu   int
	}{
		{name: "CHACHA20", suite: chacha20},
		{name: "AES128GCM/mtu256", suite: aes128GCM, mtu: 256},
	} {
		t.Run("tlsm-client/gnutls-serv/"+tc.name, func(t *testing.T) {
			t.Parallel()
			testGnuTLSServer(t, tc.suite, tc.mtu)
		})
	}
}

// testGnuTLSClient runs gnutls-cli --udp against a tlsm server, which
// answers the lines gnutls-cli sends; at the end of its input gnutls-cli
// closes the connection.
func testGnuTLSClient(t *testing.T, suite uint16, listener bool, mtu int) {
	peers.Need(t, "gnutls-cli")
	certFile, keyFile, caFile := opensslFiles(t)
	sock, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := newRecordingProxy(t, sock.LocalAddr())
	done := serveTLSM(t, tlsmAccept(t, sock, proxy.BackAddr(), tlsmServerConfig(t, suite, mtu), listener), suite)

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
func testGnuTLSServer(t *testing.T, suite uint16, mtu int) {
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
	c := dtls.Client(csock, proxy.Addr(), tlsmClientConfig(t, suite, mtu))
	defer c.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	require.NoError(t, c.HandshakeContext(ctx))
	handshake := time.Since(start)
	checkTLSMState(t, c, suite)

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
