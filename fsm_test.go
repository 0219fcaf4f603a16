package tlsm_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/fsm/fsmtest"
	"github.com/tlsm/tlsm/internal/testcert"
)

// The scenarios run on the simulator's virtual network with one seed,
// -sim.seed; the lossy ones run -sim.seeds seeds from it, each as a
// subtest seed=N. A failure logs the command that runs its seed again.
var (
	simSeed  = flag.Uint64("sim.seed", 1, "seed of the simulated network (first seed of the lossy scenarios)")
	simSeeds = flag.Uint64("sim.seeds", 8, "how many seeds the lossy scenarios run")
)

// transports lists the transports of the simulation properties, which
// draw the protocol version per seed.
var transports = []fsmtest.Transport{fsmtest.TLS, fsmtest.DTLS}

// variant is a transport and a protocol every scenario runs over.
type variant struct {
	name string
	tr   fsmtest.Transport
	// dtls13 enables DTLS 1.3 on both sides (RFC 9147); DTLS is 1.2
	// otherwise.
	dtls13 bool
}

// variants lists what every scenario runs over: TLS (1.3), DTLS 1.2 and
// DTLS 1.3.
var variants = []variant{
	{"TLS", fsmtest.TLS, false},
	{"DTLS", fsmtest.DTLS, false},
	{"DTLS13", fsmtest.DTLS, true},
}

// scenario is one cross-package behaviour, run over each transport.
type scenario struct {
	name string
	// lossy scenarios depend on the network's random choices, so they
	// run over -sim.seeds seeds.
	lossy bool
	run   func(t *testing.T, e *env)
}

// env is what a scenario runs with: the transport, whether DTLS 1.3 is
// on, the seed, and the certificate both configurations use.
type env struct {
	tr     fsmtest.Transport
	dtls13 bool
	seed   uint64
	cert   *testcert.Cert
}

// sim returns a simulator for fresh client and server configurations
// whose randomness comes from the seed, logging its trace on failure.
func (e *env) sim(t *testing.T, opts fsmtest.Options, edit ...func(client, server *fsm.Config)) *fsmtest.Sim {
	server := &fsm.Config{
		Rand:         fsmtest.Rand(e.seed, fsmtest.Server),
		Certificates: []fsm.Certificate{{Certificate: e.cert.CertDER, PrivateKey: e.cert.Key}},
	}
	client := &fsm.Config{Rand: fsmtest.Rand(e.seed, fsmtest.Client), RootCAs: e.cert.CAPool, ServerName: "localhost"}
	if e.dtls13 {
		client.MaxVersion, server.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
	}
	for _, f := range edit {
		f(client, server)
	}
	// The virtual clock must be inside the certificate's validity.
	opts.Epoch = e.cert.Leaf.NotBefore.Add(time.Hour)
	s := fsmtest.New(e.seed, e.tr, client, server, opts)
	s.LogTrace(t, 80)
	return s
}

// write writes b from side and runs the network until it is quiet.
func write(s *fsmtest.Sim, side fsmtest.Side, b []byte) error {
	if err := s.Write(side, b); err != nil {
		return err
	}
	return s.Run()
}

// pump runs the network until it is quiet.
func pump(t *testing.T, s *fsmtest.Sim) { require.NoError(t, s.Run()) }

// delayed is a link that delays, with jitter; on a stream it also cuts
// the bytes at random points.
var delayed = fsmtest.Link{Delay: 10 * time.Millisecond, Jitter: 10 * time.Millisecond}

