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

func tls12Pair(t *testing.T, edit func(cc, sc *fsm.Config)) *memconn.Pair {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	if edit != nil {
		edit(cc, sc)
	}
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	return p
}

// renegotiationLog records renegotiation and handshake events by side.
type renegotiationLog struct {
	requested, started map[string]int
	handshakes         map[string][]fsm.Event
}

func watchRenegotiation(p *memconn.Pair) *renegotiationLog {
	l := &renegotiationLog{requested: map[string]int{}, started: map[string]int{}, handshakes: map[string][]fsm.Event{}}
	p.Trace = func(s *memconn.Side, ev fsm.Event) {
		switch ev.Kind {
		case fsm.EventRenegotiationRequested:
			l.requested[s.Name]++
		case fsm.EventRenegotiationStarted:
			l.started[s.Name]++
		case fsm.EventHandshakeDone:
			l.handshakes[s.Name] = append(l.handshakes[s.Name], ev)
		}
	}
	return l
}

func TestRenegotiateClientFullAndAbbreviated(t *testing.T) {
	p := tls12Pair(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
	log := watchRenegotiation(p)
	c := p.Client.Conn
	require.NoError(t, c.Renegotiate())
	require.True(t, c.RenegotiatePending())
	p.Pump()
	require.True(t, c.RenegotiatePending(), "scheduled, not started before I/O")
	require.NoError(t, p.Write(p.Client, []byte("during")))
	require.False(t, c.RenegotiatePending())
	require.Equal(t, "during", string(p.Server.Received))
	require.Len(t, log.handshakes["client"], 1)
	require.Equal(t, 2, log.handshakes["client"][0].Handshake)
	require.False(t, log.handshakes["client"][0].Resumed, "Renegotiate never resumes")

	p.Now = p.Now.Add(fsm.DefaultMinRenegotiationInterval)
	require.NoError(t, c.RenegotiateAbbreviated())
	require.NoError(t, c.Handshake(p.Now))
	p.Pump()
	require.Len(t, log.handshakes["server"], 2)
	require.Equal(t, 3, log.handshakes["server"][1].Handshake)
	require.True(t, log.handshakes["server"][1].Resumed, "RenegotiateAbbreviated resumes")
	require.NoError(t, p.Write(p.Server, []byte("after")))
	require.Equal(t, "after", string(p.Client.Received))
}

// TestHelloRequestResumption is the per-transport rule: a TLS client
// answering a HelloRequest resumes the session.
func TestHelloRequestResumesOverTLS(t *testing.T) {
	p := tls12Pair(t, nil)
	log := watchRenegotiation(p)
	s := p.Server.Conn
	require.NoError(t, s.Renegotiate())
	require.True(t, s.RenegotiatePending())
	require.NoError(t, s.Handshake(p.Now))
	require.True(t, s.RenegotiatePending(), "the request waits for the client's answer")
	p.Pump()
	require.False(t, s.RenegotiatePending())
	require.Equal(t, 1, log.requested["client"])
	require.Len(t, log.handshakes["client"], 1)
	require.True(t, log.handshakes["client"][0].Resumed)
	require.Equal(t, 2, p.Client.Conn.ConnectionState().Handshakes)
}

func TestClientRenegotiationRefusedByDefault(t *testing.T) {
	p := tls12Pair(t, nil)
	require.NoError(t, p.Client.Conn.Renegotiate())
	require.NoError(t, p.Client.Conn.Handshake(p.Now))
	p.Pump()
	require.Equal(t, []fsm.Alert{100}, p.Client.Alerts) // no_renegotiation
	require.False(t, p.Client.Closed)
	// A refused renegotiation never wedges the connection: the client is
	// back where it was, and data flows both ways.
	require.Equal(t, fsm.StateClientConnected12, p.Client.Conn.State())
	require.NoError(t, p.Write(p.Server, []byte("still here")))
	require.NoError(t, p.Write(p.Client, []byte("me too")))
	require.Equal(t, "still here", string(p.Client.Received))
	require.Equal(t, "me too", string(p.Server.Received))
}

func TestRenegotiationErrors(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	fresh := fsm.NewClient(cc)
	require.ErrorIs(t, fresh.Renegotiate(), fsm.ErrHandshakeIncomplete)

	p13 := memconn.New(cc, sc)
	require.NoError(t, p13.Handshake())
	require.ErrorIs(t, p13.Client.Conn.Renegotiate(), fsm.ErrNotTLS12)
	require.ErrorIs(t, p13.Server.Conn.RenegotiateAbbreviated(), fsm.ErrNotTLS12)

	never := tls12Pair(t, func(cc, sc *fsm.Config) { cc.Renegotiation = fsm.RenegotiateNever })
	require.ErrorIs(t, never.Client.Conn.Renegotiate(), fsm.ErrRenegotiationDisabled)

	closed := tls12Pair(t, nil)
	require.NoError(t, closed.Client.Conn.Close(closed.Now))
	require.ErrorIs(t, closed.Client.Conn.Renegotiate(), fsm.ErrClosed)
}

func TestClientRenegotiationLimits(t *testing.T) {
	p := tls12Pair(t, func(cc, sc *fsm.Config) {
		sc.AllowClientRenegotiation = true
		sc.MaxRenegotiations = 2
	})
	renegotiate := func() {
		require.NoError(t, p.Client.Conn.Renegotiate())
		require.NoError(t, p.Client.Conn.Handshake(p.Now))
		p.Pump()
	}
	renegotiate()
	require.Empty(t, p.Client.Alerts)
	renegotiate() // too soon
	require.Equal(t, []fsm.Alert{100}, p.Client.Alerts)
	p.Now = p.Now.Add(time.Minute)
	renegotiate()
	require.Equal(t, []fsm.Alert{100}, p.Client.Alerts, "allowed again after the interval")
	q := tls12Pair(t, func(cc, sc *fsm.Config) {
		sc.AllowClientRenegotiation = true
		sc.MaxRenegotiations = 1
	})
	require.NoError(t, q.Client.Conn.Renegotiate())
	require.NoError(t, q.Client.Conn.Handshake(p.Now))
	q.Pump()
	require.Empty(t, q.Client.Alerts)
	q.Now = q.Now.Add(time.Minute)
	require.NoError(t, q.Client.Conn.Renegotiate())
	require.NoError(t, q.Client.Conn.Handshake(p.Now))
	q.Pump()
	require.Equal(t, []fsm.Alert{100}, q.Client.Alerts)
}

// renegotiationHello is a well-formed renegotiation ClientHello for p's
// connection, for the hostile cases to spoil.
func renegotiationHello(p *memconn.Pair) *flights.ClientHello {
	return &flights.ClientHello{
		Version: fsm.VersionTLS12, Random: make([]byte, 32),
		CipherSuites:       []uint16{0xc02b},
		CompressionMethods: []byte{0}, SupportedGroups: []uint16{29, 23},
		SignatureAlgorithms:          []uint16{fsm.ECDSAWithP256AndSHA256},
		ECPointFormats:               []uint8{0},
		SecureRenegotiationSupported: true,
		SecureRenegotiation:          p.Client.Conn.VerifyDataForTest(),
		ExtendedMasterSecret:         true,
	}
}

// renegotiationHostileCase is a renegotiation ClientHello spoiled by edit
// and the alert it must end in.
type renegotiationHostileCase struct {
	name  string
	edit  func(ch *flights.ClientHello)
	alert fsm.Alert
}

// renegotiationHostileCases are the table of TestRenegotiationHostile.
func renegotiationHostileCases() []renegotiationHostileCase {
	return []renegotiationHostileCase{
		{"no signature_algorithms (CVE-2021-3449 shape)", func(ch *flights.ClientHello) {
			ch.SignatureAlgorithms = nil
			ch.SignatureAlgorithmsCert = []uint16{fsm.ECDSAWithP256AndSHA256}
		}, 40},
		{"wrong renegotiation_info", func(ch *flights.ClientHello) { ch.SecureRenegotiation = make([]byte, 12) }, 40},
		{"empty renegotiation_info", func(ch *flights.ClientHello) { ch.SecureRenegotiation = nil }, 40},
		{"no renegotiation_info", func(ch *flights.ClientHello) {
			ch.SecureRenegotiationSupported, ch.SecureRenegotiation = false, nil
		}, 40},
		{"renegotiation SCSV", func(ch *flights.ClientHello) { ch.CipherSuites = append(ch.CipherSuites, 0x00ff) }, 40},
		{"TLS 1.3 only", func(ch *flights.ClientHello) { ch.SupportedVersions = []uint16{fsm.VersionTLS13} }, 70},
		{"no cipher suite in common", func(ch *flights.ClientHello) { ch.CipherSuites = []uint16{0x1301} }, 40},
	}
}

// renegotiationHostileExtra counts the hostile subtests of
// TestRenegotiationHostile outside its table ("truncated").
const renegotiationHostileExtra = 1

// TestRenegotiationHostile feeds a server that allows client renegotiation
// malformed renegotiation ClientHellos under the client's keys: each ends
// in its alert and a closed connection, never a panic.
func TestRenegotiationHostile(t *testing.T) {
	for _, tc := range renegotiationHostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := tls12Pair(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
			ch := renegotiationHello(p)
			tc.edit(ch)
			err := p.Server.Conn.HandleData(p.Now, p.Client.Conn.SealForTest(ch.Append(nil)))
			require.ErrorIs(t, err, tc.alert)
			require.Equal(t, fsm.StateClosed, p.Server.Conn.State())
		})
	}
	t.Run("truncated", func(t *testing.T) {
		p := tls12Pair(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
		raw := renegotiationHello(p).Append(nil)
		raw = raw[:len(raw)-3]
		raw[3] -= 3 // the header's length matches the truncated body
		err := p.Server.Conn.HandleData(p.Now, p.Client.Conn.SealForTest(raw))
		require.ErrorIs(t, err, fsm.Alert(50))
	})
	t.Run("well-formed control", func(t *testing.T) {
		p := tls12Pair(t, func(cc, sc *fsm.Config) { sc.AllowClientRenegotiation = true })
		err := p.Server.Conn.HandleData(p.Now, p.Client.Conn.SealForTest(renegotiationHello(p).Append(nil)))
		require.NoError(t, err)
		require.Equal(t, fsm.StateServerWaitClientKeyExchange12, p.Server.Conn.State())
	})
}

