package fsm

import (
	"bytes"
	"fmt"
	"io"

	"github.com/tlsm/tlsm/flights"
)

// DTLS 1.2 Connection IDs (RFC 9146): each side asks the other, in the
// connection_id extension of its hello, for the CID to put in the records
// it sends it; from the first protected epoch on, a side that was asked
// for a CID sends its records in the tls12_cid format carrying it. A
// receiver then finds the association by the CID instead of the source
// address, so a peer whose address changes (NAT rebinding, a mobile
// client changing networks) keeps its connection. The CIDs are set by the
// first handshake; a renegotiation keeps them.

// MaxConnectionIDLength is the longest CID the extension can carry.
const MaxConnectionIDLength = 255

// ConnectionIDs turns on DTLS 1.2 Connection IDs (Config.ConnectionIDs).
type ConnectionIDs struct {
	// Length is the length of the CIDs we ask peers to put in the
	// records they send us, 0 to MaxConnectionIDLength. 0 asks for none,
	// while we still send the CID a peer asks for. A listener that routes
	// by CID needs all of its CIDs to have one length, this one.
	Length int
	// New, if set, returns each CID we ask for: Length bytes, different
	// from the CIDs of every other live association of the receiver
	// (a listener drops an association's CID that is already taken, and
	// routes that association by address only). A deployment can encode
	// a server or shard identifier in them, for a load balancer that
	// routes datagrams by CID. rand is Config.Rand. Nil draws them from
	// Config.Rand.
	New func(rand io.Reader) ([]byte, error)
	// SkipReturnRoutabilityCheck offers and accepts no return
	// routability check (RFC 9853), for an application that checks a
	// moved peer's address its own way (as CoAP's Echo option does).
	SkipReturnRoutabilityCheck bool
}

// newLocalConnectionID makes the CID we ask the peer for.
func (c *Conn) newLocalConnectionID() ([]byte, error) {
	ids := c.cfg.ConnectionIDs
	if ids.Length < 0 || ids.Length > MaxConnectionIDLength {
		return nil, fmt.Errorf("fsm: ConnectionIDs.Length %d is not in [0, %d]", ids.Length, MaxConnectionIDLength)
	}
	if ids.New == nil {
		cid := make([]byte, ids.Length)
		_, err := io.ReadFull(c.cfg.rand(), cid)
		return cid, err
	}
	cid, err := ids.New(c.cfg.rand())
	if err == nil && len(cid) != ids.Length {
		err = fmt.Errorf("fsm: ConnectionIDs.New returned %d bytes, not Length %d", len(cid), ids.Length)
	}
	return cid, err
}

// wantsConnectionID reports whether this handshake negotiates CIDs: a
// first handshake over datagrams with ConnectionIDs set.
func (c *Conn) wantsConnectionID() bool {
	return c.transport.Datagram && c.cfg.ConnectionIDs != nil && c.handshakes == 0
}

// offerConnectionID puts our CID in a first DTLS ClientHello.
func (c *Conn) offerConnectionID(hello *flights.ClientHello) error {
	if !c.wantsConnectionID() {
		return nil
	}
	cid, err := c.newLocalConnectionID()
	if err != nil {
		return err
	}
	hello.ConnectionIDSupported, hello.ConnectionID = true, cid
	hello.RRC = c.offersPathCheck()
	return nil
}

// acceptConnectionID takes the server's connection_id (checkAnswered12
// has refused one we did not offer).
func (c *Conn) acceptConnectionID(sh *flights.ServerHello) {
	if sh.ConnectionIDSupported {
		c.layer.setConnectionIDs(c.hs.hello.ConnectionID, bytes.Clone(sh.ConnectionID))
		if sh.RRC {
			c.path = &pathCheck{}
		}
	}
}

// chooseConnectionID answers a first DTLS ClientHello's connection_id
// with ours, when we use CIDs.
func (c *Conn) chooseConnectionID(ch *flights.ClientHello, sh *flights.ServerHello) error {
	if !ch.ConnectionIDSupported || !c.wantsConnectionID() {
		return nil
	}
	cid, err := c.newLocalConnectionID()
	if err != nil {
		return err
	}
	sh.ConnectionIDSupported, sh.ConnectionID = true, cid
	c.layer.setConnectionIDs(cid, bytes.Clone(ch.ConnectionID))
	if ch.RRC && c.offersPathCheck() {
		sh.RRC, c.path = true, &pathCheck{}
	}
	return nil
}

// DatagramAdvanced reports whether the datagram last given to
// HandleDatagram carried a record that passed authentication under the
// current keys and is newer than every record before it. Only such a
// datagram may move the peer to the address it came from (RFC 9146 §6):
// a replayed, old or forged record from a new address must change nothing.
func (c *Conn) DatagramAdvanced() bool { return c.layer.advanced() }
