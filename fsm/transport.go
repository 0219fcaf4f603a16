package fsm

import (
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// transport holds every rule that differs between TLS over a byte stream
// and DTLS over datagrams, so that the state machine has no transport
// branches: it asks this value.
type transport struct {
	// Name is "TLS" or "DTLS".
	Name string
	// Datagram is true when records travel in datagrams.
	Datagram bool
	// InitialRecordVersion is the record version of a first ClientHello;
	// RecordVersion that of every other record.
	InitialRecordVersion uint16
	RecordVersion        uint16
	// Version12 is the wire value of (D)TLS 1.2 in hellos.
	Version12 uint16
	// Version13 is the wire value of (D)TLS 1.3 in supported_versions.
	Version13 uint16
	// MaxVersion is the highest protocol version the transport carries
	// (as a TLS version number); DefaultMaxVersion is the highest a Config
	// without MaxVersion enables.
	MaxVersion, DefaultMaxVersion uint16
	// Labels is the HKDF-Expand-Label prefix of the transport's 1.3 key
	// schedule: "tls13 ", or "dtls13" (RFC 9147 §5.9).
	Labels cipher.Labels
	// HelloVerify is true when servers send a HelloVerifyRequest cookie
	// before keeping any state (RFC 6347 §4.2.1) and hellos carry cookies.
	HelloVerify bool
	// ResumeOnHelloRequest says whether a client answering a server's
	// renegotiation request offers its current session (TLS: yes; DTLS: no).
	ResumeOnHelloRequest bool
	// KeepEarlyChangeCipherSpec keeps a ChangeCipherSpec that arrives
	// during a handshake before the messages it follows, and reads it
	// once they are: over datagrams they may have been reordered or lost
	// (RFC 6347 §4.1); over a stream it is an unexpected_message.
	KeepEarlyChangeCipherSpec bool
	// DropEarlyApplicationData drops application data that arrives in a
	// state that takes none, under the keys of a handshake's new epoch
	// before its Finished: over datagrams the Finished may come later
	// (RFC 6347 §4.1); over a stream it is an unexpected_message.
	DropEarlyApplicationData bool
	// CompatibilityCCS sends TLS 1.3's middlebox compatibility
	// change_cipher_spec (RFC 8446 Appendix D.4); DTLS 1.3 has none (RFC
	// 9147 §5).
	CompatibilityCCS bool

	newLayer func(env *layerEnv) layer
}

// streamTransport is the transport of TLS over a reliable byte stream.
var streamTransport = &transport{
	Name:                 "TLS",
	InitialRecordVersion: record.VersionTLS10,
	RecordVersion:        record.VersionTLS12,
	Version12:            record.VersionTLS12,
	Version13:            VersionTLS13,
	MaxVersion:           VersionTLS13,
	DefaultMaxVersion:    VersionTLS13,
	Labels:               cipher.TLS13Labels,
	ResumeOnHelloRequest: true,
	CompatibilityCCS:     true,
	newLayer:             newStreamLayer,
}

// datagramTransport is the transport of DTLS over datagrams.
var datagramTransport = &transport{
	Name:                 "DTLS",
	Datagram:             true,
	InitialRecordVersion: record.VersionDTLS10,
	RecordVersion:        record.VersionDTLS12,
	Version12:            record.VersionDTLS12,
	Version13:            record.VersionDTLS13,
	// DTLS 1.3 is enabled by MaxVersion VersionTLS13 only, until its ACKs,
	// key updates and stateless cookie are in.
	MaxVersion:                VersionTLS13,
	DefaultMaxVersion:         VersionTLS12,
	Labels:                    cipher.DTLS13Labels,
	HelloVerify:               true,
	ResumeOnHelloRequest:      false,
	KeepEarlyChangeCipherSpec: true,
	DropEarlyApplicationData:  true,
	newLayer:                  newDatagramLayer,
}

// parseClientHello decodes a ClientHello body in the transport's layout.
func (t *transport) parseClientHello(body []byte) (*flights.ClientHello, error) {
	ch := new(flights.ClientHello)
	var err error
	if t.HelloVerify {
		err = ch.UnmarshalDTLS(body)
	} else {
		err = ch.Unmarshal(body)
	}
	return ch, err
}

// recordVersion is the version of a record sent in state s.
func (t *transport) recordVersion(s State) uint16 {
	if property(s).initialRecords {
		return t.InitialRecordVersion
	}
	return t.RecordVersion
}

// wireVersion maps a protocol version to what this transport calls it.
func (t *transport) wireVersion(v uint16) uint16 {
	switch v {
	case VersionTLS12:
		return t.Version12
	case VersionTLS13:
		return t.Version13
	}
	return v
}

// protocolVersion maps a version as this transport writes it in hellos
// (legacy_version and supported_versions) to the protocol version: DTLS
// counts down from 0xfeff for DTLS 1.0 (1.1 has no DTLS), 0xfefd is DTLS
// 1.2 and 0xfefc DTLS 1.3; TLS writes its versions as they are. A value
// of the other transport's is 0.
func (t *transport) protocolVersion(wire uint16) uint16 {
	if !t.Datagram {
		if wire>>8 == 0xfe {
			return 0
		}
		return wire
	}
	switch wire {
	case record.VersionDTLS13:
		return VersionTLS13
	case record.VersionDTLS12:
		return VersionTLS12
	case record.VersionDTLS10:
		return record.VersionTLS11
	}
	return 0
}

// legacyAtLeast12 reports whether a hello's legacy_version, with no
// supported_versions, offers (D)TLS 1.2: it is 1.2 or, as a newer client
// may send, above (RFC 5246 Appendix E.1). DTLS counts down: 0xfe00 and
// 0xfdff are above DTLS 1.2's 0xfefd.
func (t *transport) legacyAtLeast12(v uint16) bool {
	if t.Datagram {
		return v <= record.VersionDTLS12 && v >= 0xf000
	}
	return v >= record.VersionTLS12
}

// offers reports whether a hello's supported_versions offers protocol
// version v, in this transport's numbering.
func (t *transport) offers(supported []uint16, v uint16) bool {
	for _, w := range supported {
		if t.protocolVersion(w) == v {
			return true
		}
	}
	return false
}
