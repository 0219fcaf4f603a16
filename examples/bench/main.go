// Command bench runs tlsm's performance suite (internal/benchsuite) and
// prints one table: each figure for tlsm and its peer (crypto/tls,
// pion/dtls v4, or the AEAD alone as the ceiling of bulk throughput),
// taken in the same process and run, with the ratio that says how much
// better tlsm is: above 1 tlsm is better (faster, fewer allocations,
// less memory), below 1 it is worse.
//
//	go run ./examples/bench           # median of 5 runs of 500 ms per benchmark
//	go run ./examples/bench -quick    # one run of 200 ms: under a minute
//	go run ./examples/bench -tsv      # figure<TAB>tlsm<TAB>peer<TAB>unit<TAB>ratio
//	go run ./examples/bench -run DTLS # only the figures whose name matches
//	go run ./examples/bench -scale 10000 # 10,000 DTLS associations on one socket (tlsm vs pion) and TLS connections to one listener (tlsm vs crypto/tls)
//
// The same bodies run under `go test -bench` at the module root.
package main

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/benchsuite"
)

// Units of the table. Ratios are tlsm/peer for the first two, where more
// is better, and peer/tlsm for the others.
const (
	unitMBps       = "MB/s"
	unitOpsPerSec  = "ops/s"
	unitNsOp       = "ns/op"
	unitBytesOp    = "B/op"
	unitAllocsOp   = "allocs/op"
	unitBytesConn  = "B/conn"
	unitGorosConn  = "goroutines/conn"
	unitWireOp     = "wire-B/op" // bytes both sides sent, a benchmark's own metric
	infinityMarker = "∞"
)

// higherIsBetter reports whether more of unit is better.
func higherIsBetter(unit string) bool { return unit == unitMBps || unit == unitOpsPerSec }

// ratio returns how many times better tlsm is than peer in unit: above 1
// tlsm is better. Zero against zero is 1; a zero where zero is best
// (allocations, memory, goroutines) against anything more is +Inf.
// Negative figures (noise in a memory delta) count as zero.
func ratio(unit string, tlsm, peer float64) float64 {
	tlsm, peer = max(tlsm, 0), max(peer, 0)
	better, worse := peer, tlsm // lower is better: peer/tlsm
	if higherIsBetter(unit) {
		better, worse = tlsm, peer
	}
	switch {
	case better == 0 && worse == 0:
		return 1
	case worse == 0:
		return math.Inf(1)
	}
	return better / worse
}

// formatRatio prints a ratio with two decimals, or the infinity marker.
func formatRatio(r float64) string {
	if math.IsInf(r, 1) {
		return infinityMarker
	}
	return fmt.Sprintf("%.2f", r)
}

// formatValue prints a figure with as many decimals as it needs.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4f", v)
}

// A source is one measurement: a benchmark or an idle-connection count.
// Sources are run once and shared by the figures that name them.
type source struct {
	key   string
	bench func(*testing.B)
	idle  func(n int) (benchsuite.Idle, error)
}

// A figure compares tlsm with its peer in one or more units.
type figure struct {
	name       string
	tlsm, peer source
	units      []string
}

// row is one line of the table.
type row struct {
	Figure     string
	TLSM, Peer float64
	Unit       string
	Ratio      float64
}

func benchSrc(key string, f func(*testing.B)) source { return source{key: key, bench: f} }

func idleSrc(key string, f func(int) (benchsuite.Idle, error)) source {
	return source{key: key, idle: f}
}

