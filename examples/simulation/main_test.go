package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSameSeedSameOutput: running a seed twice in one process prints the
// same bytes and exits the same way; another seed prints something else.
func TestSameSeedSameOutput(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 42} {
		var a, b bytes.Buffer
		codeA := run(seed, &a)
		codeB := run(seed, &b)
		require.Equal(t, codeA, codeB)
		require.Equal(t, a.String(), b.String(), "seed %d", seed)
		require.Greater(t, strings.Count(a.String(), "\n"), 100)
		require.Contains(t, a.String(), "== DTLS, seed")
		require.Contains(t, a.String(), "== TLS, seed")
		require.Contains(t, a.String(), "net client rebinds", "the client moves")
		require.Contains(t, a.String(), "server follows the client", "by its Connection ID")
		t.Logf("seed %d: exit %d, %d lines", seed, codeA, strings.Count(a.String(), "\n"))
	}
	var a, b bytes.Buffer
	run(1, &a)
	run(2, &b)
	require.NotEqual(t, a.String(), b.String())
}

// TestSameSeedAcrossProcesses runs the command twice with go run and
// compares the outputs byte for byte.
func TestSameSeedAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	out := func() (string, int) {
		cmd := exec.Command("go", "run", ".", "-seed", "5")
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return stdout.String(), code
	}
	a, codeA := out()
	b, codeB := out()
	require.Equal(t, codeA, codeB)
	require.Equal(t, a, b)
	var in bytes.Buffer
	require.Equal(t, codeA, run(5, &in))
	require.Equal(t, in.String(), a, "go run prints what run does")
}
