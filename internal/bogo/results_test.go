package bogo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// knownFailure is a defect of tlsm and the tests that fail because of it.
type knownFailure struct {
	Tag    string   `json:"tag"`
	Defect string   `json:"defect"`
	Tests  []string `json:"tests"`
}

// knownFailures maps each test to the tag of its defect.
type knownFailures struct {
	list   []knownFailure
	byTest map[string]string
}

func loadKnownFailures(file string) (*knownFailures, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	k := &knownFailures{byTest: map[string]string{}}
	if err := json.Unmarshal(data, &k.list); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	for _, f := range k.list {
		if f.Tag == "" || f.Defect == "" || len(f.Tests) == 0 {
			return nil, fmt.Errorf("%s: entry %q needs a tag, a defect and tests", file, f.Tag)
		}
		for _, name := range f.Tests {
			if prev, ok := k.byTest[name]; ok {
				return nil, fmt.Errorf("%s: %s is listed under %s and %s", file, name, prev, f.Tag)
			}
			k.byTest[name] = f.Tag
		}
	}
	return k, nil
}

// loadDisabled returns the DisabledTests patterns of the shim config.
func loadDisabled(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var cfg struct{ DisabledTests map[string]string }
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	for pattern, reason := range cfg.DisabledTests {
		if _, err := filepath.Match(pattern, ""); err != nil || reason == "" {
			return nil, fmt.Errorf("%s: pattern %q needs to be valid and have a reason", file, pattern)
		}
	}
	return cfg.DisabledTests, nil
}

// checkKnownNotDisabled refuses a known failure that a disabled pattern
// would keep from running, where it could never be seen to pass.
func checkKnownNotDisabled(k *knownFailures, disabled map[string]string) error {
	var errs []error
	for name, tag := range k.byTest {
		for pattern := range disabled {
			if ok, _ := filepath.Match(pattern, name); ok {
				errs = append(errs, fmt.Errorf("known failure %s (%s) is disabled by %q", name, tag, pattern))
			}
		}
	}
	return errors.Join(errs...)
}

