package main

import (
	"fmt"
	"strings"
	"sync"

	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/hsassembly"
	"github.com/tlsm/tlsm/record"
)

// HelloSeen is one ClientHello the browser sent: how many datagrams
// carried its fragments, and the groups of its key shares.
type HelloSeen struct {
	Datagrams int
	KeyShares []fsm.CurveID
}

// maxHellosSeen bounds what a helloWatch keeps: a client sends two
// ClientHellos at most (the second after a HelloRetryRequest).
const maxHellosSeen = 2

// helloWatch looks at the datagrams tlsm's server receives for the
// ClientHellos in them (epoch 0, in the clear), for the result.
type helloWatch struct {
	mu        sync.Mutex
	assembler hsassembly.Assembler
	pending   map[uint16]int // datagrams per message_seq not yet whole
	hellos    []HelloSeen
	stopped   bool
}

// stop ends the watch: the handshake is over.
func (w *helloWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped, w.pending = true, nil
}

// datagram notes the ClientHello fragments of one datagram.
func (w *helloWatch) datagram(d []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || len(w.hellos) >= maxHellosSeen {
		return
	}
	counted := map[uint16]bool{}
	for len(d) > 0 {
		rec, rest, err := record.ParseDTLSRecord(d)
		if err != nil {
			return // a DTLS 1.3 protected record, or no DTLS at all
		}
		d = rest
		frag := rec.Payload
		if rec.Type != record.TypeHandshake || rec.Epoch != 0 || len(frag) < hsassembly.HeaderLen || frag[0] != byte(flights.TypeClientHello) {
			continue
		}
		seq := uint16(frag[4])<<8 | uint16(frag[5])
		if seq >= maxHellosSeen { // a client's hellos are messages 0 and 1
			continue
		}
		if w.pending == nil {
			w.pending = map[uint16]int{}
		}
		if !counted[seq] {
			counted[seq] = true
			w.pending[seq]++
		}
		if _, body, ok := w.assembler.Add(frag); ok {
			w.hellos = append(w.hellos, seenHello(body, w.pending[seq]))
			delete(w.pending, seq)
		}
	}
}

func seenHello(body []byte, datagrams int) HelloSeen {
	seen := HelloSeen{Datagrams: datagrams}
	var ch flights.ClientHello
	if ch.UnmarshalDTLS(body) == nil {
		for _, ks := range ch.KeyShares {
			seen.KeyShares = append(seen.KeyShares, fsm.CurveID(ks.Group))
		}
	}
	return seen
}

// String is the hello as the result's line shows it: its datagrams and
// the groups of its key shares.
func (h HelloSeen) String() string {
	groups := make([]string, len(h.KeyShares))
	for i, g := range h.KeyShares {
		groups[i] = g.String()
	}
	return fmt.Sprintf("%d:%s", h.Datagrams, strings.Join(groups, "+"))
}

// seen returns the ClientHellos seen so far.
func (w *helloWatch) seen() []HelloSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]HelloSeen(nil), w.hellos...)
}
