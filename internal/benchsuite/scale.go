package benchsuite

import (
	"bufio"
	"context"
	gotls "crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	piondtls "github.com/pion/dtls/v4"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/loadgen"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// The scale figures put many DTLS 1.2 associations on one server socket:
// a dtls.Listen, or pion/dtls v4's listener, in a process of its own, so
// that its memory and CPU time are its own. The clients are tlsm's core
// (internal/loadgen: one goroutine, a UDP socket each), the same for
// both servers; they run in the measuring process. Both servers are set
// up as in the other DTLS figures (DTLSConfigs, pionOptions: one suite,
// X25519, an ECDSA P-256 chain, a cookie exchange, no resumption), and
// both run each association's handshake in a goroutine that ends with
// it, then keep the association, reading nothing, until the end.
//
// The TLS scale figures do the same over TCP: a tls.Listen or a
// crypto/tls listener, TLS 1.3 configured as TLSConfigs and GoConfigs,
// and the same clients for both, tls.Conns of tlsm made by a pool of
// goroutines in the measuring process, which then read nothing.

// Scale servers.
const (
	ScaleTLSM = "tlsm"
	ScalePion = "pion"
	// ScaleTLSMSingle is ScaleTLSM with its socket read and written a
	// datagram per system call (SingleDatagramIO), without batches.
	ScaleTLSMSingle = "tlsm-single"
	// ScaleTLS and ScaleGoTLS are TLS 1.3 over TCP: tls.Listen and
	// crypto/tls's listener.
	ScaleTLS   = "tlsm-tls"
	ScaleGoTLS = "crypto-tls"
)

// ScaleServer is a DTLS 1.2 or TLS 1.3 server on 127.0.0.1 for the scale
// figures.
type ScaleServer struct {
	ln    net.Listener
	conns sync.Map // net.Conn → struct{}
	// handshakes and failures count the associations whose handshake
	// completed or failed.
	handshakes atomic.Int64
	failures   atomic.Int64
	ca         []byte
	wg         sync.WaitGroup
}

// StartScaleServer starts the server of library (ScaleTLSM, ScalePion,
// ScaleTLSMSingle, ScaleTLS, ScaleGoTLS).
func StartScaleServer(library string) (*ScaleServer, error) {
	ln, ca, err := scaleListener(library)
	if err != nil {
		return nil, err
	}
	s := &ScaleServer{ln: ln, ca: ca}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// scaleListener listens on 127.0.0.1 as library's server, and returns
// the PEM CA certificate its clients trust.
func scaleListener(library string) (net.Listener, []byte, error) {
	loopback := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	switch library {
	case ScaleTLSM:
		_, sc, cert := dtls12.configs()
		ln, err := dtls.Listen("udp", loopback.String(), sc)
		return ln, cert.CAPEM, err
	case ScaleTLSMSingle:
		_, sc, cert := dtls12.configs()
		pc, err := net.ListenPacket("udp", loopback.String())
		if err != nil {
			return nil, nil, err
		}
		return dtls.NewListener(SingleDatagramIO(pc), sc), cert.CAPEM, nil
	case ScalePion:
		_, _, cert := dtls12.configs()
		serverOpts, _ := dtls12.pionOptions(cert, 0)
		ln, err := piondtls.ListenAddr("udp", loopback, serverOpts...)
		return ln, cert.CAPEM, err
	case ScaleTLS:
		cert := testcert.MustNew(testcert.ECDSAP256)
		ln, err := tls.Listen("tcp", loopback.String(), tlsServerConfig(cert))
		return ln, cert.CAPEM, err
	case ScaleGoTLS:
		cert := testcert.MustNew(testcert.ECDSAP256)
		ln, err := gotls.Listen("tcp", loopback.String(), goServerConfig(cert))
		return ln, cert.CAPEM, err
	}
	return nil, nil, fmt.Errorf("benchsuite: no scale server %q", library)
}

// accept runs every association's handshake and keeps it.
func (s *ScaleServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Store(c, struct{}{})
		s.wg.Add(1)
		go s.handshake(c)
	}
}

// handshake runs c's handshake and counts how it ended.
func (s *ScaleServer) handshake(c net.Conn) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	switch c := c.(type) {
	case *dtls.Conn:
		err = c.HandshakeContext(ctx)
	case *piondtls.Conn:
		err = c.HandshakeContext(ctx)
	case *tls.Conn:
		err = c.HandshakeContext(ctx)
	case *gotls.Conn:
		err = c.HandshakeContext(ctx)
	}
	if err != nil {
		s.failures.Add(1)
		return
	}
	s.handshakes.Add(1)
}

// Addr is the server's address.
func (s *ScaleServer) Addr() string { return s.ln.Addr().String() }

