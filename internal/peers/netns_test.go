package peers

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A program started by StartIsolated sees loopback alone, and the
// sockets of its NetNS live apart from the test's: they bind a port the
// test holds, and reach each other.
func TestStartIsolated(t *testing.T) {
	t.Parallel()
	p := StartIsolated(t, "sh", "-c", "ip -o link show; echo ready; exec sleep 60")
	p.WaitOutput(t, "ready", StartTimeout)
	links := strings.Split(strings.TrimSpace(strings.TrimSuffix(p.Stdout(), "ready\n")), "\n")
	require.Len(t, links, 1, "interfaces: %q", links)
	require.Contains(t, links[0], "lo:")
	require.Contains(t, links[0], ",UP", "loopback is up")

	host, err := net.ListenPacket("udp", Addr(0))
	require.NoError(t, err)
	defer host.Close()
	ns := p.NetNS()
	inside, err := ns.ListenPacket("udp", host.LocalAddr().String())
	require.NoError(t, err, "the test's port is free in the namespace")
	defer inside.Close()
	c, err := ns.Dial("udp", inside.LocalAddr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	require.NoError(t, inside.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, from, err := inside.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))
	require.Equal(t, c.LocalAddr().String(), from.String())
}

// The NetNS of a process in the test's own namespace makes no sockets.
func TestNetNSRefusesOwnNamespace(t *testing.T) {
	t.Parallel()
	NeedNetNS(t)
	p := Start(t, "sleep", "60")
	_, err := p.NetNS().ListenPacket("udp", Addr(0))
	require.ErrorIs(t, err, errSameNetNS)
}
