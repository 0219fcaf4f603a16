// Package tlsm is a library for TLS 1.3 and 1.2 and DTLS 1.2 built
// around one explicit, event-driven handshake state machine that does no
// I/O.
//
// The packages:
//
//   - fsm: the sans-I/O connection and its transition table; fsm/fsmtest,
//     a deterministic network simulator to test code built on it.
//   - tls: a net.Conn over a byte stream, built on fsm.
//   - dtls: a net.Conn over datagrams (UDP), and a listener that serves
//     many peers on one socket, built on fsm.
//   - tlshttp: net/http over tls, HTTP/1.1 and HTTP/2.
//   - flights: handshake messages, framing and the transcript.
//   - record: record framing and protection.
//   - cipher: suites, AEAD state and the key schedule.
//
// The root package holds no code; its tests run scenarios across the
// packages and the benchmarks that compare tlsm with crypto/tls.
package tlsm
