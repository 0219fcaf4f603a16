//go:build !linux

package peers

import (
	"errors"
	"testing"
)

// NeedNetNS skips the test, or fails it under CI: network namespaces are
// Linux's.
func NeedNetNS(t testing.TB) {
	t.Helper()
	if InCI() {
		t.Fatal("peers: network namespaces are required in CI, and Linux has them")
	}
	t.Skip("peers: network namespaces are Linux's, skipping")
}

func (ns *NetNS) do(func() error) error {
	return errors.New("peers: network namespaces are Linux's")
}
