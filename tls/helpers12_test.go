package tls_test

// Helpers for the TLS 1.2 and version negotiation interoperability tests
// (interop_matrix_test.go, version_interop_test.go).

import (
	"bytes"
	gotls "crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// downgradeSentinel12 ends ServerHello.random when a server that supports
// TLS 1.3 negotiates TLS 1.2 (RFC 8446, section 4.1.3).
var downgradeSentinel12 = []byte("DOWNGRD\x01")

// interop12Suite is one TLS 1.2 suite of the openssl matrix.
type interop12Suite struct {
	id      uint16
	openssl string // what openssl -cipher takes and -brief prints
	kind    testcert.Kind
}

// interop12Cases are the six TLS 1.2 suites, each with the certificate kind
// it needs, and Ed25519 once with an ECDHE_ECDSA suite (RFC 8422).
var interop12Cases = []interop12Suite{
	{cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", testcert.ECDSAP256},
	{cipher.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256", testcert.RSA2048},
	{cipher.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", testcert.ECDSAP256},
	{cipher.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", testcert.RSA2048},
	{cipher.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", testcert.ECDSAP256},
	{cipher.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305", testcert.RSA2048},
	{cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", testcert.Ed25519},
}

// versionRange is a [min, max] pair of protocol versions.
type versionRange struct{ min, max uint16 }

func (r versionRange) String() string {
	return fmt.Sprintf("%s-%s", fsm.VersionName(r.min), fsm.VersionName(r.max))
}

// common returns the highest version in both ranges, or 0.
func (r versionRange) common(o versionRange) uint16 {
	for _, v := range []uint16{fsm.VersionTLS13, fsm.VersionTLS12} {
		if v >= r.min && v <= r.max && v >= o.min && v <= o.max {
			return v
		}
	}
	return 0
}

// opensslVersionArgs returns the openssl flags for a peer range: -tls1_2,
// -tls1_3, or none for both.
func opensslVersionArgs(r versionRange) []string {
	switch {
	case r.min == fsm.VersionTLS12 && r.max == fsm.VersionTLS12:
		return []string{"-tls1_2"}
	case r.min == fsm.VersionTLS13 && r.max == fsm.VersionTLS13:
		return []string{"-tls1_3"}
	}
	return nil
}

// opensslVersionName is how openssl -brief prints a version.
func opensslVersionName(v uint16) string {
	if v == fsm.VersionTLS13 {
		return "TLSv1.3"
	}
	return "TLSv1.2"
}

// helloInfo is what a plaintext ServerHello says.
type helloInfo struct {
	legacyVersion    uint16
	random           []byte
	suite            uint16
	supportedVersion uint16 // from supported_versions; 0 when absent
}

// firstHandshakeMessage returns the body of the first handshake message
// of type typ at the start of a stream, reading handshake records only
// up to the first record of another content type.
func firstHandshakeMessage(stream []byte, typ byte) ([]byte, error) {
	var hs []byte
	for len(stream) >= 5 && stream[0] == 22 {
		n := int(binary.BigEndian.Uint16(stream[3:5]))
		if len(stream) < 5+n {
			break
		}
		hs = append(hs, stream[5:5+n]...)
		stream = stream[5+n:]
	}
	for len(hs) >= 4 {
		n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if len(hs) < 4+n {
			break
		}
		if hs[0] == typ {
			return hs[4 : 4+n], nil
		}
		hs = hs[4+n:]
	}
	return nil, fmt.Errorf("no handshake message of type %d in the captured stream", typ)
}

// parseServerHello parses the first ServerHello of a server's stream.
func parseServerHello(stream []byte) (helloInfo, error) {
	var h helloInfo
	body, err := firstHandshakeMessage(stream, typeServerHello)
	if err != nil {
		return h, err
	}
	r := &reader{b: body}
	h.legacyVersion = uint16(r.u16())
	h.random = r.bytes(32)
	r.bytes(r.u8())
	h.suite = uint16(r.u16())
	r.bytes(1)
	if len(r.b) > 0 {
		exts := extensions(r)
		if sv, ok := exts[43]; ok && len(sv) == 2 {
			h.supportedVersion = binary.BigEndian.Uint16(sv)
		}
	}
	if r.bad {
		return h, errors.New("malformed ServerHello")
	}
	return h, nil
}

// serverHelloOf parses the ServerHello a tapConn saw; asClient tells
// whether the tap sits on the client's socket.
func serverHelloOf(t *testing.T, tap *tapConn, asClient bool) helloInfo {
	t.Helper()
	read, stream := tap.Streams()
	if asClient {
		stream = read
	}
	h, err := parseServerHello(stream)
	require.NoError(t, err)
	return h
}

// hasSentinel reports whether a ServerHello random carries a TLS 1.2
// downgrade sentinel.
func (h helloInfo) hasSentinel() bool {
	return len(h.random) == 32 && bytes.Equal(h.random[24:], downgradeSentinel12)
}

// alertOf returns the alert in err's chain, if any.
func alertOf(err error) (*fsm.AlertError, bool) {
	var ae *fsm.AlertError
	ok := errors.As(err, &ae)
	return ae, ok
}

// describeAlert says which alert err carries and in which direction.
func describeAlert(err error) string {
	if ae, ok := alertOf(err); ok {
		dir := "sent"
		if ae.Received {
			dir = "received"
		}
		return fmt.Sprintf("%s %s", dir, ae.Description)
	}
	return fmt.Sprintf("no alert (%v)", err)
}

// stripSupportedVersions rewrites a ClientHello handshake message (header
// included) without its supported_versions extension, as an active
// attacker forcing TLS 1.2 would. It reports whether the extension was
// there.
func stripSupportedVersions(msg []byte) ([]byte, bool, error) {
	if len(msg) < 4 || msg[0] != typeClientHello {
		return nil, false, errors.New("not a ClientHello")
	}
	body := msg[4:]
	r := &reader{b: body}
	r.bytes(2 + 32)
	r.bytes(r.u8())
	r.bytes(r.u16())
	r.bytes(r.u8())
	if r.bad {
		return nil, false, errors.New("malformed ClientHello")
	}
	prefix := body[:len(body)-len(r.b)]
	block := &reader{b: r.bytes(r.u16())}
	var kept []byte
	found := false
	for len(block.b) > 0 && !block.bad {
		start := block.b
		typ := block.u16()
		data := block.bytes(block.u16())
		ext := start[:4+len(data)]
		if typ == 43 {
			found = true
			continue
		}
		kept = append(kept, ext...)
	}
	if block.bad || r.bad || len(r.b) != 0 {
		return nil, false, errors.New("malformed ClientHello extensions")
	}
	newBody := append(bytes.Clone(prefix), byte(len(kept)>>8), byte(len(kept)))
	newBody = append(newBody, kept...)
	out := []byte{typeClientHello, byte(len(newBody) >> 16), byte(len(newBody) >> 8), byte(len(newBody))}
	return append(out, newBody...), found, nil
}

// downgradeProxy listens on 127.0.0.1 and relays one connection to
// upstream, removing supported_versions from the ClientHello (which must
// arrive in one record). The proxy's result (nil, or what went wrong)
// arrives on the channel once the client side of the relay ends.
func downgradeProxy(t *testing.T, upstream string) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(peers.Loopback, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(ioTimeout))
			client, err := ln.Accept()
			if err != nil {
				return err
			}
			defer client.Close()
			server, err := net.DialTimeout("tcp", upstream, handshakeTimeout)
			if err != nil {
				return err
			}
			defer server.Close()
			client.SetDeadline(time.Now().Add(ioTimeout))
			server.SetDeadline(time.Now().Add(ioTimeout))

			var hdr [5]byte
			if _, err := io.ReadFull(client, hdr[:]); err != nil {
				return fmt.Errorf("proxy: record header: %w", err)
			}
			rec := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
			if _, err := io.ReadFull(client, rec); err != nil {
				return fmt.Errorf("proxy: record: %w", err)
			}
			if hdr[0] != 22 || len(rec) < 4 || 4+(int(rec[1])<<16|int(rec[2])<<8|int(rec[3])) != len(rec) {
				return errors.New("proxy: ClientHello is not alone in the first record")
			}
			msg, found, err := stripSupportedVersions(rec)
			if err != nil {
				return fmt.Errorf("proxy: %w", err)
			}
			if !found {
				return errors.New("proxy: the ClientHello has no supported_versions")
			}
			out := append([]byte{22, hdr[1], hdr[2], byte(len(msg) >> 8), byte(len(msg))}, msg...)
			if _, err := server.Write(out); err != nil {
				return err
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(client, server)
				client.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(server, client)
			server.(*net.TCPConn).CloseWrite()
			wg.Wait()
			return nil
		}()
	}()
	return ln.Addr().String(), done
}

// goVersionError reports whether a crypto/tls error is about the protocol
// version: sent means crypto/tls sent the protocol_version alert,
// otherwise it received it.
func goVersionError(err error, sent bool) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	if sent {
		return strings.Contains(s, "unsupported versions") || strings.Contains(s, "unsupported protocol version")
	}
	return strings.Contains(s, "protocol version not supported")
}

// goVersionRange fills in a crypto/tls config's version range.
func goVersionRange(cfg *gotls.Config, r versionRange) *gotls.Config {
	cfg.MinVersion, cfg.MaxVersion = r.min, r.max
	return cfg
}

// opensslClientServeUntil is opensslClientServe, except that the tlsm
// server sends close_notify only once printed is closed (or ioTimeout
// passes): openssl s_client -quiet can exit on close_notify without
// printing application data it has already received, when that
// close_notify arrives while it is still writing to its stdout.
func opensslClientServeUntil(accept func() (*tls.Conn, *tapConn, error), toServer, toClient []byte, seed uint64, printed <-chan struct{}) (tls.ConnectionState, *tapConn, error) {
	c, tap, err := accept()
	if err != nil {
		return tls.ConnectionState{}, nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return tls.ConnectionState{}, tap, err
	}
	if err := handshakeTLSM(c); err != nil {
		return c.ConnectionState(), tap, fmt.Errorf("tlsm server: handshake: %w", err)
	}
	if err := exchangeExpect("tlsm server", c, toClient, toServer, seed); err != nil {
		return c.ConnectionState(), tap, err
	}
	select {
	case <-printed:
	case <-time.After(ioTimeout):
	}
	return c.ConnectionState(), tap, nil
}

// opensslClientServe is opensslClientServeUntil for a client whose output
// the test reads after the server is done.
func opensslClientServe(accept func() (*tls.Conn, *tapConn, error), toServer, toClient []byte, seed uint64) (tls.ConnectionState, *tapConn, error) {
	printed := make(chan struct{})
	close(printed)
	return opensslClientServeUntil(accept, toServer, toClient, seed, printed)
}
