package benchsuite

import (
	"context"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"testing"

	"github.com/tlsm/tlsm/fsm"
)

// crypto/tls runs a TLS 1.3 handshake without a socket through its QUIC
// API (RFC 9001): the handshake messages come out of NextEvent and go
// into the peer's HandleData, as tlsm's core hands its records from one
// fsm.Conn to the other. The handshake is the same but for the record
// layer, which QUIC leaves to the transport: crypto/tls seals no
// handshake record here, where tlsm's core seals its encrypted flight;
// the comparison is, if anything, in crypto/tls's favour.

// quicTransportParameters are the (opaque) transport parameters both
// sides send: QUIC requires the extension, the handshake does not look
// inside.
var quicTransportParameters = []byte{0x01, 0x02, 0x00, 0x00}

// Handshake13GoTLSMemory is a TLS 1.3 handshake between two crypto/tls
// QUICConns in memory, configured as Handshake13GoTLS.
func Handshake13GoTLSMemory(b *testing.B) {
	cc, sc := GoConfigs()
	sc.MinVersion = gotls.VersionTLS13 // QUIC's rule; the client has it already
	goMemoryHandshakes(b, cc, sc)
}

func goMemoryHandshakes(b *testing.B, cc, sc *gotls.Config) {
	b.ReportAllocs()
	for b.Loop() {
		if err := goMemoryHandshake(cc, sc); err != nil {
			b.Fatal(err)
		}
	}
}

// goMemoryHandshake runs one handshake between a crypto/tls client and
// server through their QUIC API.
func goMemoryHandshake(cc, sc *gotls.Config) error {
	client := gotls.QUICClient(&gotls.QUICConfig{TLSConfig: cc})
	server := gotls.QUICServer(&gotls.QUICConfig{TLSConfig: sc})
	defer client.Close()
	defer server.Close()
	client.SetTransportParameters(quicTransportParameters)
	server.SetTransportParameters(quicTransportParameters)
	ctx := context.Background()
	if err := client.Start(ctx); err != nil {
		return err
	}
	if err := server.Start(ctx); err != nil {
		return err
	}
	done := [2]bool{}
	sides := [2]*gotls.QUICConn{client, server}
	for !done[0] || !done[1] {
		moved := false
		for i, q := range sides {
			for {
				ev := q.NextEvent()
				if ev.Kind == gotls.QUICNoEvent {
					break
				}
				moved = true
				switch ev.Kind {
				case gotls.QUICWriteData:
					if err := sides[1-i].HandleData(ev.Level, ev.Data); err != nil {
						return fmt.Errorf("side %d: %w", 1-i, err)
					}
				case gotls.QUICHandshakeDone:
					done[i] = true
				case gotls.QUICErrorEvent:
					return ev.Err
				}
			}
		}
		if !moved {
			return errors.New("crypto/tls QUIC handshake stalled")
		}
	}
	if v := client.ConnectionState().Version; v != gotls.VersionTLS13 {
		return fmt.Errorf("negotiated version %#x", v)
	}
	return nil
}

// KeyExchangeGoTLSMemory is a TLS 1.3 handshake on group between two
// crypto/tls QUICConns in memory (see KeyExchangeCore for tlsm's).
func KeyExchangeGoTLSMemory(group fsm.CurveID) func(*testing.B) {
	return func(b *testing.B) {
		cc, sc := goGroupConfigs(group)
		sc.MinVersion = gotls.VersionTLS13
		goMemoryHandshakes(b, cc, sc)
	}
}
