package tls_test

// Session resumption against real peers: TLS 1.2 by session ID and by
// RFC 5077 ticket, TLS 1.3 by PSK ticket, with crypto/tls (in process) and
// openssl s_server / s_client (child processes). Every test connects twice
// (or more) with the same client state and checks, on both sides, that the
// second handshake resumed. Only 127.0.0.1 is used.

import (
	"bufio"
	gotls "crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// resumeVersions are the protocol versions resumption is tested at.
var resumeVersions = []struct {
	name    string
	v       uint16
	openssl string // s_server / s_client flag
	brief   string // what s_client prints after "New, " / "Reused, "
}{
	{"TLS12", fsm.VersionTLS12, "-tls1_2", "TLSv1.2"},
	{"TLS13", fsm.VersionTLS13, "-tls1_3", "TLSv1.3"},
}

// resumeTimeout bounds each connection of these tests.
const resumeTimeout = 10 * time.Second

// resumeCert is the server certificate of every resumption test: ECDSA
// P-256 works with the ECDHE_ECDSA suites of TLS 1.2 and with TLS 1.3.
func resumeCert() *testcert.Cert { return testcert.MustNew(testcert.ECDSAP256) }

// resumeClientConfig is the tlsm client configuration reused across the
// connections of one test: its session cache is what makes them resume.
func resumeClientConfig(cert *testcert.Cert, v uint16) *tls.Config {
	return &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", MinVersion: v, MaxVersion: v}
}

// resumeServerConfig is a tlsm server configuration for one version.
func resumeServerConfig(cert *testcert.Cert, v uint16) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{tlsmCert(cert)}, MinVersion: v, MaxVersion: v}
}

// resumeAsk writes line and expects want back. A TLS 1.3 client learns
// its ticket only from the NewSessionTicket the server sends after the
// handshake, so every first connection reads something before it closes.
func resumeAsk(c net.Conn, line, want string) error {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return fmt.Errorf("write %q: %w", line, err)
	}
	got := make([]byte, len(want)+1)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read reply to %q: %w", line, err)
	}
	if string(got) != want+"\n" {
		return fmt.Errorf("reply to %q: got %q, want %q", line, got, want+"\n")
	}
	return nil
}

// resumeAnswer reads one line and writes it back upper-cased; the caller
// then closes (openssl s_client exits on the close_notify).
func resumeAnswer(c net.Conn) error {
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	if _, err := io.WriteString(c, strings.ToUpper(line)); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	return nil
}

// resumeTLSMDial connects a tlsm client with cfg to addr, runs the
// handshake and one round trip, and returns its state.
func resumeTLSMDial(t *testing.T, addr string, cfg *tls.Config, line string) tls.ConnectionState {
	t.Helper()
	c, _ := dialTLSM(t, addr, cfg)
	require.NoError(t, c.SetDeadline(time.Now().Add(resumeTimeout)))
	require.NoError(t, handshakeTLSM(c), "tlsm client handshake")
	require.NoError(t, resumeAsk(c, line, strings.ToUpper(line)), "tlsm client")
	cs := c.ConnectionState()
	require.NoError(t, c.Close())
	return cs
}

// resumeGoServer serves n connections one after another with crypto/tls
// and reports each one's state (or error) on the channel.
func resumeGoServer(t *testing.T, cfg *gotls.Config, n int) (string, <-chan resumeGoResult) {
	t.Helper()
	ln, err := gotls.Listen("tcp", net.JoinHostPort(peers.Loopback, "0"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	out := make(chan resumeGoResult, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				out <- resumeGoResult{err: fmt.Errorf("crypto/tls accept: %w", err)}
				return
			}
			gc := c.(*gotls.Conn)
			gc.SetDeadline(time.Now().Add(resumeTimeout))
			err = gc.Handshake()
			if err == nil {
				err = resumeAnswer(gc)
			} else {
				err = fmt.Errorf("crypto/tls server handshake: %w", err)
			}
			out <- resumeGoResult{state: gc.ConnectionState(), err: err}
			gc.Close()
		}
	}()
	return ln.Addr().String(), out
}