// TestRenegotiationCertificateChange: a server that comes back with
// another certificate is refused.
func TestRenegotiationCertificateChange(t *testing.T) {
	other := testcert.MustNew(testcert.ECDSAP384)
	var server *fsm.Config
	p := tls12Pair(t, func(cc, sc *fsm.Config) {
		// Trust the new certificate too: only the change is refused.
		cc.RootCAs = cc.RootCAs.Clone()
		cc.RootCAs.AddCert(other.CA)
		server = sc
	})
	server.Certificates = []fsm.Certificate{{Certificate: other.CertDER, PrivateKey: other.Key}}
	require.NoError(t, p.Client.Conn.Renegotiate())
	require.NoError(t, p.Client.Conn.Handshake(p.Now))
	server.AllowClientRenegotiation = true
	p.Pump()
	require.True(t, p.Client.Closed)
	require.ErrorIs(t, p.Client.CloseErr, fsm.Alert(40))
}

// TestHelloRequestDuringHandshakeIgnored: RFC 5246 §7.4.1.1.
func TestHelloRequestDuringHandshakeIgnored(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	p := memconn.New(cc, sc)
	first := true
	p.Tamper = func(from *memconn.Side, b []byte) []byte {
		if from == p.Server && first {
			first = false
			hr := record.AppendPlain(nil, record.TypeHandshake, fsm.VersionTLS12, (&flights.HelloRequest{}).Append(nil))
			return append(hr, b...)
		}
		return b
	}
	require.NoError(t, p.Handshake())
	require.Equal(t, 1, p.Client.Conn.ConnectionState().Handshakes)
}
