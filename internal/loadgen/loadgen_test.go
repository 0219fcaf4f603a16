//go:build linux

package loadgen

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// upperServer is a dtls.Listen on 127.0.0.1 that answers every record
// with it in upper case.
func upperServer(t *testing.T) (addr string, cert *testcert.Cert) {
	cert = testcert.MustNew(testcert.ECDSAP256)
	ln, err := dtls.Listen("udp", "127.0.0.1:0", &fsm.Config{
		Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key, Leaf: cert.Leaf}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go upper(c)
		}
	}()
	return ln.Addr().String(), cert
}

// upper answers every record with it in upper case, but "silence" with
// nothing.
func upper(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 2048)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if string(buf[:n]) == "silence" {
			continue
		}
		if _, err := c.Write(bytes.ToUpper(buf[:n])); err != nil {
			return
		}
	}
}

func TestDriverConnectsAndRoundTrips(t *testing.T) {
	addr, cert := upperServer(t)
	d, err := New(addr, &fsm.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	require.NoError(t, err)
	defer d.Close()

	res, err := d.Connect(150, 16, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, 150, res.Done)
	require.Zero(t, res.Failed)
	// The clients share the Config, and with it its session cache: all
	// but the first few resume.
	require.Positive(t, res.Resumed)
	require.Equal(t, 150, d.Clients())

	res, err = d.RoundTrip([]byte("ping"), func(r []byte) bool { return string(r) == "PING" }, 8, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, 150, res.Done, res.FirstErr)

	// A second batch joins the first.
	res, err = d.Connect(20, 4, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, 20, res.Done)
	res, err = d.RoundTrip([]byte("again"), func(r []byte) bool { return string(r) == "AGAIN" }, 8, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, 170, res.Done)
}

// TestRoundTripAfterTimeout: a RoundTrip that timed out with replies
// outstanding leaves nothing behind that the next one waits for.
func TestRoundTripAfterTimeout(t *testing.T) {
	addr, cert := upperServer(t)
	d, err := New(addr, &fsm.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Connect(10, 10, 30*time.Second)
	require.NoError(t, err)

	res, err := d.RoundTrip([]byte("silence"), func([]byte) bool { return true }, 10, 200*time.Millisecond)
	require.ErrorIs(t, err, ErrTimeout)
	require.Zero(t, res.Done)
	res, err = d.RoundTrip([]byte("ping"), func(r []byte) bool { return string(r) == "PING" }, 10, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, 10, res.Done, res.FirstErr)
}

func TestDriverReportsFailedHandshakes(t *testing.T) {
	addr, _ := upperServer(t)
	// The client trusts another CA: every handshake fails.
	other := testcert.MustNew(testcert.ECDSAP384)
	d, err := New(addr, &fsm.Config{RootCAs: other.CAPool, ServerName: "localhost"})
	require.NoError(t, err)
	defer d.Close()
	res, err := d.Connect(10, 5, 30*time.Second)
	require.NoError(t, err)
	require.Zero(t, res.Done)
	require.Equal(t, 10, res.Failed)
	require.ErrorContains(t, res.FirstErr, "certificate")
}

func TestDriverTimesOutWithoutServer(t *testing.T) {
	// A socket that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	d, err := New(pc.LocalAddr().String(), &fsm.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	defer d.Close()
	start := time.Now()
	res, err := d.Connect(3, 3, 300*time.Millisecond)
	require.ErrorIs(t, err, ErrTimeout)
	require.Zero(t, res.Done)
	require.Less(t, time.Since(start), 5*time.Second)
}
