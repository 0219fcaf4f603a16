package bogo

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The BoringSSL revision whose runner TestBoGo uses, as the module proxy
// serves it (its go.mod names it boringssl.googlesource.com/boringssl).
// TLS and DTLS 1.2, TLS 1.3; no DTLS 1.3.
const (
	boringsslModule  = "github.com/google/boringssl"
	boringsslVersion = "v0.0.0-20240412155355-1c6e10495e4f"
)

// runnerPaths are the parts of the BoringSSL module the runner builds
// from.
var runnerPaths = []string{"go.mod", "go.sum", "ssl/test/runner", "util/testresult"}

// goTool returns the go command: the one on PATH, as go test itself
// sets PATH to run the toolchain it belongs to.
func goTool() string { return "go" }

// buildRunner fetches the pinned BoringSSL module, copies the runner's
// sources out of the read-only module cache and builds the runner's test
// binary into dir.
func buildRunner(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command(goTool(), "mod", "download", "-json", boringsslModule+"@"+boringsslVersion)
	cmd.Dir = dir // outside any module
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s@%s: %v\n%s", boringsslModule, boringsslVersion, err, exitStderr(err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: no directory in %s", out)
	}
	src := filepath.Join(dir, "boringssl")
	for _, p := range runnerPaths {
		if err := copyTree(filepath.Join(mod.Dir, p), filepath.Join(src, p)); err != nil {
			t.Fatalf("copying the runner: %v", err)
		}
	}
	bin := filepath.Join(dir, "runner.test")
	build := exec.Command(goTool(), "test", "-c", "-o", bin, ".")
	build.Dir = filepath.Join(src, "ssl", "test", "runner")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the runner: %v\n%s", err, out)
	}
	return bin
}

// buildShim builds tlsm's shim into dir.
func buildShim(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "shim")
	cmd := exec.Command(goTool(), "build", "-o", bin, "./shim")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the shim: %v\n%s", err, out)
	}
	return bin
}

// copyTree copies a file or a directory tree, leaving the copies
// writable.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