// figures is the suite, in the order of the table.
func figures() []figure {
	const (
		aes    = fsm.TLS_AES_128_GCM_SHA256
		chacha = fsm.TLS_CHACHA20_POLY1305_SHA256
	)
	hs := []string{unitNsOp, unitAllocsOp, unitBytesOp}
	bulk := []string{unitMBps, unitAllocsOp}
	idle := []string{unitBytesConn, unitGorosConn}
	// The DTLS 1.3 handshakes say how many a second too.
	hs13 := append([]string{unitOpsPerSec}, hs...)
	var (
		h13Go   = benchSrc("handshake13/crypto-tls-pipe", benchsuite.Handshake13GoTLS)
		h12Go   = benchSrc("handshake12/crypto-tls-pipe", benchsuite.Handshake12GoTLS)
		r13Go   = benchSrc("resume13/crypto-tls-pipe", benchsuite.ResumeGoTLS(fsm.VersionTLS13))
		aesGo   = benchSrc("bulk16k-aes/crypto-tls-pipe", benchsuite.Bulk16KGoTLS)
		chaGo   = benchSrc("bulk16k-chacha/crypto-tls-to-tlsm-pipe", benchsuite.Bulk16KGoTLSToTLSM(chacha))
		aesCore = benchSrc("bulk16k-aes/tlsm-core", benchsuite.Bulk16KCore(aes))
		chaCore = benchSrc("bulk16k-chacha/tlsm-core", benchsuite.Bulk16KCore(chacha))
		dtCore  = benchSrc("dtls-bulk1200/tlsm-core", benchsuite.DTLSBulk1200Core)
		goIdle  = idleSrc("idle13/crypto-tls-pipe", benchsuite.IdleGoTLS)
		pion    = idleSrc("idle-dtls/pion-dpipe", benchsuite.IdlePion)
	)
	// DTLS 1.3, both sides; the figures' names say DTLS13, so that
	// -run DTLS13 picks them.
	var (
		dt13Core = benchSrc("dtls13-bulk1200/tlsm-core", benchsuite.DTLS13Bulk1200Core)
		pion13   = idleSrc("idle-dtls13/pion-dpipe", benchsuite.IdleDTLS13Pion)
	)
	// The hybrid key exchange, one group on both sides.
	const (
		mlkem   = fsm.X25519MLKEM768
		x25519  = fsm.X25519
		mlkemHS = "TLS1.3 X25519MLKEM768 full handshake: "
	)
	hsWire := append(slices.Clone(hs), unitWireOp)
	var (
		kxPipe  = benchSrc("kx-mlkem/tlsm-pipe", benchsuite.KeyExchangePipe(mlkem))
		kxTCP   = benchSrc("kx-mlkem/tlsm-tcp", benchsuite.KeyExchangeTCP(mlkem))
		kxGoTCP = benchSrc("kx-mlkem/crypto-tls-tcp", benchsuite.KeyExchangeGoTLSTCP(mlkem))
		kxGo    = benchSrc("kx-mlkem/crypto-tls-pipe", benchsuite.KeyExchangeGoTLSPipe(mlkem))
	)
	figs := socketFigures(hs)
	figs = append(figs, floorFigures(hs)...)
	return append(figs, []figure{
		{mlkemHS + "tls.Conn vs crypto/tls (net.Pipe)", kxPipe, kxGo, hsWire},
		{mlkemHS + "fsm core in memory vs crypto/tls (net.Pipe)",
			benchSrc("kx-mlkem/tlsm-core", benchsuite.KeyExchangeCore(mlkem)), kxGo, hs},
		{mlkemHS + "fsm core in memory vs crypto/tls QUIC API in memory (no record protection)",
			benchSrc("kx-mlkem/tlsm-core", benchsuite.KeyExchangeCore(mlkem)),
			benchSrc("kx-mlkem/crypto-tls-quic", benchsuite.KeyExchangeGoTLSMemory(mlkem)), hs},
		{mlkemHS + "tls.Conn vs crypto/tls (TCP loopback, a connection each)", kxTCP, kxGoTCP, hs},
		{mlkemHS + "tls.Conn vs crypto/tls (TCP loopback, 8 clients at a time)",
			benchSrc("kx-mlkem/tlsm-tcp-conc", benchsuite.KeyExchangeTCPConcurrent(mlkem)),
			benchSrc("kx-mlkem/crypto-tls-tcp-conc", benchsuite.KeyExchangeGoTLSTCPConcurrent(mlkem)), append([]string{unitOpsPerSec}, hs...)},
		{"TLS1.3 X25519MLKEM768 full handshake, cold certificate cache: tls.Conn vs crypto/tls (net.Pipe)",
			benchSrc("kx-mlkem/tlsm-pipe-cold", benchsuite.KeyExchangePipeCold(mlkem)), kxGo, hs},
		{"TLS1.3 X25519MLKEM768 full handshake, cold certificate cache: tls.Conn vs crypto/tls (TCP loopback)",
			benchSrc("kx-mlkem/tlsm-tcp-cold", benchsuite.KeyExchangeTCPCold(mlkem)), kxGoTCP, hs},
		{"TLS1.3 full handshake, tls.Conn over TCP loopback: X25519MLKEM768 vs X25519 alone (the hybrid's cost)",
			kxTCP, benchSrc("kx-x25519/tlsm-tcp", benchsuite.KeyExchangeTCP(x25519)), hs},
		{"TLS1.3 full handshake, crypto/tls over TCP loopback: X25519MLKEM768 vs X25519 alone (the hybrid's cost)",
			kxGoTCP, benchSrc("kx-x25519/crypto-tls-tcp", benchsuite.KeyExchangeGoTLSTCP(x25519)), hs},
		{"TLS1.3 full handshake, tls.Conn, bytes on the wire: X25519MLKEM768 vs X25519 alone (the hybrid's cost)",
			kxPipe, benchSrc("kx-x25519/tlsm-pipe", benchsuite.KeyExchangePipe(x25519)), []string{unitWireOp}},
		{"TLS1.3 full handshake, crypto/tls, bytes on the wire: X25519MLKEM768 vs X25519 alone (the hybrid's cost)",
			kxGo, benchSrc("kx-x25519/crypto-tls-pipe", benchsuite.KeyExchangeGoTLSPipe(x25519)), []string{unitWireOp}},
		{"TLS1.3 full handshake: tls.Conn vs crypto/tls (net.Pipe)",
			benchSrc("handshake13/tlsm-pipe", benchsuite.Handshake13Pipe), h13Go, hs},
		{"TLS1.3 full handshake: fsm core in memory vs crypto/tls (net.Pipe)",
			benchSrc("handshake13/tlsm-core", benchsuite.Handshake13Core), h13Go, hs},
		{"TLS1.3 full handshake, cold certificate cache: fsm core in memory vs crypto/tls (net.Pipe)",
			benchSrc("handshake13/tlsm-core-cold", benchsuite.Handshake13CoreCold), h13Go, hs},
		{"TLS1.2 ECDHE-ECDSA-AES128-GCM full handshake: tls.Conn vs crypto/tls (net.Pipe)",
			benchSrc("handshake12/tlsm-pipe", benchsuite.Handshake12Pipe), h12Go, hs},
		{"TLS1.2 ECDHE-ECDSA-AES128-GCM full handshake: fsm core in memory vs crypto/tls (net.Pipe)",
			benchSrc("handshake12/tlsm-core", benchsuite.Handshake12Core), h12Go, hs},
		{"TLS1.3 PSK resumption + 1 byte: tls.Conn vs crypto/tls (net.Pipe)",
			benchSrc("resume13/tlsm-pipe", benchsuite.ResumePipe(fsm.VersionTLS13)), r13Go, hs},
		{"TLS1.3 PSK resumption + 1 byte: fsm core in memory vs crypto/tls (net.Pipe)",
			benchSrc("resume13/tlsm-core", benchsuite.ResumeCore(fsm.VersionTLS13)), r13Go, hs},
		{"DTLS1.2 full handshake: fsm core in memory vs pion/dtls (dpipe)",
			benchSrc("dtls-handshake/tlsm-core", benchsuite.DTLSHandshakeCore),
			benchSrc("dtls-handshake/pion", benchsuite.DTLSHandshakePion), hs},
		{"DTLS13 full handshake, HelloRetryRequest cookie: fsm core in memory vs pion/dtls (dpipe)",
			benchSrc("dtls13-handshake/tlsm-core", benchsuite.DTLS13HandshakeCore),
			benchSrc("dtls13-handshake/pion", benchsuite.DTLS13HandshakePion), hs13},
		{"DTLS13 full handshake, HelloRetryRequest cookie, UDP loopback: dtls.Dial/Listen vs pion/dtls Client/ListenAddr",
			benchSrc("dtls13-handshake-udp/tlsm", benchsuite.DTLS13HandshakeUDP),
			benchSrc("dtls13-handshake-udp/pion", benchsuite.DTLS13HandshakeUDPPion), hs13},
		{"TLS1.3 AES-128-GCM 16 KiB writes: tls.Conn vs crypto/tls (net.Pipe)",
			benchSrc("bulk16k-aes/tlsm-pipe", benchsuite.Bulk16KPipe(aes)), aesGo, bulk},
		{"TLS1.3 AES-128-GCM 16 KiB writes: fsm core in memory vs crypto/tls (net.Pipe)",
			aesCore, aesGo, bulk},
		{"TLS1.3 AES-128-GCM 16 KiB writes: fsm core vs AEAD seal+open alone (ceiling)",
			aesCore, benchSrc("aead/aes-128-gcm-16k", benchsuite.AEADAES128GCM16K), []string{unitMBps}},
		{"TLS1.3 ChaCha20 16 KiB writes: tls.Conn vs crypto/tls sender, tlsm receiver (net.Pipe)",
			benchSrc("bulk16k-chacha/tlsm-pipe", benchsuite.Bulk16KPipe(chacha)), chaGo, bulk},
		{"TLS1.3 ChaCha20 16 KiB writes: fsm core in memory vs crypto/tls sender (net.Pipe)",
			chaCore, chaGo, bulk},
		{"TLS1.3 ChaCha20 16 KiB writes: fsm core vs AEAD seal+open alone (ceiling)",
			chaCore, benchSrc("aead/chacha20-poly1305-16k", benchsuite.AEADChaCha16K), []string{unitMBps}},
		{"DTLS1.2 AES-128-GCM 1200 B writes: fsm core in memory vs pion/dtls (dpipe)",
			dtCore, benchSrc("dtls-bulk1200/pion", benchsuite.DTLSBulk1200Pion), bulk},
		{"DTLS1.2 AES-128-GCM 1200 B writes: fsm core vs AEAD seal+open alone (ceiling)",
			dtCore, benchSrc("aead/aes-128-gcm-1200", benchsuite.AEADAES128GCM1200), []string{unitMBps}},
		{"DTLS13 AES-128-GCM 1200 B writes: fsm core in memory vs pion/dtls (dpipe)",
			dt13Core, benchSrc("dtls13-bulk1200/pion", benchsuite.DTLS13Bulk1200Pion), bulk},
		{"DTLS13 AES-128-GCM 1200 B writes: fsm core vs AEAD seal+open alone (ceiling)",
			dt13Core, benchSrc("aead/aes-128-gcm-1200-dtls13", benchsuite.AEADAES128GCM1200DTLS13), []string{unitMBps}},
		{"idle TLS1.3 connection, both ends: fsm core pair vs crypto/tls (net.Pipe)",
			idleSrc("idle13/tlsm-core", benchsuite.IdleTLSCore), goIdle, idle},
		{"idle TLS1.3 connection, both ends: tls.Conn vs crypto/tls (net.Pipe)",
			idleSrc("idle13/tlsm-pipe", benchsuite.IdleTLSConn), goIdle, idle},
		{"idle DTLS1.2 connection, both ends: fsm core pair vs pion/dtls (dpipe's memory subtracted)",
			idleSrc("idle-dtls/tlsm-core", benchsuite.IdleDTLSCore), pion, idle},
		{"idle DTLS1.2 connection, both ends: dtls.Conn vs pion/dtls (dpipe's memory subtracted)",
			idleSrc("idle-dtls/tlsm-dpipe", benchsuite.IdleDTLSConn), pion, idle},
		{"idle DTLS13 connection, both ends: fsm core pair vs pion/dtls (dpipe's memory subtracted)",
			idleSrc("idle-dtls13/tlsm-core", benchsuite.IdleDTLS13Core), pion13, idle},
		{"idle DTLS13 connection, both ends: dtls.Conn vs pion/dtls (dpipe's memory subtracted)",
			idleSrc("idle-dtls13/tlsm-dpipe", benchsuite.IdleDTLS13Conn), pion13, idle},
	}...)
}

