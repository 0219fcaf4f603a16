package tlsm_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

// transports lists the transports every scenario runs over. DTLS joins the
// list when the datagram transport exists.
var transports = []string{"TLS"}

// scenario is one cross-package behaviour, run over each transport.
type scenario struct {
	name string
	run  func(t *testing.T, p *memconn.Pair)
}

var scenarios = []scenario{
	{"handshake-data-close", func(t *testing.T, p *memconn.Pair) {
		require.NoError(t, p.Handshake())
		require.NoError(t, p.Write(p.Client, []byte("from client")))
		require.NoError(t, p.Write(p.Server, []byte("from server")))
		require.Equal(t, "from client", string(p.Server.Received))
		require.Equal(t, "from server", string(p.Client.Received))
		require.NoError(t, p.Client.Conn.Close())
		p.Pump()
		require.NoError(t, p.Server.Conn.Close())
		p.Pump()
		require.Equal(t, fsm.StateClosed, p.Client.Conn.State())
		require.Equal(t, fsm.StateClosed, p.Server.Conn.State())
	}},
	{"random-segmentation", func(t *testing.T, p *memconn.Pair) {
		rng := rand.New(rand.NewPCG(1, 2))
		p.Chunk = func(n int) int { return 1 + rng.IntN(n) }
		require.NoError(t, p.Handshake())
		var want []byte
		for i := 0; i < 200; i++ {
			msg := make([]byte, rng.IntN(40000))
			for j := range msg {
				msg[j] = byte(rng.Uint32())
			}
			want = append(want, msg...)
			require.NoError(t, p.Write(p.Client, msg))
		}
		require.Equal(t, want, p.Server.Received)
	}},
	{"fatal-alert-closes-both", func(t *testing.T, p *memconn.Pair) {
		p.Tamper = func(from *memconn.Side, b []byte) []byte {
			if from == p.Server && len(b) > 200 {
				// Corrupt the first encrypted record, after the ServerHello.
				first := 5 + int(b[3])<<8 | int(b[4])
				b[first+10] ^= 1
			}
			return b
		}
		require.Error(t, p.Handshake())
		require.ErrorIs(t, p.Client.CloseErr, fsm.Alert(20)) // bad_record_mac
		require.Equal(t, []fsm.Alert{20}, p.Server.Alerts)
		require.Equal(t, fsm.StateClosed, p.Server.Conn.State())
	}},
}

func TestScenarios(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	for _, tr := range transports {
		for _, sc := range scenarios {
			t.Run(tr+"/"+sc.name, func(t *testing.T) {
				server := &fsm.Config{Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}}
				client := &fsm.Config{RootCAs: cert.CAPool, ServerName: "localhost"}
				sc.run(t, memconn.New(client, server))
			})
		}
	}
}
