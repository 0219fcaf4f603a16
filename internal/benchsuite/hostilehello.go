package benchsuite

import (
	"crypto/ecdh"
	gotls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// The hostile ClientHello benchmarks measure what one ClientHello of the
// largest size a server takes costs it, from its bytes to the server's
// answer: tlsm's core (fsm.NewServer and HandleData) and crypto/tls (a
// server Conn over net.Pipe, until it writes its first byte). The hello is
// a valid TLS 1.3 one, answered with a full first flight, whose lists are
// as long as fit: the per-item checks of a server are where the time goes.

// hostileBodyLimit is the largest ClientHello body both servers take:
// fsm.MaxHandshakeMessage, and crypto/tls's limit of 65,536 bytes.
const hostileBodyLimit = min(fsm.MaxHandshakeMessage, 1<<16)

// HostileKeyShares is how many key shares HostileClientHello13 carries,
// the last one X25519; the others are of groups nobody implements, one
// byte each. Every group of a share is in supported_groups, at its end,
// so that a server which looks each share up in that list reads most of
// it for each.
const HostileKeyShares = 6000

// HostileClientHello13 returns the records of a valid TLS 1.3 ClientHello
// for the servers of TLSConfigs and GoConfigs that fills the largest
// handshake message they take: HostileKeyShares key shares and, in
// supported_groups, their groups after as many others as fit.
func HostileClientHello13() []byte {
	ch := hello13()
	x25519 := ch.KeyShares[0]
	ch.KeyShares = nil
	var shareGroups []uint16
	for i := range HostileKeyShares - 1 {
		g := uint16(0x3000 + i) // clear of every registered group
		ch.KeyShares = append(ch.KeyShares, flights.KeyShare{Group: g, Data: []byte{1}})
		shareGroups = append(shareGroups, g)
	}
	ch.KeyShares = append(ch.KeyShares, x25519)
	shareGroups = append(shareGroups, x25519.Group)
	// Fill supported_groups with groups that have no share, then the
	// share groups: two bytes a group up to the size limit.
	ch.SupportedGroups = shareGroups
	room := (hostileBodyLimit - bodyLen(ch)) / 2
	others := make([]uint16, 0, room+len(shareGroups))
	for i := range room {
		others = append(others, uint16(0x8000+i))
	}
	ch.SupportedGroups = append(others, shareGroups...)
	return plainRecords(ch.Append(nil))
}

// HostileClientHello12 returns the records of a TLS 1.2 ClientHello for
// the servers of TLSConfigs and GoConfigs that fills the largest handshake
// message they take with two lists: as many copies of the one suite both
// enable, ECDHE-ECDSA-AES128-GCM-SHA256, as signature algorithms, none of
// which the server's ECDSA key can make. No suite fits, and the servers
// answer with a handshake_failure alert; a server that looks for a
// signature algorithm anew for each suite the client lists reads the
// whole list for each.
func HostileClientHello12() []byte {
	ch := &flights.ClientHello{
		Version: fsm.VersionTLS12, Random: make([]byte, 32), SessionID: make([]byte, 32),
		CompressionMethods: []byte{0},
		SupportedGroups:    []uint16{uint16(fsm.X25519)},
		ECPointFormats:     []uint8{0},
	}
	room := (hostileBodyLimit - bodyLen(ch) - 8) / 4 // 8: the signature_algorithms extension's framing
	for i := range room {
		ch.CipherSuites = append(ch.CipherSuites, gotls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
		ch.SignatureAlgorithms = append(ch.SignatureAlgorithms, uint16(0x3000+i)) // clear of every registered scheme
	}
	return plainRecords(ch.Append(nil))
}

// HostileClientHelloALPN13 returns the records of a valid TLS 1.3
// ClientHello for the servers of TLSConfigs and GoConfigs that fills the
// largest handshake message they take with ALPN protocols: as many of one
// letter as fit, then the one of the servers' protocols they like least.
func HostileClientHelloALPN13() []byte {
	ch := hello13()
	last := hostileProtocols[len(hostileProtocols)-1]
	room := hostileBodyLimit - bodyLen(ch) - 6 - 1 - len(last) // 6: the extension's framing
	for i := range room / 2 {
		ch.ALPN = append(ch.ALPN, string(rune('a'+i%26)))
	}
	ch.ALPN = append(ch.ALPN, last)
	return plainRecords(ch.Append(nil))
}

// hostileProtocols are the ALPN protocols the servers of the hostile
// benchmarks take, in their order of preference.
var hostileProtocols = []string{"h2", "http/1.1"}

// hello13 is a minimal TLS 1.3 ClientHello that the servers of TLSConfigs
// and GoConfigs answer with their first flight.
func hello13() *flights.ClientHello {
	key, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return &flights.ClientHello{
		Version: fsm.VersionTLS12, Random: make([]byte, 32), SessionID: make([]byte, 32),
		CipherSuites:        []uint16{fsm.TLS_AES_128_GCM_SHA256},
		CompressionMethods:  []byte{0},
		SignatureAlgorithms: []uint16{fsm.ECDSAWithP256AndSHA256},
		SupportedVersions:   []uint16{fsm.VersionTLS13},
		SupportedGroups:     []uint16{uint16(fsm.X25519)},
		KeyShares:           []flights.KeyShare{{Group: uint16(fsm.X25519), Data: key.PublicKey().Bytes()}},
	}
}

// bodyLen is the length of ch's encoded body.
func bodyLen(ch *flights.ClientHello) int { return len(ch.Append(nil)) - 4 }

// plainRecords cuts a handshake message into plaintext records of the
// largest size.
func plainRecords(msg []byte) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(len(msg), 1<<14)
		out = record.AppendPlain(out, record.TypeHandshake, fsm.VersionTLS12, msg[:n])
		msg = msg[n:]
	}
	return out
}

