package fsm_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
)

func configs(t testing.TB, kind testcert.Kind) (client, server *fsm.Config) {
	cert := testcert.MustNew(kind)
	server = &fsm.Config{Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}}
	client = &fsm.Config{RootCAs: cert.CAPool, ServerName: "localhost"}
	return client, server
}

func TestHandshakeAndData(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	require.NoError(t, p.Write(p.Client, []byte("ping")))
	require.NoError(t, p.Write(p.Server, []byte("pong")))
	require.Equal(t, "ping", string(p.Server.Received))
	require.Equal(t, "pong", string(p.Client.Received))
	require.Equal(t, fsm.StateClientConnected13, p.Client.Conn.State())
	require.Equal(t, fsm.StateServerConnected13, p.Server.Conn.State())
}

func TestHandshakeMatrix(t *testing.T) {
	kinds := []testcert.Kind{testcert.ECDSAP256, testcert.ECDSAP384, testcert.RSA2048, testcert.Ed25519}
	suites := []uint16{fsm.TLS_AES_128_GCM_SHA256, fsm.TLS_AES_256_GCM_SHA384, fsm.TLS_CHACHA20_POLY1305_SHA256}
	groups := []fsm.CurveID{fsm.X25519, fsm.CurveP256, fsm.CurveP384}
	for _, kind := range kinds {
		for _, suite := range suites {
			for _, group := range groups {
				t.Run(kind.String()+"/"+fsm.CipherSuiteName(suite)+"/"+groupName(group), func(t *testing.T) {
					cc, sc := configs(t, kind)
					cc.CipherSuites = []uint16{suite}
					cc.CurvePreferences = []fsm.CurveID{group}
					p := memconn.New(cc, sc)
					require.NoError(t, p.Handshake())
					cs := p.Client.Conn.ConnectionState()
					require.Equal(t, suite, cs.CipherSuite)
					require.Equal(t, fsm.VersionTLS13, cs.Version)
					require.Equal(t, group, cs.CurveID)
					require.Equal(t, group, p.Server.Conn.ConnectionState().CurveID)
					require.NoError(t, p.Write(p.Client, []byte("x")))
					require.Equal(t, "x", string(p.Server.Received))
				})
			}
		}
	}
}

func groupName(g fsm.CurveID) string {
	switch g {
	case fsm.X25519:
		return "X25519"
	case fsm.CurveP256:
		return "P256"
	}
	return "P384"
}

func TestHelloRetryRequest(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	p := memconn.New(cc, sc)
	var sent []string
	p.Trace = func(s *memconn.Side, ev fsm.Event) {
		if ev.Kind == fsm.EventMessageSent {
			sent = append(sent, s.Name+":"+ev.Message.String())
		}
	}
	require.NoError(t, p.Handshake())
	require.Equal(t, "client:client_hello", sent[0])
	require.Equal(t, "server:server_hello", sent[1])
	require.Equal(t, "client:client_hello", sent[2])
	require.NoError(t, p.Write(p.Server, []byte("after retry")))
	require.Equal(t, "after retry", string(p.Client.Received))
}

func TestClientCertificate(t *testing.T) {
	for _, auth := range []fsm.ClientAuthType{fsm.RequestClientCert, fsm.RequireAndVerifyClientCert} {
		cc, sc := configs(t, testcert.ECDSAP256)
		ccert := testcert.MustNew(testcert.Ed25519)
		cc.Certificates = []fsm.Certificate{{Certificate: ccert.CertDER, PrivateKey: ccert.Key}}
		sc.ClientAuth = auth
		sc.ClientCAs = ccert.CAPool
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		peer := p.Server.Conn.ConnectionState().PeerCertificates
		require.Len(t, peer, 2)
		require.Equal(t, ccert.Leaf.Raw, peer[0].Raw)
	}
	// Required but not sent.
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.ClientAuth = fsm.RequireAnyClientCert
	p := memconn.New(cc, sc)
	require.Error(t, p.Handshake())
	require.ErrorIs(t, p.Server.CloseErr, fsm.Alert(116))
	require.Equal(t, []fsm.Alert{116}, p.Client.Alerts)
}

