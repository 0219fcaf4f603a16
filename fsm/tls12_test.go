package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

func TestTLS12Matrix(t *testing.T) {
	for _, kind := range []testcert.Kind{testcert.ECDSAP256, testcert.RSA2048, testcert.Ed25519} {
		for _, suite := range cipher.TLS12Suites() {
			s := cipher.SuiteByID(suite)
			if s.ECDSA == (kind == testcert.RSA2048) {
				continue
			}
			t.Run(kind.String()+"/"+s.Name, func(t *testing.T) {
				cc, sc := configs(t, kind)
				cc.MaxVersion = fsm.VersionTLS12
				cc.CipherSuites = []uint16{suite}
				p := memconn.New(cc, sc)
				require.NoError(t, p.Handshake())
				for _, side := range []*memconn.Side{p.Client, p.Server} {
					cs := side.Conn.ConnectionState()
					require.Equal(t, fsm.VersionTLS12, cs.Version)
					require.Equal(t, suite, cs.CipherSuite)
				}
				require.Equal(t, fsm.StateClientConnected12, p.Client.Conn.State())
				require.Equal(t, fsm.StateServerConnected12, p.Server.Conn.State())
				msg := make([]byte, 50000)
				require.NoError(t, p.Write(p.Client, msg))
				require.NoError(t, p.Write(p.Server, []byte("pong")))
				require.Equal(t, msg, p.Server.Received)
				require.Equal(t, "pong", string(p.Client.Received))
			})
		}
	}
}

func TestTLS12ClientCertificate(t *testing.T) {
	for _, kind := range []testcert.Kind{testcert.ECDSAP384, testcert.RSA2048, testcert.Ed25519} {
		cc, sc := configs(t, testcert.ECDSAP256)
		sc.MaxVersion = fsm.VersionTLS12
		ccert := testcert.MustNew(kind)
		cc.Certificates = []fsm.Certificate{{Certificate: ccert.CertDER, PrivateKey: ccert.Key}}
		sc.ClientAuth = fsm.RequireAndVerifyClientCert
		sc.ClientCAs = ccert.CAPool
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake(), kind.String())
		require.Equal(t, ccert.Leaf.Raw, p.Server.Conn.ConnectionState().PeerCertificates[0].Raw)
	}
}

func TestVersionNegotiation(t *testing.T) {
	v12, v13 := fsm.VersionTLS12, fsm.VersionTLS13
	for _, tc := range []struct {
		cmin, cmax, smin, smax uint16
		want                   uint16
	}{
		{v12, v13, v12, v13, v13},
		{v12, v12, v12, v13, v12},
		{v12, v13, v12, v12, v12},
		{v13, v13, v12, v12, 0},
		{v12, v12, v13, v13, 0},
	} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MinVersion, cc.MaxVersion = tc.cmin, tc.cmax
		sc.MinVersion, sc.MaxVersion = tc.smin, tc.smax
		p := memconn.New(cc, sc)
		err := p.Handshake()
		if tc.want == 0 {
			require.ErrorIs(t, err, fsm.Alert(70), "%+v", tc) // protocol_version
			continue
		}
		require.NoError(t, err, "%+v", tc)
		require.Equal(t, tc.want, p.Client.Conn.ConnectionState().Version)
	}
}

// TestRequireSecureRenegotiation: a ClientHello without renegotiation_info
// or its SCSV is served, unless the server requires RFC 5746.
func TestRequireSecureRenegotiation(t *testing.T) {
	for _, require5746 := range []bool{false, true} {
		_, sc := configs(t, testcert.ECDSAP256)
		sc.RequireSecureRenegotiation = require5746
		hello := &flights.ClientHello{
			Version: fsm.VersionTLS12, Random: make([]byte, 32),
			CipherSuites: []uint16{cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, CompressionMethods: []byte{0},
			SupportedGroups: []uint16{29, 23}, SignatureAlgorithms: []uint16{fsm.ECDSAWithP256AndSHA256},
		}
		server := fsm.NewServer(sc)
		err := server.HandleData(time.Now(), record.AppendPlain(nil, record.TypeHandshake, fsm.VersionTLS12, hello.Append(nil)))
		if require5746 {
			require.ErrorIs(t, err, fsm.Alert(40))
		} else {
			require.NoError(t, err)
			require.Equal(t, fsm.StateServerWaitClientKeyExchange12, server.State())
		}
	}
}
