package dtls_test

import (
	"context"
	gotls "crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// TestErrorsSayDTLS: what a dtls.Conn returns says "dtls:", and errors.Is
// and errors.As still see what is behind it: a verification failure
// reaches the x509 error, an export before the handshake is
// fsm.ErrHandshakeIncomplete.
func TestErrorsSayDTLS(t *testing.T) {
	cc, sc := configs(t)
	cc.ServerName = "elsewhere.example"
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	b, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	cli := dtls.Client(a, b.LocalAddr(), cc)
	srv := dtls.Server(b, a.LocalAddr(), sc)
	defer srv.Close()
	go srv.Handshake()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cli.HandshakeContext(ctx)
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "dtls: "), err.Error())
	require.ErrorIs(t, err, dtls.AlertBadCertificate)
	var he x509.HostnameError
	require.ErrorAs(t, err, &he)
	var ae gotls.AlertError
	require.ErrorAs(t, err, &ae)

	fresh := dtls.Client(a, b.LocalAddr(), cc)
	_, err = fresh.ExportKeyingMaterial("EXPERIMENTAL test", nil, 16)
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "dtls: "), err.Error())
	require.ErrorIs(t, err, fsm.ErrHandshakeIncomplete)
}