func TestByteAtATime(t *testing.T) {
	cc, sc := configs(t, testcert.RSA2048)
	p := memconn.New(cc, sc)
	p.Chunk = func(int) int { return 1 }
	require.NoError(t, p.Handshake())
	msg := make([]byte, 40000)
	for i := range msg {
		msg[i] = byte(i)
	}
	require.NoError(t, p.Write(p.Client, msg))
	require.Equal(t, msg, p.Server.Received)
}

func TestCloseNotify(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	require.NoError(t, p.Client.Conn.Close(p.Now))
	p.Pump()
	require.True(t, p.Server.Closed)
	require.NoError(t, p.Server.CloseErr)
	// Half-closed: the server may still write.
	require.NoError(t, p.Write(p.Server, []byte("bye")))
	require.Equal(t, "bye", string(p.Client.Received))
	_, err := p.Client.Conn.Write(p.Now, []byte("late"))
	require.ErrorIs(t, err, fsm.ErrClosed)
}

func TestUntrustedServer(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.RootCAs = testcert.MustNew(testcert.Ed25519).CAPool
	p := memconn.New(cc, sc)
	require.Error(t, p.Handshake())
	require.ErrorIs(t, p.Client.CloseErr, fsm.Alert(48)) // unknown_ca
	require.Equal(t, []fsm.Alert{48}, p.Server.Alerts)
	require.Equal(t, fsm.StateClosed, p.Server.Conn.State())
}

// TestHandleDataInPlace feeds a stream of records in pieces of every size
// through HandleDataInPlace, wiping each piece once its events are
// drained: records cut from the lent input, and the incomplete ones kept
// from it, must still arrive intact.
func TestHandleDataInPlace(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	client, server := p.Client.Conn, p.Server.Conn
	var want, wire []byte
	for i := range 40 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*97)
		want = append(want, msg...)
		_, err := client.Write(p.Now, msg)
		require.NoError(t, err)
		for ev := client.NextEvent(); ev.Kind != fsm.EventNone; ev = client.NextEvent() {
			if ev.Kind == fsm.EventTransmit {
				wire = append(wire, ev.Data...)
			}
		}
	}
	var got []byte
	for size := 1; len(wire) > 0; size = size*3 + 1 {
		piece := append([]byte(nil), wire[:min(size, len(wire))]...)
		wire = wire[len(piece):]
		require.NoError(t, server.HandleDataInPlace(p.Now, piece))
		for ev := server.NextEvent(); ev.Kind != fsm.EventNone; ev = server.NextEvent() {
			if ev.Kind == fsm.EventData {
				got = append(got, ev.Data...)
			}
		}
		for i := range piece {
			piece[i] = 0xff
		}
	}
	require.Equal(t, want, got)
}

// TestHelloRetryWithClientCertificateIssuesTicket: the server reads the
// second ClientHello's psk_key_exchange_modes again after the client's
// Certificate, CertificateVerify and Finished have arrived, so the hello
// must not share their input buffer. A ticket is issued and resumes.
func TestHelloRetryWithClientCertificateIssuesTicket(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cert := testcert.MustNew(testcert.ECDSAP256)
	cc.Certificates = []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}
	cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	sc.ClientAuth = fsm.RequireAndVerifyClientCert
	sc.ClientCAs = cert.CAPool
	p := memconn.New(cc, sc)
	var sent []string
	p.Trace = func(s *memconn.Side, ev fsm.Event) {
		if ev.Kind == fsm.EventMessageSent {
			sent = append(sent, s.Name+":"+ev.Message.String())
		}
	}
	require.NoError(t, p.Handshake())
	require.NoError(t, p.Write(p.Server, []byte("x"))) // the client takes the ticket
	require.Equal(t, []string{"client:client_hello", "server:server_hello", "client:client_hello"}, sent[:3], "a retry")
	require.Contains(t, sent, "client:certificate")
	require.Contains(t, sent, "server:new_session_ticket")

	again := memconn.New(cc, sc)
	require.NoError(t, again.Handshake())
	require.True(t, again.Client.Conn.ConnectionState().DidResume)
}

