// The diagrams are generated from fsm's transition table. When the table
// changes, regenerate them from the module root with:
//
//	go run ./examples/fsmdot > examples/fsmdot/fsm.dot
//	go run ./examples/fsmdot -mermaid > examples/fsmdot/fsm.mmd
//	dot -Tsvg examples/fsmdot/fsm.dot > examples/fsmdot/fsm.svg   # needs graphviz; not checked here

package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
)

// TestDiagramsUpToDate fails when fsm.dot or fsm.mmd no longer match the
// transition table.
func TestDiagramsUpToDate(t *testing.T) {
	for _, d := range []struct {
		file, cmd string
		write     func(io.Writer, []fsm.Transition) error
	}{
		{"fsm.dot", "go run ./examples/fsmdot > examples/fsmdot/fsm.dot && dot -Tsvg examples/fsmdot/fsm.dot > examples/fsmdot/fsm.svg", writeDOT},
		{"fsm.mmd", "go run ./examples/fsmdot -mermaid > examples/fsmdot/fsm.mmd", writeMermaid},
	} {
		var buf bytes.Buffer
		require.NoError(t, d.write(&buf, fsm.Table()))
		got, err := os.ReadFile(d.file)
		require.NoError(t, err)
		if !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("examples/fsmdot/%s is stale: the transition table changed. Regenerate it from the module root:\n\t%s", d.file, d.cmd)
		}
	}
}

// TestReadmeDiagramUpToDate fails when the Mermaid diagram in README.md
// no longer matches the transition table.
func TestReadmeDiagramUpToDate(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, writeMermaid(&buf, fsm.Table()))
	block := "```mermaid\n" + buf.String() + "```\n<!-- end of fsm diagram -->"
	if !strings.Contains(string(readme), block) {
		t.Errorf("README.md's diagram is stale: replace its mermaid block with the output of go run ./examples/fsmdot -mermaid")
	}
}

// TestDiagramsCoverTable checks that every transition of the table appears
// in both renderings, and that every state is drawn.
func TestDiagramsCoverTable(t *testing.T) {
	var dot, mmd bytes.Buffer
	require.NoError(t, writeDOT(&dot, fsm.Table()))
	require.NoError(t, writeMermaid(&mmd, fsm.Table()))
	require.True(t, strings.HasPrefix(dot.String(), "digraph "))
	require.True(t, strings.HasPrefix(mmd.String(), "stateDiagram-v2\n"))
	for _, tr := range fsm.Table() {
		for _, to := range tr.To {
			require.Contains(t, dot.String(), "\t"+tr.From.String()+" -> "+to.String()+" [label=\"")
			require.Regexp(t, `(?m)^\s+`+tr.From.String()+` --> `+to.String()+`: .*\b`+tr.On.String()+`\b`, mmd.String())
		}
	}
	for _, s := range allStates() {
		require.Contains(t, dot.String(), s.String())
		require.Contains(t, mmd.String(), s.String())
	}
}