// readResults reads the runner's JSON results: test name to PASS, FAIL
// or SKIP.
func readResults(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var r struct {
		Tests map[string]struct {
			Actual string `json:"actual"`
		} `json:"tests"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(r.Tests))
	for name, res := range r.Tests {
		out[name] = res.Actual
	}
	return out, nil
}

var (
	// statusLine is the runner's progress: failed, unimplemented, done,
	// started and total.
	statusLine = regexp.MustCompile(`(?m)^(\d+)/(\d+)/(\d+)/(\d+)/(\d+)$`)
	// failedBlock is a failure's report, which the next status line ends.
	failedBlock = regexp.MustCompile(`(?s)FAILED \(([^)\n]*)\)\n(.*?)\n\d+/\d+/\d+/\d+/\d+\n`)
)

// parseOutput reads the runner's console output: the failures' messages
// and its last status line. The status line is rewritten in place with
// backspaces, which become line breaks first.
func parseOutput(out []byte) (messages map[string]string, total, done int) {
	text := strings.ReplaceAll(string(out), "\b \b", "\n")
	messages = map[string]string{}
	for _, m := range failedBlock.FindAllStringSubmatch(text, -1) {
		messages[m[1]] = m[2]
	}
	if all := statusLine.FindAllStringSubmatch(text, -1); len(all) > 0 {
		last := all[len(all)-1]
		fmt.Sscan(last[3], &done)
		fmt.Sscan(last[5], &total)
	}
	return messages, total, done
}

// readUnimplemented counts the shim's reports of flags it cannot honour:
// one line per test, the flag that stopped it and why.
func readUnimplemented(file string) (map[string]int, map[string]string, error) {
	counts, reasons := map[string]int{}, map[string]string{}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return counts, reasons, nil
	}
	if err != nil {
		return nil, nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		flag, reason, _ := strings.Cut(sc.Text(), "\t")
		counts[flag]++
		reasons[flag] = reason
	}
	return counts, reasons, sc.Err()
}

// compare lists what makes the run fail: failures not known, and known
// failures that passed, were not implemented or, in a whole run, did
// not run at all.
func compare(run *suiteRun, k *knownFailures, whole bool) []string {
	var problems []string
	for _, name := range sortedKeys(run.results) {
		if run.results[name] == "FAIL" && k.byTest[name] == "" {
			problems = append(problems, fmt.Sprintf("unexpected failure: %s\n%s", name, run.messages[name]))
		}
	}
	for _, name := range sortedKeys(k.byTest) {
		tag := k.byTest[name]
		switch res, ran := run.results[name]; {
		case ran && res == "PASS":
			problems = append(problems, fmt.Sprintf("known failure %s (%s) now passes: remove it from known_failures.json", name, tag))
		case ran && res == "SKIP":
			problems = append(problems, fmt.Sprintf("known failure %s (%s) is now unimplemented: remove it from known_failures.json", name, tag))
		case !ran && whole:
			problems = append(problems, fmt.Sprintf("known failure %s (%s) did not run: remove it from known_failures.json", name, tag))
		}
	}
	return problems
}

// logSummary logs the counts of the run: overall, by category, by known
// defect, and the flags that kept tests from running.
func logSummary(t *testing.T, run *suiteRun, k *knownFailures) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "overall: %s", countsOf(run.results))
	if run.total > 0 && *flagTests == "" {
		fmt.Fprintf(&b, ", %d disabled (of %d)", run.total-run.done, run.total)
	}
	b.WriteString("\nby category:\n")
	byCat := map[string]map[string]string{}
	for name, res := range run.results {
		c := category(name)
		if byCat[c] == nil {
			byCat[c] = map[string]string{}
		}
		byCat[c][name] = res
	}
	for _, c := range sortedKeys(byCat) {
		fmt.Fprintf(&b, "  %-22s %s\n", c, countsOf(byCat[c]))
	}
	b.WriteString("known failures by defect:\n")
	for _, f := range k.list {
		failing := 0
		for _, name := range f.Tests {
			if run.results[name] == "FAIL" {
				failing++
			}
		}
		fmt.Fprintf(&b, "  %-40s %d failing of %d listed\n", f.Tag, failing, len(f.Tests))
	}
	b.WriteString("unimplemented, by the flag that stopped the test:\n")
	flags := sortedKeys(run.unimplemented)
	sort.SliceStable(flags, func(i, j int) bool { return run.unimplemented[flags[i]] > run.unimplemented[flags[j]] })
	for _, f := range flags {
		fmt.Fprintf(&b, "  %5d %s: %s\n", run.unimplemented[f], f, run.reasons[f])
	}
	t.Log(b.String())
}

// countsOf formats the PASS, FAIL and SKIP counts of results.
func countsOf(results map[string]string) string {
	n := map[string]int{}
	for _, res := range results {
		n[res]++
	}
	return fmt.Sprintf("%d passed, %d failed, %d unimplemented", n["PASS"], n["FAIL"], n["SKIP"])
}

var (
	protocolDTLS = regexp.MustCompile(`(^|-)DTLS(-|$)`)
	versionToken = regexp.MustCompile(`(^|-)(TLS1[0-3]?)(-|$)`)
)

// category names a test's protocol and version from its name, as the
// runner builds names: "DTLS 1.2", "TLS 1.3", or "TLS (other)" for tests
// whose names carry no version. This runner has no DTLS 1.3: its DTLS
// tests named for TLS 1.3 negotiate DTLS 1.2.
func category(name string) string {
	proto := "TLS"
	switch {
	case strings.Contains(name, "QUIC"):
		proto = "QUIC"
	case protocolDTLS.MatchString(name):
		proto = "DTLS"
	}
	version := "(other)"
	if m := versionToken.FindStringSubmatch(name); m != nil {
		version = map[string]string{"TLS1": "1.0", "TLS10": "1.0", "TLS11": "1.1", "TLS12": "1.2", "TLS13": "1.3"}[m[2]]
	}
	if proto == "DTLS" && version == "1.3" {
		version = "1.2"
	}
	return proto + " " + version
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
