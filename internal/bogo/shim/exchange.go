package main

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/tlsm/tlsm/fsm"
)

// shimInitialWrite is what -shim-writes-first sends.
const shimInitialWrite = "hello"

// connState is what one connection's callbacks observe.
type connState struct {
	opts *options
	// verified and verifyFailed record the verify callback's runs.
	verified     bool
	verifyFailed bool
	// errs are mismatches the callbacks found, reported after the
	// handshake as BoringSSL's shim does.
	errs []error
	// signed is set once one of our credentials signed, and signedWith
	// is its number (-1 for the default credential).
	signed     bool
	signedWith int
}

// verify is the Config's VerifyPeerCertificate. It accepts any chain
// unless -verify-fail; a client without -verify-peer only records a
// failure, as BoringSSL's SSL_VERIFY_NONE does.
func (st *connState) verify(_ [][]byte, _ [][]*x509.Certificate) error {
	st.verified = true
	if !st.opts.verifyFail {
		return nil
	}
	st.verifyFailed = true
	if st.opts.server || st.opts.verifyPeer {
		return errVerifyFailed
	}
	return nil
}

// exchange runs one connection from dial to close.
func (s *shim) exchange(o *options, resume bool) error {
	st := &connState{opts: o}
	cfg, err := s.fsmConfig(o, st)
	if err != nil {
		return err
	}
	sock, err := dial(o)
	if err != nil {
		return err
	}
	c := newConn(newCore(o, cfg), sock, o.dtls, &s.clock, o.async && !o.dtls)
	defer c.finish()
	clientPuts, serverPuts := s.clientCache.count(), s.serverCache.count()
	err = s.run(c, o, resume, st, serverPuts)
	s.newSessions = s.clientCache.count() - clientPuts
	if err != nil {
		return err
	}
	return checkNewSessions(o, resume, s.newSessions)
}

// newCore makes the connection's state machine.
func newCore(o *options, cfg *fsm.Config) *fsm.Conn {
	switch {
	case o.dtls && o.server:
		// The runner is the only peer, and the cookie exchange is off.
		return fsm.NewDTLSServer(cfg, []byte("runner"))
	case o.dtls:
		return fsm.NewDTLSClient(cfg)
	case o.server:
		return fsm.NewServer(cfg)
	}
	return fsm.NewClient(cfg)
}

// checkNewSessions checks the sessions a client cached during a
// connection against -expect-no-session and -expect-ticket-renewal.
func checkNewSessions(o *options, resume bool, n int) error {
	switch {
	case o.expectNoSession && n > 0:
		return errors.New("a session was cached, but -expect-no-session")
	case o.expectTicketRenewal && resume && n == 0:
		return errors.New("no new session was cached, but -expect-ticket-renewal")
	}
	return nil
}

// dial connects to the runner and introduces the shim by its ID.
func dial(o *options) (net.Conn, error) {
	host := "127.0.0.1"
	if o.ipv6 {
		host = "::1"
	}
	sock, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(o.port)))
	if err != nil {
		return nil, err
	}
	var id [8]byte
	binary.LittleEndian.PutUint64(id[:], o.shimID)
	if _, err := sock.Write(id[:]); err != nil {
		sock.Close()
		return nil, err
	}
	return sock, nil
}

// run is the test flow of BoringSSL's shim: handshake and checks, then
// the exporter, the first write, the echo loop and the shutdown.
func (s *shim) run(c *conn, o *options, resume bool, st *connState, serverPuts int) error {
	if err := c.start(); err != nil {
		return err
	}
	if !o.implicitHandshake {
		if err := c.handshake(); err != nil {
			return err
		}
		if err := s.checkHandshake(c, o, resume, st, serverPuts); err != nil {
			return err
		}
		if err := extraHandshake(c, o); err != nil {
			return err
		}
	}
	if err := exportKeyingMaterial(c, o); err != nil {
		return err
	}
	if err := sendTLSUnique(c, o); err != nil {
		return err
	}
	if err := s.transfer(c, o); err != nil {
		return err
	}
	if err := shutdown(c, o); err != nil {
		return err
	}
	if n := c.core.ConnectionState().Handshakes - 1; n != o.expectTotalRenegotiations {
		return fmt.Errorf("%d renegotiations, expected %d", n, o.expectTotalRenegotiations)
	}
	return nil
}

