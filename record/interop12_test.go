package record

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/internal/testconn"
)

// TestOpen12CryptoTLS decrypts, with Open12, the application data records
// of a crypto/tls TLS 1.2 connection in both directions, for every suite.
// The keys come from KeyBlock12 over the master secret of the key log and
// the hello randoms taken from the wire, so the nonce and additional data
// layouts must match those of crypto/tls. It then checks that crypto/tls
// accepts a record made by Seal12.
func TestOpen12CryptoTLS(t *testing.T) {
	const clientMsg, serverMsg = "GET / from crypto/tls", "200 OK from crypto/tls"
	for _, id := range cipher.TLS12Suites() {
		s := cipher.SuiteByID(id)
		t.Run(s.Name, func(t *testing.T) {
			kind := testcert.RSA2048
			if s.ECDSA {
				kind = testcert.ECDSAP256
			}
			cert := testcert.MustNew(kind)
			var keyLog bytes.Buffer
			cp, sp := net.Pipe()
			t.Cleanup(func() { cp.Close(); sp.Close() })
			tap := &testconn.Tap{Conn: cp}
			client := tls.Client(tap, &tls.Config{
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{id},
				RootCAs:      cert.CAPool, ServerName: "localhost",
				KeyLogWriter: &keyLog,
			})
			server := tls.Server(sp, &tls.Config{
				MaxVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{cert.TLSCertificate()},
			})
			serverGot := make(chan string, 2)
			go func() {
				buf := make([]byte, 64)
				n, err := io.ReadAtLeast(server, buf, len(clientMsg))
				if err != nil {
					serverGot <- err.Error()
					return
				}
				serverGot <- string(buf[:n])
				if _, err := server.Write([]byte(serverMsg)); err != nil {
					return
				}
				n, err = server.Read(buf)
				if err != nil {
					serverGot <- err.Error()
					return
				}
				serverGot <- string(buf[:n])
			}()

			require.NoError(t, client.Handshake())
			_, err := client.Write([]byte(clientMsg))
			require.NoError(t, err)
			require.Equal(t, clientMsg, <-serverGot)
			buf := make([]byte, len(serverMsg))
			_, err = io.ReadFull(client, buf)
			require.NoError(t, err)

			var master []byte
			sc := bufio.NewScanner(&keyLog)
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "CLIENT_RANDOM" {
					master, err = hex.DecodeString(f[2])
					require.NoError(t, err)
				}
			}
			require.Len(t, master, cipher.MasterSecretLen12)
			// Each hello's random follows the record header (5), the
			// handshake header (4) and legacy_version (2).
			s2c, c2s := tap.Streams()
			require.Equal(t, byte(TypeHandshake), c2s[0])
			require.Equal(t, byte(TypeHandshake), s2c[0])
			require.Equal(t, byte(1), c2s[5], "ClientHello")
			require.Equal(t, byte(2), s2c[5], "ServerHello")
			cr, sr := c2s[11:43:43], s2c[11:43:43]
			ck, sk, civ, siv := cipher.KeyBlock12(s, master, cr, sr)

			// Skip to ChangeCipherSpec; then come Finished and the data.
			decrypt := func(wire, key, iv []byte) (finished, data []byte, st *cipher.State) {
				st, err := cipher.NewState12(s, key, iv)
				require.NoError(t, err)
				rd := StreamReader{MaxFragment: MaxCiphertext12}
				rd.Write(wire)
				for {
					rec, ok, err := rd.Next()
					require.NoError(t, err)
					require.True(t, ok, "no ChangeCipherSpec")
					if rec.Type == TypeChangeCipherSpec {
						break
					}
				}
				rec, ok, err := rd.Next()
				require.True(t, ok)
				require.NoError(t, err)
				require.Equal(t, TypeHandshake, rec.Type)
				finished, err = Open12(st, rec)
				require.NoError(t, err)
				rec, ok, err = rd.Next()
				require.True(t, ok)
				require.NoError(t, err)
				require.Equal(t, TypeApplicationData, rec.Type)
				data, err = Open12(st, rec)
				require.NoError(t, err)
				return finished, data, st
			}
			fin, data, cState := decrypt(c2s, ck, civ)
			require.Equal(t, []byte{20, 0, 0, 12}, fin[:4])
			require.Equal(t, clientMsg, string(data))
			fin, data, _ = decrypt(s2c, sk, siv)
			require.Equal(t, []byte{20, 0, 0, 12}, fin[:4])
			require.Equal(t, serverMsg, string(data))

			// Continue the client's direction with Seal12: the crypto/tls
			// server must accept the record.
			wire, err := Seal12(nil, cState, TypeApplicationData, VersionTLS12, []byte("sealed by tlsm"))
			require.NoError(t, err)
			_, err = cp.Write(wire)
			require.NoError(t, err)
			require.Equal(t, "sealed by tlsm", <-serverGot)
		})
	}
}
