package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/sctp"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// BrowserReport is what the page posts once its message came back: the
// message and its echo, and the transport's entry of pc.getStats().
type BrowserReport struct {
	ID         string `json:"id"`
	Sent       string `json:"sent"`
	Echo       string `json:"echo"`
	DTLSState  string `json:"dtlsState"`
	DTLSRole   string `json:"dtlsRole"`
	TLSVersion string `json:"tlsVersion"`
	DTLSCipher string `json:"dtlsCipher"`
	SRTPCipher string `json:"srtpCipher"`
	// Error is set when the page failed.
	Error string `json:"error"`
}

// Result is what one browser's peer connection came to, seen from both
// ends.
type Result struct {
	Mode Mode
	// ICEPeer is the browser's address on the candidate pair ICE chose.
	ICEPeer string
	// Version, CipherSuite and SRTPProfile are tlsm's view of the DTLS
	// connection, SRTPKeys the keys derived from it.
	Version     uint16
	CipherSuite uint16
	SRTPProfile uint16
	SRTPKeys    *SRTPKeys
	// CurveID is the key exchange group; HelloRetryRequest is set when
	// the handshake had one (DTLS 1.3).
	CurveID           fsm.CurveID
	HelloRetryRequest bool
	// Hellos are the browser's ClientHellos as they came, when tlsm is
	// the server.
	Hellos []HelloSeen
	// Echoed is the first data channel message tlsm's side sent back.
	Echoed string
	// Err is the first failure on tlsm's side.
	Err error
	// Browser is what the page reported, if it did.
	Browser BrowserReport
}

// String sums the result up on one line.
func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("mode=%s error=%q browser_error=%q", r.Mode, r.Err, r.Browser.Error)
	}
	keyLen := 0
	if r.SRTPKeys != nil {
		keyLen = r.SRTPKeys.KeyingMaterialLen
	}
	return fmt.Sprintf("mode=%s peer=%s version=%s cipher=%s group=%s hello_retry=%t client_hellos=%v srtp=%s srtp_keying_material=%d echoed=%q "+
		"browser: dtlsState=%s dtlsRole=%s tlsVersion=%s dtlsCipher=%s srtpCipher=%s echo=%q",
		r.Mode, r.ICEPeer, fsm.VersionName(r.Version), fsm.CipherSuiteName(r.CipherSuite), r.CurveID, r.HelloRetryRequest, r.Hellos, SRTPProfileName(r.SRTPProfile),
		keyLen, r.Echoed, r.Browser.DTLSState, r.Browser.DTLSRole, r.Browser.TLSVersion,
		r.Browser.DTLSCipher, r.Browser.SRTPCipher, r.Browser.Echo)
}

// session is one browser's peer connection: ICE, then DTLS in the
// server's mode, then SCTP and the echoed data channel.
type session struct {
	id     string
	opts   Options
	agent  *ice.Agent
	logs   logging.LoggerFactory
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	conn     *dtls.Conn
	assoc    *sctp.Association
	result   Result
	tlsmDone chan struct{} // closed once result holds tlsm's side
	closed   bool
}

func newSession(ctx context.Context, id string, opts Options, agent *ice.Agent, logs logging.LoggerFactory) *session {
	ctx, cancel := context.WithCancel(ctx)
	return &session{
		id: id, opts: opts, agent: agent, logs: logs, ctx: ctx, cancel: cancel,
		result:   Result{Mode: opts.Mode},
		tlsmDone: make(chan struct{}),
	}
}

// run connects to the browser and echoes its data channel until the
// session is closed; failures before the first echo land in the result.
func (s *session) run(o *offer, cert fsm.Certificate) {
	if err := s.connect(o, cert); err != nil {
		s.finishTLSM(func(r *Result) { r.Err = err })
	}
}

func (s *session) connect(o *offer, cert fsm.Certificate) error {
	conn, err := s.connectDTLS(o, cert)
	if err != nil {
		return err
	}
	if err := s.recordDTLS(conn); err != nil {
		return err
	}
	assoc, err := openSCTP(s.ctx, conn, s.logs)
	if err != nil {
		return err
	}
	if !s.keep(func() { s.assoc = assoc }) {
		assoc.Close()
		return context.Canceled
	}
	return echoDataChannel(assoc, s.logs, s.echoed)
}

// connectDTLS waits for ICE to connect, then runs the DTLS handshake over
// it with the browser's certificate checked against the offer.
func (s *session) connectDTLS(o *offer, cert fsm.Certificate) (*dtls.Conn, error) {
	// The offerer is the controlling ICE agent (RFC 8445 §6.1.1).
	iceConn, err := s.agent.Accept(s.ctx, o.ufrag, o.pwd)
	if err != nil {
		return nil, fmt.Errorf("ice: %w", err)
	}
	pconn, err := newICEPacketConn(iceConn)
	if err != nil {
		return nil, err
	}
	s.record(func(r *Result) { r.ICEPeer = pconn.peer.String() })
	if s.opts.Mode != ModeClient {
		pconn.hellos = new(helloWatch)
	}
	conn, err := handshakeDTLS(s.ctx, s.opts.Mode, pconn, dtlsConfig(cert, o.fingerprint, s.opts.maxVersion()))
	if pconn.hellos != nil {
		pconn.hellos.stop()
		s.record(func(r *Result) { r.Hellos = pconn.hellos.seen() })
	}
	if err != nil {
		return nil, err
	}
	if !s.keep(func() { s.conn = conn }) {
		conn.Close()
		return nil, context.Canceled
	}
	return conn, nil
}

// recordDTLS records what the handshake negotiated and the SRTP keys
// derived from it.
func (s *session) recordDTLS(conn *dtls.Conn) error {
	state := conn.ConnectionState()
	keys, err := deriveSRTPKeys(conn, state.SRTPProtectionProfile)
	if err != nil {
		return err
	}
	s.record(func(r *Result) {
		r.Version, r.CipherSuite = state.Version, state.CipherSuite
		r.CurveID, r.HelloRetryRequest = state.CurveID, state.HelloRetryRequest
		r.SRTPProfile, r.SRTPKeys = state.SRTPProtectionProfile, keys
	})
	return nil
}

// keep runs set, which hands the session something to close, unless the
// session is closed already.
func (s *session) keep(set func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	set()
	return true
}

func (s *session) record(f func(*Result)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.result)
}

// echoed records the first message echoed, which completes tlsm's side.
func (s *session) echoed(msg []byte) {
	s.finishTLSM(func(r *Result) { r.Echoed = string(msg) })
}

// finishTLSM records tlsm's side of the result, the first time only.
func (s *session) finishTLSM(f func(*Result)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.tlsmDone:
		return
	default:
	}
	f(&s.result)
	close(s.tlsmDone)
}

// failed reports whether tlsm's side failed.
func (s *session) failed() bool {
	select {
	case <-s.tlsmDone:
	default:
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result.Err != nil
}

// resultWith returns the result with the browser's report in it.
func (s *session) resultWith(report BrowserReport) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.result
	r.Browser = report
	return r
}

// close ends the data channel's association, the DTLS connection (with
// close_notify) and ICE.
func (s *session) close() {
	s.mu.Lock()
	s.closed = true
	assoc, conn := s.assoc, s.conn
	s.mu.Unlock()
	s.cancel()
	if assoc != nil {
		assoc.Close()
	}
	if conn != nil {
		conn.Close()
	}
	s.agent.Close()
}
