package cipher

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"testing"

	"golang.org/x/crypto/chacha20"
)

// TestRecordNumberMask checks the DTLS 1.3 record number masks against
// the primitives RFC 9147 §4.2.3 names: AES-ECB of the sample, and the
// ChaCha20 keystream whose counter and nonce are the sample, computed by
// x/crypto's ChaCha20; and that applying a mask twice restores the bytes.
func TestRecordNumberMask(t *testing.T) {
	secret := bytes.Repeat([]byte{0x5a}, 32)
	for _, id := range TLS13Suites() {
		s := SuiteByID(id)
		k, err := DTLS13Labels.NewRecordNumberKey(s, secret)
		if err != nil {
			t.Fatal(err)
		}
		snKey := DTLS13Labels.ExpandLabel(s.Hash, secret, "sn", nil, s.KeyLen)
		for i := range 50 {
			sample := bytes.Repeat([]byte{byte(i), byte(i * 7), 0xff, byte(i * 13)}, 5) // 20 bytes
			var want [16]byte
			if s.chacha {
				c, err := chacha20.NewUnauthenticatedCipher(snKey, sample[4:16])
				if err != nil {
					t.Fatal(err)
				}
				c.SetCounter(binary.LittleEndian.Uint32(sample))
				c.XORKeyStream(want[:], make([]byte, 16))
			} else {
				b, _ := aes.NewCipher(snKey)
				b.Encrypt(want[:], sample[:16])
			}
			seq := []byte{0x12, 0x34}
			if err := k.Apply(seq, sample); err != nil {
				t.Fatal(err)
			}
			if seq[0] != 0x12^want[0] || seq[1] != 0x34^want[1] {
				t.Fatalf("%s sample %d: masked %x, want %x", s.Name, i, seq, []byte{0x12 ^ want[0], 0x34 ^ want[1]})
			}
			if err := k.Apply(seq, sample); err != nil || seq[0] != 0x12 || seq[1] != 0x34 {
				t.Fatalf("%s: a second Apply gave %x", s.Name, seq)
			}
		}
		if k.Apply([]byte{1}, make([]byte, 15)) == nil {
			t.Fatalf("%s: a 15-byte sample was taken", s.Name)
		}
		if n := testing.AllocsPerRun(100, func() { k.Apply([]byte{1, 2}, secret) }); n != 0 {
			t.Fatalf("%s: %v allocations per mask", s.Name, n)
		}
	}
}

// TestSealOpenSeq: records sealed by number open by that number only.
func TestSealOpenSeq(t *testing.T) {
	s := SuiteByID(TLS_AES_128_GCM_SHA256)
	w, _ := DTLS13Labels.NewTrafficState(s, bytes.Repeat([]byte{1}, 32))
	r, _ := DTLS13Labels.NewTrafficState(s, bytes.Repeat([]byte{1}, 32))
	ad := []byte{0x2c, 0, 7}
	sealed := w.SealSeq(nil, 7, ad, []byte("seven"))
	if _, err := r.OpenSeq(nil, 8, ad, sealed); err == nil {
		t.Fatal("opened under the wrong record number")
	}
	if _, err := r.OpenSeq(nil, 7, []byte{0x2c, 0, 8}, sealed); err == nil {
		t.Fatal("opened with other additional data")
	}
	got, err := r.OpenSeq(nil, 7, ad, sealed)
	if err != nil || string(got) != "seven" {
		t.Fatalf("OpenSeq: %q, %v", got, err)
	}
}
