package tls_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// hangTimeout bounds the checks that something does not block for good.
const hangTimeout = 20 * time.Second

func testConfigs() (client, server *tls.Config) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	return &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"},
		&tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}}
}

// within runs f and returns its error, failing the test when f has not
// returned after hangTimeout.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangTimeout):
		t.Fatalf("%s: still blocked after %v", what, hangTimeout)
		return nil
	}
}

// TestHandshakeErrorIsSticky: after a handshake that failed on a socket
// timeout, Read, Write and Handshake return that error again.
func TestHandshakeErrorIsSticky(t *testing.T) {
	cc, _ := testConfigs()
	a, _ := tcpPair(t) // the server never answers
	cli := tls.Client(a, cc)
	require.NoError(t, cli.SetDeadline(time.Now().Add(100*time.Millisecond)))
	hsErr := cli.Handshake()
	require.ErrorIs(t, hsErr, os.ErrDeadlineExceeded)
	require.NoError(t, cli.SetDeadline(time.Now().Add(hangTimeout)))
	calls := map[string]func() error{
		"Read":      func() error { _, err := cli.Read(make([]byte, 1)); return err },
		"Write":     func() error { _, err := cli.Write([]byte("x")); return err },
		"Handshake": cli.Handshake,
	}
	for name, call := range calls {
		err := within(t, name, call)
		require.Truef(t, errors.Is(err, hsErr), "%s after the failed handshake: %v, want %v", name, err, hsErr)
	}
}
