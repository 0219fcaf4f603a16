// Package record is the TLS record layer of tlsm: record framing, the
// reassembly of records from a byte stream cut at any point, TLS 1.3
// record protection (TLSInnerPlaintext with its padding) and TLS 1.2 AEAD
// record protection on top of cipher.State. For DTLS 1.2 it parses the
// records of a datagram, protects them under their explicit epoch and
// sequence number, and keeps the anti-replay window of each epoch. For
// DTLS 1.3 (RFC 9147 §4) it parses and seals DTLSCiphertext records with
// the unified header in each of its forms, with the record number
// protected (cipher.RecordNumberKey) and reconstructed from its low bits.
// It also defines the alert descriptions every layer reports.
//
// Protection works in place and allocates nothing per record once the
// caller's buffers have grown to size.
//
// Stability: this package serves tlsm's own packages (flights, fsm, tls,
// dtls), and its exported API may change in any release. Stable, as part
// of tlsm's public API: the Alert and AlertLevel values (fsm re-exports
// them, with the AlertError a connection fails with), the content types and version numbers, which the
// RFCs fix, and the documented bounds (MaxPlaintext, ReplayWindowSize).
package record