// socketFigures are the handshakes over TCP loopback, one client at a
// time and benchsuite.Concurrent at a time, tlsm's certificate cache
// warm and cold, beside crypto/tls (which verifies the chain every time),
// and the DTLS 1.2 handshakes over UDP loopback beside pion/dtls.
func socketFigures(units []string) []figure {
	var figs []figure
	for _, conc := range []int{1, benchsuite.Concurrent} {
		how := "one client at a time"
		if conc > 1 {
			how = fmt.Sprintf("%d clients at a time", conc)
		}
		us := units
		if conc > 1 {
			us = append([]string{unitOpsPerSec}, units...)
		}
		key := fmt.Sprintf("tcp%d", conc)
		go13 := benchSrc(key+"-handshake13/crypto-tls", benchsuite.TCPHandshake13GoTLS(conc))
		go12 := benchSrc(key+"-handshake12/crypto-tls", benchsuite.TCPHandshake12GoTLS(conc))
		figs = append(figs,
			figure{"TLS1.3 full handshake, TCP loopback, " + how + ", warm certificate cache: tls.Conn vs crypto/tls",
				benchSrc(key+"-handshake13/tlsm", benchsuite.TCPHandshake13(false, conc)), go13, us},
			figure{"TLS1.3 full handshake, TCP loopback, " + how + ", cold certificate cache: tls.Conn vs crypto/tls",
				benchSrc(key+"-handshake13/tlsm-cold", benchsuite.TCPHandshake13(true, conc)), go13, us},
			figure{"TLS1.2 ECDHE-ECDSA-AES128-GCM full handshake, TCP loopback, " + how + ", warm certificate cache: tls.Conn vs crypto/tls",
				benchSrc(key+"-handshake12/tlsm", benchsuite.TCPHandshake12(false, conc)), go12, us},
			figure{"TLS1.2 ECDHE-ECDSA-AES128-GCM full handshake, TCP loopback, " + how + ", cold certificate cache: tls.Conn vs crypto/tls",
				benchSrc(key+"-handshake12/tlsm-cold", benchsuite.TCPHandshake12(true, conc)), go12, us},
			figure{"DTLS1.2 full handshake, UDP loopback, " + how + ": dtls.Dial/Listen vs pion/dtls Client/ListenAddr",
				benchSrc(fmt.Sprintf("udp%d-dtls-handshake/tlsm", conc), benchsuite.DTLSHandshakeUDPLikePion(conc)),
				benchSrc(fmt.Sprintf("udp%d-dtls-handshake/pion", conc), benchsuite.DTLSHandshakeUDPPion(conc)), us})
	}
	return figs
}

