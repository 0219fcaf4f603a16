package fsm

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"io"

	"github.com/tlsm/tlsm/record"
)

func curveOf(id CurveID) ecdh.Curve {
	switch id {
	case X25519:
		return ecdh.X25519()
	case CurveP256:
		return ecdh.P256()
	case CurveP384:
		return ecdh.P384()
	}
	return nil
}

func scalarLen(id CurveID) int {
	if id == CurveP384 {
		return 48
	}
	return 32
}

// The hybrid groups of draft-ietf-tls-ecdhe-mlkem: an ECDH share and an
// ML-KEM one in one key_share, whose secrets are concatenated. For
// X25519MLKEM768 the ML-KEM part comes first, in the shares and in the
// secret; for the SecP hybrids the ECDH part does.
type hybrid struct {
	classical CurveID // the ECDH half
	kem1024   bool    // ML-KEM-1024, else ML-KEM-768
	kemFirst  bool
}

// hybridOf returns the parts of a hybrid group, and false for any other.
func hybridOf(id CurveID) (hybrid, bool) {
	switch id {
	case X25519MLKEM768:
		return hybrid{classical: X25519, kemFirst: true}, true
	case SecP256r1MLKEM768:
		return hybrid{classical: CurveP256}, true
	case SecP384r1MLKEM1024:
		return hybrid{classical: CurveP384, kem1024: true}, true
	}
	return hybrid{}, false
}

// groupKnown reports whether tlsm implements group id, ECDH or hybrid.
func groupKnown(id CurveID) bool {
	_, ok := hybridOf(id)
	return ok || curveOf(id) != nil
}

// Sizes of the ML-KEM parts: encapsulation keys and ciphertexts.
const (
	mlkem768KeyLen         = mlkem.EncapsulationKeySize768
	mlkem768CiphertextLen  = mlkem.CiphertextSize768
	mlkem1024KeyLen        = mlkem.EncapsulationKeySize1024
	mlkem1024CiphertextLen = mlkem.CiphertextSize1024
)

func (h hybrid) keyLen() int {
	if h.kem1024 {
		return mlkem1024KeyLen
	}
	return mlkem768KeyLen
}

func (h hybrid) ciphertextLen() int {
	if h.kem1024 {
		return mlkem1024CiphertextLen
	}
	return mlkem768CiphertextLen
}

// pointLen is the length of an encoded public key of ECDH group id:
// X25519's 32 bytes, or an uncompressed NIST point.
func pointLen(id CurveID) int {
	switch id {
	case CurveP256:
		return 1 + 2*32
	case CurveP384:
		return 1 + 2*48
	}
	return 32
}

// split cuts a hybrid share into its ECDH and ML-KEM parts, the ML-KEM
// part kemLen bytes long; false unless the share is exactly as long as
// the two parts of the group.
func (h hybrid) split(share []byte, kemLen int) (ecdhPart, kemPart []byte, ok bool) {
	if len(share) != pointLen(h.classical)+kemLen {
		return nil, nil, false
	}
	if h.kemFirst {
		return share[kemLen:], share[:kemLen], true
	}
	ecdhLen := len(share) - kemLen
	return share[:ecdhLen], share[ecdhLen:], true
}

// join puts an ECDH part and an ML-KEM part (a share or a secret) in the
// group's order.
func (h hybrid) join(ecdhPart, kemPart []byte) []byte {
	out := make([]byte, 0, len(ecdhPart)+len(kemPart))
	if h.kemFirst {
		return append(append(out, kemPart...), ecdhPart...)
	}
	return append(append(out, ecdhPart...), kemPart...)
}

// ephemeral is our key of one group: an ECDH key, and for a hybrid an
// ML-KEM decapsulation key too (client side).
type ephemeral struct {
	group   CurveID
	ecdh    *ecdh.PrivateKey
	kem768  *mlkem.DecapsulationKey768
	kem1024 *mlkem.DecapsulationKey1024
}

