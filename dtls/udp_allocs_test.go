package dtls_test

import (
	"context"
	"net"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// TestUDPRecordAllocs: once connected, a dtls.Conn on a UDP socket, its
// own or a listener's, writes and reads a 1,200-byte record without
// allocating (the source address of a datagram is read without making a
// net.Addr), nor a write of several records, which leaves in one
// sendmmsg and is read in batches where batching applies.
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
		handshakeBoth(t, client, server)
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
// costs no allocation, nor a 4,000-byte write, several records in as
// many datagrams. Under the race detector, sync.Pool drops a random
// quarter of what is put back, so the records go through unchecked.
func checkRecordAllocs(t *testing.T, client, server net.Conn) {
	t.Helper()
	require.NoError(t, server.SetReadDeadline(time.Now().Add(interopTimeout)))
	for _, size := range []int{1200, 4000} {
		msg, buf := make([]byte, size), make([]byte, 2048)
		send := func() {
			if _, err := client.Write(msg); err != nil {
				t.Fatal(err)
			}
			for got := 0; got < len(msg); {
				n, err := server.Read(buf)
				if err != nil {
					t.Fatalf("read %d of %d bytes: %v", got, len(msg), err)
				}
				got += n
			}
		}
		if allocs := testing.AllocsPerRun(100, send); !raceEnabled() {
			require.Zero(t, allocs, "allocations per %d-byte write over UDP", size)
		}
	}
}

// raceEnabled reports whether the test binary runs the race detector.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
