package tls_test

import (
	gotls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// TestTLS12WithGo runs every TLS 1.2 suite against crypto/tls in both
// roles, with ECDSA and RSA certificates, moving 1 MiB each way.
func TestTLS12WithGo(t *testing.T) {
	for _, id := range cipher.TLS12Suites() {
		s := cipher.SuiteByID(id)
		kind := testcert.RSA2048
		if s.ECDSA {
			kind = testcert.ECDSAP256
		}
		cert := testcert.MustNew(kind)
		for _, tlsmClient := range []bool{true, false} {
			name := s.Name + "/tlsm-server"
			if tlsmClient {
				name = s.Name + "/tlsm-client"
			}
			t.Run(name, func(t *testing.T) {
				a, b := net.Pipe()
				defer a.Close()
				defer b.Close()
				var ours *tls.Conn
				var theirs *gotls.Conn
				if tlsmClient {
					ours = tls.Client(a, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", CipherSuites: []uint16{id}, MaxVersion: fsm.VersionTLS12})
					theirs = gotls.Server(b, &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}})
				} else {
					ours = tls.Server(a, &tls.Config{Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}})
					theirs = gotls.Client(b, &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost", CipherSuites: []uint16{id}, MaxVersion: gotls.VersionTLS12})
				}
				a.SetDeadline(time.Now().Add(100 * time.Second))
				b.SetDeadline(time.Now().Add(100 * time.Second))
				go func() {
					io.Copy(theirs, theirs)
					theirs.Close()
				}()
				msg := make([]byte, 1<<20)
				for i := range msg {
					msg[i] = byte(i * 13)
				}
				go ours.Write(msg)
				got := make([]byte, len(msg))
				_, err := io.ReadFull(ours, got)
				require.NoError(t, err)
				require.Equal(t, msg, got)
				require.Equal(t, fsm.VersionTLS12, ours.ConnectionState().Version)
				require.Equal(t, id, ours.ConnectionState().CipherSuite)
				require.Equal(t, id, theirs.ConnectionState().CipherSuite)
			})
		}
	}
}
