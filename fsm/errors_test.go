package fsm_test

import (
	gotls "crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

// TestVerificationErrorsReachX509: a failed verification is reported as
// crypto/tls reports it, a CertificateVerificationError wrapping the x509
// error, so errors.As reaches x509's types through the AlertError.
func TestVerificationErrorsReachX509(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(p *memconn.Pair, cc *fsm.Config)
		check func(t *testing.T, err error)
		alert fsm.Alert
	}{
		{"hostname", func(_ *memconn.Pair, cc *fsm.Config) { cc.ServerName = "elsewhere.example" }, func(t *testing.T, err error) {
			var he x509.HostnameError
			require.ErrorAs(t, err, &he)
			require.Equal(t, "elsewhere.example", he.Host)
		}, fsm.AlertBadCertificate},
		{"unknown authority", func(_ *memconn.Pair, cc *fsm.Config) { cc.RootCAs = x509.NewCertPool() }, func(t *testing.T, err error) {
			var ua x509.UnknownAuthorityError
			require.ErrorAs(t, err, &ua)
		}, fsm.AlertUnknownCA},
		{"expired", func(p *memconn.Pair, _ *fsm.Config) { p.Now = p.Now.Add(50 * 365 * 24 * time.Hour) }, func(t *testing.T, err error) {
			var ci x509.CertificateInvalidError
			require.ErrorAs(t, err, &ci)
			require.Equal(t, x509.Expired, ci.Reason)
		}, fsm.AlertCertificateExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := configs(t, testcert.ECDSAP256)
			p := memconn.New(cc, sc)
			tc.edit(p, cc)
			require.Error(t, p.Handshake())
			err := p.Client.Conn.Err()
			require.ErrorIs(t, err, tc.alert)
			var cve *gotls.CertificateVerificationError
			require.ErrorAs(t, err, &cve)
			require.NotEmpty(t, cve.UnverifiedCertificates)
			tc.check(t, err)
		})
	}
}

// TestVerifyCallbackErrorKept: the error VerifyPeerCertificate returns is
// reachable, as in crypto/tls.
func TestVerifyCallbackErrorKept(t *testing.T) {
	mine := errors.New("pinned key mismatch")
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error { return mine }
	p := memconn.New(cc, sc)
	require.Error(t, p.Handshake())
	require.ErrorIs(t, p.Client.Conn.Err(), mine)
	require.ErrorIs(t, p.Client.Conn.Err(), fsm.AlertBadCertificate)
}

// TestAlertErrorAs: errors.As finds an AlertError as a pointer, as a
// value (it panicked: AlertError's Error had a pointer receiver), and as
// crypto/tls's AlertError, both for an alert sent and one received.
func TestAlertErrorAs(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.ServerName = "elsewhere.example"
	p := memconn.New(cc, sc)
	require.Error(t, p.Handshake())
	for _, side := range []*memconn.Side{p.Client, p.Server} {
		err := side.Conn.Err()
		var ptr *fsm.AlertError
		require.ErrorAs(t, err, &ptr)
		var val fsm.AlertError
		require.NotPanics(t, func() { require.ErrorAs(t, err, &val) })
		require.Equal(t, fsm.AlertBadCertificate, val.Description)
		require.Equal(t, side == p.Server, val.Received)
		var std gotls.AlertError
		require.ErrorAs(t, err, &std)
		require.Equal(t, gotls.AlertError(fsm.AlertBadCertificate), std)
		require.True(t, strings.HasPrefix(err.Error(), "tls: "), err.Error())
	}
}

// TestDTLSErrorsSayDTLS: a DTLS connection's alert error reads "dtls:".
func TestDTLSErrorsSayDTLS(t *testing.T) {
	cc, sc := dtlsConfigs(t, testcert.ECDSAP256)
	cc.ServerName = "elsewhere.example"
	l := newDgramLink(t, cc, sc)
	require.NoError(t, l.client.conn.Start(l.now))
	l.run(t, 100)
	for _, c := range []*fsm.Conn{l.client.conn, l.server.conn} {
		require.ErrorIs(t, c.Err(), fsm.AlertBadCertificate)
		require.True(t, strings.HasPrefix(c.Err().Error(), "dtls: "), c.Err().Error())
	}
}

// TestConfigValidated: a Config naming what tlsm lacks fails the Conn with
// ErrInvalidConfig before anything is sent (it sent internal_error, or a
// ClientHello offering a group it could not make a share for).
func TestConfigValidated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conn    func(cc *fsm.Config) *fsm.Conn
		edit    func(cc *fsm.Config)
		version bool
	}{
		{"unknown group", fsm.NewClient, func(cc *fsm.Config) { cc.CurvePreferences = []fsm.CurveID{0x1234} }, false},
		{"unknown suite", fsm.NewClient, func(cc *fsm.Config) { cc.CipherSuites = []uint16{0xc0ff} }, false},
		{"min above max", fsm.NewClient, func(cc *fsm.Config) { cc.MinVersion, cc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS12 }, true},
		{"no suite for the versions", fsm.NewDTLSClient, func(cc *fsm.Config) {
			cc.MinVersion, cc.CipherSuites = fsm.VersionTLS13, []uint16{fsm.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, _ := configs(t, testcert.ECDSAP256)
			tc.edit(cc)
			c := tc.conn(cc)
			err := c.Start(time.Now())
			require.ErrorIs(t, err, fsm.ErrInvalidConfig)
			require.Equal(t, tc.version, errors.Is(err, fsm.ErrUnsupportedVersion))
			require.Equal(t, err, c.Err())
			for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
				require.NotEqual(t, fsm.EventTransmit, ev.Kind, "sent something")
				require.NotEqual(t, fsm.EventAlertSent, ev.Kind, "sent an alert")
			}
			t.Log(err)
		})
	}
	t.Run("server", func(t *testing.T) {
		cc, sc := configs(t, testcert.ECDSAP256)
		sc.CurvePreferences = []fsm.CurveID{0x1234}
		p := memconn.New(cc, sc)
		require.Error(t, p.Handshake())
		require.ErrorIs(t, p.Server.Conn.Err(), fsm.ErrInvalidConfig)
		require.ErrorIs(t, p.Client.Conn.Err(), fsm.AlertInternalError)
	})
}
