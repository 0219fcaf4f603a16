package fsmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/cryptotest"
)

// Deterministic makes the process's global random source, for the rest of
// t, a generator seeded with seed (testing/cryptotest.SetGlobalRandom).
// Since Go 1.26 ECDSA and RSA signing, among other crypto calls, read it
// instead of the Config.Rand they are given: with Deterministic and each
// Config.Rand from Rand(seed, side), a seed gives the same run. t must not
// be parallel, as the source is global.
func Deterministic(t *testing.T, seed uint64) { cryptotest.SetGlobalRandom(t, seed) }

// ReportSeed makes a failure of t print, as its last log line, the command
// that runs t again with the same seed:
//
//	go test ./fsm/fsmtest -run '^TestX$/^seed=7$' -sim.seed=7 -sim.seeds=1 -count=1
//
// It is meant for tests that take their seeds from the flags -sim.seed
// (the first seed) and -sim.seeds (how many), which the test package
// defines with flag.Uint64, and that run seed after seed from the first.
// Call it at the start of the test (or subtest) that uses seed.
func ReportSeed(t testing.TB, seed uint64) {
	t.Helper()
	cmd := ReproCommand(t.Name(), seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d; reproduce with: %s", seed, cmd)
		}
	})
}

// ReproCommand returns the go test command line that runs the test named
// name (as t.Name reports it) in the current package with one seed. The
// package is given relative to the module root, so the command works from
// there.
func ReproCommand(name string, seed uint64) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return fmt.Sprintf("go test %s -run '%s' -sim.seed=%d -sim.seeds=1 -count=1",
		packageDir(), strings.Join(parts, "/"), seed)
}

// LogTrace makes a failure of t log the last n lines of the trace (all of
// it when n <= 0).
func (n *Network) LogTrace(t testing.TB, lines int) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		tr := n.trace
		if lines > 0 && len(tr) > lines {
			t.Logf("trace: last %d of %d lines", lines, len(tr))
			tr = tr[len(tr)-lines:]
		}
		t.Log("trace:\n" + strings.Join(tr, "\n"))
	})
}

// packageDir returns the directory of the test being run ("go test" runs
// it in its package's directory) relative to the module root, as "./dir",
// or "." when it cannot tell.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}
