// Package tlsm is a TLS 1.3 library (TLS 1.2 and DTLS to follow) built
// around one explicit, event-driven handshake state machine that does no
// I/O.
//
// The packages:
//
//   - fsm: the sans-I/O connection and its transition table.
//   - tls: a net.Conn over a byte stream, built on fsm.
//   - dtls: the datagram adapter (not yet implemented).
//   - flights: handshake messages, framing and the transcript.
//   - record: record framing and protection.
//   - cipher: suites, AEAD state and the key schedule.
//
// The root package holds no code; its tests run scenarios across the
// packages and the benchmarks that compare tlsm with crypto/tls.
package tlsm