var scenarios = []scenario{
	// The per-transport rule of SSL_renegotiate(3): a client answering the
	// server's renegotiation request resumes its session over TLS, not
	// over DTLS. Same scenario, the transport decides. DTLS 1.3, like TLS
	// 1.3, has no renegotiation: there the server's key update takes its
	// place (serverKeyUpdate13).
	{"server-requested-renegotiation", false, func(t *testing.T, e *env) {
		if e.dtls13 {
			serverKeyUpdate13(t, e)
			return
		}
		s := e.sim(t, fsmtest.Options{Link: delayed}, func(client, _ *fsm.Config) { client.MaxVersion = fsm.VersionTLS12 })
		require.NoError(t, s.Handshake())
		require.NoError(t, write(s, fsmtest.Client, []byte("before")))
		require.NoError(t, s.Do(fsmtest.Server, func(c *fsm.Conn, _ time.Time) error { return c.Renegotiate() }))
		require.NoError(t, s.Do(fsmtest.Server, (*fsm.Conn).Handshake))
		pump(t, s)
		require.NoError(t, write(s, fsmtest.Client, []byte(" after")))
		require.Equal(t, "before after", string(s.Server.Received))
		cs := s.Client.Conn.ConnectionState()
		require.Equal(t, 2, cs.Handshakes)
		wantResume := map[fsmtest.Transport]bool{fsmtest.TLS: true, fsmtest.DTLS: false}[e.tr]
		require.Equal(t, wantResume, cs.DidResume, "resumed on a HelloRequest over %s", e.tr)
		require.Equal(t, wantResume, s.Server.Conn.ConnectionState().DidResume)
	}},
	{"handshake-data-close", false, func(t *testing.T, e *env) {
		link := delayed
		// Datagrams arrive out of order and twice; none is lost, so that
		// close_notify arrives.
		link.Duplicate, link.Reorder = 0.3, 0.3
		s := e.sim(t, fsmtest.Options{Link: link})
		require.NoError(t, s.Handshake())
		require.NoError(t, write(s, fsmtest.Client, []byte("from client")))
		require.NoError(t, write(s, fsmtest.Server, []byte("from server")))
		require.Equal(t, "from client", string(s.Server.Received))
		require.Equal(t, "from server", string(s.Client.Received))
		require.NoError(t, s.Do(fsmtest.Client, (*fsm.Conn).Close))
		pump(t, s)
		require.NoError(t, s.Do(fsmtest.Server, (*fsm.Conn).Close))
		pump(t, s)
		require.Equal(t, fsm.StateClosed, s.Client.Conn.State())
		require.Equal(t, fsm.StateClosed, s.Server.Conn.State())
	}},
	{"random-segmentation", true, func(t *testing.T, e *env) {
		rng := rand.New(rand.NewPCG(e.seed, 2))
		if e.tr == fsmtest.DTLS {
			randomDatagrams(t, e, rng)
			return
		}
		// The stream is cut at random points and delayed.
		s := e.sim(t, fsmtest.Options{Link: delayed})
		require.NoError(t, s.Handshake())
		var want []byte
		for i := 0; i < 200; i++ {
			msg := make([]byte, rng.IntN(40000))
			for j := range msg {
				msg[j] = byte(rng.Uint32())
			}
			want = append(want, msg...)
			require.NoError(t, write(s, fsmtest.Client, msg))
		}
		require.Equal(t, want, s.Server.Received)
		require.Greater(t, s.Stats(fsmtest.Client).Delivered, s.Stats(fsmtest.Client).Sent, "segments")
	}},
	{"fatal-alert-closes-both", false, func(t *testing.T, e *env) {
		// TLS: the first encrypted record fails its MAC. DTLS drops such a
		// record silently, so there the ServerKeyExchange signature, sent
		// in the clear, is broken instead: it fails to verify.
		want := fsm.Alert(20) // bad_record_mac
		tamper := func(from fsmtest.Side, b []byte) []byte {
			if from == fsmtest.Server && len(b) > 200 {
				// Corrupt the first encrypted record, after the ServerHello.
				first := 5 + (int(b[3])<<8 | int(b[4]))
				b[first+10] ^= 1
			}
			return b
		}
		switch {
		case e.dtls13:
			// The signature is encrypted there: the ServerHello, in
			// the clear, picks a suite the client did not offer.
			want = fsm.Alert(47) // illegal_parameter
			tamper = func(from fsmtest.Side, b []byte) []byte {
				if from == fsmtest.Server {
					forgeServerHelloSuite(b)
				}
				return b
			}
		case e.tr == fsmtest.DTLS:
			want = fsm.Alert(51) // decrypt_error
			tamper = func(from fsmtest.Side, b []byte) []byte {
				if from == fsmtest.Server {
					breakSignature(b)
				}
				return b
			}
		}
		s := e.sim(t, fsmtest.Options{Link: delayed, Tamper: tamper})
		require.Error(t, s.Handshake())
		require.ErrorIs(t, s.Client.CloseErr, want)
		require.Equal(t, []fsm.Alert{want}, s.Server.Alerts)
		require.Equal(t, fsm.StateClosed, s.Server.Conn.State())
	}},
}

