package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// chromiumOffer is an offer of Chromium 156 for one data channel, with
// mDNS names off and no media permission: candidates of its default
// route only.
const chromiumOffer = "v=0\r\n" +
	"o=- 1896029848038356211 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"a=extmap-allow-mixed\r\n" +
	"a=msid-semantic: WMS\r\n" +
	"m=application 46421 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	"c=IN IP4 192.0.2.2\r\n" +
	"a=candidate:2539641378 1 udp 2113937151 192.0.2.2 46421 typ host generation 0 network-cost 999\r\n" +
	"a=candidate:2418914962 1 udp 2113942271 fd00::2 45426 typ host generation 0 network-cost 999\r\n" +
	"a=ice-ufrag:aR9t\r\n" +
	"a=ice-pwd:T08LnP/ncnjsKTbCPSFbfPUc\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 75:A3:CF:50:0F:73:D1:DB:2C:57:D3:73:10:C1:8A:DE:49:97:25:33:CC:AF:C8:1C:5F:6A:E4:2E:5C:D6:27:70\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=sctp-port:5000\r\n" +
	"a=max-message-size:262144\r\n"

func TestParseOffer(t *testing.T) {
	o, err := parseOffer(chromiumOffer)
	require.NoError(t, err)
	assert.Equal(t, "aR9t", o.ufrag)
	assert.Equal(t, "T08LnP/ncnjsKTbCPSFbfPUc", o.pwd)
	assert.Equal(t, "actpass", o.setup)
	assert.Equal(t, "0", o.mid)
	assert.Equal(t, "75a3cf500f73d1db2c57d37310c18ade49972533ccafc81c5f6ae42e5cd62770", hex.EncodeToString(o.fingerprint[:]))
	require.Len(t, o.candidates, 2)
	assert.True(t, strings.HasPrefix(o.candidates[0], "candidate:2539641378 1 udp "))
}

func TestParseOfferRefuses(t *testing.T) {
	for name, edit := range map[string]func(string) string{
		"audio":          func(s string) string { return strings.Replace(s, "m=application", "m=audio", 1) },
		"no ufrag":       func(s string) string { return strings.Replace(s, "a=ice-ufrag:aR9t\r\n", "", 1) },
		"no fingerprint": func(s string) string { return strings.Replace(s, "a=fingerprint:", "a=x-fingerprint:", 1) },
		"sha-1":          func(s string) string { return strings.Replace(s, "sha-256 ", "sha-1 ", 1) },
		"short":          func(s string) string { return strings.Replace(s, ":27:70\r\n", "\r\n", 1) },
		"no setup":       func(s string) string { return strings.Replace(s, "a=setup:actpass\r\n", "", 1) },
	} {
		_, err := parseOffer(edit(chromiumOffer))
		assert.Error(t, err, name)
	}
}

func TestAnswerReadsBack(t *testing.T) {
	der := []byte("a certificate")
	a := &answer{
		sessionID: 7, ufrag: "uf", pwd: "password", fingerprint: formatFingerprint(der),
		setup: "passive", mid: "data", candidates: []string{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"},
	}
	sdp := a.String()
	assert.True(t, strings.HasSuffix(sdp, "a=end-of-candidates\r\n"))
	assert.Contains(t, sdp, "a=group:BUNDLE data\r\n")
	assert.Contains(t, sdp, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n")
	assert.Contains(t, sdp, "a=sctp-port:5000\r\n")
	o, err := parseOffer(sdp)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(der), o.fingerprint)
	assert.Equal(t, "uf", o.ufrag)
	assert.Equal(t, "password", o.pwd)
	assert.Equal(t, "passive", o.setup)
	assert.Equal(t, a.candidates, o.candidates)
}

func TestMatchFingerprint(t *testing.T) {
	der := []byte("the browser's certificate")
	check := matchFingerprint(sha256.Sum256(der))
	assert.NoError(t, check([][]byte{der, []byte("an intermediate")}, nil))
	assert.Error(t, check([][]byte{[]byte("another certificate")}, nil))
	assert.Error(t, check(nil, nil))
}

// countingExporter returns 0, 1, 2, ... as keying material and remembers
// what it was asked.
type countingExporter struct {
	label   string
	context []byte
}

func (e *countingExporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	e.label, e.context = label, context
	m := make([]byte, length)
	for i := range m {
		m[i] = byte(i)
	}
	return m, nil
}

func TestDeriveSRTPKeys(t *testing.T) {
	for profile, want := range map[uint16]struct{ total, key, salt int }{
		fsm.SRTP_AES128_CM_HMAC_SHA1_80: {60, 16, 14},
		fsm.SRTP_AEAD_AES_128_GCM:       {56, 16, 12},
		fsm.SRTP_AEAD_AES_256_GCM:       {88, 32, 12},
	} {
		e := &countingExporter{}
		keys, err := deriveSRTPKeys(e, profile)
		require.NoError(t, err)
		assert.Equal(t, "EXTRACTOR-dtls_srtp", e.label)
		assert.Nil(t, e.context)
		assert.Equal(t, want.total, keys.KeyingMaterialLen)
		// RFC 5764 §4.2: client key, server key, client salt, server salt.
		k, s := want.key, want.salt
		assert.Equal(t, byte(0), keys.ClientKey[0])
		assert.Equal(t, byte(k), keys.ServerKey[0])
		assert.Equal(t, byte(2*k), keys.ClientSalt[0])
		assert.Equal(t, byte(2*k+s), keys.ServerSalt[0])
		assert.Len(t, keys.ServerKey, k)
		assert.Len(t, keys.ServerSalt, s)
	}
	_, err := deriveSRTPKeys(&countingExporter{}, 0)
	assert.Error(t, err, "no profile negotiated")
}

func TestParseMode(t *testing.T) {
	for _, m := range Modes {
		got, err := ParseMode(string(m))
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	_, err := ParseMode("peer")
	assert.Error(t, err)
	assert.Equal(t, "active", ModeClient.setup())
	assert.Equal(t, "passive", ModeServer.setup())
	assert.Equal(t, "passive", ModeListener.setup())
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "localhost:0"} {
		_, err := listenLoopback(addr)
		assert.Error(t, err, addr)
	}
	ln, err := listenLoopback("127.0.0.1:0")
	require.NoError(t, err)
	ln.Close()
}

// TestRunServesPage runs the program's main loop: it prints the page's
// URL, serves the page, refuses a bad offer, and stops with its context.
func TestRunServesPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, outWriter := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", "server", "1.3", outWriter) }()

	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	url := strings.Fields(strings.TrimPrefix(line, "open "))[0]
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), line)

	resp, err := http.Get(url)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "new RTCPeerConnection()")

	resp, err = http.Post(url+"offer", "application/json", bytes.NewBufferString(`{"sdp":"v=0\r\n"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

// allOptions are the Server options the tests run: every mode, with
// DTLS 1.3 and without.
func allOptions() []Options {
	var all []Options
	for _, dtls13 := range []bool{false, true} {
		for _, mode := range Modes {
			all = append(all, Options{Mode: mode, DTLS13: dtls13})
		}
	}
	return all
}

// String names opts as a subtest: "server" or "server/dtls13".
func (o Options) String() string {
	if o.DTLS13 {
		return string(o.Mode) + "/dtls13"
	}
	return string(o.Mode)
}

// wantVersion is the version a peer that offers DTLS 1.3 negotiates
// with a Server of these options.
func (o Options) wantVersion() uint16 {
	if o.DTLS13 {
		return record.VersionDTLS13
	}
	return record.VersionDTLS12
}
