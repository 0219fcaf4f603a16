package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
)

// chromiumFlags run headless Chromium for WebRTC on loopback. With mDNS
// names off, its candidates carry real addresses, and its checks reach our
// 127.0.0.1 candidate from 127.0.0.1. Its log on standard error holds the
// page's lines, shown if a test fails. Killing its process group ends it;
// its crash reporter, in a session of its own, follows it by itself
// (--disable-crashpad-for-testing, which would keep it in the group, makes
// its network service crash instead).
var chromiumFlags = []string{
	"--headless=new",
	"--no-sandbox",
	"--disable-gpu",
	"--allow-loopback-in-peer-connection",
	"--disable-features=WebRtcHideLocalIpsWithMdns",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--enable-logging=stderr",
}

const (
	// chromiumTimeout bounds one mode, from starting Chromium to the
	// result; the three modes stay within a minute.
	chromiumTimeout = 15 * time.Second
	// profileRemoval bounds waiting for Chromium's processes to let go of
	// its files after they were killed.
	profileRemoval = 5 * time.Second
)

// TestChromium connects headless Chromium to tlsm in each mode, with
// DTLS 1.3 enabled and without: ICE on loopback, DTLS with DTLS-SRTP, a
// data channel echoed over SCTP. Chromium offers DTLS 1.3 first, so the
// version is the highest tlsm enables. It checks tlsm's view of the
// connection and that the browser's getStats() agrees. Without chromium
// it is skipped, except in CI, where it fails.
func TestChromium(t *testing.T) {
	peers.Need(t, "chromium")
	for _, opts := range allOptions() {
		t.Run(opts.String(), func(t *testing.T) {
			r := connectChromium(t, opts)
			t.Log(r)
			require.NoError(t, r.Err, "tlsm's side")
			require.Empty(t, r.Browser.Error, "the page")
			checkTLSMSide(t, opts, r)
			checkBrowserAgrees(t, opts, r)
			checkChromiumKeyExchange(t, opts, r)
		})
	}
}

// checkChromiumKeyExchange checks the groups: Chromium's ClientHello
// carries an X25519MLKEM768 share and an X25519 one, which do not fit
// one datagram; over DTLS 1.3 the hybrid is taken, with no retry for a
// share (a HelloRetryRequest, for the cookie, brings the same shares
// again); DTLS 1.2 takes an ECDH group.
func checkChromiumKeyExchange(t *testing.T, opts Options, r Result) {
	t.Helper()
	if !opts.DTLS13 {
		assert.Equal(t, fsm.X25519, r.CurveID)
	} else {
		assert.Equal(t, fsm.X25519MLKEM768, r.CurveID)
	}
	if opts.Mode == ModeClient {
		return
	}
	require.NotEmpty(t, r.Hellos, "no ClientHello seen")
	for i, h := range r.Hellos {
		assert.Contains(t, h.KeyShares, fsm.X25519MLKEM768, "ClientHello %d", i)
		assert.GreaterOrEqual(t, h.Datagrams, 2, "ClientHello %d in one datagram", i)
	}
	if opts.DTLS13 && r.HelloRetryRequest {
		require.Len(t, r.Hellos, 2)
		assert.Equal(t, r.Hellos[0].KeyShares, r.Hellos[1].KeyShares, "the retry asked for another share")
	}
}

// connectChromium serves the page with opts, points headless Chromium at
// it, and returns the session's result.
func connectChromium(t *testing.T, opts Options) Result {
	t.Helper()
	srv, err := NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	ln, err := listenLoopback("127.0.0.1:0")
	require.NoError(t, err)
	httpServer := &http.Server{Handler: srv}
	go httpServer.Serve(ln)
	t.Cleanup(func() { httpServer.Close() })

	// Chromium keeps its profile and, through TMPDIR, its singleton
	// socket in a directory of the test's.
	dir := chromiumDir(t)
	url := "http://" + ln.Addr().String() + "/"
	args := append([]string{"TMPDIR=" + dir, "chromium"}, chromiumFlags...)
	args = append(args, "--user-data-dir="+filepath.Join(dir, "profile"), url)
	browser := peers.Start(t, "env", args...)
	defer browser.Kill()
	select {
	case r := <-srv.Results():
		return r
	case <-time.After(chromiumTimeout):
		t.Fatalf("no result from Chromium within %v", chromiumTimeout)
		return Result{}
	}
}

// chromiumDir returns a new directory for Chromium's files. It is removed
// once the test's processes are killed; the removal is retried while
// Chromium's last processes exit.
func chromiumDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tlsm-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		deadline := time.Now().Add(profileRemoval)
		for {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("removing Chromium's files: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// checkTLSMSide checks what tlsm negotiated: the version opts allow, a
// suite of that version, one of our SRTP profiles with its keys, the
// echo, all over loopback.
func checkTLSMSide(t *testing.T, opts Options, r Result) {
	t.Helper()
	host, _, err := net.SplitHostPort(r.ICEPeer)
	require.NoError(t, err)
	assert.True(t, net.ParseIP(host).IsLoopback(), "ICE peer %s is not on loopback", r.ICEPeer)
	assert.Equal(t, opts.wantVersion(), r.Version, "version %#04x", r.Version)
	suitePrefix := "TLS_ECDHE_" // DTLS 1.2 suites name the key exchange
	if opts.DTLS13 {
		suitePrefix = "TLS_AES_"
	}
	assert.True(t, strings.HasPrefix(fsm.CipherSuiteName(r.CipherSuite), suitePrefix), "suite %#04x", r.CipherSuite)
	assert.Contains(t, srtpPreference, r.SRTPProfile, "SRTP profile %#04x", r.SRTPProfile)
	require.NotNil(t, r.SRTPKeys)
	assert.Equal(t, SRTPKeyingMaterialLen(r.SRTPProfile), r.SRTPKeys.KeyingMaterialLen)
	if r.SRTPProfile == fsm.SRTP_AES128_CM_HMAC_SHA1_80 {
		assert.Equal(t, 60, r.SRTPKeys.KeyingMaterialLen, "2 × (16 + 14)")
	}
	assert.NotEmpty(t, r.Echoed)
}

// checkBrowserAgrees checks that the browser's getStats() says what tlsm
// says, and that its message came back.
func checkBrowserAgrees(t *testing.T, opts Options, r Result) {
	t.Helper()
	b := r.Browser
	assert.Equal(t, "connected", b.DTLSState)
	assert.Equal(t, fmt.Sprintf("%04X", opts.wantVersion()), b.TLSVersion)
	assert.Equal(t, fsm.CipherSuiteName(r.CipherSuite), b.DTLSCipher)
	assert.Equal(t, SRTPProfileName(r.SRTPProfile), b.SRTPCipher)
	wantRole := "client"
	if opts.Mode == ModeClient {
		wantRole = "server"
	}
	assert.Equal(t, wantRole, b.DTLSRole)
	assert.Equal(t, b.Sent, r.Echoed, "what tlsm's side echoed")
	assert.Equal(t, b.Sent, b.Echo, "what came back to the page")
}
