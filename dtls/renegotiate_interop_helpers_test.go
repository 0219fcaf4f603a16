package dtls_test

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// renegSync reads in the foreground, for the steps before a test starts
// its background reader: one record, which must be want.
type renegSync struct{ r io.Reader }

func (s renegSync) Expect(t testing.TB, want string) {
	t.Helper()
	got := make([]byte, 1<<16)
	n, err := s.r.Read(got)
	require.NoError(t, err, "tlsm read")
	require.Equal(t, want, string(got[:n]), "tlsm read")
}
