package benchsuite

import (
	"crypto/aes"
	gocipher "crypto/cipher"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// The AEAD benchmarks are the ceiling of bulk throughput: sealing and
// opening the bytes of one record with the AEAD that tlsm's record layer
// uses (crypto/cipher AES-GCM, x/crypto ChaCha20-Poly1305), called
// directly, with no record layer around it.

// AEADAES128GCM16K seals and opens a TLS 1.3 AES-128-GCM record of 16 KiB
// (plus the inner content type) with a 5-byte header as additional data.
func AEADAES128GCM16K(b *testing.B) { aeadBench(b, newAESGCM(b, 16), BulkSize+1, 5, BulkSize) }

// AEADChaCha16K is AEADAES128GCM16K with ChaCha20-Poly1305.
func AEADChaCha16K(b *testing.B) {
	a, err := chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	aeadBench(b, a, BulkSize+1, 5, BulkSize)
}

// AEADAES128GCM1200 seals and opens a DTLS 1.2 AES-128-GCM record of
// 1,200 bytes with its 13-byte additional data.
func AEADAES128GCM1200(b *testing.B) {
	aeadBench(b, newAESGCM(b, 16), DTLSBulkSize, 13, DTLSBulkSize)
}

// AEADAES128GCM1200DTLS13 is AEADAES128GCM1200 shaped as a DTLS 1.3
// record: 1,200 bytes and the inner content type sealed and opened, with
// the 5-byte unified header tlsm sends (16-bit record number, length) as
// additional data. Record number encryption, one AES block each way, is
// not in it.
func AEADAES128GCM1200DTLS13(b *testing.B) {
	aeadBench(b, newAESGCM(b, 16), DTLSBulkSize+1, 5, DTLSBulkSize)
}

func newAESGCM(b *testing.B, keyLen int) gocipher.AEAD {
	block, err := aes.NewCipher(make([]byte, keyLen))
	if err != nil {
		b.Fatal(err)
	}
	a, err := gocipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// aeadBench seals plainLen bytes and opens them again per operation,
// counting payload bytes of application data.
func aeadBench(b *testing.B, a gocipher.AEAD, plainLen, adLen, payload int) {
	nonce := make([]byte, a.NonceSize())
	ad := make([]byte, adLen)
	plain := make([]byte, plainLen)
	buf := make([]byte, 0, plainLen+a.Overhead())
	b.SetBytes(int64(payload))
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		seq++
		nonce[len(nonce)-1], nonce[len(nonce)-2] = byte(seq), byte(seq>>8)
		sealed := a.Seal(buf[:0], nonce, plain, ad)
		if _, err := a.Open(sealed[:0], nonce, sealed, ad); err != nil {
			b.Fatal(err)
		}
	}
}
