package tlsm_test

// The README's tour, compiled: each function holds one of its go blocks
// verbatim (TestTourCompiles checks that they are the README's), with what
// the block takes for granted as parameters.

import (
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/tls"
	"github.com/tlsm/tlsm/tlshttp"
)

func tourStream(certs []tls.Certificate) error {
	//lint:ignore SA4006 the README shows both calls, not their error handling
	conn, err := tls.Dial("tcp", "example.test:443", &tls.Config{NextProtos: []string{"imap"}})
	ln, err := tls.Listen("tcp", "127.0.0.1:8443", &tls.Config{Certificates: certs})
	_, _ = conn, ln
	return err
}

func tourHTTP(mux http.Handler, certs []tls.Certificate) error {
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	err := tlshttp.ListenAndServe(srv, &tls.Config{Certificates: certs}) // h2 and HTTP/1.1
	client := &http.Client{Transport: tlshttp.NewTransport(&tls.Config{}, nil)}
	_ = client
	return err
}

func tourCore(roots *x509.CertPool, sock net.Conn, app interface{ Handle([]byte) }, buf []byte) error {
	c := fsm.NewClient(&fsm.Config{ServerName: "localhost", RootCAs: roots})
	c.Start(time.Now())
	for {
		for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
			switch ev.Kind {
			case fsm.EventTransmit:
				sock.Write(ev.Data) // Data is valid until the next call into c
			case fsm.EventData:
				app.Handle(ev.Data)
			case fsm.EventHandshakeDone:
				log.Println("handshake", fsm.VersionName(ev.Version), fsm.CipherSuiteName(ev.Suite))
			case fsm.EventClosed:
				return ev.Err
			}
		}
		n, _ := sock.Read(buf)
		c.HandleData(time.Now(), buf[:n]) // any split of the stream works
	}
}

func tourKeyUpdate(conn *tls.Conn, data []byte) {
	conn.KeyUpdate(fsm.UpdateRequested) // scheduled; PendingKeyUpdate() says so
	conn.Write(data)                    // the KeyUpdate goes out first
}

func tourDTLSCore(cfg *fsm.Config) {
	c := fsm.NewDTLSClient(cfg)
	c.Start(time.Now())
	// EventTransmit: one datagram to send. EventTimer: call
	// c.HandleTimeout(now) at ev.Deadline. Incoming: c.HandleDatagram(now, d).
}

func tourCID(cfg *fsm.Config) {
	cfg.ConnectionIDs = &fsm.ConnectionIDs{Length: 8} // ask peers for 8-byte CIDs
	// Length 0: ask for none, but put the peer's in what we send.
}

func tourBalancer(certs []dtls.Certificate, current, previous, ticketKey [32]byte, processID byte, addr string) error {
	cfg := &dtls.Config{
		Certificates:      certs,
		CookieSecrets:     [][32]byte{current, previous}, // the same in every process
		SessionTicketKeys: [][32]byte{ticketKey},         // likewise
		ConnectionIDs: &fsm.ConnectionIDs{Length: 8, New: func(rand io.Reader) ([]byte, error) {
			cid := make([]byte, 8)
			cid[0] = processID // what the balancer routes by
			_, err := io.ReadFull(rand, cid[1:])
			return cid, err
		}},
	}
	ln, err := dtls.Listen("udp", addr, cfg)
	_ = ln
	return err
}

// tour is every function above, one per README go block.
var tour = []any{tourStream, tourHTTP, tourCore, tourKeyUpdate, tourDTLSCore, tourCID, tourBalancer}

// TestTourCompiles: every go block of the README is, line for line and
// indentation aside, in one of the functions above, which the compiler
// checks; a block that is not fails the test.
func TestTourCompiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	self, err := os.ReadFile("tour_test.go")
	require.NoError(t, err)
	compiled := normalize(string(self))
	blocks := goBlocks(string(readme))
	require.Len(t, blocks, len(tour), "one function here per README go block")
	for i, block := range blocks {
		require.True(t, strings.Contains(compiled, normalize(block)), "README go block %d is not in tour_test.go:\n%s", i+1, block)
	}
}

// goBlocks returns the README's go code blocks without their import lines.
func goBlocks(readme string) []string {
	var blocks []string
	for _, part := range strings.Split(readme, "```go\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if !strings.HasPrefix(l, "import ") {
				lines = append(lines, l)
			}
		}
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	return blocks
}

// normalize drops indentation and blank lines, and the alignment of
// comments and fields that gofmt adds.
func normalize(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