// ScaleUsage is what a scale server has done and holds.
type ScaleUsage struct {
	Handshakes, Failures int64
	// Bytes is the live heap and goroutine stacks after a collection
	// (zero when not asked for); Goroutines is the goroutines.
	Bytes      uint64
	Goroutines int
	// CPU is the process's user and system time so far.
	CPU time.Duration
}

// Usage reports s's counts and the process's CPU time, and its memory
// when memory is set. Measuring memory collects garbage and then returns
// the freed memory to the system at once, so that the runtime's
// background scavenger does not do it during a CPU measurement that
// follows.
func (s *ScaleServer) Usage(memory bool) ScaleUsage {
	u := ScaleUsage{Handshakes: s.handshakes.Load(), Failures: s.failures.Load()}
	if memory {
		u.Bytes = liveMemory()
		debug.FreeOSMemory()
	}
	u.Goroutines = runtime.NumGoroutine()
	u.CPU = time.Duration(processCPU())
	return u
}

// Close closes the listener and every association.
func (s *ScaleServer) Close() {
	s.ln.Close()
	s.conns.Range(func(c, _ any) bool {
		c.(net.Conn).Close()
		return true
	})
	s.wg.Wait()
}

// scaleHello is the first line a scale server process writes.
type scaleHello struct {
	Addr string
	CA   []byte // the PEM CA certificate its clients trust
}

// ServeScale runs a scale server of library for a measuring process: it
// writes a scaleHello line to out, then answers each line of in,
// "memory" or "cpu", with a ScaleUsage line, until in ends.
func ServeScale(library string, in io.Reader, out io.Writer) error {
	s, err := StartScaleServer(library)
	if err != nil {
		return err
	}
	defer s.Close()
	enc := json.NewEncoder(out)
	if err := enc.Encode(scaleHello{Addr: s.Addr(), CA: s.ca}); err != nil {
		return err
	}
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		if err := enc.Encode(s.Usage(lines.Text() == "memory")); err != nil {
			return err
		}
	}
	return lines.Err()
}

// scaleProcess is a scale server in another process, run by ServeScale.
type scaleProcess struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *json.Decoder
	hello scaleHello
}

// startScaleProcess runs cmd, a process that calls ServeScale, and reads
// its hello.
func startScaleProcess(cmd *exec.Cmd) (*scaleProcess, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &scaleProcess{cmd: cmd, in: in, out: json.NewDecoder(out)}
	if err := p.out.Decode(&p.hello); err != nil {
		p.stop()
		return nil, fmt.Errorf("benchsuite: scale server: %w", err)
	}
	return p, nil
}

// usage asks the process for its usage.
func (p *scaleProcess) usage(memory bool) (ScaleUsage, error) {
	ask := "cpu\n"
	if memory {
		ask = "memory\n"
	}
	var u ScaleUsage
	if _, err := io.WriteString(p.in, ask); err != nil {
		return u, err
	}
	err := p.out.Decode(&u)
	return u, err
}

// stop ends the process and waits for it.
func (p *scaleProcess) stop() error {
	p.in.Close()
	return p.cmd.Wait()
}

// Scale is what one scale run measured.
type Scale struct {
	Library string
	Conns   int
	// HandshakesPerSec is the rate at which the associations were made,
	// InFlight handshakes at a time; ServerCPUPerHandshake the server's
	// CPU time per handshake meanwhile.
	HandshakesPerSec      float64
	InFlight              int
	ServerCPUPerHandshake time.Duration
	// BytesPerConn and GoroutinesPerConn are the server's growth per
	// association, established and idle.
	BytesPerConn      float64
	GoroutinesPerConn float64
	// IdleCPUPerConn is the server's CPU time per idle association per
	// second of idleness; Idle is how long it was measured.
	IdleCPUPerConn time.Duration
	Idle           time.Duration
	// Retransmits counts the clients' flights sent again on a timeout.
	Retransmits int
}

// RunScale measures library's server, run by server (a command that
// calls ServeScale for library), with conns associations made inFlight
// at a time and then left idle for idle.
func RunScale(server *exec.Cmd, library string, conns, inFlight int, idle time.Duration) (Scale, error) {
	p, err := startScaleProcess(server)
	if err != nil {
		return Scale{}, err
	}
	res, err := measureScale(p, library, conns, inFlight, idle)
	if serr := p.stop(); err == nil && serr != nil {
		err = fmt.Errorf("benchsuite: scale server: %w", serr)
	}
	res.Library = library
	return res, err
}

