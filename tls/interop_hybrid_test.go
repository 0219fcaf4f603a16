package tls_test

// Post-quantum hybrid key exchange (draft-ietf-tls-ecdhe-mlkem) against
// crypto/tls, which offers the hybrids by default, and against OpenSSL
// 3.0, which has none: tlsm must choose a hybrid with the one and fall
// back to its classical share with the other, never asking for a retry.

import (
	gotls "crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// hybridRow is one pairing of crypto/tls's groups with tlsm's (nil for
// either's defaults) and the group both must agree on.
type hybridRow struct {
	name       string
	goCurves   []gotls.CurveID
	tlsmCurves []fsm.CurveID
	want       fsm.CurveID
	// tlsmShares are the key shares a tlsm client sends.
	tlsmShares []uint16
}

func hybridRows() []hybridRow {
	rows := []hybridRow{{
		name: "defaults", want: fsm.X25519MLKEM768,
		tlsmShares: []uint16{uint16(fsm.X25519MLKEM768), uint16(fsm.X25519)},
	}, {
		// crypto/tls without hybrids: tlsm's extra X25519 share spares
		// a HelloRetryRequest.
		name: "crypto-tls-classical", goCurves: []gotls.CurveID{gotls.X25519}, want: fsm.X25519,
		tlsmShares: []uint16{uint16(fsm.X25519MLKEM768), uint16(fsm.X25519)},
	}}
	for _, g := range []fsm.CurveID{fsm.X25519MLKEM768, fsm.SecP256r1MLKEM768, fsm.SecP384r1MLKEM1024} {
		rows = append(rows, hybridRow{
			name: g.String(), goCurves: []gotls.CurveID{gotls.CurveID(g)}, tlsmCurves: []fsm.CurveID{g},
			want: g, tlsmShares: []uint16{uint16(g)},
		})
	}
	return rows
}

// check asserts what both sides and the wire say: the group, one
// ClientHello, no HelloRetryRequest.
func (r hybridRow) check(t *testing.T, tlsmState tls.ConnectionState, goState gotls.ConnectionState, tap *tapConn, tlsmClient bool) {
	t.Helper()
	assert.Equal(t, r.want, tlsmState.CurveID, "tlsm's ConnectionState().CurveID")
	assert.Equal(t, gotls.CurveID(r.want), goState.CurveID, "crypto/tls's ConnectionState().CurveID")
	assert.False(t, tlsmState.HelloRetryRequest, "tlsm reports a HelloRetryRequest")
	assert.False(t, goState.HelloRetryRequest, "crypto/tls reports a HelloRetryRequest")
	s := requireSummary(t, tap, tlsmClient)
	require.Len(t, s.ClientHelloShares, 1, "ClientHellos on the wire")
	if tlsmClient {
		assert.Equal(t, r.tlsmShares, s.ClientHelloShares[0], "key shares tlsm sent")
	}
	assert.False(t, s.HRR, "HelloRetryRequest on the wire")
	assert.Equal(t, uint16(r.want), s.Group, "ServerHello key share group")
}

// hybridData is what a row's two sides send each other, and the seed
// of the rest.
func hybridData(t *testing.T) (seed uint64, toServer, toClient []byte) {
	seed = seedFor(t.Name())
	return seed, randomBytes(seed, 64<<10), randomBytes(seed+1, 64<<10)
}

func TestInteropHybridCryptoTLSServer(t *testing.T) {
	t.Parallel()
	cert := testcert.MustNew(testcert.ECDSAP256)
	for _, row := range hybridRows() {
		t.Run(row.name, func(t *testing.T) {
			seed, toServer, toClient := hybridData(t)
			var goState gotls.ConnectionState
			addr, done := goServer(t, &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}, CurvePreferences: row.goCurves},
				func(c *gotls.Conn) error {
					err := exchange("crypto/tls server", c, toClient, toServer, seed+2)
					goState = c.ConnectionState()
					return err
				})
			c, tap := dialTLSM(t, addr, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", CurvePreferences: row.tlsmCurves})
			require.NoError(t, handshakeTLSM(c))
			state := c.ConnectionState()
			require.NoError(t, exchange("tlsm client", c, toServer, toClient, seed+3))
			require.NoError(t, <-done)
			row.check(t, state, goState, tap, true)
		})
	}
}

func TestInteropHybridCryptoTLSClient(t *testing.T) {
	t.Parallel()
	cert := testcert.MustNew(testcert.ECDSAP256)
	for _, row := range hybridRows() {
		t.Run(row.name, func(t *testing.T) {
			seed, toServer, toClient := hybridData(t)
			port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, CurvePreferences: row.tlsmCurves})
			done := serveExchange(accept, toClient, toServer, seed+2)
			gc := dialGo(t, port, &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost", CurvePreferences: row.goCurves})
			require.NoError(t, exchange("crypto/tls client", gc, toServer, toClient, seed+3))
			r := <-done
			require.NoError(t, r.err)
			row.check(t, r.state, gc.ConnectionState(), r.tap, false)
		})
	}
}

// TestInteropHybridOpenSSL: OpenSSL 3.0 knows no hybrid. Its server takes
// the X25519 share a default tlsm client sends beside X25519MLKEM768; a
// default tlsm server takes the X25519 share of its client.
func TestInteropHybridOpenSSL(t *testing.T) {
	t.Parallel()
	peers.Need(t, "openssl")
	cert := testcert.MustNew(testcert.ECDSAP256)
	certFile, keyFile, caFile := opensslFiles(t, cert)
	t.Run("tlsm-client", func(t *testing.T) {
		port := peers.FreePort(t)
		srv := peers.OpenSSLServer(t, port, certFile, keyFile, "-rev", "-naccept", "1")
		c, tap := dialTLSM(t, peers.Addr(port), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
		require.NoError(t, handshakeTLSM(c))
		require.Equal(t, fsm.X25519, c.ConnectionState().CurveID)
		require.NoError(t, revExchange(c, seedFor(t.Name()), 64<<10))
		require.NoError(t, c.Close())
		_, err := srv.Wait(ioTimeout)
		require.NoError(t, err)
		s := requireSummary(t, tap, true)
		require.Len(t, s.ClientHelloShares, 1)
		assert.Equal(t, []uint16{uint16(fsm.X25519MLKEM768), uint16(fsm.X25519)}, s.ClientHelloShares[0])
		assert.False(t, s.HRR)
		assert.Equal(t, uint16(fsm.X25519), s.Group)
	})
	t.Run("tlsm-server", func(t *testing.T) {
		seed := seedFor(t.Name())
		toServer, toClient := randomLines(seed, 64<<10, 4000), randomLines(seed+1, 64<<10, 4000)
		port, accept := tlsmListener(t, &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}})
		_, r := opensslClientRun(t, port, accept, toServer, toClient, seed+2, "-CAfile", caFile)
		assert.Equal(t, fsm.X25519, r.state.CurveID)
		s := requireSummary(t, r.tap, false)
		require.Len(t, s.ClientHelloShares, 1)
		assert.False(t, s.HRR)
		assert.Equal(t, uint16(fsm.X25519), s.Group)
	})
}
