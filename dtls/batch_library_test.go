//go:build linux

package dtls

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The batched socket replaces golang.org/x/net's ReadBatch and
// WriteBatch, which allocate a net.UDPAddr for every datagram read. These
// tests check it against the library over loopback: the same datagrams,
// read by both, give the same payloads from the same sources, and what
// it sends in a batch the library reads back as sent.

// batchedPayloads are datagrams of the sizes a DTLS peer sends, and the
// largest a UDP socket reads.
var batchedPayloads = [][]byte{
	[]byte("a"),
	bytes.Repeat([]byte("hello "), 20),
	bytes.Repeat([]byte{0xab}, 1200),
	bytes.Repeat([]byte{0xcd}, 9000),
	bytes.Repeat([]byte{0xef}, maxDatagram-48), // the IPv6 header is 40 bytes, the UDP one 8
}

// receivedDatagram is a datagram as read, with its source.
type receivedDatagram struct {
	payload []byte
	from    netip.AddrPort
}

// libraryBatchConn is the part of ipv4.PacketConn and ipv6.PacketConn the
// tests use.
type libraryBatchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// libraryConn wraps a UDP socket of the network's family in x/net.
func libraryConn(network string, c *net.UDPConn) libraryBatchConn {
	if network == "udp4" {
		return ipv4.NewPacketConn(c)
	}
	return ipv6.NewPacketConn(c)
}

// forBothFamilies runs f on 127.0.0.1 and on ::1, skipped where the
// system has no IPv6, as forLoopbacks does.
func forBothFamilies(t *testing.T, f func(t *testing.T, network, host string)) {
	for _, fam := range []struct{ network, host string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(fam.network, func(t *testing.T) {
			c, err := net.ListenUDP(fam.network, &net.UDPAddr{IP: net.ParseIP(fam.host)})
			if err != nil {
				t.Skipf("no UDP on %s: %v", fam.host, err)
			}
			c.Close()
			f(t, fam.network, fam.host)
		})
	}
}

// udpSocket listens on host for the test's length, with room for every
// datagram the tests send at once.
func udpSocket(t *testing.T, network, host string) *net.UDPConn {
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
	require.NoError(t, err)
	require.NoError(t, c.SetReadBuffer(1<<20))
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	t.Cleanup(func() { c.Close() })
	return c
}

// sendFromBoth sends every payload from each of the senders, in turn.
func sendFromBoth(t *testing.T, to net.Addr, senders ...*net.UDPConn) {
	for _, p := range batchedPayloads {
		for _, s := range senders {
			_, err := s.WriteTo(p, to)
			require.NoError(t, err)
		}
	}
}

// readWithLibrary reads n datagrams with x/net's ReadBatch.
func readWithLibrary(t *testing.T, lc libraryBatchConn, n int) []receivedDatagram {
	var got []receivedDatagram
	ms := make([]ipv4.Message, batchLen)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	for len(got) < n {
		k, err := lc.ReadBatch(ms, 0)
		require.NoError(t, err)
		for _, m := range ms[:k] {
			ap := m.Addr.(*net.UDPAddr).AddrPort()
			got = append(got, receivedDatagram{bytes.Clone(m.Buffers[0][:m.N]), ap})
		}
	}
	return got
}

// readWithBatchSocket reads n datagrams with the batched socket.
func readWithBatchSocket(t *testing.T, s *batchSocket, n int) []receivedDatagram {
	var got []receivedDatagram
	for len(got) < n {
		b, k, err := s.read()
		require.NoError(t, err)
		for i := range k {
			d, src, ok := b.datagram(i)
			require.True(t, ok, "datagram %d of the batch", i)
			got = append(got, receivedDatagram{bytes.Clone(d), src.ap})
		}
		s.release(b)
	}
	return got
}

// TestBatchReadMatchesLibrary: datagrams from two sources, read once by
// x/net's ReadBatch and, sent again, by the batched socket of a listener
// (its own buffers) and of a Conn (borrowed ones): the same payloads from
// the same sources, in the same order.
func TestBatchReadMatchesLibrary(t *testing.T) {
	forBothFamilies(t, func(t *testing.T, network, host string) {
		r := udpSocket(t, network, host)
		s1, s2 := udpSocket(t, network, host), udpSocket(t, network, host)
		n := 2 * len(batchedPayloads)

		sendFromBoth(t, r.LocalAddr(), s1, s2)
		want := readWithLibrary(t, libraryConn(network, r), n)
		require.Len(t, want, n)
		require.Equal(t, batchedPayloads[len(batchedPayloads)-1], want[n-1].payload)
		require.Equal(t, s2.LocalAddr().(*net.UDPAddr).AddrPort(), want[n-1].from)

		for _, own := range []bool{true, false} {
			t.Run(fmt.Sprintf("own=%v", own), func(t *testing.T) {
				s := newBatchSocket(r, own)
				require.NotNil(t, s)
				sendFromBoth(t, r.LocalAddr(), s1, s2)
				require.Equal(t, want, readWithBatchSocket(t, s, n))
			})
		}
	})
}

// TestBatchSendMatchesLibrary: a flush of every payload, sent with
// sendmmsg from an unconnected socket to an address and from a connected
// one, is read by x/net's ReadBatch as the same datagrams from the
// sending socket.
func TestBatchSendMatchesLibrary(t *testing.T) {
	forBothFamilies(t, func(t *testing.T, network, host string) {
		r := udpSocket(t, network, host)
		raddr := r.LocalAddr().(*net.UDPAddr)
		var flush datagrams
		for _, p := range batchedPayloads {
			flush.add(p)
		}

		unconnected := udpSocket(t, network, host)
		connected, err := net.DialUDP(network, nil, raddr)
		require.NoError(t, err)
		t.Cleanup(func() { connected.Close() })

		for _, tc := range []struct {
			name      string
			sock      *net.UDPConn
			connected bool
		}{{"to-address", unconnected, false}, {"connected", connected, true}} {
			t.Run(tc.name, func(t *testing.T) {
				s := newBatchSocket(tc.sock, false)
				require.NotNil(t, s)
				dst, ok := s.sendable(raddr, tc.connected)
				require.True(t, ok)
				require.NoError(t, s.send(&flush, dst))
				n := s.counts()
				require.Equal(t, uint64(1), n.sendCalls, "one sendmmsg for the flush")
				require.Equal(t, uint64(len(batchedPayloads)), n.sent)

				got := readWithLibrary(t, libraryConn(network, r), len(batchedPayloads))
				from := tc.sock.LocalAddr().(*net.UDPAddr).AddrPort()
				for i, p := range batchedPayloads {
					require.Equal(t, receivedDatagram{p, from}, got[i], "datagram %d", i)
				}
			})
		}
	})
}