// measureScale makes the associations with p's server, of library, and
// measures it.
func measureScale(p *scaleProcess, library string, conns, inFlight int, idle time.Duration) (Scale, error) {
	res := Scale{Conns: conns, InFlight: inFlight, Idle: idle}
	before, err := p.usage(true)
	if err != nil {
		return res, err
	}
	d, err := newScaleClients(library, p.hello)
	if err != nil {
		return res, err
	}
	defer d.Close()
	made, err := d.Connect(conns, inFlight, 5*time.Minute)
	switch {
	case err != nil:
	case made.Failed > 0:
		err = fmt.Errorf("benchsuite: %d of %d handshakes failed: %w", made.Failed, conns, made.FirstErr)
	case made.Resumed > 0:
		err = fmt.Errorf("benchsuite: %d of %d handshakes resumed", made.Resumed, conns)
	}
	if err != nil {
		return res, err
	}
	res.HandshakesPerSec = float64(made.Done) / made.Elapsed.Seconds()
	res.Retransmits = made.Retransmits
	busy, err := settledUsage(p, int64(conns))
	if err != nil {
		return res, err
	}
	res.ServerCPUPerHandshake = (busy.CPU - before.CPU) / time.Duration(conns)
	held, err := p.usage(true)
	if err != nil {
		return res, err
	}
	res.BytesPerConn = float64(int64(held.Bytes)-int64(before.Bytes)) / float64(conns)
	res.GoroutinesPerConn = float64(held.Goroutines-before.Goroutines) / float64(conns)
	return measureIdleCPU(p, d, res)
}

// settledUsage waits, up to ten seconds, for the server to count conns
// handshakes, and for its goroutines to settle, and returns its usage.
// It does not ask for memory, whose collections would count as the
// handshakes' CPU time.
func settledUsage(p *scaleProcess, conns int64) (ScaleUsage, error) {
	var last ScaleUsage
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		u, err := p.usage(false)
		if err != nil {
			return u, err
		}
		if u.Failures > 0 {
			return u, fmt.Errorf("benchsuite: the server failed %d handshakes", u.Failures)
		}
		if u.Handshakes == conns && u.Goroutines == last.Goroutines {
			return u, nil
		}
		last = u
	}
	return last, fmt.Errorf("benchsuite: the server completed %d of %d handshakes", last.Handshakes, conns)
}

// measureIdleCPU measures the server's CPU time while every association
// is idle, the clients answering whatever comes.
func measureIdleCPU(p *scaleProcess, d scaleClients, res Scale) (Scale, error) {
	start, err := p.usage(false)
	if err != nil {
		return res, err
	}
	if err := d.Serve(res.Idle); err != nil {
		return res, err
	}
	end, err := p.usage(false)
	if err != nil {
		return res, err
	}
	perConn := float64(end.CPU-start.CPU) / float64(res.Conns)
	res.IdleCPUPerConn = time.Duration(perConn / res.Idle.Seconds())
	return res, nil
}

// scaleClients make the associations of a scale run and keep them:
// loadgen's DTLS clients, or tlsClients.
type scaleClients interface {
	// Connect makes n associations, inFlight at a time.
	Connect(n, inFlight int, timeout time.Duration) (loadgen.Result, error)
	// Serve keeps the associations for d, answering what comes.
	Serve(d time.Duration) error
	// Close ends every association.
	Close() error
}

// newScaleClients returns the clients for a server of library that said
// hello: fsm.Conn DTLS clients (DTLSConfigs' client) for the DTLS
// servers, tls.Conns (TLSConfigs' client) for the TLS ones, trusting the
// server's CA.
func newScaleClients(library string, hello scaleHello) (scaleClients, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(hello.CA) {
		return nil, errors.New("benchsuite: the scale server sent no CA certificate")
	}
	if library == ScaleTLS || library == ScaleGoTLS {
		cc, _ := TLSConfigs()
		cc.RootCAs = pool
		return &tlsClients{addr: hello.Addr, cfg: cc}, nil
	}
	cc, _, _ := dtls12.configs()
	cc = cc.Clone()
	cc.RootCAs = pool
	d, err := loadgen.New(hello.Addr, cc)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// tlsClients are tlsm TLS clients over TCP, made by a pool of goroutines
// and kept without reading.
type tlsClients struct {
	addr  string
	cfg   *fsm.Config
	mu    sync.Mutex
	conns []*tls.Conn
	res   loadgen.Result
}

// Connect makes n connections, inFlight at a time.
func (t *tlsClients) Connect(n, inFlight int, timeout time.Duration) (loadgen.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	t.res = loadgen.Result{}
	next := make(chan struct{})
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for range next {
				t.count(t.dial(ctx))
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	t.res.Elapsed = time.Since(start)
	return t.res, nil
}

// dial connects to the server and runs the handshake.
func (t *tlsClients) dial(ctx context.Context) (*tls.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(nc, t.cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// count keeps c, or counts the failure to make it.
func (t *tlsClients) count(c *tls.Conn, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.res.Failed++
		if t.res.FirstErr == nil {
			t.res.FirstErr = err
		}
		return
	}
	t.res.Done++
	t.conns = append(t.conns, c)
}

// Serve waits for d: nothing comes to an idle TLS client.
func (t *tlsClients) Serve(d time.Duration) error {
	time.Sleep(d)
	return nil
}

// Close closes every connection.
func (t *tlsClients) Close() error {
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = nil
	return nil
}
