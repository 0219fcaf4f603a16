package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// goPeerTimeout bounds one connection between a Server and a goPeer.
const goPeerTimeout = 10 * time.Second

// goPeer plays the browser's part without a browser: ICE with pion, DTLS
// with tlsm in the role the answer leaves it, SCTP and a data channel
// with pion. It checks the Server where Chromium is missing, and shows
// what a refused fingerprint does.
type goPeer struct {
	agent      *ice.Agent
	cert       fsm.Certificate
	candidates []string
	logs       logging.LoggerFactory
}

func newGoPeer(t *testing.T, ctx context.Context) *goPeer {
	t.Helper()
	logs := logging.NewDefaultLoggerFactory()
	agent, err := newLoopbackAgent(logs)
	require.NoError(t, err)
	t.Cleanup(func() { agent.Close() })
	candidates, err := gatherCandidates(ctx, agent)
	require.NoError(t, err)
	cert, err := newCertificate()
	require.NoError(t, err)
	return &goPeer{agent: agent, cert: cert, candidates: candidates, logs: logs}
}

// offer is the peer's SDP offer, announcing the certificate der; an
// offer has the shape of our answers, with setup actpass.
func (p *goPeer) offer(t *testing.T, der []byte) string {
	ufrag, pwd, err := p.agent.GetLocalUserCredentials()
	require.NoError(t, err)
	o := &answer{
		sessionID: 1, ufrag: ufrag, pwd: pwd, fingerprint: formatFingerprint(der),
		setup: "actpass", mid: "0", candidates: p.candidates,
	}
	return o.String()
}

// exchange connects to the answerer and sends msg on a data channel; it
// returns the echo.
func (p *goPeer) exchange(ctx context.Context, a *offer, msg string) (string, error) {
	if _, err := addRemoteCandidates(p.agent, a.candidates); err != nil {
		return "", err
	}
	iceConn, err := p.agent.Dial(ctx, a.ufrag, a.pwd)
	if err != nil {
		return "", err
	}
	pconn, err := newICEPacketConn(iceConn)
	if err != nil {
		return "", err
	}
	cfg := dtlsConfig(p.cert, a.fingerprint, fsm.VersionTLS13)
	conn, streamID := dtls.Client(pconn, pconn.peer, cfg), uint16(0) // a DTLS client's streams are even (RFC 8832)
	if a.setup == "active" {
		conn, streamID = dtls.Server(pconn, pconn.peer, cfg), 1
	}
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return "", err
	}
	assoc, err := openSCTP(ctx, conn, p.logs)
	if err != nil {
		return "", err
	}
	defer assoc.Close()
	ch, err := datachannel.Dial(assoc, streamID, &datachannel.Config{
		ChannelType: datachannel.ChannelTypeReliable, Label: "echo", LoggerFactory: p.logs,
	})
	if err != nil {
		return "", err
	}
	defer ch.Close()
	if _, err := ch.WriteDataChannel([]byte(msg), true); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg)+1)
	n, _, err := ch.ReadDataChannel(buf)
	return string(buf[:n]), err
}

// connectGoPeer runs one offer of a goPeer, which offers DTLS 1.3,
// against a Server with opts; the peer announces the certificate
// offered, which is its own unless another is given. It returns the
// Server's result and the peer's echo.
func connectGoPeer(t *testing.T, opts Options, offered []byte) (Result, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), goPeerTimeout)
	defer cancel()
	mode := opts.Mode
	srv, err := NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	web := httptest.NewServer(srv)
	t.Cleanup(web.Close)
	peer := newGoPeer(t, ctx)
	if offered == nil {
		offered = peer.cert.Certificate[0]
	}

	var resp offerResponse
	postJSON(t, web.URL+"/offer", offerRequest{SDP: peer.offer(t, offered)}, &resp)
	a, err := parseOffer(resp.SDP)
	require.NoError(t, err)
	msg := "hello from Go " + string(mode)
	echo, peerErr := peer.exchange(ctx, a, msg)
	if peerErr == nil {
		var reply map[string]string
		postJSON(t, web.URL+"/report", BrowserReport{ID: resp.ID, Sent: msg, Echo: echo}, &reply)
	}
	select {
	case r := <-srv.Results():
		return r, echo, peerErr
	case <-ctx.Done():
		t.Fatalf("no result within %v (peer: %v)", goPeerTimeout, peerErr)
		return Result{}, "", nil
	}
}

func postJSON(t *testing.T, url string, body, reply any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(reply))
}

// TestGoPeer runs every mode against tlsm in the other role, the Server
// with DTLS 1.3 enabled and without.
func TestGoPeer(t *testing.T) {
	for _, opts := range allOptions() {
		t.Run(opts.String(), func(t *testing.T) {
			r, echo, err := connectGoPeer(t, opts, nil)
			require.NoError(t, err, "the peer")
			require.NoError(t, r.Err, "the server")
			t.Log(r)
			assert.Equal(t, "hello from Go "+string(opts.Mode), echo)
			assert.Equal(t, echo, r.Echoed)
			assert.Equal(t, opts.wantVersion(), r.Version, "version %#04x", r.Version)
			assert.Equal(t, srtpPreference[0], r.SRTPProfile, "both ends prefer the same")
			assert.Equal(t, SRTPKeyingMaterialLen(r.SRTPProfile), r.SRTPKeys.KeyingMaterialLen)
		})
	}
}

// TestGoPeerWrongFingerprint offers a certificate other than the one the
// peer uses: in every mode tlsm refuses it.
func TestGoPeerWrongFingerprint(t *testing.T) {
	other, err := newCertificate()
	require.NoError(t, err)
	for _, opts := range allOptions() {
		t.Run(opts.String(), func(t *testing.T) {
			r, _, peerErr := connectGoPeer(t, opts, other.Certificate[0])
			assert.Error(t, peerErr, "the peer")
			require.Error(t, r.Err, "the server")
			assert.Contains(t, r.Err.Error(), "fingerprint")
		})
	}
}
