package tls_test

import (
	"crypto/aes"
	"crypto/cipher"
	gotls "crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// BenchmarkTCPBulk16K times 16 KiB writes over loopback TCP while the
// other end reads and discards them, for tlsm and for crypto/tls; floor
// is the same records sealed and opened by AES-128-GCM alone, with one
// write per record and reads of up to four records, what neither
// library can go below.
func BenchmarkTCPBulk16K(b *testing.B) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	b.Run("tlsm", func(b *testing.B) {
		tcpBulk(b, func(a, z net.Conn) (io.Writer, io.Reader, error) {
			cli := tls.Client(a, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
			srv := tls.Server(z, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
			if err := handshakeBoth(cli, srv); err != nil {
				return nil, nil, err
			}
			return cli, srv, sameSuiteAsFloor(cli.ConnectionState().CipherSuite)
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
			if err := <-done; err != nil {
				return nil, nil, err
			}
			return cli, srv, sameSuiteAsFloor(cli.ConnectionState().CipherSuite)
		})
	})
	b.Run("floor", tcpBulkFloor)
}

// sameSuiteAsFloor checks that a connection of the benchmark protects its
// records as the floor does, with TLS_AES_128_GCM_SHA256 (both libraries'
// first choice on a machine with AES instructions).
func sameSuiteAsFloor(suite uint16) error {
	if suite != gotls.TLS_AES_128_GCM_SHA256 {
		return fmt.Errorf("negotiated suite %#04x, want TLS_AES_128_GCM_SHA256 as the floor", suite)
	}
	return nil
}

// tcpBulkFloor writes 16 KiB records sealed by AES-128-GCM, a write
// each, while a goroutine reads them up to four at a time and opens each
// in place: the system calls and AEAD passes of a TLS 1.3 bulk transfer
// and nothing else.
func tcpBulkFloor(b *testing.B) {
	a, z := tcpPair(b)
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	const plain = 16 << 10
	recordLen := 5 + plain + 1 + aead.Overhead() // header, data, content type, tag
	go openRecords(z, aead, recordLen)
	msg := make([]byte, plain+1)
	out := make([]byte, 0, recordLen)
	var nonce [12]byte
	hdr := []byte{23, 3, 3, byte((recordLen - 5) >> 8), byte(recordLen - 5)}
	b.SetBytes(plain)
	b.ReportAllocs()
	for b.Loop() {
		binary.BigEndian.PutUint64(nonce[4:], binary.BigEndian.Uint64(nonce[4:])+1)
		out = aead.Seal(append(out[:0], hdr...), nonce[:], msg, hdr)
		if _, err := a.Write(out); err != nil {
			b.Fatal(err)
		}
	}
}

// openRecords reads records of recordLen bytes from c, up to four per
// read, and opens each in place, until the connection ends or a record
// fails to open.
func openRecords(c net.Conn, aead cipher.AEAD, recordLen int) {
	buf := make([]byte, 4*recordLen)
	var nonce [12]byte
	have := 0
	for {
		n, err := c.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		off := 0
		for ; have-off >= recordLen; off += recordLen {
			binary.BigEndian.PutUint64(nonce[4:], binary.BigEndian.Uint64(nonce[4:])+1)
			rec := buf[off : off+recordLen]
			if _, err := aead.Open(rec[5:5], nonce[:], rec[5:], rec[:5]); err != nil {
				return
			}
		}
		have = copy(buf, buf[off:have])
	}
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