type resumeGoResult struct {
	state gotls.ConnectionState
	err   error
}

func resumeRecv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(resumeTimeout + 5*time.Second):
		t.Fatal("peer did not finish")
		panic("unreachable")
	}
}

// resumeTLSMServe accepts one connection on a tlsmListener, answers one
// line, and reports its state.
func resumeTLSMServe(accept func() (*tls.Conn, *tapConn, error)) (tls.ConnectionState, error) {
	c, _, err := accept()
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(resumeTimeout))
	if err := handshakeTLSM(c); err != nil {
		return c.ConnectionState(), fmt.Errorf("tlsm server handshake: %w", err)
	}
	return c.ConnectionState(), resumeAnswer(c)
}

type resumeTLSMResult struct {
	state tls.ConnectionState
	err   error
}

// resumeGoDial connects a crypto/tls client with cfg to a tlsm server
// behind accept, one round trip, and returns the states of both sides.
func resumeGoDial(t *testing.T, port int, accept func() (*tls.Conn, *tapConn, error), cfg *gotls.Config, line string) (gotls.ConnectionState, tls.ConnectionState) {
	t.Helper()
	done := make(chan resumeTLSMResult, 1)
	go func() {
		st, err := resumeTLSMServe(accept)
		done <- resumeTLSMResult{st, err}
	}()
	d := &net.Dialer{Timeout: resumeTimeout}
	c, err := gotls.DialWithDialer(d, "tcp", peers.Addr(port), cfg)
	require.NoError(t, err, "crypto/tls client handshake")
	c.SetDeadline(time.Now().Add(resumeTimeout))
	require.NoError(t, resumeAsk(c, line, strings.ToUpper(line)), "crypto/tls client")
	gs := c.ConnectionState()
	require.NoError(t, c.Close())
	r := resumeRecv(t, done)
	require.NoError(t, r.err)
	return gs, r.state
}

func resumeGoClientConfig(cert *testcert.Cert, v uint16) *gotls.Config {
	return &gotls.Config{
		RootCAs: cert.CAPool, ServerName: "localhost", MinVersion: v, MaxVersion: v,
		ClientSessionCache: gotls.NewLRUClientSessionCache(0),
	}
}

// resumeCheck asserts the resumption status of both sides of one
// connection and that they agree on the version.
func resumeCheck(t *testing.T, conn string, want bool, v uint16, tlsmSide tls.ConnectionState, peer string, peerResumed bool, peerVersion uint16) {
	t.Helper()
	assert.Equal(t, want, tlsmSide.DidResume, "%s: tlsm DidResume", conn)
	assert.Equal(t, want, peerResumed, "%s: %s DidResume", conn, peer)
	assert.Equal(t, v, tlsmSide.Version, "%s: tlsm version", conn)
	if peerVersion != 0 {
		assert.Equal(t, v, peerVersion, "%s: %s version", conn, peer)
	}
	assert.True(t, tlsmSide.HandshakeComplete, "%s: tlsm HandshakeComplete", conn)
}

// 1. crypto/tls.

