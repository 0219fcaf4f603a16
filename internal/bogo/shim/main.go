// Command shim runs tlsm under BoringSSL's TLS test suite (BoGo): the
// suite's runner starts it once per test with flags describing a
// connection (see ssl/test/PORTING.md and test_config.cc in BoringSSL).
//
// The shim dials the runner on 127.0.0.1 (or ::1 with -ipv6) at -port,
// writes the 8-byte little-endian -shim-id, and speaks TLS, or DTLS with
// each datagram framed as 'P' and a 4-byte length. After the handshake it
// echoes application data with every byte XORed with 0xff. It exits 0 on
// success, 1 on failure (with the reason on stderr), and 89 for a flag it
// cannot honour, which the runner reports as unimplemented. When the
// environment names a file in TLSM_BOGO_UNIMPLEMENTED, each such flag is
// appended to it with the reason, for the suite's report.
//
// The shim drives the sans-I/O core (fsm.Conn) directly rather than the
// tls and dtls adapters: the runner's DTLS timeouts are instructions to
// act as if time had passed, which a virtual clock fed to the core
// answers exactly, and one event loop over the runner's socket serves
// both transports alike, with every event (alerts, close_notify,
// handshakes) in view.
package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// exitUnimplemented tells the runner a test needs what the shim lacks.
const exitUnimplemented = 89

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if slices.Contains(args, "-is-handshaker-supported") {
		fmt.Println("No")
		return 0
	}
	cfg, err := parseFlags(args)
	if err == nil {
		err = checkUnsupported(&cfg.initial)
	}
	if err == nil {
		err = checkUnsupported(&cfg.resume)
	}
	if err == nil {
		err = checkEarlyData(cfg)
	}
	var ue *unimplementedError
	if errors.As(err, &ue) {
		logUnimplemented(ue)
		return exitUnimplemented
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s := newShim(cfg)
	for i := 0; i <= cfg.initial.resumeCount; i++ {
		if err := s.connection(i); err != nil {
			if errors.As(err, &ue) {
				logUnimplemented(ue)
				return exitUnimplemented
			}
			fmt.Fprintf(os.Stderr, "connection %d failed: %v\n", i+1, err)
			return 1
		}
	}
	return 0
}

// logUnimplemented records a flag the shim cannot honour where the
// environment asks.
func logUnimplemented(ue *unimplementedError) {
	name := os.Getenv("TLSM_BOGO_UNIMPLEMENTED")
	if name == "" {
		return
	}
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\t%s\n", ue.flag, ue.reason)
}

// shim is the state shared by the connections of one test: the clock,
// the session caches and ticket keys, the last verification result.
type shim struct {
	cfg         *config
	clock       clock
	ticketKeys  [][32]byte
	clientCache *recordingCache
	serverCache *recordingCache
	// verifyFailed is the verification result of the session in use,
	// which a resumption inherits as BoringSSL's sessions do.
	verifyFailed bool
	// newSessions counts the sessions the client cached during the last
	// connection: a resumption offers one of them.
	newSessions int
}

func newShim(cfg *config) *shim {
	var key [32]byte
	rand.Read(key[:])
	return &shim{
		cfg:         cfg,
		clock:       clock{now: time.Now()},
		ticketKeys:  [][32]byte{key},
		clientCache: newRecordingCache(),
		serverCache: newRecordingCache(),
	}
}

// connection runs connection i: the first, or resumption i.
func (s *shim) connection(i int) error {
	o := &s.cfg.initial
	if i > 0 {
		o = &s.cfg.resume
		if !o.server && s.newSessions == 0 {
			return errors.New("no session to offer")
		}
	}
	err := s.exchange(o, i > 0)
	s.clock.advance(time.Duration(o.resumptionDelay) * time.Second)
	return err
}
