// Package cipher holds the cryptographic pieces of tlsm: cipher suites, the
// AEAD record protection state with its per-record nonces, and the TLS 1.3
// key schedule (HKDF-Expand-Label and the secrets derived from it).
//
// Nothing here performs I/O, reads a clock or draws randomness.
package cipher