// TestResumeCryptoTLSServer: tlsm client → crypto/tls server (which issues
// tickets by default; it has no session-ID cache), TLS 1.2 ticket and
// TLS 1.3 PSK.
func TestResumeCryptoTLSServer(t *testing.T) {
	t.Parallel()
	for _, rv := range resumeVersions {
		t.Run(rv.name, func(t *testing.T) {
			t.Parallel()
			cert := resumeCert()
			addr, results := resumeGoServer(t, &gotls.Config{
				Certificates: []gotls.Certificate{cert.TLSCertificate()}, MinVersion: rv.v, MaxVersion: rv.v,
			}, 2)
			cfg := resumeClientConfig(cert, rv.v)
			for i, want := range []bool{false, true} {
				conn := fmt.Sprintf("connection %d", i+1)
				cs := resumeTLSMDial(t, addr, cfg, fmt.Sprintf("ping %d", i))
				r := resumeRecv(t, results)
				require.NoError(t, r.err, conn)
				resumeCheck(t, conn, want, rv.v, cs, "crypto/tls server", r.state.DidResume, r.state.Version)
				// A resumed session still knows the server's certificate.
				if assert.NotEmpty(t, cs.PeerCertificates, "%s: tlsm PeerCertificates", conn) {
					assert.Equal(t, cert.Leaf.SerialNumber, cs.PeerCertificates[0].SerialNumber, conn)
				}
			}
		})
	}
}

// TestResumeCryptoTLSClient: crypto/tls client (with a session cache) →
// tlsm server, TLS 1.2 ticket, TLS 1.2 with tickets disabled on the
// server, and TLS 1.3 PSK.
func TestResumeCryptoTLSClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		v         uint16
		noTickets bool
		want      bool
	}{
		{"TLS12_Ticket", fsm.VersionTLS12, false, true},
		// crypto/tls implements no session-ID resumption, neither as client
		// nor as server: its client caches a TLS 1.2 session only when it
		// got a ticket (crypto/tls handshake_client.go, saveSessionTicket).
		// With tickets off on the tlsm server there is nothing to resume;
		// this checks that the full handshake still works both times and
		// that neither side claims a resumption. openssl s_client
		// -no_ticket covers tlsm's session-ID cache
		// (TestResumeOpenSSLClient/TLS12_SessionID).
		{"TLS12_TicketsDisabled", fsm.VersionTLS12, true, false},
		{"TLS13_PSK", fsm.VersionTLS13, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert := resumeCert()
			scfg := resumeServerConfig(cert, tc.v)
			scfg.SessionTicketsDisabled = tc.noTickets
			port, accept := tlsmListener(t, scfg)
			ccfg := resumeGoClientConfig(cert, tc.v)
			for i, want := range []bool{false, tc.want} {
				conn := fmt.Sprintf("connection %d", i+1)
				gs, ts := resumeGoDial(t, port, accept, ccfg, fmt.Sprintf("ping %d", i))
				resumeCheck(t, conn, want, tc.v, ts, "crypto/tls client", gs.DidResume, gs.Version)
			}
		})
	}
}

// 3. A ticket under a key the server no longer has.

// TestResumeTicketUnknownKey: a crypto/tls client holds a ticket sealed
// under key {1}; a server with only key {2} must ignore it and run a full
// handshake, whose new ticket (under {2}) then resumes. A server that
// rotated ({3} first, {1} still listed) accepts the old ticket.
func TestResumeTicketUnknownKey(t *testing.T) {
	t.Parallel()
	for _, rv := range resumeVersions {
		t.Run(rv.name, func(t *testing.T) {
			t.Parallel()
			cert := resumeCert()
			listen := func(keys ...[32]byte) (int, func() (*tls.Conn, *tapConn, error)) {
				cfg := resumeServerConfig(cert, rv.v)
				cfg.SessionTicketKeys = keys
				return tlsmListener(t, cfg)
			}
			key1Port, key1 := listen([32]byte{1})
			key2Port, key2 := listen([32]byte{2})
			rotPort, rotated := listen([32]byte{3}, [32]byte{1})
			ccfg := resumeGoClientConfig(cert, rv.v)
			steps := []struct {
				conn   string
				port   int
				accept func() (*tls.Conn, *tapConn, error)
				want   bool
			}{
				{"key {1}: first connection", key1Port, key1, false},
				{"key {2}: ticket under {1}", key2Port, key2, false},
				{"key {2}: ticket under {2}", key2Port, key2, true},
				{"keys {3},{1}: ticket under {2}", rotPort, rotated, false},
				{"key {1}: ticket under {3}", key1Port, key1, false},
				{"keys {3},{1}: ticket under {1}", rotPort, rotated, true},
			}
			for i, s := range steps {
				gs, ts := resumeGoDial(t, s.port, s.accept, ccfg, fmt.Sprintf("ping %d", i))
				resumeCheck(t, s.conn, s.want, rv.v, ts, "crypto/tls client", gs.DidResume, gs.Version)
			}
		})
	}
}

