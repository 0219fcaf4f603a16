package fsmtest

import (
	"fmt"
	"time"
)

// Addr is an address on the simulated datagram network. The server is
// at ServerAddr; the client starts at ClientAddr and, each time its NAT
// rebinds, gets the next address never used; an attacker sends from
// AttackerAddr. A datagram carries the address of its sender at the time
// it was sent, and one that arrives for an address the client no longer
// has is lost, as the NAT has dropped that mapping.
type Addr uint32

// Addresses.
const (
	ServerAddr   Addr = 1
	AttackerAddr Addr = 2
	ClientAddr   Addr = 3 // the client's first address
)

// String returns "@" and the address's number.
func (a Addr) String() string { return fmt.Sprintf("@%d", uint32(a)) }

// Addr returns side's current address.
func (n *Network) Addr(side Side) Addr {
	if side == Server {
		return ServerAddr
	}
	return n.client
}

// Rebinds returns how many times the client's address changed.
func (n *Network) Rebinds() int { return n.rebinds }

// Rebind gives the client a new address now, as a NAT that rebinds: what
// it sends from now on comes from there, and what is in flight to its old
// address is lost when it arrives. It panics over TLS: a stream has no
// addresses here.
func (n *Network) Rebind() Addr {
	n.mustDatagram("Rebind")
	old := n.client
	n.client = ClientAddr + Addr(n.rebinds) + 1
	n.rebinds++
	n.logf("net client rebinds %s -> %s", old, n.client)
	return n.client
}

// RebindAfter schedules Rebind at d from now. It panics over TLS.
func (n *Network) RebindAfter(d time.Duration) {
	n.mustDatagram("RebindAfter")
	n.push(&item{at: n.now.Add(max(d, 0)), kind: itemRebind, to: Client})
}

func (n *Network) mustDatagram(what string) {
	if n.transport != DTLS {
		panic("sim: " + what + " over " + n.transport.String() + ": only datagrams have addresses")
	}
}

// gone reports whether a datagram arrives for an address the client no
// longer has, counting and tracing it as lost.
func (n *Network) gone(it *item) bool {
	if n.transport != DTLS || it.to != Client || it.dst == n.client {
		return false
	}
	n.stats[Server].Gone++
	n.logf("net server>client drop %dB to %s: gone", len(it.data), it.dst)
	return true
}
