package fsm

import (
	"crypto/ecdh"
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

// generateKeyShare makes an ephemeral key for group id from rand, reading
// the scalar directly so that a deterministic rand gives a deterministic key.
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
