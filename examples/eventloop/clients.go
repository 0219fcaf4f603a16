package main

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/loadgen"
)

// forgetful is a client session cache that keeps nothing: each client
// here stands for another machine, which would not share sessions, so
// every handshake is a full one.
type forgetful struct{}

func (forgetful) Get(string) (*fsm.Session, bool) { return nil, false }
func (forgetful) Put(string, *fsm.Session)        {}

// runClients serves on 127.0.0.1 from one goroutine and drives n clients
// against it from another, inFlight handshakes at a time; each sends a
// line and checks the echo. It reports to out what that took.
func runClients(n, inFlight int, out io.Writer) error {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	server := newLoop(pc, &fsm.Config{Certificates: []fsm.Certificate{cert}}, quiet)
	stop, served := make(chan struct{}), make(chan error, 1)
	go func() { served <- server.run(stop) }()
	defer func() {
		close(stop)
		pc.Close()
		<-served
	}()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	cfg := &fsm.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: forgetful{}}
	return driveClients(pc.LocalAddr().String(), cfg, n, inFlight, out)
}

// driveClients connects n clients with cfg to server, has each send a
// line and check the echo, and reports.
func driveClients(server string, cfg *fsm.Config, n, inFlight int, out io.Writer) error {
	d, err := loadgen.New(server, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	before := heapInUse()
	made, err := d.Connect(n, inFlight, 5*time.Minute)
	if err != nil {
		return err
	}
	if made.Failed > 0 {
		return fmt.Errorf("%d of %d handshakes failed: %w", made.Failed, n, made.FirstErr)
	}
	line := []byte("hello from one of many clients")
	want := bytes.ToUpper(line)
	echoed, err := d.RoundTrip(line, func(r []byte) bool { return bytes.Equal(r, want) }, inFlight, time.Minute)
	if err != nil {
		return err
	}
	if echoed.Failed > 0 {
		return fmt.Errorf("%d of %d echoes failed: %w", echoed.Failed, n, echoed.FirstErr)
	}
	perConn := float64(heapInUse()-before) / float64(n)
	fmt.Fprintf(out, "%d clients on one goroutine, %d handshakes at a time, against a server on one goroutine\n", n, inFlight)
	fmt.Fprintf(out, "handshakes: %d full, %d resumed, %d flights retransmitted, in %s (%.0f/s)\n",
		made.Done-made.Resumed, made.Resumed, made.Retransmits, made.Elapsed.Round(time.Millisecond), float64(made.Done)/made.Elapsed.Seconds())
	fmt.Fprintf(out, "echo: %d lines there and back in %s\n", echoed.Done, echoed.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "memory: %.0f bytes of live heap per connection, both ends; %d goroutines in all\n", perConn, runtime.NumGoroutine())
	return nil
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
