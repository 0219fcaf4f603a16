package cipher

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/internal/testconn"
)

// goSession is what a crypto/tls TLS 1.2 connection revealed: the client's
// view of the exporter, its key log and the bytes on the wire.
type goSession struct {
	clientRandom, master []byte
	c2s, s2c             []byte
	ekmContext, ekmNone  []byte
}

const (
	exportLabel = "EXPERIMENTAL tlsm interop"
	clientMsg   = "ping from the crypto/tls client"
	serverMsg   = "pong from the crypto/tls server"
)

// runGoTLS12 runs a crypto/tls client and server over net.Pipe with TLS 1.2
// and suite id; each sends one application data message.
func runGoTLS12(t *testing.T, id uint16) *goSession {
	t.Helper()
	kind := testcert.RSA2048
	if SuiteByID(id).ECDSA {
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
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, len(clientMsg))
		if _, err := io.ReadFull(server, buf); err != nil {
			done <- err
			return
		}
		if string(buf) != clientMsg {
			done <- errors.New("server read " + string(buf))
			return
		}
		_, err := server.Write([]byte(serverMsg))
		done <- err
	}()

	require.NoError(t, client.Handshake())
	cs := client.ConnectionState()
	require.Equal(t, uint16(tls.VersionTLS12), cs.Version)
	require.Equal(t, id, cs.CipherSuite)
	sess := &goSession{}
	var err error
	sess.ekmContext, err = cs.ExportKeyingMaterial(exportLabel, []byte("some context"), 41)
	require.NoError(t, err)
	sess.ekmNone, err = cs.ExportKeyingMaterial(exportLabel, nil, 41)
	require.NoError(t, err)
	_, err = client.Write([]byte(clientMsg))
	require.NoError(t, err)
	buf := make([]byte, len(serverMsg))
	_, err = io.ReadFull(client, buf)
	require.NoError(t, err)
	require.Equal(t, serverMsg, string(buf))
	require.NoError(t, <-done)

	sc := bufio.NewScanner(&keyLog)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "CLIENT_RANDOM" {
			sess.clientRandom = unhex(t, f[1])
			sess.master = unhex(t, f[2])
		}
	}
	require.Len(t, sess.master, MasterSecretLen12, "key log: %q", keyLog.String())
	sess.s2c, sess.c2s = tap.Streams()
	return sess
}

type wireRecord struct {
	typ     uint8
	version uint16
	payload []byte
}

// splitWire cuts one direction of a connection into records and returns the
// handshake messages sent in the clear and the records after
// ChangeCipherSpec.
func splitWire(t *testing.T, b []byte) (clear [][]byte, protected []wireRecord) {
	t.Helper()
	var hs []byte
	ccs := false
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 5)
		n := int(binary.BigEndian.Uint16(b[3:5]))
		rec := wireRecord{typ: b[0], version: binary.BigEndian.Uint16(b[1:3]), payload: b[5 : 5+n]}
		b = b[5+n:]
		switch {
		case ccs:
			protected = append(protected, rec)
		case rec.typ == 20:
			ccs = true
		case rec.typ == 22:
			hs = append(hs, rec.payload...)
		default:
			t.Fatalf("unexpected clear record type %d", rec.typ)
		}
	}
	for len(hs) > 0 {
		n := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
		clear = append(clear, hs[:n])
		hs = hs[n:]
	}
	return clear, protected
}

// TestTLS12AgainstCryptoTLS checks the whole TLS 1.2 derivation against a
// crypto/tls connection, for every suite: the hello randoms come from the
// wire and the master secret from the key log; from them KeyBlock12 and
// NewState12 must decrypt both Finished messages and both application data
// records, VerifyData12 must match each Finished over its transcript, and
// ExportKeyingMaterial12 must match the exporter of crypto/tls.
func TestTLS12AgainstCryptoTLS(t *testing.T) {
	for _, id := range TLS12Suites() {
		s := SuiteByID(id)
		t.Run(s.Name, func(t *testing.T) {
			sess := runGoTLS12(t, id)
			// The randoms sit after the record header (5), handshake
			// header (4) and legacy_version (2) of each hello.
			require.Equal(t, byte(1), sess.c2s[5], "ClientHello")
			require.Equal(t, sess.clientRandom, sess.c2s[11:43])
			require.Equal(t, byte(2), sess.s2c[5], "ServerHello")
			cr, sr := sess.c2s[11:43:43], sess.s2c[11:43:43]

			ekm := ExportKeyingMaterial12(s.Hash, sess.master, cr, sr, exportLabel, []byte("some context"), true, 41)
			require.Equal(t, hex.EncodeToString(sess.ekmContext), hex.EncodeToString(ekm))
			ekm = ExportKeyingMaterial12(s.Hash, sess.master, cr, sr, exportLabel, nil, false, 41)
			require.Equal(t, hex.EncodeToString(sess.ekmNone), hex.EncodeToString(ekm))

			ck, sk, civ, siv := KeyBlock12(s, sess.master, cr, sr)
			cState, err := NewState12(s, ck, civ)
			require.NoError(t, err)
			sState, err := NewState12(s, sk, siv)
			require.NoError(t, err)

			open := func(st *State, rec wireRecord) []byte {
				pt, err := st.Open12(nil, rec.typ, rec.version, rec.payload)
				require.NoError(t, err)
				return pt
			}
			cClear, cProt := splitWire(t, sess.c2s)
			sClear, sProt := splitWire(t, sess.s2c)
			require.Len(t, cProt, 2)
			require.Len(t, sProt, 2)
			clientFinished := open(cState, cProt[0])
			require.Equal(t, clientMsg, string(open(cState, cProt[1])))
			serverFinished := open(sState, sProt[0])
			require.Equal(t, serverMsg, string(open(sState, sProt[1])))

			// Transcript: ClientHello, the server's flight through
			// ServerHelloDone (14), the client's remaining messages, its
			// Finished, anything else the server sent (NewSessionTicket).
			require.Len(t, cClear, 2, "ClientHello, ClientKeyExchange")
			th := s.Hash.New()
			th.Write(cClear[0])
			rest := sClear
			for len(rest) > 0 {
				m := rest[0]
				rest = rest[1:]
				th.Write(m)
				if m[0] == 14 {
					break
				}
			}
			th.Write(cClear[1])
			want := append([]byte{20, 0, 0, 12}, VerifyData12(s.Hash, sess.master, LabelClientFinished, th.Sum(nil))...)
			require.Equal(t, want, clientFinished)
			th.Write(clientFinished)
			for _, m := range rest {
				th.Write(m)
			}
			want = append([]byte{20, 0, 0, 12}, VerifyData12(s.Hash, sess.master, LabelServerFinished, th.Sum(nil))...)
			require.Equal(t, want, serverFinished)
		})
	}
}
