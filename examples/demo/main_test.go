package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDemo(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, run(&buf))
	out := buf.String()
	for _, want := range []string{
		"client → ClientHello\n",
		"server ← ClientHello\n",
		"client ← Finished\n",
		"server ← Finished\n",
		"client   handshake done: TLS1.3 TLS_AES_128_GCM_SHA256 resumed=false n=1\n",
		"server   handshake done: TLS1.3 TLS_AES_128_GCM_SHA256 resumed=false n=1\n",
		"server ← data \"hello\"\n",
		"client ← data \"hello, client\"\n",
		"server ← data \"GET /index.html\"\n",
		"client ← data \"here it is: <html>…</html>\"\n",
		"server ← alert warning close_notify\n",
		"client ← alert warning close_notify\n",
		"server   closed: the peer sent close_notify\n",
		"client   closed: the peer sent close_notify\n",
		"client   PendingKeyUpdate() = requested\n",
		"client   key update sent: requested; now sending with the next key\n",
		"server   key update received: requested; now reading with the next key\n",
		"server   PendingKeyUpdate() = not_requested (the answer it owes)\n",
		"server   key update sent: not_requested; now sending with the next key\n",
		"client   key update received: not_requested; now reading with the next key\n",
		"client ← data \"sent under the server's second key\"\n",
		"server ← data \"still flowing\"\n",
		"server → HelloVerifyRequest\n",
		"server → datagram of 84 bytes — lost\n",
		"client   timer fires at +1s\n",
		"client   flight retransmitted\n",
		"server   flight retransmitted\n",
		"client   handshake done: DTLS1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 resumed=false n=1\n",
		"server   handshake done: DTLS1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 resumed=false n=1\n",
		"server ← data \"one datagram\"\n",
		"client   handshake done: TLS1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 resumed=true n=2\n",
		"client   handshake done: DTLS1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 resumed=false n=2\n",
		"client   renegotiation requested (HelloRequest)\n",
		"server ← data \"after the renegotiation\"\n",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "fatal")
}

// TestDemoDeterministic checks that two runs print the same trace: both
// sides draw randomness only from their seeded Config.Rand.
func TestDemoDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	require.NoError(t, run(&a))
	require.NoError(t, run(&b))
	require.Equal(t, a.String(), b.String())
}