// newEphemeral makes a key for group id from rand: the ECDH scalar, and
// a hybrid's ML-KEM seed, are read from it, so that a deterministic rand
// gives a deterministic key.
func newEphemeral(id CurveID, rand io.Reader) (*ephemeral, error) {
	h, isHybrid := hybridOf(id)
	classical := id
	if isHybrid {
		classical = h.classical
	}
	key, err := generateKeyShare(classical, rand)
	if err != nil {
		return nil, err
	}
	e := &ephemeral{group: id, ecdh: key}
	if !isHybrid {
		return e, nil
	}
	var seed [mlkem.SeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	if h.kem1024 {
		e.kem1024, err = mlkem.NewDecapsulationKey1024(seed[:])
	} else {
		e.kem768, err = mlkem.NewDecapsulationKey768(seed[:])
	}
	return e, err
}

// share is the key_share our key sends.
func (e *ephemeral) share() []byte {
	h, ok := hybridOf(e.group)
	if !ok {
		return e.ecdh.PublicKey().Bytes()
	}
	var kem []byte
	if h.kem1024 {
		kem = e.kem1024.EncapsulationKey().Bytes()
	} else {
		kem = e.kem768.EncapsulationKey().Bytes()
	}
	return h.join(e.ecdh.PublicKey().Bytes(), kem)
}

// classicalGroup is the ECDH group our key also answers for: a hybrid's
// ECDH half, sent as a share of its own beside the hybrid so that a
// server without hybrids needs no HelloRetryRequest; 0 for none.
func (e *ephemeral) classicalGroup() CurveID {
	if h, ok := hybridOf(e.group); ok {
		return h.classical
	}
	return 0
}

// clientSecret is the shared secret of our key and the server's share of
// group (ours, or the ECDH half's group); a share of the wrong length or
// that does not decode is an illegal_parameter.
func (e *ephemeral) clientSecret(group CurveID, serverShare []byte) ([]byte, error) {
	h, isHybrid := hybridOf(e.group)
	if !isHybrid || group != e.group {
		return sharedSecret(e.ecdh, serverShare)
	}
	ecdhPart, ct, ok := h.split(serverShare, h.ciphertextLen())
	if !ok {
		return nil, alertf(record.AlertIllegalParameter, "%v key share of %d bytes, want %d", e.group, len(serverShare), pointLen(h.classical)+h.ciphertextLen())
	}
	ecdhSecret, err := sharedSecret(e.ecdh, ecdhPart)
	if err != nil {
		return nil, err
	}
	var kemSecret []byte
	if h.kem1024 {
		kemSecret, err = e.kem1024.Decapsulate(ct)
	} else {
		kemSecret, err = e.kem768.Decapsulate(ct)
	}
	if err != nil {
		return nil, alertf(record.AlertIllegalParameter, "ML-KEM ciphertext: %v", err)
	}
	return h.join(ecdhSecret, kemSecret), nil
}

// serverSecret answers a client's share of group id: it returns the
// shared secret and our share. A hybrid's ML-KEM part is encapsulated to
// the client's key, which is checked as FIPS 203 requires; its
// randomness is the system's (crypto/mlkem takes no other). A share of
// the wrong length, or that does not decode, is an illegal_parameter.
func serverSecret(id CurveID, clientShare []byte, rand io.Reader) (secret, share []byte, err error) {
	h, isHybrid := hybridOf(id)
	if !isHybrid {
		key, err := generateKeyShare(id, rand)
		if err != nil {
			return nil, nil, err
		}
		secret, err := sharedSecret(key, clientShare)
		return secret, key.PublicKey().Bytes(), err
	}
	ecdhPart, ek, ok := h.split(clientShare, h.keyLen())
	if !ok {
		return nil, nil, alertf(record.AlertIllegalParameter, "%v key share of %d bytes, want %d", id, len(clientShare), pointLen(h.classical)+h.keyLen())
	}
	key, err := generateKeyShare(h.classical, rand)
	if err != nil {
		return nil, nil, err
	}
	ecdhSecret, err := sharedSecret(key, ecdhPart)
	if err != nil {
		return nil, nil, err
	}
	var kemSecret, ct []byte
	if h.kem1024 {
		var pub *mlkem.EncapsulationKey1024
		if pub, err = mlkem.NewEncapsulationKey1024(ek); err == nil {
			kemSecret, ct = pub.Encapsulate()
		}
	} else {
		var pub *mlkem.EncapsulationKey768
		if pub, err = mlkem.NewEncapsulationKey768(ek); err == nil {
			kemSecret, ct = pub.Encapsulate()
		}
	}
	if err != nil {
		return nil, nil, alertf(record.AlertIllegalParameter, "ML-KEM encapsulation key: %v", err)
	}
	return h.join(ecdhSecret, kemSecret), h.join(key.PublicKey().Bytes(), ct), nil
}

// generateKeyShare makes an ephemeral ECDH key for group id from rand,
// reading the scalar directly so that a deterministic rand gives a
// deterministic key.
func generateKeyShare(id CurveID, rand io.Reader) (*ecdh.PrivateKey, error) {
	curve := curveOf(id)
	if curve == nil {
		return nil, alertf(record.AlertInternalError, "unsupported group %d", id)
	}
	scalar := make([]byte, scalarLen(id))
	for {
		if _, err := io.ReadFull(rand, scalar); err != nil {
			return nil, err
		}
		// A NIST scalar at or above the order is rejected; draw again.
		if key, err := curve.NewPrivateKey(scalar); err == nil {
			return key, nil
		}
	}
}

// sharedSecret runs ECDH with the peer's share; a malformed share is an
// illegal_parameter.
func sharedSecret(key *ecdh.PrivateKey, peer []byte) ([]byte, error) {
	pub, err := key.Curve().NewPublicKey(peer)
	if err != nil {
		return nil, alertf(record.AlertIllegalParameter, "invalid key share: %v", err)
	}
	secret, err := key.ECDH(pub)
	if err != nil {
		return nil, alertf(record.AlertIllegalParameter, "key exchange: %v", err)
	}
	return secret, nil
}
