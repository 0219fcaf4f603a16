package tls_test

import (
	gotls "crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// BenchmarkTCPBulk16K times 16 KiB writes over loopback TCP while the
// other end reads and discards them, for tlsm and for crypto/tls.
func BenchmarkTCPBulk16K(b *testing.B) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	b.Run("tlsm", func(b *testing.B) {
		tcpBulk(b, func(a, z net.Conn) (io.Writer, io.Reader, error) {
			cli := tls.Client(a, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
			srv := tls.Server(z, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
			return cli, srv, handshakeBoth(cli, srv)
		})
	})
	b.Run("crypto-tls", func(b *testing.B) {
		tcpBulk(b, func(a, z net.Conn) (io.Writer, io.Reader, error) {
			cli := gotls.Client(a, &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
			srv := gotls.Server(z, &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}})
			done := make(chan error, 1)
			go func() { done <- srv.Handshake() }()
			if err := cli.Handshake(); err != nil {
				return nil, nil, err
			}
			return cli, srv, <-done
		})
	})
}

func tcpBulk(b *testing.B, open func(a, z net.Conn) (io.Writer, io.Reader, error)) {
	a, z := tcpPair(b)
	w, r, err := open(a, z)
	if err != nil {
		b.Fatal(err)
	}
	go io.Copy(io.Discard, r)
	msg := make([]byte, 16<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
}
