// Command webrtc is the shortest honest path from a browser to tlsm: it
// serves a page on 127.0.0.1 that opens a WebRTC data channel to this
// program, answers the page's SDP offer, connects ICE on loopback host
// candidates, runs tlsm's DTLS over it with the browser's certificate
// checked against the offer's fingerprint, derives the DTLS-SRTP keys, and
// echoes the data channel over SCTP.
//
//	go run ./examples/webrtc [-addr 127.0.0.1:8080] [-mode listener|server|client] [-max 1.2|1.3]
//
// then open the printed URL. -mode chooses tlsm's part: "client" answers
// a=setup:active and dials with dtls.Client; "server" answers
// a=setup:passive and serves the one browser with dtls.Server;
// "listener" does the same through dtls.NewListener, as a server of many
// peers would. -max 1.3 lets tlsm negotiate DTLS 1.3, which Chromium
// offers first; by default tlsm speaks DTLS 1.2. Each connection prints one line: tlsm's view of the DTLS
// connection and the browser's getStats().
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP address to serve the page on (loopback only)")
	mode := flag.String("mode", string(ModeListener), "tlsm's part: client, server or listener")
	maxVersion := flag.String("max", "1.2", "the highest DTLS version tlsm negotiates: 1.2, or 1.3 (RFC 9147, experimental)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *mode, *maxVersion, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "webrtc:", err)
		os.Exit(1)
	}
}

// run serves the page on addr until ctx is done, printing the URL and
// then one line per browser connection to out.
func run(ctx context.Context, addr, modeName, maxVersion string, out io.Writer) error {
	mode, err := ParseMode(modeName)
	if err != nil {
		return err
	}
	if maxVersion != "1.2" && maxVersion != "1.3" {
		return fmt.Errorf("-max %q: want 1.2 or 1.3", maxVersion)
	}
	ln, err := listenLoopback(addr)
	if err != nil {
		return err
	}
	srv, err := NewServer(Options{Mode: mode, DTLS13: maxVersion == "1.3"})
	if err != nil {
		ln.Close()
		return err
	}
	defer srv.Close()
	httpServer := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go httpServer.Serve(ln)
	defer httpServer.Close()
	fmt.Fprintf(out, "open http://%s/ in a browser (tlsm as DTLS %s, up to DTLS %s)\n", ln.Addr(), mode, maxVersion)
	for {
		select {
		case r := <-srv.Results():
			fmt.Fprintln(out, r)
		case <-ctx.Done():
			return nil
		}
	}
}

// listenLoopback listens on addr, which must be a loopback address.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errors.New("-addr must be a loopback address such as 127.0.0.1:8080")
	}
	return net.Listen("tcp", addr)
}
