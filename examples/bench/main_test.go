package main

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestRatioDirection(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		unit       string
		tlsm, peer float64
		want       float64
		printed    string
	}{
		{unitNsOp, 100, 200, 2, "2.00"},       // tlsm twice as fast
		{unitNsOp, 300, 100, 1.0 / 3, "0.33"}, // tlsm three times slower
		{unitOpsPerSec, 200, 100, 2, "2.00"},  // more handshakes a second
		{unitOpsPerSec, 50, 100, 0.5, "0.50"}, // fewer
		{unitMBps, 3000, 1000, 3, "3.00"},     // more throughput
		{unitMBps, 1000, 4000, 0.25, "0.25"},  // less
		{unitBytesOp, 50, 100, 2, "2.00"},     // half the bytes
		{unitBytesOp, 100, 50, 0.5, "0.50"},   // twice the bytes
		{unitAllocsOp, 200, 900, 4.5, "4.50"}, // fewer allocations
		{unitAllocsOp, 900, 200, 0.2222, "0.22"},
		{unitAllocsOp, 0, 0, 1, "1.00"},        // none either side
		{unitAllocsOp, 0, 47, inf, "∞"},        // none against some
		{unitAllocsOp, 3, 0, 0, "0.00"},        // some against none
		{unitBytesConn, 1000, 4000, 4, "4.00"}, // a quarter of the memory
		{unitBytesConn, -5, 4000, inf, "∞"},    // noise below zero is zero
		{unitGorosConn, 0, 6, inf, "∞"},
		{unitGorosConn, 0, 0, 1, "1.00"},
		{unitMBps, 0, 0, 1, "1.00"},
		{unitMBps, 10, 0, inf, "∞"},
	} {
		got := ratio(c.unit, c.tlsm, c.peer)
		if math.IsInf(c.want, 1) != math.IsInf(got, 1) || (!math.IsInf(got, 1) && math.Abs(got-c.want) > 1e-3) {
			t.Errorf("ratio(%s, %v, %v) = %v, want %v", c.unit, c.tlsm, c.peer, got, c.want)
		}
		if p := formatRatio(got); p != c.printed {
			t.Errorf("ratio(%s, %v, %v) prints %q, want %q", c.unit, c.tlsm, c.peer, p, c.printed)
		}
	}
}

func TestFigures(t *testing.T) {
	idleUnits := map[string]bool{unitBytesConn: true, unitGorosConn: true}
	names := map[string]bool{}
	for _, f := range figures() {
		if names[f.name] {
			t.Errorf("figure %q twice", f.name)
		}
		names[f.name] = true
		for _, src := range []source{f.tlsm, f.peer} {
			if (src.bench == nil) == (src.idle == nil) {
				t.Errorf("%s: source %s must be a benchmark or an idle measurement", f.name, src.key)
			}
		}
		for _, u := range f.units {
			if idleUnits[u] != (f.tlsm.idle != nil) || idleUnits[u] != (f.peer.idle != nil) {
				t.Errorf("%s: unit %s does not fit its sources", f.name, u)
			}
		}
	}
}

// TestQuickTSV runs two cheap figures, a benchmark and an idle count, with
// a fixed b.N and few connections, and checks the TSV.
func TestQuickTSV(t *testing.T) {
	rows, err := run(options{
		benchtime: "20x", count: 1, idleConns: 50,
		filter: regexp.MustCompile(`^(TLS1\.3 AES-128-GCM 16 KiB writes: fsm core vs AEAD|idle TLS1\.3 connection, both ends: fsm core pair)`),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeTSV(&out, rows)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (MB/s; B/conn, goroutines/conn):\n%s", len(lines), out.String())
	}
	units := map[string]bool{}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			t.Fatalf("line %d has %d fields, want 5: %q", i, len(f), line)
		}
		figure, unit, r := f[0], f[3], f[4]
		units[unit] = true
		if figure == "" {
			t.Errorf("line %d: no figure", i)
		}
		var v [2]float64
		for j, s := range f[1:3] {
			if v[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Errorf("line %d: value %q: %v", i, s, err)
			}
		}
		if r != infinityMarker {
			if _, err := strconv.ParseFloat(r, 64); err != nil {
				t.Errorf("line %d: ratio %q: %v", i, r, err)
			}
		}
		row := rows[i]
		if want := formatRatio(ratio(row.Unit, row.TLSM, row.Peer)); r != want {
			t.Errorf("line %d: ratio %s, want %s", i, r, want)
		}
		switch unit {
		case unitMBps:
			// More MB/s is better: the ratio is tlsm over peer.
			if row.TLSM <= 0 || row.Peer <= 0 || math.Abs(row.Ratio-row.TLSM/row.Peer) > 1e-9 {
				t.Errorf("MB/s row %+v: ratio is not tlsm/peer", row)
			}
		case unitGorosConn:
			// Neither an fsm.Conn nor an idle crypto/tls Conn runs a
			// goroutine: 0 against 0.
			if row.TLSM != 0 || row.Peer != 0 || r != "1.00" {
				t.Errorf("goroutines row %+v, ratio %s: want 0, 0, 1.00", row, r)
			}
		case unitBytesConn:
			// Less memory is better: the ratio is peer over tlsm.
			if row.TLSM <= 0 || row.Peer <= 0 || math.Abs(row.Ratio-row.Peer/row.TLSM) > 1e-9 {
				t.Errorf("B/conn row %+v: ratio is not peer/tlsm", row)
			}
		}
	}
	for _, u := range []string{unitMBps, unitBytesConn, unitGorosConn} {
		if !units[u] {
			t.Errorf("no %s row", u)
		}
	}
}
