// Package fsm is the sans-I/O heart of tlsm: one explicit, event-driven
// handshake state machine and the connection built on it.
//
// A Conn consumes inputs — stream bytes (HandleData, split at any point),
// and API calls (Start, Write, Close) — and produces a queue of events the
// caller drains with NextEvent: bytes to transmit, application data to
// deliver, handshake completion, alerts and closure. It performs no I/O,
// starts no goroutines, reads no clock (time arrives with the inputs) and
// draws randomness only from Config.Rand.
//
// Every state is a named constant and every legal (state, input) pair is
// declared in one table (see Table); any other input is answered with an
// unexpected_message alert.
package fsm
