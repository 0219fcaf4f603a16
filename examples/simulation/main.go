// Command simulation runs one seed of two scenarios on the deterministic
// network simulator of fsm/fsmtest, prints the full event trace of each
// and checks their properties:
//
//	go run ./examples/simulation -seed 7
//
// The DTLS 1.2 scenario runs over a link that loses, duplicates and
// reorders datagrams, with renegotiations started by both sides and
// Connection IDs (RFC 9146); halfway through, once connected (or else
// at the end), the client's NAT rebinds, giving it a new address. The TLS 1.3 scenario runs over a stream cut at
// random points, with key updates from both sides. Each side writes
// messages that carry a unique id. When the schedule is done the link
// turns clean and the network runs until it is quiet (over DTLS, the
// client first writes from its new address, which the server follows by
// the Connection ID, and each side then writes once more); then the sides
// must agree (both open with the same number of handshakes, or both
// closed), neither may have sent a fatal alert, TLS must have delivered
// every byte once and in order, DTLS no message twice and the last
// messages, the server must send to the client's new address, and each
// change of state must follow the edges of fsm.Table(). The command exits
// 0 when the properties hold, and 1 naming the first one violated
// otherwise.
//
// The same seed prints the same output, byte for byte, in every process:
// the certificates are Ed25519 (whose signatures are deterministic) made
// from fixed keys, serial numbers and validity, every Config.Rand is
// fsmtest.Rand of the seed, and the simulator draws everything else from the
// seed.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/fsm/fsmtest"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the run")
	flag.Parse()
	os.Exit(run(*seed, os.Stdout))
}

// run runs both scenarios of seed, writing their traces and verdicts to w,
// and returns the exit code.
func run(seed uint64, w io.Writer) int {
	pki, err := newPKI()
	if err != nil {
		fmt.Fprintln(w, "simulation:", err)
		return 1
	}
	code := 0
	for _, tr := range []fsmtest.Transport{fsmtest.DTLS, fsmtest.TLS} {
		fmt.Fprintf(w, "== %s, seed %d\n", tr, seed)
		r := scenario(seed, tr, pki)
		for _, line := range r.s.Trace() {
			fmt.Fprintln(w, line)
		}
		if v := r.check(); v != "" {
			fmt.Fprintf(w, "== %s: property violated: %s\n", tr, v)
			code = 1
			continue
		}
		fmt.Fprintf(w, "== %s: properties hold: %d handshakes each, %d and %d messages delivered, state %s / %s\n",
			tr, r.s.Client.Handshakes, len(r.s.Client.Messages), len(r.s.Server.Messages),
			r.s.Client.Conn.State(), r.s.Server.Conn.State())
		if tr == fsmtest.DTLS {
			fmt.Fprintf(w, "== DTLS: the client moved %d times, the server followed it along %v\n",
				r.s.Rebinds(), r.s.PeerAddrs())
		}
	}
	return code
}

// pki is a CA and a leaf for localhost, both Ed25519, made the same way in
// every process.
type pki struct {
	leaf  fsm.Certificate
	roots *x509.CertPool
	epoch time.Time
}

