// Package cipher holds the cryptographic pieces of tlsm: cipher suites, the
// AEAD record protection state with its per-record nonces, the TLS 1.3
// key schedule (HKDF-Expand-Label and the secrets derived from it), and the
// TLS 1.2 PRF with the master secret, key block, Finished and exporter
// derived from it.
//
// Nothing here performs I/O, reads a clock or draws randomness.
package cipher
