package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// resumePair runs a handshake on a fresh pair of Conns for the same two
// configurations at now, lets the server's tickets arrive, and returns it.
func resumePair(t *testing.T, cc, sc *fsm.Config, now time.Time) *memconn.Pair {
	t.Helper()
	p := memconn.New(cc, sc)
	p.Now = now
	require.NoError(t, p.Handshake())
	p.Pump()
	return p
}

func sentMessages(p *memconn.Pair, s *memconn.Side) *[]flights.MsgType {
	var out []flights.MsgType
	prev := p.Trace
	p.Trace = func(side *memconn.Side, ev fsm.Event) {
		if prev != nil {
			prev(side, ev)
		}
		if side == s && ev.Kind == fsm.EventMessageSent {
			out = append(out, ev.Message)
		}
	}
	return &out
}

func requireResumed(t *testing.T, p *memconn.Pair, want bool) {
	t.Helper()
	for _, s := range []*memconn.Side{p.Client, p.Server} {
		require.Equal(t, want, s.Conn.ConnectionState().DidResume, s.Name)
	}
}

// requireGroup checks the key exchange group both sides report.
func requireGroup(t *testing.T, p *memconn.Pair, want fsm.CurveID) {
	t.Helper()
	for _, s := range []*memconn.Side{p.Client, p.Server} {
		require.Equal(t, want, s.Conn.ConnectionState().CurveID, s.Name)
	}
}

func TestResumeTLS13(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	now := time.Now()
	first := resumePair(t, cc, sc, now)
	requireResumed(t, first, false)
	second := resumePair(t, cc, sc, now.Add(time.Hour))
	requireResumed(t, second, true)
	requireGroup(t, second, fsm.X25519MLKEM768) // psk_dhe_ke: a key exchange still, the default hybrid
	require.Nil(t, second.Client.Conn.ConnectionState().TLSUnique, "none in TLS 1.3")
	cs := second.Client.Conn.ConnectionState()
	require.Len(t, cs.PeerCertificates, 2, "certificates come from the session")
	require.NoError(t, second.Write(second.Client, []byte("resumed")))
	require.Equal(t, "resumed", string(second.Server.Received))
	// The ticket of the resumed connection resumes too.
	requireResumed(t, resumePair(t, cc, sc, now.Add(2*time.Hour)), true)
}

func TestResumeTLS13WithRetry(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	now := time.Now()
	resumePair(t, cc, sc, now)
	p := memconn.New(cc, sc)
	p.Now = now
	sent := sentMessages(p, p.Client)
	require.NoError(t, p.Handshake())
	require.Equal(t, []flights.MsgType{flights.TypeClientHello, flights.TypeClientHello, flights.TypeFinished}, *sent)
	requireResumed(t, p, true)
}

func TestResumeTLS12Ticket(t *testing.T) {
	cc, sc := configs(t, testcert.RSA2048)
	cc.MaxVersion = fsm.VersionTLS12
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256} // not the client's first
	now := time.Now()
	requireResumed(t, resumePair(t, cc, sc, now), false)
	p := memconn.New(cc, sc)
	p.Now = now
	sent := sentMessages(p, p.Server)
	require.NoError(t, p.Handshake())
	requireResumed(t, p, true)
	requireGroup(t, p, fsm.CurveP256) // the session's, from the ticket
	require.Equal(t, []flights.MsgType{flights.TypeServerHello, flights.TypeFinished}, *sent)
	require.NoError(t, p.Write(p.Server, []byte("abbreviated")))
	require.Equal(t, "abbreviated", string(p.Client.Received))
}

func TestResumeTLS12SessionID(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	cc.SessionTicketsDisabled = true
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	now := time.Now()
	first := resumePair(t, cc, sc, now)
	requireResumed(t, first, false)
	requireGroup(t, first, fsm.CurveP256)
	p := resumePair(t, cc, sc, now)
	requireResumed(t, p, true)
	requireGroup(t, p, fsm.CurveP256) // the session's, from the cache
	requireTLSUnique(t, first, p)
}

// requireTLSUnique checks tls-unique on a full handshake and the
// resumption after it: 12 bytes, the same on both sides, and different
// for the two connections.
func requireTLSUnique(t *testing.T, full, resumed *memconn.Pair) {
	t.Helper()
	var seen [][]byte
	for _, p := range []*memconn.Pair{full, resumed} {
		unique := p.Client.Conn.ConnectionState().TLSUnique
		require.Len(t, unique, 12)
		require.Equal(t, unique, p.Server.Conn.ConnectionState().TLSUnique)
		seen = append(seen, unique)
	}
	require.NotEqual(t, seen[0], seen[1])
}

