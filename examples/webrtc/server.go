package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/tlsm/tlsm/fsm"
)

//go:embed page.html
var page []byte

const (
	// maxRequestBody bounds what the page may post: an offer or a report.
	maxRequestBody = 64 << 10
	// gatherTimeout bounds ICE gathering on loopback, which is immediate.
	gatherTimeout = 5 * time.Second
	// sessionTimeout bounds a session from offer to report.
	sessionTimeout = 30 * time.Second
	// reportWait is how long a report waits for tlsm's side of the result.
	reportWait = 5 * time.Second
	// maxWaitingResults bounds the results kept for Results.
	maxWaitingResults = 16
)

// Server answers browsers' offers: it serves the page, answers each
// offer with a peer connection whose DTLS tlsm runs in the Server's Mode,
// and hands out a Result for each.
type Server struct {
	opts    Options
	cert    fsm.Certificate
	logs    logging.LoggerFactory
	results chan Result
	mux     *http.ServeMux
	ctx     context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*session
}

// Options are the choices of a Server.
type Options struct {
	// Mode is tlsm's part in the DTLS handshake.
	Mode Mode
	// DTLS13 lets tlsm negotiate DTLS 1.3 (RFC 9147), which Chromium
	// offers first; without it tlsm speaks DTLS 1.2, as package dtls does
	// by default.
	DTLS13 bool
}

// maxVersion is the highest version tlsm offers (0: the default, DTLS 1.2).
func (o Options) maxVersion() uint16 {
	if o.DTLS13 {
		return fsm.VersionTLS13
	}
	return 0
}

// NewServer returns a Server that runs tlsm as opts say, with a
// certificate of its own.
func NewServer(opts Options) (*Server, error) {
	cert, err := newCertificate()
	if err != nil {
		return nil, err
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelWarn
	// ICE warns of pinging before it has a candidate pair, which is how
	// every session starts when the browser's checks make the pair.
	logs.ScopeLevels["ice"] = logging.LogLevelError
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, cert: cert, logs: logs, ctx: ctx, cancel: cancel,
		results:  make(chan Result, maxWaitingResults),
		sessions: make(map[string]*session),
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.servePage)
	s.mux.HandleFunc("POST /offer", s.serveOffer)
	s.mux.HandleFunc("POST /report", s.serveReport)
	return s, nil
}

// ServeHTTP serves the page (GET /), offers (POST /offer) and reports
// (POST /report).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Results delivers a Result for each session, once the browser reported
// or tlsm's side failed. Results that nobody takes are dropped once
// maxWaitingResults wait.
func (s *Server) Results() <-chan Result { return s.results }

// Close ends every session.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	sessions := s.sessions
	s.sessions = map[string]*session{}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.close()
	}
}

func (s *Server) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

// offerRequest and offerResponse are the bodies of POST /offer.
type offerRequest struct {
	SDP string `json:"sdp"`
}

type offerResponse struct {
	ID  string `json:"id"`
	SDP string `json:"sdp"`
}

func (s *Server) serveOffer(w http.ResponseWriter, r *http.Request) {
	var req offerRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := s.answer(r.Context(), req.SDP)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// answer starts a session for an offer and returns its answer.
func (s *Server) answer(ctx context.Context, sdp string) (*offerResponse, error) {
	o, err := parseOffer(sdp)
	if err != nil {
		return nil, err
	}
	agent, err := newLoopbackAgent(s.logs)
	if err != nil {
		return nil, err
	}
	a, err := s.prepareAnswer(ctx, agent, o)
	if err != nil {
		agent.Close()
		return nil, err
	}
	sess := s.startSession(agent, o)
	return &offerResponse{ID: sess.id, SDP: a.String()}, nil
}

// prepareAnswer gathers the agent's candidates, gives it the offer's, and
// fills in the answer.
func (s *Server) prepareAnswer(ctx context.Context, agent *ice.Agent, o *offer) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	candidates, err := gatherCandidates(ctx, agent)
	if err != nil {
		return nil, err
	}
	if _, err := addRemoteCandidates(agent, o.candidates); err != nil {
		return nil, err
	}
	ufrag, pwd, err := agent.GetLocalUserCredentials()
	if err != nil {
		return nil, err
	}
	mid := o.mid
	if mid == "" {
		mid = "0"
	}
	return &answer{
		sessionID:   randomUint63(),
		ufrag:       ufrag,
		pwd:         pwd,
		fingerprint: formatFingerprint(s.cert.Certificate[0]),
		setup:       s.opts.Mode.setup(),
		mid:         mid,
		candidates:  candidates,
	}, nil
}

// startSession registers a session and starts it.
func (s *Server) startSession(agent *ice.Agent, o *offer) *session {
	sess := newSession(s.ctx, newSessionID(), s.opts, agent, s.logs)
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	go sess.run(o, s.cert)
	go s.watch(sess)
	return sess
}

// watch publishes a session's result as soon as tlsm's side fails, and
// ends a session whose browser did not report within sessionTimeout.
func (s *Server) watch(sess *session) {
	timeout := time.NewTimer(sessionTimeout)
	defer timeout.Stop()
	tlsmDone := sess.tlsmDone
	for {
		select {
		case <-tlsmDone:
			if sess.failed() {
				s.finish(sess, BrowserReport{ID: sess.id})
				return
			}
			tlsmDone = nil // wait for the browser's report
		case <-timeout.C:
			s.finish(sess, BrowserReport{ID: sess.id, Error: "no report within " + sessionTimeout.String()})
			return
		case <-sess.ctx.Done():
			return
		}
	}
}

func (s *Server) serveReport(w http.ResponseWriter, r *http.Request) {
	var report BrowserReport
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody)).Decode(&report); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	sess := s.sessions[report.ID]
	s.mu.Unlock()
	if sess == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	select {
	case <-sess.tlsmDone:
	case <-time.After(reportWait):
	}
	result := s.finish(sess, report)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"result": result.String()})
}

// finish publishes a session's result with the browser's report and
// closes the session, once.
func (s *Server) finish(sess *session, report BrowserReport) Result {
	s.mu.Lock()
	_, live := s.sessions[sess.id]
	delete(s.sessions, sess.id)
	s.mu.Unlock()
	result := sess.resultWith(report)
	if !live {
		return result
	}
	sess.close()
	select {
	case s.results <- result:
	default:
	}
	return result
}

func newSessionID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randomUint63() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}
