// The diagrams in docs/ are generated from the transition table. When the
// table changes, regenerate them from the module root with:
//
//	go run ./examples/fsmdot > examples/fsmdot/fsm.dot
//	go run ./examples/fsmdot -mermaid > examples/fsmdot/fsm.mmd
//	dot -Tsvg examples/fsmdot/fsm.dot > examples/fsmdot/fsm.svg   # needs graphviz; not checked here

package fsm_test

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
)

// TestDotDocsUpToDate fails when examples/fsmdot/fsm.dot or examples/fsmdot/fsm.mmd no longer
// match the transition table.
func TestDotDocsUpToDate(t *testing.T) {
	for _, d := range []struct {
		file, cmd string
		write     func(io.Writer) error
	}{
		{"../examples/fsmdot/fsm.dot", "go run ./examples/fsmdot > examples/fsmdot/fsm.dot && dot -Tsvg examples/fsmdot/fsm.dot > examples/fsmdot/fsm.svg", fsm.WriteDOT},
		{"../examples/fsmdot/fsm.mmd", "go run ./examples/fsmdot -mermaid > examples/fsmdot/fsm.mmd", fsm.WriteMermaid},
	} {
		var buf bytes.Buffer
		require.NoError(t, d.write(&buf))
		got, err := os.ReadFile(d.file)
		require.NoError(t, err)
		if !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("%s is stale: the transition table changed. Regenerate it from the module root:\n\t%s", d.file, d.cmd)
		}
	}
}

// TestReadmeDiagramUpToDate fails when the Mermaid diagram in README.md
// no longer matches the transition table.
func TestReadmeDiagramUpToDate(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, fsm.WriteMermaid(&buf))
	block := "```mermaid\n" + buf.String() + "```\n<!-- end of fsm diagram -->"
	if !strings.Contains(string(readme), block) {
		t.Errorf("README.md's diagram is stale: replace its mermaid block with the output of go run ./examples/fsmdot -mermaid")
	}
}

// TestDotCoversTable checks that every transition of the table appears in
// both renderings, and that every state is drawn.
func TestDotCoversTable(t *testing.T) {
	var dot, mmd bytes.Buffer
	require.NoError(t, fsm.WriteDOT(&dot))
	require.NoError(t, fsm.WriteMermaid(&mmd))
	require.True(t, strings.HasPrefix(dot.String(), "digraph "))
	require.True(t, strings.HasPrefix(mmd.String(), "stateDiagram-v2\n"))
	for _, tr := range fsm.Table() {
		for _, to := range tr.To {
			require.Contains(t, dot.String(), "\t"+tr.From.String()+" -> "+to.String()+" [label=\"")
			require.Regexp(t, `(?m)^\s+`+tr.From.String()+` --> `+to.String()+`: .*\b`+tr.On.String()+`\b`, mmd.String())
		}
	}
	for s := fsm.State(0); !strings.HasPrefix(s.String(), "State("); s++ {
		require.Contains(t, dot.String(), s.String())
		require.Contains(t, mmd.String(), s.String())
	}
}

// TestLookupReturnsACopy: what Lookup returns cannot change the table,
// which every Conn shares.
func TestLookupReturnsACopy(t *testing.T) {
	tr, ok := fsm.Lookup(fsm.StateClientWaitServerHello, fsm.InServerHello)
	require.True(t, ok)
	want := slices.Clone(tr.To)
	tr.To[0] = fsm.StateClosed
	tr.To = nil
	again, ok := fsm.Lookup(fsm.StateClientWaitServerHello, fsm.InServerHello)
	require.True(t, ok)
	require.Equal(t, want, again.To)
	_, ok = fsm.Lookup(fsm.StateClientWaitServerHello, fsm.InClientKeyExchange)
	require.False(t, ok)
}
