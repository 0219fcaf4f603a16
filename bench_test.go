package tlsm_test

import (
	"fmt"
	"testing"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/benchsuite"
)

// The benchmark bodies are in internal/benchsuite, which examples/bench
// also runs and prints as one table; these wrappers give them their
// `go test -bench` names.

// BenchmarkHandshake13 measures one full TLS 1.3 handshake (client and
// server together) with X25519 and an ECDSA P-256 certificate. tlsm's
// Config remembers the server's parsed and verified chain across
// handshakes (fsm.CertificateCache); tlsm-core-cold starts each handshake
// with an empty cache.
func BenchmarkHandshake13(b *testing.B) {
	b.Run("tlsm-core", benchsuite.Handshake13Core)
	b.Run("tlsm-core-cold", benchsuite.Handshake13CoreCold)
	b.Run("tlsm-pipe", benchsuite.Handshake13Pipe)
	b.Run("crypto-tls-pipe", benchsuite.Handshake13GoTLS)
}

// BenchmarkHandshake12 measures one full TLS 1.2 handshake with
// ECDHE-ECDSA-AES128-GCM-SHA256, X25519 and an ECDSA P-256 certificate.
func BenchmarkHandshake12(b *testing.B) {
	b.Run("tlsm-core", benchsuite.Handshake12Core)
	b.Run("tlsm-pipe", benchsuite.Handshake12Pipe)
	b.Run("crypto-tls-pipe", benchsuite.Handshake12GoTLS)
}

// BenchmarkResume measures resumed handshakes (TLS 1.2 tickets, TLS 1.3
// PSK), each followed by one byte from the server so that the client takes
// in the next ticket, as a real client would.
func BenchmarkResume(b *testing.B) {
	for _, v := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		name := fsm.VersionName(v)
		b.Run(name+"/tlsm-core", benchsuite.ResumeCore(v))
		b.Run(name+"/tlsm-pipe", benchsuite.ResumePipe(v))
		b.Run(name+"/crypto-tls-pipe", benchsuite.ResumeGoTLS(v))
	}
}

// BenchmarkBulk16K measures protecting and unprotecting 16 KiB writes on
// TLS 1.3. tlsm-pipe and crypto-tls-pipe use TLS_AES_128_GCM_SHA256;
// crypto/tls cannot be told to use ChaCha20-Poly1305 between two of its
// own Conns on a machine with AES instructions, so chacha/crypto-tls-pipe
// is a crypto/tls client sending to a tlsm server that allows only it,
// the receiver of chacha/tlsm-pipe. aead/* is the ceiling: the same
// bytes sealed and opened by the AEAD alone.
func BenchmarkBulk16K(b *testing.B) {
	for _, suite := range []uint16{fsm.TLS_AES_128_GCM_SHA256, fsm.TLS_CHACHA20_POLY1305_SHA256} {
		b.Run("tlsm-core/"+fsm.CipherSuiteName(suite), benchsuite.Bulk16KCore(suite))
	}
	b.Run("tlsm-pipe", benchsuite.Bulk16KPipe(fsm.TLS_AES_128_GCM_SHA256))
	b.Run("crypto-tls-pipe", benchsuite.Bulk16KGoTLS)
	b.Run("chacha/tlsm-pipe", benchsuite.Bulk16KPipe(fsm.TLS_CHACHA20_POLY1305_SHA256))
	b.Run("chacha/crypto-tls-pipe", benchsuite.Bulk16KGoTLSToTLSM(fsm.TLS_CHACHA20_POLY1305_SHA256))
	b.Run("aead/AES-128-GCM", benchsuite.AEADAES128GCM16K)
	b.Run("aead/ChaCha20-Poly1305", benchsuite.AEADChaCha16K)
}

// BenchmarkHostileClientHello measures the largest TLS 1.3 ClientHello a
// server takes, from its bytes to the server's answer: with thousands of
// key shares and supported groups (shares, benchsuite.HostileClientHello13),
// and with thousands of ALPN protocols (alpn,
// benchsuite.HostileClientHelloALPN13).
func BenchmarkHostileClientHello(b *testing.B) {
	b.Run("shares/tlsm-core", benchsuite.HostileClientHelloCore)
	b.Run("shares/crypto-tls-pipe", benchsuite.HostileClientHelloGoTLS)
	b.Run("alpn/tlsm-core", benchsuite.HostileClientHelloALPNCore)
	b.Run("alpn/crypto-tls-pipe", benchsuite.HostileClientHelloALPNGoTLS)
}

