package tlshttp_test

import (
	"bytes"
	"context"
	gotls "crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
	"github.com/tlsm/tlsm/tlshttp"
)

// echoProto answers with the protocol, whether Request.TLS is set, and
// the negotiated ALPN protocol.
var echoProto = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	alpn := "none"
	if r.TLS != nil {
		alpn = r.TLS.NegotiatedProtocol
	}
	fmt.Fprintf(w, "%s tls=%v alpn=%s", r.Proto, r.TLS != nil, alpn)
})

// logBuffer collects what an http.Server logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serve runs tlshttp.Serve on a loopback port and returns its URL, the
// server's log and its certificate; the server is shut down at cleanup.
func serve(t *testing.T, srv *http.Server) (string, *logBuffer, *testcert.Cert) {
	t.Helper()
	cert := testcert.MustNew(testcert.ECDSAP256)
	logs := &logBuffer{}
	srv.ErrorLog = log.New(logs, "", 0)
	ln, err := net.Listen("tcp", peers.Addr(0))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- tlshttp.Serve(srv, ln, &tls.Config{Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}})
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return "https://" + ln.Addr().String() + "/", logs, cert
}

func get(t *testing.T, client *http.Client, url string) (string, *http.Response) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body), resp
}

// TestServe: net/http's client over crypto/tls gets HTTP/2 when it offers
// it and HTTP/1.1 when it does not, and the handler sees Request.TLS in
// both; tlshttp's own Transport gets HTTP/2 too.
func TestServe(t *testing.T) {
	url, _, cert := serve(t, &http.Server{Handler: echoProto})

	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	body, resp := get(t, h2, url)
	require.Equal(t, "HTTP/2.0 tls=true alpn=h2", body)
	require.Equal(t, 2, resp.ProtoMajor)

	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"},
		TLSNextProto: map[string]func(string, *gotls.Conn) http.RoundTripper{}}}
	body, _ = get(t, h1, url)
	require.Equal(t, "HTTP/1.1 tls=true alpn=", body, "a client offering no ALPN gets HTTP/1.1")

	ours := &http.Client{Transport: tlshttp.NewTransport(&tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"}, nil)}
	for range 3 {
		body, resp = get(t, ours, url)
		require.Equal(t, "HTTP/2.0 tls=true alpn=h2", body)
		require.NotNil(t, resp.TLS)
		require.Equal(t, uint16(gotls.VersionTLS13), resp.TLS.Version)
	}
}

// TestServeCurl: curl speaks HTTP/2 and HTTP/1.1 to a tlshttp server.
func TestServeCurl(t *testing.T) {
	peers.Need(t, "curl")
	url, _, cert := serve(t, &http.Server{Handler: echoProto})
	_, _, caFile, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/"), "https://")
	for flag, want := range map[string]string{"--http2": "HTTP/2.0 tls=true alpn=h2", "--http1.1": "HTTP/1.1 tls=true alpn=http/1.1"} {
		out, err := exec.Command("curl", "-sS", flag, "--cacert", caFile, "--resolve", "localhost:"+strings.Split(host, ":")[1]+":127.0.0.1",
			"https://localhost:"+strings.Split(host, ":")[1]+"/").CombinedOutput()
		require.NoError(t, err, "curl %s: %s", flag, out)
		require.Equal(t, want, string(out), flag)
	}
}

// TestServeRefusals: plain HTTP to the TLS port gets a 400, and failed
// or stalled handshakes are logged as net/http logs crypto/tls's.
func TestServeRefusals(t *testing.T) {
	// Long enough for a handshake under the race detector; the silent
	// client's is logged once it runs out.
	url, logs, _ := serve(t, &http.Server{Handler: echoProto, ReadHeaderTimeout: 2 * time.Second})
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/")

	resp, err := http.Get("http://" + addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A client that does not trust the server's certificate.
	_, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: &gotls.Config{ServerName: "localhost"}}}).Get(url)
	require.Error(t, err)

	// A client that connects and says nothing.
	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	require.Eventually(t, func() bool {
		return strings.Count(logs.String(), "http: TLS handshake error from") >= 3
	}, 10*time.Second, 10*time.Millisecond, "logs: %s", logs)
	require.Contains(t, logs.String(), "client sent an HTTP request to an HTTPS server")
	require.Contains(t, logs.String(), "bad_certificate")
	require.Contains(t, logs.String(), "i/o timeout")
}

// TestTransport: tlshttp's Transport speaks HTTP/2 to a crypto/tls server
// that offers it and HTTP/1.1 to one that does not, on the connection of
// the handshake that found out.
func TestTransport(t *testing.T) {
	for _, h2 := range []bool{true, false} {
		t.Run(map[bool]string{true: "h2", false: "http1.1"}[h2], func(t *testing.T) {
			var conns int
			var mu sync.Mutex
			srv := httptest.NewUnstartedServer(echoProto)
			srv.EnableHTTP2 = h2
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					mu.Lock()
					conns++
					mu.Unlock()
				}
			}
			srv.StartTLS()
			defer srv.Close()
			roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			client := &http.Client{Transport: tlshttp.NewTransport(&tls.Config{RootCAs: roots, ServerName: "example.com"}, nil)}
			want := "HTTP/1.1 tls=true alpn=http/1.1"
			if h2 {
				want = "HTTP/2.0 tls=true alpn=h2"
			}
			for range 3 {
				body, resp := get(t, client, srv.URL)
				require.Equal(t, want, body)
				require.NotNil(t, resp.TLS, "Response.TLS")
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, 1, conns, "connections made")
		})
	}
}
