package benchsuite

import (
	"bufio"
	"context"
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

// Scale servers.
const (
	ScaleTLSM = "tlsm"
	ScalePion = "pion"
)

// ScaleServer is a DTLS 1.2 server on 127.0.0.1 for the scale figures.
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

// StartScaleServer starts the server of library (ScaleTLSM, ScalePion).
func StartScaleServer(library string) (*ScaleServer, error) {
	_, sc, cert := dtls12.configs()
	var ln net.Listener
	var err error
	switch library {
	case ScaleTLSM:
		ln, err = dtls.Listen("udp", "127.0.0.1:0", sc)
	case ScalePion:
		serverOpts, _ := dtls12.pionOptions(cert, 0)
		ln, err = piondtls.ListenAddr("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, serverOpts...)
	default:
		err = fmt.Errorf("benchsuite: no scale server %q", library)
	}
	if err != nil {
		return nil, err
	}
	s := &ScaleServer{ln: ln, ca: cert.CAPEM}
	s.wg.Add(1)
	go s.accept()
	return s, nil
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
	}
	if err != nil {
		s.failures.Add(1)
		return
	}
	s.handshakes.Add(1)
}

// Addr is the server's UDP address.
func (s *ScaleServer) Addr() string { return s.ln.Addr().String() }

// ScaleUsage is what a scale server has done and holds.
type ScaleUsage struct {
	Handshakes, Failures int64
	// Bytes is the live heap and goroutine stacks after a collection
	// (zero when not asked for), Goroutines the goroutines then.
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
		u.Goroutines = runtime.NumGoroutine()
		debug.FreeOSMemory()
	}
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
	res, err := measureScale(p, conns, inFlight, idle)
	if serr := p.stop(); err == nil && serr != nil {
		err = fmt.Errorf("benchsuite: scale server: %w", serr)
	}
	res.Library = library
	return res, err
}

// measureScale makes the associations with p's server and measures it.
func measureScale(p *scaleProcess, conns, inFlight int, idle time.Duration) (Scale, error) {
	res := Scale{Conns: conns, InFlight: inFlight, Idle: idle}
	cfg, err := scaleClientConfig(p.hello.CA)
	if err != nil {
		return res, err
	}
	before, err := p.usage(true)
	if err != nil {
		return res, err
	}
	d, err := loadgen.New(p.hello.Addr, cfg)
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
	res.BytesPerConn = float64(int64(busy.Bytes)-int64(before.Bytes)) / float64(conns)
	res.GoroutinesPerConn = float64(busy.Goroutines-before.Goroutines) / float64(conns)
	return measureIdleCPU(p, d, res)
}

// settledUsage waits, up to ten seconds, for the server to count conns
// handshakes, and for its goroutines to settle, and returns its usage.
func settledUsage(p *scaleProcess, conns int64) (ScaleUsage, error) {
	var last ScaleUsage
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		u, err := p.usage(true)
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
func measureIdleCPU(p *scaleProcess, d *loadgen.Driver, res Scale) (Scale, error) {
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

// scaleClientConfig is the clients' configuration: DTLSConfigs' client,
// trusting caPEM.
func scaleClientConfig(caPEM []byte) (*fsm.Config, error) {
	cc, _, _ := dtls12.configs()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("benchsuite: the scale server sent no CA certificate")
	}
	cc = cc.Clone()
	cc.RootCAs = pool
	return cc, nil
}