// BenchmarkHostileClientHello12 is BenchmarkHostileClientHello with the
// largest TLS 1.2 ClientHello of repeated suites and signature algorithms
// that fit no certificate, answered with an alert
// (benchsuite.HostileClientHello12).
func BenchmarkHostileClientHello12(b *testing.B) {
	b.Run("tlsm-core", benchsuite.HostileClientHello12Core)
	b.Run("crypto-tls-pipe", benchsuite.HostileClientHello12GoTLS)
}

// BenchmarkKeyExchange measures a full TLS 1.3 handshake with one group
// on both sides, X25519MLKEM768 and X25519 alone, as BenchmarkHandshake13
// otherwise: tlsm's core and crypto/tls's QUIC API in memory, tlsm and
// crypto/tls over net.Pipe and over a new TCP connection on 127.0.0.1
// each. wire-B/op (over net.Pipe) counts the bytes both sides sent.
// tlsm's Config keeps the server's verified chain across handshakes; the
// -cold rows start each with an empty cache, verifying the chain each
// time as crypto/tls does.
func BenchmarkKeyExchange(b *testing.B) {
	for _, g := range benchsuite.KeyExchangeGroups {
		b.Run(g.String()+"/tlsm-core", benchsuite.KeyExchangeCore(g))
		b.Run(g.String()+"/crypto-tls-quic", benchsuite.KeyExchangeGoTLSMemory(g))
		b.Run(g.String()+"/tlsm-pipe", benchsuite.KeyExchangePipe(g))
		b.Run(g.String()+"/crypto-tls-pipe", benchsuite.KeyExchangeGoTLSPipe(g))
		b.Run(g.String()+"/tlsm-pipe-cold", benchsuite.KeyExchangePipeCold(g))
		b.Run(g.String()+"/tlsm-tcp", benchsuite.KeyExchangeTCP(g))
		b.Run(g.String()+"/tlsm-tcp-cold", benchsuite.KeyExchangeTCPCold(g))
		b.Run(g.String()+"/crypto-tls-tcp", benchsuite.KeyExchangeGoTLSTCP(g))
		b.Run(g.String()+"/tlsm-tcp-conc8", benchsuite.KeyExchangeTCPConcurrent(g))
		b.Run(g.String()+"/crypto-tls-tcp-conc8", benchsuite.KeyExchangeGoTLSTCPConcurrent(g))
	}
}

// BenchmarkHandshake13Memory measures a TLS 1.3 handshake pair with both
// ends in memory: tlsm's core, and crypto/tls through its QUIC API
// (which leaves the record layer to QUIC: it seals no handshake record).
func BenchmarkHandshake13Memory(b *testing.B) {
	b.Run("tlsm-core", benchsuite.Handshake13Core)
	b.Run("crypto-tls-quic", benchsuite.Handshake13GoTLSMemory)
}

// BenchmarkTCPHandshake measures full handshake pairs over TCP on
// 127.0.0.1, both ends of one library in this process: one client at a
// time (seq) and benchsuite.Concurrent at a time (conc8). X25519, an
// ECDSA P-256 chain, no resumption on either side; tlsm's certificate
// cache warm, and cold (parse and verify the chain every time, as
// crypto/tls verifies it).
func BenchmarkTCPHandshake(b *testing.B) {
	for _, conc := range []int{1, benchsuite.Concurrent} {
		mode := "seq"
		if conc > 1 {
			mode = fmt.Sprintf("conc%d", conc)
		}
		b.Run("TLS1.3/"+mode+"/tlsm", benchsuite.TCPHandshake13(false, conc))
		b.Run("TLS1.3/"+mode+"/tlsm-cold", benchsuite.TCPHandshake13(true, conc))
		b.Run("TLS1.3/"+mode+"/crypto-tls", benchsuite.TCPHandshake13GoTLS(conc))
		b.Run("TLS1.2/"+mode+"/tlsm", benchsuite.TCPHandshake12(false, conc))
		b.Run("TLS1.2/"+mode+"/tlsm-cold", benchsuite.TCPHandshake12(true, conc))
		b.Run("TLS1.2/"+mode+"/crypto-tls", benchsuite.TCPHandshake12GoTLS(conc))
	}
}

// BenchmarkPublicKeyFloor times the public-key work of one handshake pair
// alone (see benchsuite.PublicKeyFloor): with a warm certificate cache,
// and with the chain's signature verified too (cold).
func BenchmarkPublicKeyFloor(b *testing.B) {
	for _, g := range benchsuite.KeyExchangeGroups {
		b.Run(g.String()+"/warm", benchsuite.PublicKeyFloor(g, false))
		b.Run(g.String()+"/cold", benchsuite.PublicKeyFloor(g, true))
	}
}
