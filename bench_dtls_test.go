package tlsm_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/benchsuite"
)

// The DTLS benchmarks compare tlsm's core, two fsm.Conns in memory with
// no sockets and no goroutines, with pion/dtls v4 over pion's in-memory
// datagram pipe; internal/benchsuite describes them.

// BenchmarkDTLSHandshake measures one full DTLS 1.2 handshake, client and
// server together, cookie exchange included.
func BenchmarkDTLSHandshake(b *testing.B) {
	b.Run("tlsm-core", benchsuite.DTLSHandshakeCore)
	b.Run("tlsm-core-cid", benchsuite.DTLSHandshakeCoreCID)
	b.Run("pion", benchsuite.DTLSHandshakePion)
}

// BenchmarkDTLSHandshakeUDP is a full DTLS 1.2 handshake over UDP
// loopback, dtls.Dial to dtls.Listen, without and with Connection IDs.
func BenchmarkDTLSHandshakeUDP(b *testing.B) {
	b.Run("tlsm", benchsuite.DTLSHandshakeUDP(false))
	b.Run("tlsm-cid", benchsuite.DTLSHandshakeUDP(true))
}

// BenchmarkDTLSHandshakeUDPPion compares full DTLS 1.2 handshakes over UDP
// loopback set up alike (one suite, X25519, the ECDSA chain, the server's
// cookie, no resumption), dtls.Dial to dtls.Listen and pion's Client to
// its ListenAddr: one client at a time and eight.
func BenchmarkDTLSHandshakeUDPPion(b *testing.B) {
	for _, conc := range []int{1, benchsuite.Concurrent} {
		mode := "seq"
		if conc > 1 {
			mode = fmt.Sprintf("conc%d", conc)
		}
		b.Run(mode+"/tlsm", benchsuite.DTLSHandshakeUDPLikePion(conc))
		b.Run(mode+"/pion", benchsuite.DTLSHandshakeUDPPion(conc))
	}
}

// TestCIDRecordOverhead: a Connection ID adds its length and one byte of
// inner content type to each protected record, nothing more.
func TestCIDRecordOverhead(t *testing.T) {
	plain, withCID, err := benchsuite.RecordSizes()
	require.NoError(t, err)
	t.Logf("a 100-byte write: %d bytes on the wire, %d with an %d-byte CID", plain, withCID, benchsuite.BenchCIDLength)
	require.Equal(t, plain+benchsuite.BenchCIDLength+1, withCID)
}

// BenchmarkDTLSBulk1200 measures 1,200-byte writes from client to server,
// protected and unprotected: the size of a media packet. aead is the
// ceiling, the same bytes sealed and opened by AES-128-GCM alone.
func BenchmarkDTLSBulk1200(b *testing.B) {
	b.Run("tlsm-core", benchsuite.DTLSBulk1200Core)
	b.Run("pion", benchsuite.DTLSBulk1200Pion)
	b.Run("aead", benchsuite.AEADAES128GCM1200)
}

// TestDTLSBulkAllocs: protecting, sending and unprotecting a DTLS record
// allocates nothing once the Conns are connected.
func TestDTLSBulkAllocs(t *testing.T) {
	send := benchsuite.DTLSCoreSender(t, make([]byte, benchsuite.DTLSBulkSize))
	require.Zero(t, testing.AllocsPerRun(100, send), "allocations per 1,200-byte write, sent and received")
}

// TestTLSBulkAllocs is the same for TLS 1.3 over the core: 16 KiB
// written, protected, received and unprotected with no allocation, for
// both AEADs.
func TestTLSBulkAllocs(t *testing.T) {
	for _, suite := range []uint16{fsm.TLS_AES_128_GCM_SHA256, fsm.TLS_CHACHA20_POLY1305_SHA256} {
		send := benchsuite.TLSCoreSender(t, suite, make([]byte, benchsuite.BulkSize))
		require.Zero(t, testing.AllocsPerRun(100, send), "%s: allocations per 16 KiB write, sent and received", fsm.CipherSuiteName(suite))
	}
}

// BenchmarkHostileDatagram measures what one hostile 1,196-byte datagram
// (handshake fragments each claiming a 64 KiB message) costs a DTLS
// endpoint: the listener's stateless front door, a server Conn awaiting a
// ClientHello, and a client awaiting its ServerHello.
func BenchmarkHostileDatagram(b *testing.B) {
	b.Run("tlsm-verifyhello", benchsuite.HostileVerifyHello)
	b.Run("tlsm-server-start", benchsuite.HostileServerStart)
	b.Run("tlsm-client-waiting", benchsuite.HostileClientWaiting)
}

// BenchmarkHostileListener sends the same datagrams over UDP loopback to
// a tlsm and a pion/dtls v4 listener, 200 a second, and reports process
// CPU and allocation per datagram. Run with -benchtime 200x.
func BenchmarkHostileListener(b *testing.B) {
	b.Run("tlsm", benchsuite.HostileListenerTLSM)
	b.Run("pion", benchsuite.HostileListenerPion)
}

// BenchmarkHostileRTT is the round trip of an established client of an
// echo server while hostile datagrams reach its listener, 200 a second.
// Run with -benchtime 200x.
func BenchmarkHostileRTT(b *testing.B) {
	b.Run("tlsm", benchsuite.HostileRTTTLSM)
	b.Run("pion", benchsuite.HostileRTTPion)
}

// BenchmarkDTLSBulk1200UDP measures 1,200-byte DTLS 1.2 records over UDP
// loopback, dtls.Conn and pion/dtls set up alike (AES-128-GCM, MTU
// 1,500): what arrives at the reader.
func BenchmarkDTLSBulk1200UDP(b *testing.B) {
	b.Run("tlsm", benchsuite.DTLSBulk1200UDP)
	b.Run("pion", benchsuite.DTLSBulk1200UDPPion)
}

// BenchmarkDTLSBatchIO measures DTLS 1.2 over UDP loopback with batched
// datagram I/O (on Linux, recvmmsg and sendmmsg) and without (the same
// sockets behind benchsuite.SingleDatagramIO, a datagram per system
// call): 1,200-byte records, and full handshakes of 8 concurrent clients
// with a listener.
func BenchmarkDTLSBatchIO(b *testing.B) {
	modes := []struct {
		name    string
		batched bool
	}{{"batched", true}, {"single", false}}
	for _, m := range modes {
		b.Run("bulk1200/"+m.name, benchsuite.DTLSBatchBulk1200(m.batched))
	}
	for _, m := range modes {
		b.Run(fmt.Sprintf("handshake-conc%d/%s", benchsuite.Concurrent, m.name), benchsuite.DTLSBatchHandshakes(m.batched))
	}
}
