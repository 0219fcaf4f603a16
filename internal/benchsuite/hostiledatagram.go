package benchsuite

import (
	"net"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v4"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// HostileDatagramSize is the size of the datagram the hostile figures
// send: what fits a 1,200-byte path with room to spare.
const HostileDatagramSize = 1196

// HostileDatagram returns an epoch-0 DTLS record packed with handshake
// fragments of type typ, each claiming a 64 KiB message and carrying one
// byte of it, each with a message_seq of its own: the cheapest bytes that
// make a receiver that allocates for claimed lengths allocate the most.
func HostileDatagram(typ flights.MsgType) []byte {
	var payload []byte
	per := flights.DTLSHeaderLen + 1
	for seq := 0; record.DTLSHeaderLen+len(payload)+per <= HostileDatagramSize; seq++ {
		payload = flights.AppendFragment(payload, flights.Fragment{
			Type: typ, Length: 1<<16 - 1, Seq: uint16(seq), Offset: 0, Data: []byte{1},
		})
	}
	return record.AppendDTLSPlain(nil, record.TypeHandshake, record.VersionDTLS12, 0, 0, payload)
}

// HostileVerifyHello is the stateless front door of a DTLS listener
// (fsm.VerifyHello) taking one hostile datagram from an address it has
// no Conn for.
func HostileVerifyHello(b *testing.B) {
	_, sc, cert := DTLSConfigs()
	now := cert.Leaf.NotBefore.Add(time.Hour)
	d := HostileDatagram(flights.TypeClientHello)
	in := make([]byte, len(d))
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		copy(in, d)
		fsm.VerifyHello(sc, []byte("192.0.2.1:4444"), now, in)
	}
}

// HostileServerStart is a DTLS server Conn that has seen no valid
// ClientHello yet (dtls.Server's state) taking hostile datagrams.
func HostileServerStart(b *testing.B) {
	_, sc, cert := DTLSConfigs()
	now := cert.Leaf.NotBefore.Add(time.Hour)
	datagramCore(b, fsm.NewDTLSServer(sc, []byte("192.0.2.1:4444")), now, HostileDatagram(flights.TypeClientHello))
}

// HostileClientWaiting is a DTLS client waiting for its ServerHello
// taking hostile datagrams (from anyone who can guess its port).
func HostileClientWaiting(b *testing.B) {
	cc, _, cert := DTLSConfigs()
	now := cert.Leaf.NotBefore.Add(time.Hour)
	c := fsm.NewDTLSClient(cc)
	if err := c.Start(now); err != nil {
		b.Fatal(err)
	}
	datagramCore(b, c, now, HostileDatagram(flights.TypeServerHello))
}

func datagramCore(b *testing.B, c *fsm.Conn, now time.Time, d []byte) {
	in := make([]byte, len(d))
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		copy(in, d)
		if err := c.HandleDatagram(now, in); err != nil {
			b.Fatal(err)
		}
		for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		}
	}
}

// HostilePacing is the gap between hostile datagrams over UDP: 200 a
// second, a rate any receiver should absorb without falling behind.
const HostilePacing = 5 * time.Millisecond

// HostileListenerTLSM sends hostile datagrams over UDP loopback to a
// dtls.Listen listener, paced at HostilePacing, and reports the process
// CPU time and the bytes allocated per datagram, counted until the
// receiver is idle again. Run it with -benchtime Nx.
func HostileListenerTLSM(b *testing.B) {
	ln, _ := listenTLSM(b)
	hostileUDP(b, ln.Addr())
}

// HostileListenerPion is HostileListenerTLSM against pion/dtls v4's
// listener.
func HostileListenerPion(b *testing.B) {
	ln, _ := listenPion(b)
	hostileUDP(b, ln.Addr())
}

// listenTLSM starts a tlsm DTLS listener on loopback that echoes what its
// clients send, closed when b ends; it returns the client Config.
func listenTLSM(b *testing.B) (net.Listener, *fsm.Config) {
	cc, sc, _ := DTLSConfigs()
	ln, err := dtls.Listen("udp", "127.0.0.1:0", sc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go echoAccepted(ln)
	return ln, cc
}

// listenPion is listenTLSM with pion/dtls v4; it returns the certificate
// its clients trust.
func listenPion(b *testing.B) (net.Listener, *testcert.Cert) {
	_, _, cert := DTLSConfigs()
	ln, err := piondtls.ListenAddr("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)},
		piondtls.WithCertificates(cert.TLSCertificate()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go echoAccepted(ln)
	return ln, cert
}

func hostileUDP(b *testing.B, to net.Addr) {
	conn, err := net.Dial("udp", to.String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	d := HostileDatagram(flights.TypeClientHello)
	settle()
	cpu0, mem0 := processCPU(), totalAlloc()
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Write(d); err != nil {
			b.Fatal(err)
		}
		time.Sleep(HostilePacing)
	}
	settle()
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(processCPU()-cpu0)/n, "cpu-ns/datagram")
	b.ReportMetric(float64(totalAlloc()-mem0)/n, "alloc-B/datagram")
}

// settle waits until the process has used less than a millisecond of CPU
// in 50 ms: the receiver has handled what it was sent.
func settle() {
	for range 100 {
		before := processCPU()
		time.Sleep(50 * time.Millisecond)
		if processCPU()-before < int64(time.Millisecond) {
			return
		}
	}
}

// processCPU is the user and system CPU time the process has used, in
// nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// HostileRTTTLSM measures the round trip of an established client of a
// dtls.Listen echo server, one ping every HostilePacing, while hostile
// datagrams arrive at the listener at the same pace from another socket:
// the latency an attack costs the users of a listener. It reports the
// median and the 99th percentile.
func HostileRTTTLSM(b *testing.B) {
	ln, cc := listenTLSM(b)
	c, err := dtls.Dial("udp", ln.Addr().String(), cc)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	hostileRTT(b, ln.Addr(), c)
}

// HostileRTTPion is HostileRTTTLSM against pion/dtls v4, both ends.
func HostileRTTPion(b *testing.B) {
	ln, cert := listenPion(b)
	c, err := piondtls.Dial("udp", ln.Addr().(*net.UDPAddr), piondtls.WithRootCAs(cert.CAPool), piondtls.WithServerName("localhost"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	hostileRTT(b, ln.Addr(), c)
}

// echoAccepted writes every record of every accepted Conn back.
func echoAccepted(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 2048)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

func hostileRTT(b *testing.B, to net.Addr, c net.Conn) {
	attacker, err := net.Dial("udp", to.String())
	if err != nil {
		b.Fatal(err)
	}
	defer attacker.Close()
	d := HostileDatagram(flights.TypeClientHello)
	rtts := make([]time.Duration, 0, b.N)
	buf := make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		attacker.Write(d)
		start := time.Now()
		c.SetDeadline(start.Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
		time.Sleep(HostilePacing)
	}
	b.StopTimer()
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds()), "p50-rtt-ns")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Nanoseconds()), "p99-rtt-ns")
}