// HostileClientHelloCore hands HostileClientHello13 to a fresh tlsm server
// core, until it has its answer to send.
func HostileClientHelloCore(b *testing.B) { hostileCore(b, HostileClientHello13(), true) }

// HostileClientHelloALPNCore is HostileClientHelloCore with
// HostileClientHelloALPN13.
func HostileClientHelloALPNCore(b *testing.B) { hostileCore(b, HostileClientHelloALPN13(), true) }

// HostileClientHello12Core is HostileClientHelloCore with
// HostileClientHello12, which ends in an alert.
func HostileClientHello12Core(b *testing.B) { hostileCore(b, HostileClientHello12(), false) }

// hostileCore hands in to a fresh tlsm server core, until it has its
// answer to send: its first flight when accepted, else an alert.
func hostileCore(b *testing.B, in []byte, accepted bool) {
	_, sc := TLSConfigs()
	sc.NextProtos = hostileProtocols
	now := time.Now()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		c := fsm.NewServer(sc)
		if err := c.HandleData(now, in); (err == nil) != accepted {
			b.Fatal(err)
		}
		if !transmits(c) {
			b.Fatalf("no answer; state %s", c.State())
		}
	}
}

// transmits drains c's events and reports whether it has bytes to send.
func transmits(c *fsm.Conn) bool {
	sent := false
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		sent = sent || ev.Kind == fsm.EventTransmit
	}
	return sent
}

// HostileClientHelloGoTLS hands HostileClientHello13 to a crypto/tls
// server over net.Pipe, until it writes its answer.
func HostileClientHelloGoTLS(b *testing.B) {
	hostileGoTLS(b, HostileClientHello13(), gotls.VersionTLS13)
}

// HostileClientHelloALPNGoTLS is HostileClientHelloGoTLS with
// HostileClientHelloALPN13.
func HostileClientHelloALPNGoTLS(b *testing.B) {
	hostileGoTLS(b, HostileClientHelloALPN13(), gotls.VersionTLS13)
}

// HostileClientHello12GoTLS is HostileClientHelloGoTLS with
// HostileClientHello12, which ends in an alert (crypto/tls sends its
// ServerHello first).
func HostileClientHello12GoTLS(b *testing.B) {
	hostileGoTLS(b, HostileClientHello12(), gotls.VersionTLS12)
}

// hostileGoTLS hands in to a crypto/tls server that enables TLS 1.2 to
// max over net.Pipe, until it writes the first byte of its answer.
func hostileGoTLS(b *testing.B, in []byte, max uint16) {
	_, sc := GoConfigs()
	sc.MinVersion, sc.MaxVersion = gotls.VersionTLS12, max
	sc.NextProtos = hostileProtocols
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var first [1]byte
	for b.Loop() {
		a, z := net.Pipe()
		done := make(chan struct{})
		go func() {
			gotls.Server(z, sc).Handshake() // fails once a is closed
			close(done)
		}()
		if _, err := a.Write(in); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(a, first[:]); err != nil || !answer(first[0]) {
			b.Fatalf("no answer: %v (%#x)", err, first[0])
		}
		a.Close()
		z.Close()
		<-done
	}
}

// answer reports whether a record that starts with b is a server's answer
// to a ClientHello: handshake messages or an alert.
func answer(b byte) bool {
	return b == byte(record.TypeHandshake) || b == byte(record.TypeAlert)
}
