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

// TestUDPRecordAllocs: once connected, a dtls.Conn on a UDP socket, its
// own or a listener's, writes and reads a 1,200-byte record without
// allocating (the source address of a datagram is read without making a
// net.Addr).
func TestUDPRecordAllocs(t *testing.T) {
	cc, sc := tlsmClientConfig(t, aes128GCM, 1500), tlsmServerConfig(t, aes128GCM, 1500)
	cc.SRTPProtectionProfiles, sc.SRTPProtectionProfiles = nil, nil
	cc.Certificates, sc.ClientAuth = nil, fsm.NoClientCert
	t.Run("own socket", func(t *testing.T) {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		z, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		client, server := dtls.Client(a, z.LocalAddr(), cc), dtls.Server(z, a.LocalAddr(), sc)
		defer client.Close()
		defer server.Close()
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- server.HandshakeContext(ctx) }()
		require.NoError(t, client.HandshakeContext(ctx))
		require.NoError(t, <-done)
		checkRecordAllocs(t, client, server)
	})
	t.Run("listener", func(t *testing.T) {
		ln, err := dtls.Listen("udp", "127.0.0.1:0", sc)
		require.NoError(t, err)
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
		defer cancel()
		client, err := dtls.DialContext(ctx, "udp", ln.Addr().String(), cc)
		require.NoError(t, err)
		defer client.Close()
		server, ok := <-accepted
		require.True(t, ok, "nothing accepted")
		defer server.Close()
		checkRecordAllocs(t, client, server)
	})
}

// checkRecordAllocs checks that a 1,200-byte record from client to server
// costs no allocation.
func checkRecordAllocs(t *testing.T, client, server net.Conn) {
	t.Helper()
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
