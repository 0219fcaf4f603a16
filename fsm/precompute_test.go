package fsm_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// countingRand is a seeded random source that counts the bytes drawn.
type countingRand struct {
	src   *rand.ChaCha8
	drawn int
}

func newCountingRand(seed byte) *countingRand {
	return &countingRand{src: rand.NewChaCha8([32]byte{seed})}
}

func (r *countingRand) Read(p []byte) (int, error) {
	r.drawn += len(p)
	return r.src.Read(p)
}

// precomputeNow is the time of every handshake of the Precompute tests,
// so that runs differ only in Precompute.
var precomputeNow = time.Now().Add(time.Minute)

// precomputeRun is one handshake between a client and a server with
// seeded randomness, in memory: what each sent, in order, and what
// Precompute drew from the client's randomness.
type precomputeRun struct {
	wire            [][]byte
	precomputeDrawn int
	client          *fsm.Conn
}

// handshakeWithPrecompute runs a TLS 1.2 or DTLS 1.2 handshake (Ed25519
// certificate, whose signatures draw no randomness), the client calling
// Precompute after each flight when precompute is set.
func handshakeWithPrecompute(t *testing.T, datagram, precompute bool, clientVersion uint16, serverCurves []fsm.CurveID) precomputeRun {
	t.Helper()
	cc, sc := configs(t, testcert.Ed25519)
	crand, srand := newCountingRand(1), newCountingRand(2)
	cc.Rand, sc.Rand = crand, srand
	cc.MaxVersion, sc.MaxVersion = clientVersion, fsm.VersionTLS12
	sc.CurvePreferences = serverCurves
	now := precomputeNow
	var client, server *fsm.Conn
	if datagram {
		client, server = fsm.NewDTLSClient(cc), fsm.NewDTLSServer(sc, []byte("client address"))
	} else {
		client, server = fsm.NewClient(cc), fsm.NewServer(sc)
	}
	run := precomputeRun{client: client}
	deliver := func(from, to *fsm.Conn) {
		for ev := from.NextEvent(); ev.Kind != fsm.EventNone; ev = from.NextEvent() {
			if ev.Kind != fsm.EventTransmit {
				continue
			}
			run.wire = append(run.wire, append([]byte(nil), ev.Data...))
			if datagram {
				to.HandleDatagram(now, ev.Data)
			} else {
				to.HandleData(now, ev.Data)
			}
		}
	}
	require.NoError(t, client.Start(now))
	for step := 0; step < 20 && !(client.HandshakeComplete() && server.HandshakeComplete()); step++ {
		if precompute {
			before := crand.drawn
			client.Precompute()
			run.precomputeDrawn += crand.drawn - before
		}
		deliver(client, server)
		deliver(server, client)
	}
	require.NoError(t, client.Err())
	require.NoError(t, server.Err())
	require.True(t, client.HandshakeComplete() && server.HandshakeComplete(), "handshake complete")
	return run
}

// TestPrecompute: a TLS 1.2 or DTLS 1.2 client that makes its ECDHE key
// while it waits for the server's flight draws the key's bytes then, and
// sends the same bytes as one that does not: the key is the one the
// ServerKeyExchange would have made.
func TestPrecompute(t *testing.T) {
	for _, datagram := range []bool{false, true} {
		t.Run(map[bool]string{false: "TLS1.2", true: "DTLS1.2"}[datagram], func(t *testing.T) {
			plain := handshakeWithPrecompute(t, datagram, false, fsm.VersionTLS12, nil)
			ahead := handshakeWithPrecompute(t, datagram, true, fsm.VersionTLS12, nil)
			require.Equal(t, 32, ahead.precomputeDrawn, "an X25519 scalar, drawn once")
			require.Equal(t, plain.wire, ahead.wire)
			require.Equal(t, fsm.X25519, ahead.client.ConnectionState().CurveID)
		})
	}
}

// TestPrecomputeOtherGroup: when the server chooses another group than
// the one the key was made for, the client makes a key for that group.
func TestPrecomputeOtherGroup(t *testing.T) {
	run := handshakeWithPrecompute(t, true, true, fsm.VersionTLS12, []fsm.CurveID{fsm.CurveP256})
	require.Equal(t, 32, run.precomputeDrawn, "an X25519 scalar, made for nothing")
	require.Equal(t, fsm.CurveP256, run.client.ConnectionState().CurveID)
}

// TestPrecomputeNothingToDo: a client that offered TLS 1.3 (whose key
// share went in its ClientHello) makes no key ahead, nor does a server.
func TestPrecomputeNothingToDo(t *testing.T) {
	run := handshakeWithPrecompute(t, false, true, fsm.VersionTLS13, nil)
	require.Zero(t, run.precomputeDrawn)

	cc, sc := configs(t, testcert.Ed25519)
	r := newCountingRand(3)
	cc.MaxVersion, sc.MaxVersion, sc.Rand = fsm.VersionTLS12, fsm.VersionTLS12, r
	server := fsm.NewServer(sc)
	client := fsm.NewClient(cc)
	require.NoError(t, client.Start(time.Now()))
	hello := client.NextEvent()
	for hello.Kind != fsm.EventTransmit {
		require.NotEqual(t, fsm.EventNone, hello.Kind, "no ClientHello")
		hello = client.NextEvent()
	}
	server.HandleData(time.Now(), hello.Data)
	drawn := r.drawn
	server.Precompute()
	require.Equal(t, drawn, r.drawn, "a server draws nothing")
}
