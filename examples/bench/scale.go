package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/tlsm/tlsm/internal/benchsuite"
)

// scaleServerEnv, when set in the environment, makes this program a scale
// server of the library it names (benchsuite.ServeScale) instead of the
// suite: the scale figures measure their servers in processes of their
// own.
const scaleServerEnv = "TLSM_BENCH_SCALE_SERVER"

// scaleOptions are the settings of the scale figures.
type scaleOptions struct {
	conns, inFlight int
	idle            time.Duration
}

// serveScaleIfAsked runs the scale server when the environment asks for
// one, and reports whether it did.
func serveScaleIfAsked() (bool, error) {
	library := os.Getenv(scaleServerEnv)
	if library == "" {
		return false, nil
	}
	return true, benchsuite.ServeScale(library, os.Stdin, os.Stdout)
}

// scaleServerCommand runs this program again as a scale server of library.
func scaleServerCommand(library string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), scaleServerEnv+"="+library)
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// scalePairs are the scale figures' servers, tlsm's and its peer's: a
// peer library, or tlsm's DTLS listener without batched datagram I/O.
var scalePairs = []struct {
	tlsm, peer string
	// what, tlsmName and peerName say what the figures measure.
	what, tlsmName, peerName string
}{
	{benchsuite.ScaleTLSM, benchsuite.ScalePion, "DTLS 1.2 associations on one server socket", "dtls.Listen", "pion/dtls v4 listener"},
	{benchsuite.ScaleTLS, benchsuite.ScaleGoTLS, "TLS 1.3 connections over TCP to one listener", "tls.Listen", "crypto/tls listener"},
	{benchsuite.ScaleTLSM, benchsuite.ScaleTLSMSingle, "DTLS 1.2 associations on one server socket", "dtls.Listen batching recvmmsg/sendmmsg", "dtls.Listen a datagram per system call"},
}

// runScale measures each pair's servers, tlsm's first, each server once
// however many pairs it is in.
func runScale(opts scaleOptions) ([]benchsuite.Scale, error) {
	var res []benchsuite.Scale
	measured := map[string]benchsuite.Scale{}
	for _, pair := range scalePairs {
		for _, library := range []string{pair.tlsm, pair.peer} {
			s, ok := measured[library]
			if !ok {
				var err error
				if s, err = measureServer(library, opts); err != nil {
					return res, err
				}
				measured[library] = s
			}
			res = append(res, s)
		}
	}
	return res, nil
}

// measureServer runs library's scale server in a process of its own and
// measures it.
func measureServer(library string, opts scaleOptions) (benchsuite.Scale, error) {
	cmd, err := scaleServerCommand(library)
	if err != nil {
		return benchsuite.Scale{}, err
	}
	s, err := benchsuite.RunScale(cmd, library, opts.conns, opts.inFlight, opts.idle)
	if err != nil {
		return s, fmt.Errorf("%s: %w", library, err)
	}
	return s, nil
}

// writeScale prints the scale figures, a table for each pair measured,
// with the ratio that says how much better tlsm is.
func writeScale(w io.Writer, res []benchsuite.Scale) {
	for i, pair := range scalePairs {
		if len(res) < 2*i+2 {
			return
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		writeScalePair(w, res[2*i], res[2*i+1], pair.what, pair.tlsmName, pair.peerName)
	}
}

// writeScalePair prints the figures of tlsm's server t and its peer's p.
func writeScalePair(w io.Writer, t, p benchsuite.Scale, what, tlsmName, peerName string) {
	fmt.Fprintf(w, "%d %s (%s vs %s, server in its own process),\n", t.Conns, what, tlsmName, peerName)
	fmt.Fprintf(w, "made %d at a time by the same tlsm clients; then idle for %s\n\n", t.InFlight, t.Idle)
	rows := []struct {
		name       string
		unit       string
		tlsm, peer float64
	}{
		{"handshakes per second while they arrive", unitOpsPerSec, t.HandshakesPerSec, p.HandshakesPerSec},
		{"server CPU per handshake", unitNsOp, float64(t.ServerCPUPerHandshake), float64(p.ServerCPUPerHandshake)},
		{"server memory per idle connection", unitBytesConn, t.BytesPerConn, p.BytesPerConn},
		{"server goroutines per idle connection", unitGorosConn, t.GoroutinesPerConn, p.GoroutinesPerConn},
		{"server CPU per idle connection per second", "ns/conn/s", float64(t.IdleCPUPerConn), float64(p.IdleCPUPerConn)},
	}
	fmt.Fprintf(w, "%-45s %14s %14s %-16s %s\n", "figure", "tlsm", "peer", "unit", "ratio")
	for _, r := range rows {
		fmt.Fprintf(w, "%-45s %14s %14s %-16s %s\n", r.name, formatValue(r.tlsm), formatValue(r.peer), r.unit,
			formatRatio(ratio(r.unit, r.tlsm, r.peer)))
	}
	if t.Retransmits+p.Retransmits > 0 {
		fmt.Fprintf(w, "\nclient retransmissions: tlsm %d, peer %d\n", t.Retransmits, p.Retransmits)
	}
}

// mainScale runs and prints the scale figures.
func mainScale(opts scaleOptions) {
	fmt.Printf("machine: %s\n", machine())
	fmt.Printf("command: %s\n\n", strings.Join(append([]string{"go run ./examples/bench"}, os.Args[1:]...), " "))
	start := time.Now()
	res, err := runScale(opts)
	writeScale(os.Stdout, res)
	fmt.Printf("\ntook %s\n", time.Since(start).Round(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
