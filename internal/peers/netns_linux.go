package peers

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// NeedNetNS makes sure the test may run a program in a network namespace
// of its own (StartIsolated): unshare and ip are on PATH, and unshare -n
// works. If not, the test is skipped, or, when InCI reports true, failed.
func NeedNetNS(t testing.TB) {
	t.Helper()
	Need(t, "unshare")
	Need(t, "ip")
	out, err := exec.Command("unshare", "-n", "true").CombinedOutput()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("peers: network namespaces are required in CI: unshare -n: %v: %s", err, out)
	}
	t.Skipf("peers: no network namespaces, skipping: unshare -n: %v: %s", err, out)
}

// do runs f on an OS thread of its own that has entered the namespace, so
// that the sockets f makes belong to it. The thread goes back to its own
// namespace afterwards; if it cannot, it is never unlocked, and the
// runtime ends it with its goroutine rather than run anything else on it.
func (ns *NetNS) do(f func() error) error {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", ns.p.Pid()))
	if err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err == nil {
			defer own.Close()
			err = sameNetNS(own, target)
		}
		if err == nil {
			err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
		}
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		ferr := f()
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("peers: leaving the network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// sameNetNS returns errSameNetNS if a and b are one namespace.
func sameNetNS(a, b *os.File) error {
	sa, err := a.Stat()
	if err != nil {
		return err
	}
	sb, err := b.Stat()
	if err != nil {
		return err
	}
	if os.SameFile(sa, sb) {
		return errSameNetNS
	}
	return nil
}
