package main

import (
	"bytes"
	"strings"
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
		"server → HelloRetryRequest\n",
		"client ← HelloRetryRequest\n",
		"client   handshake done: DTLS1.3 TLS_AES_128_GCM_SHA256 resumed=false n=1\n",
		"server   handshake done: DTLS1.3 TLS_AES_128_GCM_SHA256 resumed=false n=1\n",
		"client   PendingKeyUpdate() = requested\n",
		"server   key update received: requested; now reading with the next key\n",
		"server ← data \"sent as the KeyUpdate goes out\"\n",
		"client   key update acknowledged: requested; now sending with the next key\n",
		"client   key update received: not_requested; now reading with the next key\n",
		"server   key update acknowledged: not_requested; now sending with the next key\n",
		"client ← data \"under the server's next key\"\n",
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

// TestDemoDTLS13KeyUpdateOnACK checks the order of the DTLS 1.3 key
// update: the client switches keys only after the server took its
// KeyUpdate and sent the ACK, and the ACK carries no message.
func TestDemoDTLS13KeyUpdateOnACK(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, run(&buf))
	out := buf.String()
	start := strings.Index(out, "== DTLS 1.3")
	require.GreaterOrEqual(t, start, 0)
	section := out[start:]
	section = section[:strings.Index(section, "\n\n")]
	received := strings.Index(section, "server   key update received: requested")
	ack := strings.Index(section[received:], "server → datagram of") + received
	switched := strings.Index(section, "client   key update acknowledged: requested")
	require.Positive(t, received)
	require.Less(t, received, ack)
	require.Less(t, ack, switched)
	ackLine := section[ack : ack+strings.Index(section[ack:], "\n")]
	require.True(t, strings.HasSuffix(ackLine, ", an ACK"), ackLine)
}