func TestResumeRefused(t *testing.T) {
	now := time.Now()
	t.Run("ticket from another key", func(t *testing.T) {
		cc, sc := configs(t, testcert.ECDSAP256)
		sc.SessionTicketKeys = [][32]byte{{1}}
		resumePair(t, cc, sc, now)
		_, other := configs(t, testcert.ECDSAP256)
		other.SessionTicketKeys = [][32]byte{{2}}
		requireResumed(t, resumePair(t, cc, other, now), false)
	})
	t.Run("rotated key still decrypts", func(t *testing.T) {
		cc, sc := configs(t, testcert.ECDSAP256)
		sc.SessionTicketKeys = [][32]byte{{1}}
		resumePair(t, cc, sc, now)
		rotated := sc.Clone()
		rotated.SessionTicketKeys = [][32]byte{{3}, {1}}
		requireResumed(t, resumePair(t, cc, rotated, now), true)
	})
	t.Run("automatic keys rotate", func(t *testing.T) {
		cc, sc := configs(t, testcert.ECDSAP256)
		resumePair(t, cc, sc, now)
		requireResumed(t, resumePair(t, cc, sc, now.Add(30*time.Hour)), true)
	})
	t.Run("expired", func(t *testing.T) {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.InsecureSkipVerify = true // the test certificate expires before the session
		resumePair(t, cc, sc, now)
		requireResumed(t, resumePair(t, cc, sc, now.Add(fsm.SessionLifetime+time.Hour)), false)
	})
	t.Run("tickets disabled on the server", func(t *testing.T) {
		cc, sc := configs(t, testcert.ECDSAP256)
		sc.SessionTicketsDisabled = true
		resumePair(t, cc, sc, now)
		requireResumed(t, resumePair(t, cc, sc, now), false)
	})
	t.Run("TLS 1.2 session, server now TLS 1.3 only", func(t *testing.T) {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion = fsm.VersionTLS12
		resumePair(t, cc, sc, now)
		cc2 := cc.Clone()
		cc2.MaxVersion = 0
		sc.MinVersion = fsm.VersionTLS13
		p := resumePair(t, cc2, sc, now)
		requireResumed(t, p, false)
		require.Equal(t, fsm.VersionTLS13, p.Client.Conn.ConnectionState().Version)
	})
}

// TestResumeNeedsExtendedMasterSecret offers a cached TLS 1.2 session ID
// in a ClientHello without extended_master_secret: the server must run a
// full handshake (RFC 7627 §5.3).
func TestResumeNeedsExtendedMasterSecret(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	cc.SessionTicketsDisabled = true
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	cc.ClientSessionCache = fsm.NewLRUSessionCache(4)
	now := time.Now()
	resumePair(t, cc, sc, now)
	s, ok := cc.ClientSessionCache.Get("localhost")
	require.True(t, ok)
	require.Len(t, s.SessionID, 32)

	for _, ems := range []bool{true, false} {
		hello := &flights.ClientHello{
			Version: fsm.VersionTLS12, Random: make([]byte, 32), SessionID: s.SessionID,
			CipherSuites: []uint16{s.Suite}, CompressionMethods: []byte{0},
			SupportedGroups: []uint16{29, 23}, SignatureAlgorithms: []uint16{fsm.ECDSAWithP256AndSHA256},
			ECPointFormats: []uint8{0}, SecureRenegotiationSupported: true, ExtendedMasterSecret: ems,
		}
		server := fsm.NewServer(sc)
		require.NoError(t, server.HandleData(now, record.AppendPlain(nil, record.TypeHandshake, fsm.VersionTLS12, hello.Append(nil))))
		var sent []flights.MsgType
		for ev := server.NextEvent(); ev.Kind != fsm.EventNone; ev = server.NextEvent() {
			if ev.Kind == fsm.EventMessageSent {
				sent = append(sent, ev.Message)
			}
		}
		if ems {
			require.Equal(t, []flights.MsgType{flights.TypeServerHello, flights.TypeFinished}, sent, "abbreviated")
		} else {
			require.Equal(t, []flights.MsgType{flights.TypeServerHello, flights.TypeCertificate,
				flights.TypeServerKeyExchange, flights.TypeServerHelloDone}, sent, "full")
		}
	}
}