// floorFigures compare the core's handshakes in memory with crypto/tls's
// own in-memory handshake and with the public-key work alone.
func floorFigures(units []string) []figure {
	x, mlkem := fsm.X25519, fsm.X25519MLKEM768
	core := benchSrc("handshake13/tlsm-core", benchsuite.Handshake13Core)
	cold := benchSrc("handshake13/tlsm-core-cold", benchsuite.Handshake13CoreCold)
	return []figure{
		{"TLS1.3 full handshake in memory, warm certificate cache: fsm core vs crypto/tls QUIC API (no record protection)",
			core, benchSrc("handshake13/crypto-tls-quic", benchsuite.Handshake13GoTLSMemory), units},
		{"TLS1.3 full handshake in memory, warm certificate cache: fsm core vs its public-key floor (ratio < 1: the overhead)",
			core, benchSrc("floor/x25519-warm", benchsuite.PublicKeyFloor(x, false)), []string{unitNsOp}},
		{"TLS1.3 full handshake in memory, cold certificate cache: fsm core vs its public-key floor (ratio < 1: the overhead)",
			cold, benchSrc("floor/x25519-cold", benchsuite.PublicKeyFloor(x, true)), []string{unitNsOp}},
		{"TLS1.3 X25519MLKEM768 full handshake in memory, warm certificate cache: fsm core vs its public-key floor (ratio < 1: the overhead)",
			benchSrc("kx-mlkem/tlsm-core", benchsuite.KeyExchangeCore(mlkem)),
			benchSrc("floor/mlkem-warm", benchsuite.PublicKeyFloor(mlkem, false)), []string{unitNsOp}},
	}
}

