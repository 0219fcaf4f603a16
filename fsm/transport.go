package fsm

import "github.com/tlsm/tlsm/record"

// Transport holds every rule that differs between TLS over a byte stream
// and DTLS over datagrams, so that the state machine itself has no
// transport branches. Only the stream transport exists so far.
type Transport struct {
	// Name is "TLS" or "DTLS".
	Name string
	// Datagram is true when records travel in datagrams.
	Datagram bool
	// MaxCiphertext is the largest protected fragment accepted.
	MaxCiphertext int
	// InitialRecordVersion is the record version of a first ClientHello.
	InitialRecordVersion uint16
	// ResumeOnHelloRequest says whether a client answering a server's
	// renegotiation request offers its current session (TLS: yes; DTLS: no).
	ResumeOnHelloRequest bool

	newLayer func(*Conn) layer
}

// Stream is the transport of TLS over a reliable byte stream.
var Stream = &Transport{
	Name:                 "TLS",
	MaxCiphertext:        record.MaxCiphertext13,
	InitialRecordVersion: record.VersionTLS10,
	ResumeOnHelloRequest: true,
	newLayer:             newStreamLayer,
}