// 2. openssl.

// resumeServerHits matches the statistics s_server prints when it exits.
var resumeServerHits = regexp.MustCompile(`(?m)^\s*(\d+) session cache hits`)

// TestResumeOpenSSLServer: tlsm client → openssl s_server, TLS 1.2 by
// ticket, TLS 1.2 by session ID (-no_ticket) and TLS 1.3 PSK. s_server
// (echo mode, -naccept 2) prints "Reused session-id" for a resumed
// connection and, on exit, its count of "session cache hits".
func TestResumeOpenSSLServer(t *testing.T) {
	t.Parallel()
	peers.Need(t, "openssl")
	cases := []struct {
		name  string
		v     uint16
		flags []string
	}{
		{"TLS12_Ticket", fsm.VersionTLS12, []string{"-tls1_2"}},
		{"TLS12_SessionID", fsm.VersionTLS12, []string{"-tls1_2", "-no_ticket"}},
		{"TLS13_PSK", fsm.VersionTLS13, []string{"-tls1_3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert := resumeCert()
			certFile, keyFile, _ := opensslFiles(t, cert)
			port := peers.FreePort(t)
			srv := peers.OpenSSLServer(t, port, certFile, keyFile, append(tc.flags, "-naccept", "2")...)
			cfg := resumeClientConfig(cert, tc.v)
			for i, want := range []bool{false, true} {
				conn := fmt.Sprintf("connection %d", i+1)
				c, _ := dialTLSM(t, peers.Addr(port), cfg)
				require.NoError(t, c.SetDeadline(time.Now().Add(resumeTimeout)))
				require.NoError(t, handshakeTLSM(c), conn)
				// s_server prints what it reads and sends its stdin lines.
				line := fmt.Sprintf("ping %d", i)
				_, err := io.WriteString(c, line+"\n")
				require.NoError(t, err)
				srv.WaitOutput(t, line+"\n", resumeTimeout)
				srv.Send("pong") // not "P...": s_server sends clear text for that
				got := make([]byte, 5)
				_, err = io.ReadFull(c, got)
				require.NoError(t, err, conn)
				require.Equal(t, "pong\n", string(got), conn)
				cs := c.ConnectionState()
				require.NoError(t, c.Close())
				assert.Equal(t, want, cs.DidResume, "%s: tlsm DidResume", conn)
				assert.Equal(t, tc.v, cs.Version, conn)
			}
			code, err := srv.Wait(resumeTimeout)
			require.NoError(t, err, "s_server -naccept 2 should exit")
			assert.Equal(t, 0, code, "s_server exit status")
			out := srv.Stdout()
			parts := strings.SplitN(out, "CONNECTION CLOSED", 2)
			require.Len(t, parts, 2, "s_server output")
			assert.NotContains(t, parts[0], "Reused session-id", "s_server: first connection resumed")
			assert.Equal(t, 1, strings.Count(parts[1], "Reused session-id"), "s_server: second connection not resumed")
			if m := resumeServerHits.FindStringSubmatch(out); assert.NotNil(t, m, "s_server statistics") {
				assert.Equal(t, "1", m[1], "s_server session cache hits")
			}
		})
	}
}

