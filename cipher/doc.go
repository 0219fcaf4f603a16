// Package cipher holds the cryptographic pieces of tlsm: cipher suites, the
// AEAD record protection state with its per-record nonces, the TLS 1.3
// key schedule (HKDF-Expand-Label and the secrets derived from it), and the
// TLS 1.2 PRF with the master secret, key block, Finished and exporter
// derived from it.
//
// Nothing here performs I/O, reads a clock or draws randomness.
//
// Stability: this package is the cryptographic base of tlsm's own packages
// (record, fsm), which is what its exported API serves; it may change in
// any release. Stable, as part of tlsm's public API: the cipher suite IDs
// (re-exported by fsm), Suite's ID, Name and TLS13, and the exporter
// functions' results, which are fixed by the RFCs.
package cipher