// options control a run.
type options struct {
	// benchtime is -test.benchtime for every benchmark: "1s", "200ms",
	// or "100x" for a fixed b.N.
	benchtime string
	// count is how many times each benchmark runs, tlsm's and its peer's
	// in turn; the median run counts, so that neither one lucky nor one
	// disturbed run decides.
	count int
	// idleConns is how many connections each idle figure opens.
	idleConns int
	// filter, when set, keeps the figures whose name it matches.
	filter *regexp.Regexp
	// progress, when set, hears about each measurement as it starts.
	progress io.Writer
}

// runner takes measurements, each once.
type runner struct {
	opts  options
	bench map[string]testing.BenchmarkResult
	idle  map[string]benchsuite.Idle
}

// value returns src's measurement in unit.
func (r *runner) value(src source, unit string) (float64, error) {
	if src.idle != nil {
		res, ok := r.idle[src.key]
		if !ok {
			r.say(src.key, fmt.Sprintf("%d connections", r.opts.idleConns))
			var err error
			if res, err = src.idle(r.opts.idleConns); err != nil {
				return 0, fmt.Errorf("%s: %w", src.key, err)
			}
			r.idle[src.key] = res
		}
		switch unit {
		case unitBytesConn:
			return res.Bytes, nil
		case unitGorosConn:
			return res.Goroutines, nil
		}
		return 0, fmt.Errorf("%s: no %s in an idle measurement", src.key, unit)
	}
	res, ok := r.bench[src.key]
	if !ok {
		return 0, fmt.Errorf("%s: not measured", src.key)
	}
	n := float64(res.N)
	switch unit {
	case unitNsOp:
		return float64(res.T.Nanoseconds()) / n, nil
	case unitOpsPerSec:
		return n / res.T.Seconds(), nil
	case unitMBps:
		return float64(res.Bytes) * n / 1e6 / res.T.Seconds(), nil
	case unitAllocsOp:
		// Whole allocations per operation, as go test prints them: the
		// odd allocation of a timer or a goroutine over thousands of
		// records is not one per record.
		return float64(res.AllocsPerOp()), nil
	case unitBytesOp:
		return float64(res.AllocedBytesPerOp()), nil
	case unitWireOp:
		if v, ok := res.Extra[unitWireOp]; ok {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%s: no %s in a benchmark", src.key, unit)
}

// measure runs the benchmarks among srcs not yet measured, in turn,
// opts.count times, and keeps the median run of each (by time per op).
func (r *runner) measure(srcs ...source) error {
	var todo []source
	for _, src := range srcs {
		if _, done := r.bench[src.key]; src.bench != nil && !done {
			todo = append(todo, src)
		}
	}
	runs := map[string][]testing.BenchmarkResult{}
	for i := range max(r.opts.count, 1) {
		for _, src := range todo {
			r.say(src.key, fmt.Sprintf("%s, run %d of %d", r.opts.benchtime, i+1, max(r.opts.count, 1)))
			res := testing.Benchmark(src.bench)
			if res.N == 0 {
				return fmt.Errorf("%s: benchmark failed; `go test -run '^$' -bench .` at the module root shows why", src.key)
			}
			runs[src.key] = append(runs[src.key], res)
		}
	}
	for k, results := range runs {
		slices.SortFunc(results, func(a, b testing.BenchmarkResult) int { return cmp.Compare(nsPerOp(a), nsPerOp(b)) })
		r.bench[k] = results[(len(results)-1)/2]
	}
	return nil
}

func nsPerOp(r testing.BenchmarkResult) float64 { return float64(r.T.Nanoseconds()) / float64(r.N) }

func (r *runner) say(key, how string) {
	if r.opts.progress != nil {
		fmt.Fprintf(r.opts.progress, "# %s (%s)\n", key, how)
	}
}

// run measures the figures that opts selects and returns their rows.
func run(opts options) ([]row, error) {
	testing.Init()
	if err := flag.Set("test.benchtime", opts.benchtime); err != nil {
		return nil, fmt.Errorf("benchtime %q: %w", opts.benchtime, err)
	}
	r := &runner{opts: opts, bench: map[string]testing.BenchmarkResult{}, idle: map[string]benchsuite.Idle{}}
	var rows []row
	for _, f := range figures() {
		if opts.filter != nil && !opts.filter.MatchString(f.name) {
			continue
		}
		if err := r.measure(f.tlsm, f.peer); err != nil {
			return rows, err
		}
		for _, unit := range f.units {
			t, err := r.value(f.tlsm, unit)
			if err != nil {
				return rows, err
			}
			p, err := r.value(f.peer, unit)
			if err != nil {
				return rows, err
			}
			rows = append(rows, row{Figure: f.name, TLSM: t, Peer: p, Unit: unit, Ratio: ratio(unit, t, p)})
		}
	}
	return rows, nil
}

// writeTSV prints one line per row: figure, tlsm, peer, unit, ratio.
func writeTSV(w io.Writer, rows []row) {
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Figure, formatValue(r.TLSM), formatValue(r.Peer), r.Unit, formatRatio(r.Ratio))
	}
}

