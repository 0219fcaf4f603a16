// Command peer is tlsm's counterpart of openssl s_client and s_server: a
// TLS or DTLS client or server driven from standard input, for poking real peers
// by hand and from scripts.
//
//	go run ./examples/peer -connect HOST:PORT [flags]   # client
//	go run ./examples/peer -listen  HOST:PORT [flags]   # server
//
// Standard output carries exactly the application data received. Standard
// error carries one logfmt line per event (msg=handshake, msg=alert,
// msg=error, msg=closed, ...). The command-line contract is described in
// docs and in the usage text below; scripts depend on it, so extend it and
// do not change it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

const usage = `usage:
  peer -connect HOST:PORT [flags]     # client
  peer -listen  HOST:PORT [flags]     # server

flags:
  -dtls                 DTLS over UDP (default: TLS over TCP)
  -min 1.2|1.3          lowest version offered/accepted (default 1.2)
  -max 1.2|1.3          highest version (default 1.3; with -dtls 1.2, as
                        DTLS 1.3 is experimental: -max 1.3 turns it on)
  -cert F -key F        PEM certificate and key (server default: a generated
                        self-signed ECDSA P-256 certificate for localhost/127.0.0.1)
  -ca F                 PEM roots to verify the peer; -insecure skips verification
                        (server: -ca requires and verifies a client certificate)
  -servername NAME      SNI and the name verified (client; default: the host of -connect)
  -client-renegotiation server: accept client-initiated renegotiation (default: refuse)
  -no-renegotiation     refuse every renegotiation
  -echo                 server: write every received line back (DTLS: every
                        received record)
  -accept N             server: exit after N connections (default 1); sessions
                        are reused across them
  -reconnect N          client: first connect N times, handshaking and closing
                        each time, resuming the session, then run as usual
  -keylog F             NSS key log, appended to (Wireshark/tshark can decrypt with it)
  -mtu N                DTLS path MTU (default: the core's)
  -cid N                DTLS Connection IDs (RFC 9146): ask the peer for CIDs
                        of N bytes (0: none, but use the peer's); default off

stdin, one line at a time:
  R                     renegotiate, TLS/DTLS 1.2 (client: full handshake;
                        server: HelloRequest)
  A                     abbreviated renegotiation (client offers the session)
  k                     KeyUpdate, update_not_requested
  K                     KeyUpdate, update_requested
  Q                     send close_notify and exit
  anything else         sent as application data, newline included
  end of input          client: send close_notify and exit;
                        server: keep serving until the client closes

stdout carries exactly the application data received. stderr carries one
logfmt line per event:
  msg=listening addr=HOST:PORT
  msg=handshake version=TLS1.3|TLS1.2|DTLS1.2 cipher=<IANA name> resumed=true|false n=<count>
  msg=key_update dir=sent|received type=requested|not_requested
  msg=renegotiation event=requested dir=sent|received
                        a HelloRequest (server: sent, client: received)
  msg=renegotiation event=started resumed=true|false
                        a renegotiation handshake begins; resumed says
                        whether the client offers the current session
                        (always false on a server: see msg=handshake)
  msg=connection_id local=<hex>|none peer=<hex>|none
                        after the first handshake, when CIDs were negotiated:
                        the CID in the records received, and in those sent
  msg=alert dir=sent|received level=warning|fatal desc=<name>
  msg=error err=<text>
  msg=closed

Exit status: 0 after a clean close, 1 after a fatal alert or error,
2 for bad usage.
`

// options are the parsed command-line flags.
type options struct {
	connect, listen     string
	dtls                bool
	minVer, maxVer      string
	maxSet              bool // -max was given
	certFile, keyFile   string
	caFile              string
	insecure            bool
	serverName          string
	clientRenegotiation bool
	noRenegotiation     bool
	echo                bool
	accept              int
	reconnect           int
	keylog              string
	mtu                 int
	cid                 int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// newLogger returns the event logger: slog's TextHandler without the time
// and level keys, so that each line starts with msg=.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				if a.Value.Kind() == slog.KindTime {
					return slog.Attr{}
				}
			case slog.LevelKey:
				// Only the handler's own level; msg=alert has a level too.
				if _, ok := a.Value.Any().(slog.Level); ok {
					return slog.Attr{}
				}
			}
			return a
		},
	}))
}

func parseFlags(args []string, stderr io.Writer) (*options, int) {
	o := &options{}
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&o.connect, "connect", "", "")
	fs.StringVar(&o.listen, "listen", "", "")
	fs.BoolVar(&o.dtls, "dtls", false, "")
	fs.StringVar(&o.minVer, "min", "1.2", "")
	fs.StringVar(&o.maxVer, "max", "1.3", "")
	fs.StringVar(&o.certFile, "cert", "", "")
	fs.StringVar(&o.keyFile, "key", "", "")
	fs.StringVar(&o.caFile, "ca", "", "")
	fs.BoolVar(&o.insecure, "insecure", false, "")
	fs.StringVar(&o.serverName, "servername", "", "")
	fs.BoolVar(&o.clientRenegotiation, "client-renegotiation", false, "")
	fs.BoolVar(&o.noRenegotiation, "no-renegotiation", false, "")
	fs.BoolVar(&o.echo, "echo", false, "")
	fs.IntVar(&o.accept, "accept", 1, "")
	fs.IntVar(&o.reconnect, "reconnect", 0, "")
	fs.StringVar(&o.keylog, "keylog", "", "")
	fs.IntVar(&o.mtu, "mtu", 0, "")
	fs.IntVar(&o.cid, "cid", -1, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	fs.Visit(func(f *flag.Flag) { o.maxSet = o.maxSet || f.Name == "max" })
	bad := func(format string, args ...any) (*options, int) {
		fmt.Fprintf(stderr, "peer: "+format+"\n", args...)
		fs.Usage()
		return nil, 2
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case (o.connect == "") == (o.listen == ""):
		return bad("give exactly one of -connect and -listen")
	case (o.certFile == "") != (o.keyFile == ""):
		return bad("-cert and -key go together")
	case o.accept < 1:
		return bad("-accept must be at least 1")
	case o.reconnect < 0:
		return bad("-reconnect must not be negative")
	case o.mtu < 0:
		return bad("-mtu must not be negative")
	}
	return o, -1
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if o == nil {
		return code
	}
	log := newLogger(stderr)
	cfg, closeCfg, err := buildConfig(o)
	if err != nil {
		log.Info("error", "err", err.Error())
		return 1
	}
	defer closeCfg()

	p := &peer{opts: o, cfg: cfg, log: log, stdout: stdout, lines: readLines(stdin)}
	if o.connect != "" {
		return p.client()
	}
	return p.server()
}

// readLines reads stdin one line at a time, newline included; the channel
// closes at end of input. A last line without a newline is passed on too.
func readLines(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				ch <- line
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}
