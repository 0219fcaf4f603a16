package bogo

import (
	"strings"
	"testing"
)

// TestConfigFiles checks the two files TestBoGo reads, without running
// the suite: patterns are valid and explained, known failures have a tag,
// a defect and tests, none twice, none disabled.
func TestConfigFiles(t *testing.T) {
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
}

func TestParseOutput(t *testing.T) {
	erase := strings.Repeat("\b \b", 14)
	out := "0/0/1/2/5481" + erase + "FAILED (Some-Test)\nunexpected failure: local error 'EOF'\nstderr:\nboom\n" +
		"1/0/2/3/5481" + erase + "1/1/3/3/5481\n"
	messages, total, done := parseOutput([]byte(out))
	if total != 5481 || done != 3 {
		t.Errorf("total, done = %d, %d; want 5481, 3", total, done)
	}
	if got := messages["Some-Test"]; !strings.Contains(got, "local error 'EOF'") || !strings.HasSuffix(got, "boom") {
		t.Errorf("message = %q", got)
	}
	if len(messages) != 1 {
		t.Errorf("%d messages, want 1", len(messages))
	}
}

func TestCompare(t *testing.T) {
	known := &knownFailures{byTest: map[string]string{
		"Known-Fails": "tag-a", "Known-Passes": "tag-a", "Known-Unimplemented": "tag-b", "Known-Absent": "tag-b",
	}}
	run := &suiteRun{
		results: map[string]string{
			"Known-Fails": "FAIL", "Known-Passes": "PASS", "Known-Unimplemented": "SKIP",
			"New-Failure": "FAIL", "Passes": "PASS", "Unimplemented": "SKIP",
		},
		messages: map[string]string{"New-Failure": "why"},
	}
	whole := compare(run, known, true)
	for _, want := range []string{"unexpected failure: New-Failure\nwhy", "Known-Passes (tag-a) now passes", "Known-Unimplemented (tag-b) is now unimplemented", "Known-Absent (tag-b) did not run"} {
		if !containsPrefix(whole, want) {
			t.Errorf("problems %q lack %q", whole, want)
		}
	}
	if len(whole) != 4 {
		t.Errorf("%d problems, want 4: %q", len(whole), whole)
	}
	if part := compare(run, known, false); len(part) != 3 {
		t.Errorf("a filtered run: %d problems, want 3 (absent tests are not a problem): %q", len(part), part)
	}
}

func containsPrefix(list []string, s string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, s) || strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func TestCategory(t *testing.T) {
	for name, want := range map[string]string{
		"Basic-Client-TLS-Sync":                               "TLS (other)",
		"DTLS-TLS12-ECDHE_RSA_WITH_AES_128_GCM_SHA256-client": "DTLS 1.2",
		"TLS-TLS13-AES_128_GCM_SHA256-server":                 "TLS 1.3",
		"ALPNClient-DTLS-TLS1":                                "DTLS 1.0",
		"SkipEarlyData-TLS13":                                 "TLS 1.3",
		"Resume-Client-TLS13-TLS13-QUIC":                      "QUIC 1.3",
		"ReorderHandshakeFragments-Small-DTLS":                "DTLS (other)",
		"ClientAuth-ECDSA-Client-TLS13-DTLS-Sync":             "DTLS 1.2",
	} {
		if got := category(name); got != want {
			t.Errorf("category(%q) = %q, want %q", name, got, want)
		}
	}
}
