// Command https serves HTTP over tlsm with net/http, and fetches from it:
// HTTP/2 for clients that choose h2 by ALPN, HTTP/1.1 for the others.
//
//	go run ./examples/https                         # serve, fetch over h2 and HTTP/1.1, print, exit
//	go run ./examples/https -listen 127.0.0.1:8443  # keep serving; try: curl -k --http2 https://127.0.0.1:8443/
//
// The server is tlshttp.Serve with an http.Server; the client is an
// http.Client with a tlshttp.Transport. The certificate is a self-signed
// one made at start, which the client trusts.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tlsm/tlsm/tls"
	"github.com/tlsm/tlsm/tlshttp"
)

func main() {
	listen := flag.String("listen", "", "keep serving on this address (default: serve on a free loopback port, fetch, exit)")
	flag.Parse()
	if err := run(*listen, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "https:", err)
		os.Exit(1)
	}
}

// hello says which protocol and TLS version carried the request.
func hello(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "hello over %s, TLS %#x, ALPN %q\n", r.Proto, r.TLS.Version, r.TLS.NegotiatedProtocol)
}

// run serves on listen, or on a free loopback port which it fetches from
// twice (HTTP/2, then HTTP/1.1) before shutting down.
func run(listen string, out io.Writer) error {
	cert, roots, err := selfSigned()
	if err != nil {
		return err
	}
	addr := listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(hello), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- tlshttp.Serve(srv, ln, &tls.Config{Certificates: []tls.Certificate{cert}}) }()
	url := "https://" + ln.Addr().String() + "/"
	fmt.Fprintln(out, "serving", url)
	if listen != "" {
		return <-served
	}
	for _, protos := range [][]string{nil, {"http/1.1"}} {
		if err := fetch(out, url, roots, protos); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; err != http.ErrServerClosed {
		return err
	}
	return nil
}

// fetch GETs url with a tlshttp.Transport (HTTP/2 when the server picks
// it) or, when protos is set, with net/http's transport over tlsm offering
// only those protocols, and prints the answer.
func fetch(out io.Writer, url string, roots *x509.CertPool, protos []string) error {
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	var rt http.RoundTripper = tlshttp.NewTransport(cfg, nil)
	if protos != nil {
		cfg.NextProtos = protos
		rt = &http.Transport{DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return tls.DialContext(ctx, network, addr, cfg)
		}}
	}
	resp, err := (&http.Client{Transport: rt, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GET %s: %s: %s", url, resp.Status, body)
	return nil
}

// selfSigned makes a certificate for localhost and 127.0.0.1, and the
// pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}