// TestResumeOpenSSLClient: openssl s_client -sess_out, then -sess_in →
// tlsm server, TLS 1.2 by ticket, TLS 1.2 by session ID (s_client
// -no_ticket, or a tlsm server with SessionTicketsDisabled) and TLS 1.3
// PSK. s_client prints "New, TLSv1.x" or "Reused, TLSv1.x"; openssl
// sess_id shows whether the saved session holds a ticket.
func TestResumeOpenSSLClient(t *testing.T) {
	t.Parallel()
	peers.Need(t, "openssl")
	cases := []struct {
		name    string
		v       uint16
		brief   string
		flags   []string
		tickets bool // the session comes as a ticket, not by session ID
		// noTickets sets the tlsm server's SessionTicketsDisabled: s_client
		// offers the ticket extension, the server must fall back to IDs.
		noTickets bool
	}{
		{"TLS12_Ticket", fsm.VersionTLS12, "TLSv1.2", []string{"-tls1_2"}, true, false},
		{"TLS12_SessionID", fsm.VersionTLS12, "TLSv1.2", []string{"-tls1_2", "-no_ticket"}, false, false},
		{"TLS12_SessionID_ServerTicketsDisabled", fsm.VersionTLS12, "TLSv1.2", []string{"-tls1_2"}, false, true},
		{"TLS13_PSK", fsm.VersionTLS13, "TLSv1.3", []string{"-tls1_3"}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert := resumeCert()
			_, _, caFile := opensslFiles(t, cert)
			sessFile := filepath.Join(t.TempDir(), "session.pem")
			scfg := resumeServerConfig(cert, tc.v)
			scfg.SessionTicketsDisabled = tc.noTickets
			port, accept := tlsmListener(t, scfg)
			for i, want := range []bool{false, true} {
				conn := fmt.Sprintf("connection %d", i+1)
				done := make(chan resumeTLSMResult, 1)
				go func() {
					st, err := resumeTLSMServe(accept)
					done <- resumeTLSMResult{st, err}
				}()
				args := append([]string{"-servername", "localhost", "-CAfile", caFile, "-verify_return_error"}, tc.flags...)
				if i == 0 {
					args = append(args, "-sess_out", sessFile)
				} else {
					args = append(args, "-sess_in", sessFile)
				}
				cli := peers.OpenSSLClient(t, port, args...)
				line := fmt.Sprintf("ping %d", i)
				cli.Send(line)
				cli.WaitOutput(t, strings.ToUpper(line)+"\n", resumeTimeout)
				r := resumeRecv(t, done)
				require.NoError(t, r.err, conn)
				code, err := cli.Wait(resumeTimeout)
				require.NoError(t, err, "%s: s_client should exit after the server's close_notify", conn)
				assert.Equal(t, 0, code, "%s: s_client exit status", conn)

				assert.Equal(t, want, r.state.DidResume, "%s: tlsm DidResume", conn)
				assert.Equal(t, tc.v, r.state.Version, conn)
				verb := map[bool]string{false: "New, ", true: "Reused, "}[want]
				assert.Contains(t, cli.Stdout(), verb+tc.brief+", Cipher is", "%s: s_client", conn)
				if i == 0 {
					resumeCheckSessionFile(t, sessFile, tc.tickets)
				}
			}
		})
	}
}

// resumeCheckSessionFile checks how the session s_client saved names
// itself to the server: by ticket, or (TLS 1.2 without tickets) by the
// session ID the tlsm server chose.
func resumeCheckSessionFile(t *testing.T, file string, ticket bool) {
	t.Helper()
	_, err := os.Stat(file)
	require.NoError(t, err, "s_client -sess_out wrote no session")
	p := peers.Start(t, "openssl", "sess_id", "-in", file, "-noout", "-text")
	code, err := p.Wait(resumeTimeout)
	require.NoError(t, err)
	require.Equal(t, 0, code, "openssl sess_id: %s", p.Stderr())
	text := p.Stdout()
	assert.Equal(t, ticket, strings.Contains(text, "TLS session ticket:"), "session ticket in the saved session:\n%s", text)
	if !ticket {
		assert.Regexp(t, `Session-ID: [0-9A-F]{64}`, text, "session ID in the saved session")
	}
}
