package fsm

import "errors"

// Errors returned by Conn methods.
var (
	// ErrHandshakeIncomplete: the call needs a completed handshake.
	ErrHandshakeIncomplete = errors.New("tls: handshake not complete")
	// ErrClosed: the connection is closed for writing.
	ErrClosed = errors.New("tls: connection closed")
	// ErrAlreadyStarted: Start was called twice.
	ErrAlreadyStarted = errors.New("tls: handshake already started")
	// ErrNotStarted: a client was given input before Start; nothing was
	// read or sent.
	ErrNotStarted = errors.New("tls: client not started; call Start first")
	// ErrUnsupportedVersion: the configuration allows no version tlsm implements.
	ErrUnsupportedVersion = errors.New("tls: no supported protocol version enabled")
	// ErrHandshakeTimeout: a DTLS flight was retransmitted the most times
	// allowed without an answer.
	ErrHandshakeTimeout = errors.New("tls: handshake timed out")
	// ErrOutputFull: the caller has left more than MaxQueuedOutput bytes
	// of transmit events undrained.
	ErrOutputFull = errors.New("tls: output queue full; drain the events")
	// ErrWrongTransport: a stream input given to a datagram Conn or the
	// other way round.
	ErrWrongTransport = errors.New("tls: input for another transport")
)
