// Package flights encodes and decodes TLS handshake messages, reassembles
// them from record payloads and keeps the running transcript hash.
//
// Every message type has an Append method that appends the complete message
// (type, 24-bit length and body) to a buffer and an Unmarshal method that
// parses a message body. Decoders report failures as a record.Alert naming
// the alert the peer should receive. Slices in a decoded message may alias
// the buffer passed to Unmarshal; copy them if that buffer is reused.
//
// DTLS 1.2 (RFC 6347) frames the same messages with a 12-byte header that
// adds a message sequence number and fragment offset: ToDTLS converts a
// message to that form, AppendFragments splits it to fit datagrams,
// ParseFragment reads fragments from a record and Reassembler puts them
// back together in order. HelloVerifyRequest and ClientHello.DTLSCookie
// carry the DTLS cookie exchange.
//
// Append methods panic when a field does not fit its wire encoding (for
// example a Random that is not 32 bytes or a vector longer than its length
// prefix allows); such values are programming errors, never peer input.
//
// Stability: this package serves tlsm's own packages (fsm and its tests),
// and its exported API may change in any release. Stable: the message
// type and extension code points, which the RFCs fix, and the bounds the
// Reassembler documents (ReassemblyWindow, ReassemblyCost).
package flights