func newPKI() (*pki, error) {
	notBefore := fsmtest.DefaultEpoch.Add(-time.Hour)
	caKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	leafKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsm simulation CA"},
		NotBefore: notBefore, NotAfter: notBefore.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(nil, ca, ca, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: notBefore, NotAfter: notBefore.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(nil, leaf, ca, leafKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &pki{
		leaf:  fsm.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
		roots: roots, epoch: fsmtest.DefaultEpoch,
	}, nil
}

// result is one scenario's run and what was written.
type result struct {
	s      *fsmtest.Sim
	tr     fsmtest.Transport
	sent   [2][]byte
	msgs   [2]map[uint64]string
	states [2][]fsm.State
	// last holds the id of each side's last message (DTLS).
	last [2]uint64
	id   uint64
}

func (r *result) observe() {
	for _, e := range []*fsmtest.Endpoint{r.s.Client, r.s.Server} {
		st := e.Conn.State()
		if n := len(r.states[e.Side]); n == 0 || r.states[e.Side][n-1] != st {
			r.states[e.Side] = append(r.states[e.Side], st)
		}
	}
}

// scenario runs the schedule of seed over tr.
func scenario(seed uint64, tr fsmtest.Transport, p *pki) *result {
	rng := rand.New(rand.NewPCG(seed, uint64(tr)))
	r := &result{tr: tr, msgs: [2]map[uint64]string{{}, {}}}
	server := &fsm.Config{
		Rand: fsmtest.Rand(seed, fsmtest.Server), Certificates: []fsm.Certificate{p.leaf},
		AllowClientRenegotiation: true, MaxRetransmits: 20,
	}
	client := &fsm.Config{Rand: fsmtest.Rand(seed, fsmtest.Client), RootCAs: p.roots, ServerName: "localhost", MaxRetransmits: 20}
	link := fsmtest.Link{Delay: 10 * time.Millisecond, Jitter: 10 * time.Millisecond}
	if tr == fsmtest.DTLS {
		link.Loss, link.Duplicate, link.Reorder = 0.1, 0.1, 0.2
		// The client asks for no CID in what it receives; the server for
		// 8 bytes, by which it finds the client wherever it moves.
		client.ConnectionIDs = &fsm.ConnectionIDs{Length: 0}
		server.ConnectionIDs = &fsm.ConnectionIDs{Length: 8}
	}
	opts := fsmtest.Options{Epoch: p.epoch, Link: link, Tamper: func(_ fsmtest.Side, b []byte) []byte {
		if r.s != nil {
			r.observe()
		}
		return b
	}}
	r.s = fsmtest.New(seed, tr, client, server, opts)
	s := r.s
	r.observe()
	if s.Start() != nil {
		return r
	}
	r.id = seed << 20
	rebinding := false
	for i := range 12 {
		side := fsmtest.Side(rng.IntN(2))
		pace := time.Duration(rng.IntN(80)) * time.Millisecond
		if i >= 6 && tr == fsmtest.DTLS && s.Rebinds() == 0 && !rebinding && s.Client.Handshakes > 0 && s.Server.Handshakes > 0 {
			s.Note("the client's NAT will rebind")
			s.RebindAfter(pace / 2)
			rebinding = true
		}
		switch {
		case i%4 == 3 && tr == fsmtest.DTLS:
			s.Note("%s renegotiates", side)
			_ = s.Do(side, func(c *fsm.Conn, now time.Time) error {
				if c.Renegotiate() != nil {
					return nil
				}
				return c.Handshake(now)
			})
		case i%4 == 3:
			s.Note("%s updates its keys", side)
			_ = s.Do(side, func(c *fsm.Conn, now time.Time) error {
				if c.KeyUpdate(fsm.UpdateRequested) != nil {
					return nil
				}
				return c.Handshake(now)
			})
		default:
			r.write(side, rng)
		}
		_ = s.RunFor(pace)
		r.observe()
	}
	s.SetLinks(fsmtest.Link{Delay: link.Delay})
	s.Note("clean link")
	if tr == fsmtest.DTLS {
		// Handshakes under way end (the client's NAT rebinds now if the
		// first handshake took the whole schedule), then the client
		// speaks from its new address, and the server follows it there.
		_ = s.RunFor(2 * time.Minute)
		if s.Rebinds() == 0 {
			s.Note("the client's NAT rebinds, at last")
			s.Rebind()
		}
		for _, side := range []fsmtest.Side{fsmtest.Client, fsmtest.Server} {
			r.last[side] = r.write(side, rng)
			_ = s.Run()
		}
	}
	_ = s.Run()
	r.observe()
	return r
}

// write writes a message from side, an id and random bytes, and returns
// the id, or 0 when the Conn refused it.
func (r *result) write(side fsmtest.Side, rng *rand.Rand) uint64 {
	r.id++
	msg := binary.BigEndian.AppendUint64(nil, r.id)
	for range rng.IntN(500) {
		msg = append(msg, byte(rng.Uint32()))
	}
	if r.s.Write(side, msg) != nil {
		return 0
	}
	r.sent[side] = append(r.sent[side], msg...)
	r.msgs[side][r.id] = string(msg)
	return r.id
}

// check returns the first property violated, or "".
func (r *result) check() string {
	c, sv := r.s.Client, r.s.Server
	for _, e := range []*fsmtest.Endpoint{c, sv} {
		if e.CloseErr != nil {
			return fmt.Sprintf("no fatal alert: %s closed: %v", e.Side, e.CloseErr)
		}
	}
	cClosed, sClosed := c.Conn.State() == fsm.StateClosed, sv.Conn.State() == fsm.StateClosed
	if cClosed != sClosed || !cClosed && c.Handshakes != sv.Handshakes {
		return fmt.Sprintf("agreement: client %s after %d handshakes, server %s after %d",
			c.Conn.State(), c.Handshakes, sv.Conn.State(), sv.Handshakes)
	}
	for _, to := range []*fsmtest.Endpoint{c, sv} {
		from := to.Side.Peer()
		if r.tr == fsmtest.TLS {
			if !bytes.Equal(r.sent[from], to.Received) {
				return fmt.Sprintf("TLS delivers every byte once, in order: %s got %d of %d bytes", to.Side, len(to.Received), len(r.sent[from]))
			}
			continue
		}
		seen := map[uint64]bool{}
		for _, m := range to.Messages {
			if len(m) < 8 || r.msgs[from][binary.BigEndian.Uint64(m)] != string(m) {
				return fmt.Sprintf("DTLS delivers only what was sent: %s got %x", to.Side, m)
			}
			id := binary.BigEndian.Uint64(m)
			if seen[id] {
				return fmt.Sprintf("DTLS delivers a message once: %s got id %#x twice", to.Side, id)
			}
			seen[id] = true
		}
		if !cClosed && r.last[from] != 0 && !seen[r.last[from]] {
			return fmt.Sprintf("DTLS delivers the last messages, on a clean link: %s lacks id %#x", to.Side, r.last[from])
		}
	}
	if r.tr == fsmtest.DTLS && !cClosed && r.s.PeerAddr() != r.s.Addr(fsmtest.Client) {
		return fmt.Sprintf("the server follows the client: it sends to %s, the client is at %s", r.s.PeerAddr(), r.s.Addr(fsmtest.Client))
	}
	reach := fsmtest.Reachable()
	for side, states := range r.states {
		for i := 1; i < len(states); i++ {
			a, b := states[i-1], states[i]
			if b != fsm.StateClosed && !reach[a][b] {
				return fmt.Sprintf("state table: %s went %s -> %s", fsmtest.Side(side), a, b)
			}
		}
	}
	return ""
}
