package dtls_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// TestUDPRecordAllocs: once connected, a dtls.Conn on a UDP socket writes
// and reads a 1,200-byte record without allocating (the source address of
// a datagram from the peer is read without making a net.Addr).
func TestUDPRecordAllocs(t *testing.T) {
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	z, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	cc, sc := tlsmClientConfig(t, aes128GCM, 1500), tlsmServerConfig(t, aes128GCM, 1500)
	cc.SRTPProtectionProfiles, sc.SRTPProtectionProfiles = nil, nil
	cc.Certificates, sc.ClientAuth = nil, fsm.NoClientCert
	client, server := dtls.Client(a, z.LocalAddr(), cc), dtls.Server(z, a.LocalAddr(), sc)
	defer client.Close()
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.HandshakeContext(ctx) }()
	require.NoError(t, client.HandshakeContext(ctx))
	require.NoError(t, <-done)

	msg, buf := make([]byte, 1200), make([]byte, 2048)
	require.NoError(t, server.SetReadDeadline(time.Now().Add(interopTimeout)))
	send := func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if n, err := server.Read(buf); err != nil || n != len(msg) {
			t.Fatalf("read %d bytes: %v", n, err)
		}
	}
	require.Zero(t, testing.AllocsPerRun(100, send), "allocations per 1,200-byte record over UDP")
}