// extraHandshake calls Handshake again on an established connection,
// which has nothing scheduled and must do nothing.
func extraHandshake(c *conn, o *options) error {
	if !o.handshakeTwice && !o.noOpExtraHandshake {
		return nil
	}
	if err := c.core.Handshake(c.clock.now); err != nil {
		return fmt.Errorf("extra Handshake: %w", err)
	}
	return c.drain()
}

// sendTLSUnique sends the runner the tls-unique channel binding.
func sendTLSUnique(c *conn, o *options) error {
	if !o.tlsUnique {
		return nil
	}
	unique := c.core.ConnectionState().TLSUnique
	if len(unique) != 12 {
		return fmt.Errorf("failed to get tls-unique: %d bytes", len(unique))
	}
	return c.write(unique)
}

// exportKeyingMaterial sends the runner the exporter's output.
func exportKeyingMaterial(c *conn, o *options) error {
	if o.exportKeyingMaterial <= 0 {
		return nil
	}
	if err := c.handshake(); err != nil {
		return err
	}
	var context []byte
	if o.useExportContext {
		context = []byte(o.exportContext)
		if context == nil {
			context = []byte{}
		}
	}
	ekm, err := c.core.ExportKeyingMaterial(o.exportLabel, context, o.exportKeyingMaterial)
	if err != nil {
		return fmt.Errorf("exporting keying material: %w", err)
	}
	return c.write(ekm)
}

// transfer is the application's part: writes of set sizes, or the first
// write and the echo loop.
func (s *shim) transfer(c *conn, o *options) error {
	if o.writeDifferentRecordSizes {
		return writeDifferentRecordSizes(c, o)
	}
	if o.shimWritesFirst {
		if err := c.write([]byte(shimInitialWrite)); err != nil {
			return err
		}
	}
	if o.shimShutsDown {
		return nil
	}
	return echo(c, o)
}

func writeDifferentRecordSizes(c *conn, o *options) error {
	if o.dtls {
		return errors.New("-write-different-record-sizes is not for DTLS")
	}
	buf := bytes.Repeat([]byte{0x42}, 32769)
	for _, n := range []int{0, 1, 255, 256, 257, 16383, 16384, 16385, 32767, 32768, 32769} {
		if err := c.write(buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

// echo writes back what it reads, each byte XORed with 0xff, until the
// peer closes. A stream that ends without close_notify ends the loop too,
// as in BoringSSL's shim; -check-close-notify then fails the shutdown.
func echo(c *conn, o *options) error {
	buf := make([]byte, 512)
	if o.dtls {
		buf = make([]byte, 16384)
	}
	for {
		n, err := c.read(buf)
		if errors.Is(err, io.EOF) || errors.Is(err, errTruncated) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.useExporterBetweenReads {
			if _, err := c.core.ExportKeyingMaterial("", nil, 1); err != nil {
				return fmt.Errorf("exporting keying material between reads: %w", err)
			}
		}
		if o.keyUpdate {
			if err := c.core.KeyUpdate(fsm.UpdateNotRequested); err != nil {
				return fmt.Errorf("KeyUpdate: %w", err)
			}
		}
		for i := range buf[:n] {
			buf[i] ^= 0xff
		}
		if err := c.write(buf[:n]); err != nil {
			return err
		}
	}
}

// shutdown ends the connection. Without -check-close-notify the shim
// closes quietly, sending no close_notify, as BoringSSL's shim does.
// With it, close_notify goes out and the peer's must arrive: before the
// shutdown when the peer ended the echo, after it when the shim shuts
// down first, with no application data in between.
func shutdown(c *conn, o *options) error {
	if !o.checkCloseNotify {
		return nil
	}
	if err := c.close(); err != nil {
		return err
	}
	if !o.shimShutsDown {
		if !c.peerClosed {
			return errors.New("the peer's close_notify did not arrive")
		}
		return nil
	}
	for !c.peerClosed && len(c.in) == 0 {
		if err := c.pump(); err != nil {
			return fmt.Errorf("waiting for close_notify: %w", err)
		}
	}
	if len(c.in) > 0 {
		return errors.New("application data on shutdown")
	}
	return nil
}
