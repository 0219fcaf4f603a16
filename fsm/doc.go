// Package fsm is the sans-I/O heart of tlsm: one explicit, event-driven
// handshake state machine and the connection built on it.
//
// A Conn consumes inputs — stream bytes (HandleData, split at any point),
// datagrams (HandleDatagram), timer expiries (HandleTimeout) and API calls
// (Start, Write, Handshake, Close) — and produces a queue of events the
// caller drains with NextEvent: bytes to transmit, application data to
// deliver, handshake completion, alerts, timers and closure. A caller
// about to wait for the peer may call Precompute, which does ahead what
// the peer's answer will need. It performs
// no I/O, starts no goroutines, reads no clock and draws randomness only
// from Config.Rand: every call that may send takes the current time, which
// dates what it starts (a retransmission timer, a session, a rate limit).
// A zero time keeps the last one given.
//
// Every state is a named constant and every legal (state, input) pair is
// declared in one table (see Table); any other input is answered with an
// unexpected_message alert.
package fsm