// breakSignature flips the last bit of every ServerKeyExchange (whose last
// bytes are its signature) in the epoch 0 records of a DTLS datagram.
func breakSignature(d []byte) {
	for len(d) >= 13 {
		n := 13 + (int(d[11])<<8 | int(d[12]))
		if n > len(d) {
			return
		}
		epoch := int(d[3])<<8 | int(d[4])
		if d[0] == 22 && epoch == 0 && n >= 25 && d[13] == 12 { // handshake, server_key_exchange
			fragEnd := int(d[19])<<16 | int(d[20])<<8 | int(d[21]) + (int(d[22])<<16 | int(d[23])<<8 | int(d[24]))
			if fragEnd == int(d[14])<<16|int(d[15])<<8|int(d[16]) { // the fragment ends the message
				d[n-1] ^= 1
			}
		}
		d = d[n:]
	}
}

// serverKeyUpdate13 is server-requested-renegotiation over DTLS 1.3:
// the server may not renegotiate (ErrNotTLS12); its requested key update
// is acknowledged and answered, and data flows on both ways.
func serverKeyUpdate13(t *testing.T, e *env) {
	s := e.sim(t, fsmtest.Options{Link: delayed})
	require.NoError(t, s.Handshake())
	require.Equal(t, uint16(0xfefc), s.Client.Conn.ConnectionState().Version)
	require.NoError(t, write(s, fsmtest.Client, []byte("before")))
	err := s.Do(fsmtest.Server, func(c *fsm.Conn, _ time.Time) error { return c.Renegotiate() })
	require.ErrorIs(t, err, fsm.ErrNotTLS12)
	require.NoError(t, s.Do(fsmtest.Server, func(c *fsm.Conn, _ time.Time) error { return c.KeyUpdate(fsm.UpdateRequested) }))
	require.NoError(t, s.Do(fsmtest.Server, (*fsm.Conn).Handshake))
	pump(t, s)
	require.NoError(t, write(s, fsmtest.Client, []byte(" after")))
	require.NoError(t, write(s, fsmtest.Server, []byte("to the client")))
	require.Equal(t, "before after", string(s.Server.Received))
	require.Equal(t, "to the client", string(s.Client.Received))
	for _, ep := range []*fsmtest.Endpoint{s.Client, s.Server} {
		require.Equal(t, fsm.KeyUpdateNone, ep.Conn.PendingKeyUpdate(), "%s", ep.Side)
		require.Equal(t, 1, ep.Handshakes, "%s", ep.Side)
	}
}

// forgeServerHelloSuite sets the cipher suite of a DTLS 1.3 ServerHello
// (or HelloRetryRequest), in a plaintext record of a datagram, to
// TLS_AES_128_CCM_8_SHA256, which no tlsm client offers.
func forgeServerHelloSuite(d []byte) {
	for len(d) >= 13 && d[0]&0xe0 != 0x20 { // up to the first unified header
		n := 13 + (int(d[11])<<8 | int(d[12]))
		if n > len(d) {
			return
		}
		// A whole server_hello with an empty legacy_session_id_echo: the
		// suite follows the version, the random and that length byte.
		const suiteAt = 13 + 12 + 2 + 32 + 1
		if d[0] == 22 && d[13] == 2 && n >= suiteAt+2 && d[suiteAt-1] == 0 {
			d[suiteAt], d[suiteAt+1] = 0x13, 0x05
		}
		d = d[n:]
	}
}

