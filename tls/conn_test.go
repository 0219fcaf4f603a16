package tls_test

import (
	"context"
	gotls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

func TestPipeHandshakeAndEcho(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	a, b := net.Pipe()
	srv := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}})
	cli := tls.Client(a, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 100)
		n, err := srv.Read(buf)
		if err == nil {
			_, err = srv.Write(buf[:n])
		}
		done <- err
	}()
	_, err := cli.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(cli, buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf))
	require.NoError(t, <-done)
	require.True(t, cli.ConnectionState().HandshakeComplete)
}

func TestGoServer(t *testing.T) {
	cert := testcert.MustNew(testcert.RSA2048)
	ln, err := gotls.Listen("tcp", "127.0.0.1:0", &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go c.Write(msg)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
}

func TestGoClient(t *testing.T) {
	cert := testcert.MustNew(testcert.Ed25519)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := gotls.Dial("tcp", ln.Addr().String(), &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
	require.Equal(t, uint16(gotls.VersionTLS13), c.ConnectionState().Version)
}

// TestHandshakeContextCanceled: cancelling the context of a handshake
// with a peer that never answers interrupts the blocked socket read.
func TestHandshakeContextCanceled(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b) // takes the ClientHello, answers nothing
	cli := tls.Client(a, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { done <- cli.HandshakeContext(ctx) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the handshake did not end with its context")
	}
}
