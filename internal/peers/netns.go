package peers

import (
	"errors"
	"net"
	"testing"
)

// errSameNetNS is the error of a NetNS whose process has not left the
// test's namespace (yet).
var errSameNetNS = errors.New("peers: the process is in the test's own network namespace")

// isolateScript brings loopback up in the fresh network namespace that
// unshare -n made, then replaces itself with the program: "$0" is its
// name and "$@" its arguments.
const isolateScript = `ip link set lo up && exec "$0" "$@"`

// StartIsolated is Start for a program that must listen on loopback only
// but cannot be told to, such as gnutls-serv, which binds every
// interface: it runs in a network namespace of its own (unshare -n) in
// which loopback is the only interface, and up. Only sockets made in that
// namespace reach it: see NetNS.
//
// Making a namespace takes privileges (root, or CAP_SYS_ADMIN). Without
// them, or without unshare, ip or name, the test is skipped, or failed
// under CI (see Need).
func StartIsolated(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	NeedNetNS(t)
	Need(t, name)
	return Start(t, "unshare", append([]string{"-n", "sh", "-c", isolateScript, name}, args...)...)
}

// NetNS is the network namespace of a process started by StartIsolated,
// in which a test makes the sockets that talk to it. A socket stays in
// the namespace it was made in, and works from any goroutine.
type NetNS struct {
	p *Proc
}

// NetNS returns p's network namespace. Use it once p has shown it is up
// (for a server, once it listens): before, the namespace may still be
// the test's own, which NetNS's methods refuse.
func (p *Proc) NetNS() *NetNS { return &NetNS{p: p} }

// ListenPacket is net.ListenPacket in the namespace.
func (ns *NetNS) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.do(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Dial is net.Dial in the namespace.
func (ns *NetNS) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() (err error) {
		c, err = net.Dial(network, address)
		return err
	})
	return c, err
}
