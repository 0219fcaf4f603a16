package main

import (
	"context"
	"fmt"
	"net"

	"github.com/pion/datachannel"
	"github.com/pion/logging"
	"github.com/pion/sctp"
	"github.com/tlsm/tlsm/fsm"
)

// sctpMTU bounds the SCTP packets we send so that each, protected, fits
// one DTLS record of fsm.DefaultMTU: a DTLS 1.2 record adds a 13-byte
// header and, with AES-GCM, an 8-byte explicit nonce and a 16-byte tag.
const sctpMTU = fsm.DefaultMTU - 13 - 8 - 16

// openSCTP starts the SCTP association of the data channels over conn.
// Browsers send INIT as soon as DTLS is up, whatever their DTLS role, and
// so does this end: SCTP makes one association of the two. ctx bounds
// the start only.
func openSCTP(ctx context.Context, conn net.Conn, logs logging.LoggerFactory) (*sctp.Association, error) {
	assoc, err := sctp.ClientContext(ctx,
		sctp.WithNetConn(conn),
		sctp.WithMTU(sctpMTU),
		sctp.WithMaxMessageSize(maxMessageSize),
		sctp.WithLoggerFactory(logs),
	)
	if err != nil {
		return nil, fmt.Errorf("sctp: %w", err)
	}
	return assoc, nil
}

// echoDataChannel accepts the browser's data channel on assoc and sends
// every message back as it came, text or binary; onEcho hears of each
// before it goes back. It returns when the channel or association ends.
func echoDataChannel(assoc *sctp.Association, logs logging.LoggerFactory, onEcho func(msg []byte)) error {
	ch, err := datachannel.Accept(assoc, &datachannel.Config{LoggerFactory: logs})
	if err != nil {
		return fmt.Errorf("data channel: %w", err)
	}
	defer ch.Close()
	buf := make([]byte, maxMessageSize)
	for {
		n, isString, err := ch.ReadDataChannel(buf)
		if err != nil {
			return err
		}
		onEcho(buf[:n])
		if _, err := ch.WriteDataChannel(buf[:n], isString); err != nil {
			return err
		}
	}
}
