package dtls

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// idlePacketConn is a PacketConn that never delivers a datagram and drops
// what is written, for a listener whose routing is driven by hand.
type idlePacketConn struct {
	net.PacketConn
	done chan struct{}
}

func (c idlePacketConn) ReadFrom([]byte) (int, net.Addr, error) {
	<-c.done
	return 0, nil, net.ErrClosed
}
func (c idlePacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { return len(p), nil }
func (c idlePacketConn) Close() error                              { return nil }
func (c idlePacketConn) LocalAddr() net.Addr                       { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// BenchmarkListenerLookup routes one datagram of application data to its
// association among 10,000, by Connection ID and by source address: the
// demultiplexer's share of each datagram (the associations are closed, so
// the datagram stops at the Conn).
func BenchmarkListenerLookup(b *testing.B) {
	const associations = 10_000
	cfg := &Config{ConnectionIDs: &fsm.ConnectionIDs{Length: 8}}
	done := make(chan struct{})
	defer close(done)
	l := NewListener(idlePacketConn{done: done}, cfg).(*listener)
	addrs := make([]*net.UDPAddr, associations)
	cids := make([][]byte, associations)
	for i := range associations {
		addrs[i] = &net.UDPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)), Port: 5000}
		cids[i] = binary.BigEndian.AppendUint64(nil, uint64(i)*0x9e3779b97f4a7c15)
		c := newConn(l.pconn, addrs[i], fsm.NewDTLSServer(cfg, nil), l)
		c.closed = true
		l.conns[c.key], l.byCID[string(cids[i])], c.cid = c, c, string(cids[i])
	}
	payload := make([]byte, 100)
	for _, by := range []string{"cid", "address"} {
		b.Run(fmt.Sprintf("%s-%d", by, associations), func(b *testing.B) {
			datagrams := make([][]byte, associations)
			for i := range datagrams {
				if by == "cid" {
					d := append(record.AppendDTLSHeader(nil, record.TypeConnectionID, record.VersionDTLS12, 1, 7, 0)[:11], cids[i]...)
					datagrams[i] = append(binary.BigEndian.AppendUint16(d, uint16(len(payload))), payload...)
				} else {
					datagrams[i] = record.AppendDTLSPlain(nil, record.TypeApplicationData, record.VersionDTLS12, 1, 7, payload)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.handle(source{ap: addrs[i].AddrPort()}, datagrams[i])
				if i++; i == associations {
					i = 0
				}
			}
		})
	}
}
