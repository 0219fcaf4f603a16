package tls_test

import (
	gotls "crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// TestLoadX509KeyPair: a server certificate loaded from PEM files, as with
// crypto/tls, serves a crypto/tls client; a missing file is an error.
func TestLoadX509KeyPair(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	certFile, keyFile, _ := opensslFiles(t, cert)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{pair}})
	done := serveOneAsync(accept)
	gc := dialGo(t, port, &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	require.NoError(t, gc.Handshake())
	require.NoError(t, askOne(gc, pong))
	gc.Close()
	require.NoError(t, (<-done).err)

	_, err = tls.LoadX509KeyPair(certFile+".missing", keyFile)
	require.Error(t, err)
}