// randomDatagrams is random-segmentation over DTLS: the handshake survives
// loss, duplication and reordering; then application data shows what DTLS
// promises. Without loss, every message arrives exactly once, in any
// order: duplicates are caught by the replay window, which is wide enough
// for the reordering (messages 1ms apart, held back at most 40ms). With
// loss, what arrives is messages that were sent, each at most once.
func randomDatagrams(t *testing.T, e *env, rng *rand.Rand) {
	link := fsmtest.Link{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond,
		Loss: 0.1, Duplicate: 0.2, Reorder: 0.3, ReorderDelay: 35 * time.Millisecond, MTU: fsm.DefaultMTU}
	s := e.sim(t, fsmtest.Options{Link: link})
	require.NoError(t, s.Handshake())
	require.Zero(t, s.Stats(fsmtest.Client).TooBig+s.Stats(fsmtest.Server).TooBig)

	sent := map[fsmtest.Side][]string{}
	send := func(side fsmtest.Side) {
		// Small enough for one record; the counter makes it unique.
		msg := make([]byte, 8+rng.IntN(1000))
		binary.BigEndian.PutUint64(msg, uint64(len(sent[fsmtest.Client])+len(sent[fsmtest.Server])))
		for j := 8; j < len(msg); j++ {
			msg[j] = byte(rng.Uint32())
		}
		sent[side] = append(sent[side], string(msg))
		require.NoError(t, s.Write(side, msg))
		require.NoError(t, s.RunFor(time.Millisecond))
	}
	delivered := func(e *fsmtest.Endpoint) []string {
		var out []string
		for _, m := range e.Messages {
			out = append(out, string(m))
		}
		return out
	}

	link.Loss = 0
	s.SetLinks(link)
	s.Note("no loss")
	for range 100 {
		send(fsmtest.Client)
	}
	pump(t, s)
	require.ElementsMatch(t, sent[fsmtest.Client], delivered(s.Server), "each message exactly once")
	require.Positive(t, s.Stats(fsmtest.Client).Duplicated)
	require.Positive(t, s.Stats(fsmtest.Client).Reordered)

	link.Loss = 0.3
	s.SetLinks(link)
	s.Note("loss %.1f", link.Loss)
	for i := range 200 {
		send(fsmtest.Side(i % 2))
	}
	pump(t, s)
	for _, to := range []*fsmtest.Endpoint{s.Client, s.Server} {
		from := to.Side.Peer()
		seen := map[string]bool{}
		for _, m := range delivered(to) {
			require.Contains(t, sent[from], m, "%s delivered a message never sent", to.Side)
			require.False(t, seen[m], "%s delivered a message twice", to.Side)
			seen[m] = true
		}
		require.Positive(t, len(to.Messages))
		require.Less(t, len(to.Messages), len(sent[from]), "some were lost")
	}
	require.False(t, s.Client.Closed || s.Server.Closed, "loss does not close a DTLS connection")
	t.Logf("with loss: client sent %d, server got %d; server sent %d, client got %d; %d trace lines",
		len(sent[fsmtest.Client])-100, len(s.Server.Messages)-100, len(sent[fsmtest.Server]), len(s.Client.Messages), len(s.Trace()))
}

func TestScenarios(t *testing.T) {
	// The certificate is made under a fixed global random source, and is
	// Ed25519, so that its size is the same in every process (its validity
	// comes from the real clock; an ECDSA signature's size would vary):
	// the network's choices depend on sizes, and a seed must run the same
	// way when run again.
	fsmtest.Deterministic(t, 0)
	cert := testcert.MustNew(testcert.Ed25519)
	for _, v := range variants {
		for _, sc := range scenarios {
			t.Run(v.name+"/"+sc.name, func(t *testing.T) {
				run := func(t *testing.T, seed uint64) {
					fsmtest.ReportSeed(t, seed)
					// Some crypto (ECDSA, RSA) ignores Config.Rand since
					// Go 1.26 and reads the global source.
					fsmtest.Deterministic(t, seed)
					sc.run(t, &env{tr: v.tr, dtls13: v.dtls13, seed: seed, cert: cert})
				}
				if !sc.lossy {
					run(t, *simSeed)
					return
				}
				for seed := *simSeed; seed < *simSeed+*simSeeds; seed++ {
					t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { run(t, seed) })
				}
			})
		}
	}
}