// writeTable prints the rows as a Markdown table, numbers aligned right.
func writeTable(w io.Writer, rows []row) {
	cells := [][]string{{"figure", "tlsm", "peer", "unit", "ratio"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Figure, formatValue(r.TLSM), formatValue(r.Peer), r.Unit, formatRatio(r.Ratio)})
	}
	width := make([]int, 5)
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	right := []bool{false, true, true, false, true}
	line := func(c []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			pad := strings.Repeat(" ", width[i]-len([]rune(s)))
			if right[i] {
				s = pad + s
			} else {
				s += pad
			}
			b.WriteString(" " + s + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, 5)
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i]-1)
		if right[i] {
			sep[i] += ":"
		} else {
			sep[i] += "-"
		}
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}

// machine describes where the figures were taken.
func machine() string {
	return fmt.Sprintf("%d CPUs, %s/%s, %s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel(), runtime.Version())
}

// cpuModel returns the first "model name" of /proc/cpuinfo, if any.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

func main() {
	if served, err := serveScaleIfAsked(); served {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: scale server:", err)
			os.Exit(1)
		}
		return
	}
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	quick := fs.Bool("quick", false, "one run of 200 ms per benchmark instead of the median of 5 of 500 ms: the whole suite in under a minute")
	tsv := fs.Bool("tsv", false, "print figure<TAB>tlsm<TAB>peer<TAB>unit<TAB>ratio lines only (the rest goes to stderr)")
	filter := fs.String("run", "", "measure only the figures whose name matches this regular expression")
	count := fs.Int("count", 0, "runs of each benchmark, the median counting (default 1 with -quick, 5 without)")
	conns := fs.Int("conns", 0, "connections per idle figure (default 1000 with -quick, 2000 without)")
	scale := fs.Int("scale", 0, "instead of the suite, the scale figures: this many DTLS associations on one server socket (tlsm's and pion's) and TLS connections to one listener (tlsm's and crypto/tls's)")
	inFlight := fs.Int("scale-inflight", 64, "handshakes under way at once in the scale figures")
	idle := fs.Duration("scale-idle", 10*time.Second, "how long the scale figures measure idle connections")
	fs.Parse(os.Args[1:])
	if *scale > 0 {
		mainScale(scaleOptions{conns: *scale, inFlight: *inFlight, idle: *idle})
		return
	}

	opts := options{benchtime: "500ms", count: 5, idleConns: 2000, progress: os.Stderr}
	if *quick {
		opts.benchtime, opts.count, opts.idleConns = "200ms", 1, 1000
	}
	if *count > 0 {
		opts.count = *count
	}
	if *conns > 0 {
		opts.idleConns = *conns
	}
	if *filter != "" {
		re, err := regexp.Compile(*filter)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -run:", err)
			os.Exit(2)
		}
		opts.filter = re
	}

	head := os.Stdout
	if *tsv {
		head = os.Stderr
	}
	fmt.Fprintf(head, "machine: %s\n", machine())
	fmt.Fprintf(head, "command: %s\n", strings.Join(append([]string{"go run ./examples/bench"}, os.Args[1:]...), " "))
	fmt.Fprintf(head, "settings: %s per benchmark, median of %d, tlsm and peer in turn; %d connections per idle figure\n",
		opts.benchtime, opts.count, opts.idleConns)
	fmt.Fprintf(head, "ratio > 1: tlsm is better (faster, fewer allocations, less memory); %s: tlsm has none, the peer some\n", infinityMarker)

	start := time.Now()
	rows, err := run(opts)
	if *tsv {
		writeTSV(os.Stdout, rows)
	} else {
		fmt.Println()
		writeTable(os.Stdout, rows)
	}
	fmt.Fprintf(head, "\ntook %s\n", time.Since(start).Round(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
