package fsm_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
)

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
