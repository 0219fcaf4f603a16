package main

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/dtls"
	"github.com/tlsm/tlsm/fsm"
)

// TestLoopServesManyClients runs the loop on one UDP socket and talks to it
// from 20 DTLS clients at once.
func TestLoopServesManyClients(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	cert, err := selfSigned()
	require.NoError(t, err)
	l := newLoop(pc, &fsm.Config{Certificates: []fsm.Certificate{cert}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- l.run(stop) }()
	defer func() {
		close(stop)
		pc.Close()
		require.NoError(t, <-done)
	}()

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- talk(pc.LocalAddr().String())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// talk handshakes, sends five lines and checks they come back in upper
// case.
func talk(addr string) error {
	c, err := dtls.Dial("udp", addr, &fsm.Config{InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	for i := 0; i < 5; i++ {
		line := "hello from a client " + strings.Repeat("x", i)
		if _, err := c.Write([]byte(line)); err != nil {
			return err
		}
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != strings.ToUpper(line) {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// TestClientsFromOneGoroutine runs the -clients mode small: every client
// completes a full handshake and gets its line back in upper case, and
// the whole takes two goroutines, the server's loop and the clients'.
func TestClientsFromOneGoroutine(t *testing.T) {
	var out strings.Builder
	require.NoError(t, runClients(300, 32, &out))
	require.Contains(t, out.String(), "handshakes: 300 full, 0 resumed")
	require.Contains(t, out.String(), "echo: 300 lines there and back")
	require.Regexp(t, `; [23] goroutines in all`, out.String())
}
