package bogo

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var (
	flagTests   = flag.String("bogo.test", "", "run only the runner's tests matching these patterns (the runner's -test: globs separated by ';')")
	flagWorkers = flag.Int("bogo.workers", 2, "the runner's parallelism (-num-workers)")
	flagIdle    = flag.Duration("bogo.idle-timeout", 5*time.Second, "how long the runner waits for the shim to read or write (-idle-timeout)")
)

// minSuiteTime is the time the whole suite is given: it takes about five
// minutes with two workers.
const minSuiteTime = 20 * time.Minute

// TestBoGo runs BoringSSL's test suite against tlsm's shim and compares the
// results with known_failures.json.
func TestBoGo(t *testing.T) {
	if testing.Short() {
		t.Skip("BoGo takes minutes; not in -short mode")
	}
	if d, ok := t.Deadline(); ok && *flagTests == "" && time.Until(d) < minSuiteTime {
		t.Skipf("the whole suite needs -timeout %v or more (or choose tests with -bogo.test)", minSuiteTime)
	}
	requireNamespace(t)
	known, err := loadKnownFailures("known_failures.json")
	if err != nil {
		t.Fatal(err)
	}
	disabled, err := loadDisabled("config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKnownNotDisabled(known, disabled); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	runner := buildRunner(t, dir)
	shim := buildShim(t, dir)
	start := time.Now()
	run, err := runSuite(dir, runner, shim)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BoGo at %s: %d tests run in %v with %d workers", boringsslVersion, len(run.results), time.Since(start).Round(time.Second), *flagWorkers)
	logSummary(t, run, known)
	for _, problem := range compare(run, known, *flagTests == "") {
		t.Error(problem)
	}
}

// requireNamespace skips the test where it cannot make a network
// namespace of its own (unshare -n needs root), and fails it in CI, which
// must run it.
func requireNamespace(t *testing.T) {
	t.Helper()
	err := exec.Command("unshare", "-n", "ip", "link", "set", "lo", "up").Run()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("BoGo needs unshare -n and ip (as root) in CI: %v", err)
	}
	t.Skipf("BoGo needs a network namespace of its own (unshare -n, as root): %v", err)
}

// suiteRun is what one run of the runner reports.
type suiteRun struct {
	// results maps each test run to PASS, FAIL or SKIP (unimplemented).
	results map[string]string
	// messages holds the runner's explanation of each failure.
	messages map[string]string
	// total counts the runner's tests, disabled ones included; done
	// those it ran.
	total, done int
	// unimplemented counts the tests each flag stopped.
	unimplemented map[string]int
	reasons       map[string]string
}

// runSuite runs the runner in a network namespace with only loopback,
// against the shim, and collects its results.
func runSuite(dir, runner, shim string) (*suiteRun, error) {
	config, err := filepath.Abs("config.json")
	if err != nil {
		return nil, err
	}
	results := filepath.Join(dir, "results.json")
	unimplemented := filepath.Join(dir, "unimplemented.log")
	args := []string{
		"-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, runner,
		"-test.run", "^TestAll$", "-test.timeout", "0",
		"-shim-path", shim, "-shim-config", config,
		"-num-workers", fmt.Sprint(*flagWorkers), "-idle-timeout", flagIdle.String(),
		"-allow-unimplemented", "-loose-errors", "-json-output", results,
	}
	if *flagTests != "" {
		args = append(args, "-test", *flagTests)
	}
	cmd := exec.Command("unshare", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TLSM_BOGO_UNIMPLEMENTED="+unimplemented)
	out, runErr := cmd.CombinedOutput()
	// The runner exits non-zero when a test fails: the results file
	// tells that apart from a runner that could not run.
	run := &suiteRun{}
	if run.results, err = readResults(results); err != nil {
		return nil, errors.Join(fmt.Errorf("the runner wrote no results: %v", runErr), err, fmt.Errorf("output:\n%s", tail(out, 4000)))
	}
	run.messages, run.total, run.done = parseOutput(out)
	run.unimplemented, run.reasons, err = readUnimplemented(unimplemented)
	return run, err
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
