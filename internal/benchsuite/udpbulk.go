package benchsuite

import (
	"net"
	"testing"

	"github.com/tlsm/tlsm/dtls"
)

// The UDP bulk benchmarks time DTLS 1.2 records of DTLSBulkSize bytes
// over UDP loopback, a connected pair of sockets, set up alike for tlsm
// and pion (DTLSConfigs and pion's options, MTU 1,500): a goroutine
// writes as fast as it can, the benchmark reads; what it times is
// records that arrived (the kernel drops what the reader has no room
// for, the same for both).

// udpSockets returns two UDP sockets on 127.0.0.1.
func udpSockets(b *testing.B) (a, z net.PacketConn) {
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	z, err = net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		b.Fatal(err)
	}
	return a, z
}

// DTLSBulk1200UDP is 1,200-byte writes from a dtls.Conn client to a
// dtls.Conn server over UDP loopback.
func DTLSBulk1200UDP(b *testing.B) {
	a, z := udpSockets(b)
	cc, sc, _ := dtls12.configs()
	cc.MTU, sc.MTU = bulkMTU, bulkMTU
	client, server := dtls.Client(a, z.LocalAddr(), cc), dtls.Server(z, a.LocalAddr(), sc)
	if err := handshakeDTLS12(client, server); err != nil {
		b.Fatal(err)
	}
	bulkThrough(b, client, server)
}

// DTLSBulk1200UDPPion is DTLSBulk1200UDP between pion Conns.
func DTLSBulk1200UDPPion(b *testing.B) {
	a, z := udpSockets(b)
	_, _, cert := dtls12.configs()
	client, server, err := pionPairOver(a, z, cert, dtls12, bulkMTU)
	if err != nil {
		b.Fatal(err)
	}
	bulkThrough(b, client, server)
}

// bulkThrough writes DTLSBulkSize-byte messages from client in a
// goroutine and times reading them at server, so that what it times is
// messages that went all the way through; it closes both.
func bulkThrough(b *testing.B, client, server net.Conn) {
	msg := make([]byte, DTLSBulkSize)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if _, err := client.Write(msg); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 2048)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		n, err := server.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n != len(msg) {
			b.Fatalf("read %d bytes", n)
		}
	}
	b.StopTimer()
	client.Close()
	server.Close()
	<-stopped
}
