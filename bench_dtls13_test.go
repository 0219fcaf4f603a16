package tlsm_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/benchsuite"
)

// The DTLS 1.3 benchmarks are the DTLS 1.2 ones (bench_dtls_test.go) with
// both sides, tlsm and pion/dtls v4, limited to DTLS 1.3 and
// TLS_AES_128_GCM_SHA256; internal/benchsuite describes them.

// BenchmarkDTLS13Handshake measures one full DTLS 1.3 handshake, client
// and server together, HelloRetryRequest cookie exchange included.
func BenchmarkDTLS13Handshake(b *testing.B) {
	b.Run("tlsm-core", benchsuite.DTLS13HandshakeCore)
	b.Run("pion", benchsuite.DTLS13HandshakePion)
}

// BenchmarkDTLS13HandshakeUDP is a full DTLS 1.3 handshake over UDP
// loopback: dtls.Dial to dtls.Listen, and a pion client to a pion
// listener.
func BenchmarkDTLS13HandshakeUDP(b *testing.B) {
	b.Run("tlsm", benchsuite.DTLS13HandshakeUDP)
	b.Run("pion", benchsuite.DTLS13HandshakeUDPPion)
}

// BenchmarkDTLS13Bulk1200 measures 1,200-byte writes from client to
// server over DTLS 1.3, protected and unprotected. aead is the ceiling,
// the same bytes sealed and opened by AES-128-GCM alone.
func BenchmarkDTLS13Bulk1200(b *testing.B) {
	b.Run("tlsm-core", benchsuite.DTLS13Bulk1200Core)
	b.Run("pion", benchsuite.DTLS13Bulk1200Pion)
	b.Run("aead", benchsuite.AEADAES128GCM1200DTLS13)
}

// TestDTLS13BulkAllocs: protecting, sending and unprotecting a DTLS 1.3
// record allocates nothing once the Conns are connected.
func TestDTLS13BulkAllocs(t *testing.T) {
	send := benchsuite.DTLS13CoreSender(t, make([]byte, benchsuite.DTLSBulkSize))
	require.Zero(t, testing.AllocsPerRun(100, send), "allocations per 1,200-byte write, sent and received")
}

// TestDTLS13AddressChecks: the DTLS 1.3 benchmarks compare like with
// like, both servers answering the first ClientHello with a
// HelloRetryRequest that makes the client prove its address.
func TestDTLS13AddressChecks(t *testing.T) {
	tlsm, pion, err := benchsuite.DTLS13AddressChecks()
	require.NoError(t, err)
	require.True(t, tlsm, "tlsm's server sent no HelloRetryRequest")
	require.True(t, pion, "pion's server sent no HelloRetryRequest")
}
