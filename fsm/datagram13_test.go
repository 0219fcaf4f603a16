package fsm

import (
	"bytes"
	"testing"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/record"
)

// layerPair13 is two DTLS Conns used for their datagram layers alone, as
// if a DTLS 1.3 handshake had negotiated TLS_AES_128_GCM_SHA256.
type layerPair13 struct {
	w, r *Conn
}

func newLayerPair13(t *testing.T) *layerPair13 {
	p := &layerPair13{w: NewDTLSClient(&Config{}), r: NewDTLSServer(&Config{}, []byte("peer"))}
	for _, c := range []*Conn{p.w, p.r} {
		c.suite, c.version = cipher.SuiteByID(cipher.TLS_AES_128_GCM_SHA256), VersionTLS13
	}
	return p
}

// rekey moves the writer and, when read is set, the reader to keys from
// secret.
func (p *layerPair13) rekey(t *testing.T, secret byte, read bool) {
	t.Helper()
	st, sn, err := p.w.trafficKeys(bytes.Repeat([]byte{secret}, 32))
	if err != nil || sn == nil {
		t.Fatalf("write keys: %v, record number key %v", err, sn)
	}
	if err := p.w.layer.setWriteState(st, sn); err != nil {
		t.Fatal(err)
	}
	if read {
		st, sn, _ := p.r.trafficKeys(bytes.Repeat([]byte{secret}, 32))
		p.r.layer.setReadState(st, sn)
	}
}

// send returns the datagrams of one application data record.
func (p *layerPair13) send(t *testing.T, payload string) [][]byte {
	t.Helper()
	p.w.begin(time.Now())
	if err := p.w.layer.writeRecord(record.TypeApplicationData, []byte(payload)); err != nil {
		t.Fatal(err)
	}
	p.w.end()
	var out [][]byte
	for ev := p.w.NextEvent(); ev.Kind != EventNone; ev = p.w.NextEvent() {
		if ev.Kind == EventTransmit {
			out = append(out, bytes.Clone(ev.Data))
		}
	}
	return out
}

// receive feeds a datagram to the reader's layer and returns the
// application data it yields.
func (p *layerPair13) receive(d []byte) []string {
	p.r.layer.feed(bytes.Clone(d), false)
	var got []string
	for {
		typ, payload, ok, _ := p.r.layer.nextRecord()
		if !ok {
			return got
		}
		if typ == record.TypeApplicationData {
			got = append(got, string(payload))
		}
	}
}

// TestDatagramLayerDTLS13: over DTLS 1.3 the datagram layer writes
// unified-header records (epoch 2 for the first keys, then 3), reads them
// back, drops a replay, keeps taking the previous epoch's data after a
// change, and reads a record of the next epoch that came early once its
// keys are installed.
func TestDatagramLayerDTLS13(t *testing.T) {
	p := newLayerPair13(t)
	p.rekey(t, 1, true)
	dg := p.send(t, "first")
	if len(dg) != 1 || !record.IsDTLS13Ciphertext(dg[0][0]) || dg[0][0]&3 != 2 {
		t.Fatalf("datagrams %x: want one unified-header record of epoch 2", dg)
	}
	if got := p.receive(dg[0]); len(got) != 1 || got[0] != "first" {
		t.Fatalf("read %q", got)
	}
	if got := p.receive(dg[0]); len(got) != 0 {
		t.Fatalf("a replay was read: %q", got)
	}
	old := p.send(t, "late, of epoch 2")

	p.rekey(t, 2, false)
	early := p.send(t, "early, of epoch 3")
	if early[0][0]&3 != 3 {
		t.Fatalf("epoch bits %d, want 3", early[0][0]&3)
	}
	if got := p.receive(early[0]); len(got) != 0 {
		t.Fatalf("a record of an epoch without keys was read: %q", got)
	}
	p.r.hs = &handshake{} // records come early only during a handshake
	p.receive(early[0])
	p.r.hs = nil
	st, sn, _ := p.r.trafficKeys(bytes.Repeat([]byte{2}, 32))
	p.r.layer.setReadState(st, sn) // prepends what came early to the datagram being read
	typ, payload, ok, _ := p.r.layer.nextRecord()
	if !ok || typ != record.TypeApplicationData || string(payload) != "early, of epoch 3" {
		t.Fatalf("the early record: %v %d %q", ok, typ, payload)
	}
	if got := p.receive(old[0]); len(got) != 1 || got[0] != "late, of epoch 2" {
		t.Fatalf("the previous epoch's late data: %q", got)
	}
	for i := range 300 { // past the 8-bit and 16-bit windows of the low bits
		d := p.send(t, "again")
		if i%100 == 0 || i > 290 {
			if got := p.receive(d[0]); len(got) != 1 {
				t.Fatalf("record %d: %q", i, got)
			}
		}
	}
}

// TestDatagramLayerDTLS13ConnectionID: with Connection IDs the records
// carry the reader's, and it reads only records carrying it.
func TestDatagramLayerDTLS13ConnectionID(t *testing.T) {
	p := newLayerPair13(t)
	cid := []byte{0xc1, 0xd0, 0, 1}
	p.w.layer.setConnectionIDs(nil, cid)
	p.r.layer.setConnectionIDs(cid, nil)
	p.rekey(t, 1, true)
	dg := p.send(t, "with a CID")
	if dg[0][0]&0x10 == 0 || !bytes.Equal(dg[0][1:5], cid) {
		t.Fatalf("record %x: no CID", dg[0][:8])
	}
	if got := p.receive(dg[0]); len(got) != 1 {
		t.Fatalf("read %q", got)
	}
	p.r.layer.setConnectionIDs([]byte{9, 9, 9, 9}, nil)
	if got := p.receive(p.send(t, "for another CID")[0]); len(got) != 0 {
		t.Fatalf("a record for another CID was read: %q", got)
	}
}
