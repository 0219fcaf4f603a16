// Package benchsuite holds tlsm's performance measurements as plain
// functions, so that both `go test -bench` (bench_test.go and
// bench_dtls_test.go at the module root) and a program (examples/bench,
// which prints them as one table) run the same code.
//
// Every figure is taken for tlsm and for its peer in the same process:
// crypto/tls for TLS, pion/dtls v4 for DTLS, and crypto/cipher AEADs
// used directly as the ceiling of bulk throughput. The benchmark bodies
// are func(*testing.B); the idle measurements (Idle*) return bytes and
// goroutines per established connection.
//
// Only benchmarks use pion/dtls v4 and pion/transport/v5 (its dpipe): this
// package is their one importer outside tests, for comparison, and no
// library package imports it or them.
package benchsuite
