package benchsuite

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
)

// PublicKeyFloor is the public-key work of one full handshake pair of the
// handshake benchmarks, timed alone: what no implementation can avoid.
// The client and the server each make an ephemeral key of group and
// derive the shared secret (for X25519MLKEM768 also the ML-KEM-768 key
// generation, encapsulation and decapsulation); the server signs with
// its ECDSA P-256 key and the client verifies the signature; with chain
// set, the client also verifies the CA's signature on the leaf, as a
// client does whose certificate cache is cold (or that has none). It is
// the same for TLS 1.2 and TLS 1.3.
func PublicKeyFloor(group fsm.CurveID, chain bool) func(*testing.B) {
	return func(b *testing.B) {
		cert := testcert.MustNew(testcert.ECDSAP256)
		key := cert.Key.(*ecdsa.PrivateKey)
		digest := sha256.Sum256([]byte("the signed content of a CertificateVerify or ServerKeyExchange"))
		hybrid := group == fsm.X25519MLKEM768
		b.ReportAllocs()
		for b.Loop() {
			if err := x25519Exchange(); err != nil {
				b.Fatal(err)
			}
			if hybrid {
				if err := mlkemExchange(); err != nil {
					b.Fatal(err)
				}
			}
			sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
			if err != nil || !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
				b.Fatal("ECDSA signature", err)
			}
			if chain {
				if err := cert.Leaf.CheckSignatureFrom(cert.CA); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// x25519Exchange is an ephemeral X25519 exchange: two key generations,
// two shared secrets.
func x25519Exchange() error {
	client, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	server, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if _, err := server.ECDH(client.PublicKey()); err != nil {
		return err
	}
	_, err = client.ECDH(server.PublicKey())
	return err
}

// mlkemExchange is an ML-KEM-768 exchange as in a handshake: the client's
// key generation, the server's parsing of its encapsulation key and
// encapsulation, the client's decapsulation.
func mlkemExchange() error {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return err
	}
	ek, err := mlkem.NewEncapsulationKey768(dk.EncapsulationKey().Bytes())
	if err != nil {
		return err
	}
	_, ct := ek.Encapsulate()
	_, err = dk.Decapsulate(ct)
	return err
}
