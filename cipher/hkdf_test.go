package cipher

import (
	"bytes"
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"encoding/binary"
	"testing"
)

// TestMACMatchesHMAC checks the key schedule's HMAC against crypto/hmac for
// keys shorter than, equal to and longer than the hash block size.
func TestMACMatchesHMAC(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		for _, keyLen := range []int{0, 1, 32, 48, 64, 127, 128, 129, 200} {
			key := bytes.Repeat([]byte{byte(keyLen)}, keyLen)
			a, b := []byte("first part"), bytes.Repeat([]byte("second"), keyLen) // up to past the stack buffer
			want := hmac.New(h.New, key)
			want.Write(a)
			want.Write(b)
			m := newMAC(h, key)
			for range 2 { // a second sum must not see the first
				got := m.sum([]byte("prefix"), a, b)
				if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want.Sum(nil)) {
					t.Fatalf("%v key %d: HMAC mismatch", h, keyLen)
				}
			}
		}
	}
}

// TestExpandLabelMatchesHKDF checks ExpandLabel and extract against
// crypto/hkdf across single- and multi-block output lengths.
func TestExpandLabelMatchesHKDF(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		secret := extract(h, []byte("input keying material"), []byte("salt"))
		want, err := hkdf.Extract(h.New, []byte("input keying material"), []byte("salt"))
		if err != nil || !bytes.Equal(secret, want) {
			t.Fatalf("%v: Extract mismatch (%v)", h, err)
		}
		long := bytes.Repeat([]byte{7}, 250) // past the stack buffers
		// DTLS 1.3's prefix has no trailing space (RFC 9147 §5.9).
		for prefix, labels := range map[string]Labels{"tls13 ": TLS13Labels, "dtls13": DTLS13Labels} {
			for _, context := range [][]byte{nil, []byte("ctx"), long} {
				for _, n := range []int{1, 12, 16, 32, 33, 48, 64, 100, 255} {
					info := binary.BigEndian.AppendUint16(nil, uint16(n))
					info = append(info, byte(len(prefix+"key")))
					info = append(info, prefix+"key"...)
					info = append(info, byte(len(context)))
					info = append(info, context...)
					want, err := hkdf.Expand(h.New, secret, string(info), n)
					got := labels.ExpandLabel(h, secret, "key", context, n)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%v %q length %d context %d: ExpandLabel mismatch (%v)", h, prefix, n, len(context), err)
					}
				}
			}
		}
	}
}

// TestAppendDerive checks that secrets derived into one block equal
// Derive's and that none can grow into the next.
func TestAppendDerive(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		s := TLS13Labels.NewSchedule(h, nil)
		s.ToHandshake(bytes.Repeat([]byte{7}, 32))
		th := bytes.Repeat([]byte{9}, h.Size())
		n := h.Size()
		block := make([]byte, 0, 2*n)
		a := s.AppendDerive(block, LabelClientHandshake, th)
		b := s.AppendDerive(block[n:n], LabelServerHandshake, th)
		if !bytes.Equal(a, s.Derive(LabelClientHandshake, th)) || !bytes.Equal(b, s.Derive(LabelServerHandshake, th)) {
			t.Fatalf("%v: AppendDerive differs from Derive", h)
		}
		if cap(a) != n || cap(b) != n {
			t.Fatalf("%v: capacities %d, %d, want %d", h, cap(a), cap(b), n)
		}
	}
}

// BenchmarkExpandLabel times one HKDF-Expand-Label of a traffic key, the
// key schedule's most frequent step.
func BenchmarkExpandLabel(b *testing.B) {
	secret := extract(crypto.SHA256, []byte("input keying material"), nil)
	dst := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		TLS13Labels.appendExpandLabel(dst, crypto.SHA256, secret, "key", nil, 16)
	}
}