// TestInputBeforeStart: a client given input before Start gets an API
// error and sends nothing; Start then works as usual. A server needs no
// Start.
func TestInputBeforeStart(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	junk := []byte{22, 3, 3, 0, 1, 0}
	c := fsm.NewClient(cc)
	require.ErrorIs(t, c.HandleData(time.Now(), junk), fsm.ErrNotStarted)
	require.Equal(t, fsm.EventNone, c.NextEvent().Kind, "nothing sent")
	d := fsm.NewDTLSClient(cc)
	require.ErrorIs(t, d.HandleDatagram(time.Now(), junk), fsm.ErrNotStarted)
	require.Equal(t, fsm.EventNone, d.NextEvent().Kind, "nothing sent")
	require.NoError(t, c.Start(time.Now()))
	require.NotEmpty(t, transmitted(c), "the ClientHello")

	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake(), "a server needs no Start")
}

// TestFailureReportedOneWay: a Conn that fails reports the same error
// from the call that failed it, from its EventClosed and from Err, and
// every later input call returns it again; a refused call leaves Err nil.
func TestFailureReportedOneWay(t *testing.T) {
	cc, _ := configs(t, testcert.ECDSAP256)
	c := fsm.NewClient(cc)
	require.ErrorIs(t, c.HandleData(time.Now(), []byte{1}), fsm.ErrNotStarted)
	require.NoError(t, c.Err(), "a refused call is not a failure")
	require.NoError(t, c.Start(time.Now()))
	transmitted(c)
	got := c.HandleData(time.Now(), []byte{0xff, 3, 3, 0, 1, 0})
	require.Error(t, got)
	var closed []error
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		if ev.Kind == fsm.EventClosed {
			closed = append(closed, ev.Err)
		}
	}
	require.Equal(t, []error{got}, closed)
	require.Equal(t, got, c.Err())
	require.Equal(t, got, c.HandleData(time.Now(), []byte{22}))
	require.Equal(t, got, c.HandleTimeout(time.Now()))
}

// TestTakeTransmitted takes the client's output buffer after each Write
// instead of copying its transmit events, handing the buffer taken the
// time before back: what was taken is left alone by the writes after it,
// and the server reads every record in order.
func TestTakeTransmitted(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	client, server := p.Client.Conn, p.Server.Conn
	require.Nil(t, client.TakeTransmitted(nil), "the output buffer was let go of at the handshake's end")

	_, err := client.Write(p.Now, []byte("undrained"))
	require.NoError(t, err)
	require.Nil(t, client.TakeTransmitted(nil), "events wait to be drained")
	var wire []byte
	for ev := client.NextEvent(); ev.Kind != fsm.EventNone; ev = client.NextEvent() {
		wire = append(wire, ev.Data...)
	}
	taken := client.TakeTransmitted(nil)
	require.Equal(t, wire, taken)
	require.Nil(t, client.TakeTransmitted(nil), "nothing new since")

	want := []byte("undrained")
	var spare []byte
	for i := range 20 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*1000)
		want = append(want, msg...)
		_, err := client.Write(p.Now, msg)
		require.NoError(t, err)
		var events []byte
		for ev := client.NextEvent(); ev.Kind != fsm.EventNone; ev = client.NextEvent() {
			events = append(events, ev.Data...)
		}
		snapshot := bytes.Clone(taken)
		out := client.TakeTransmitted(spare)
		require.Equal(t, events, out)
		require.Equal(t, snapshot, taken, "a write changed bytes taken before it")
		wire = append(wire, out...)
		spare, taken = taken, out
	}
	var got []byte
	require.NoError(t, server.HandleData(p.Now, wire))
	for ev := server.NextEvent(); ev.Kind != fsm.EventNone; ev = server.NextEvent() {
		if ev.Kind == fsm.EventData {
			got = append(got, ev.Data...)
		}
	}
	require.Equal(t, want, got)
}

// TestTakeTransmittedDatagram: a datagram Conn keeps its output, which
// its retransmissions may need.
func TestTakeTransmittedDatagram(t *testing.T) {
	c := fsm.NewDTLSClient(&fsm.Config{InsecureSkipVerify: true})
	require.NoError(t, c.Start(time.Now()))
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
	}
	require.Nil(t, c.TakeTransmitted(nil))
}
