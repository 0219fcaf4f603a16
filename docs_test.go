package tlsm_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// staleClaims are phrases that said what tlsm would do later; each
// library package's doc and the README must not make such claims once the
// thing exists.
var staleClaims = []string{"to follow", "not yet implemented", "later, on datagrams", "coming soon"}

// TestDocsCurrent: the package docs and the README describe tlsm as it
// is: the root package doc names every library package, and no doc
// promises as future what exists (the root doc said "TLS 1.2 and DTLS to
// follow" and "dtls: not yet implemented" long after both shipped).
func TestDocsCurrent(t *testing.T) {
	root := packageDoc(t, ".")
	for _, pkg := range []string{"fsm", "tls", "dtls", "tlshttp", "flights", "record", "cipher"} {
		require.Contains(t, root, "  - "+pkg+": ", "the root package doc lists %s", pkg)
	}
	texts := map[string]string{"doc.go": root}
	for _, pkg := range []string{"fsm", "tls", "dtls", "tlshttp", "flights", "record", "cipher"} {
		texts[pkg] = packageDoc(t, pkg)
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	texts["README.md"] = string(readme)
	for where, text := range texts {
		for _, claim := range staleClaims {
			require.False(t, strings.Contains(strings.ToLower(text), claim), "%s promises %q", where, claim)
		}
	}
}

// packageDoc returns the package comment of the package in dir.
func packageDoc(t *testing.T, dir string) string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var docs []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments|parser.PackageClauseOnly)
		require.NoError(t, err)
		if file.Doc != nil {
			docs = append(docs, file.Doc.Text())
		}
	}
	require.NotEmpty(t, docs, "package %s has a doc comment", dir)
	return strings.Join(docs, "\n")
}
