package record

import (
	"bytes"
	"testing"

	"github.com/pion/dtls/v3/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v3/pkg/protocol"
	"github.com/pion/dtls/v3/pkg/protocol/recordlayer"
	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
)

// pionCipher is the record protection of pion/dtls's ciphersuite package.
type pionCipher interface {
	Encrypt(pkt *recordlayer.RecordLayer, raw []byte) ([]byte, error)
	Decrypt(header recordlayer.Header, in []byte) ([]byte, error)
}

// newPion returns pion's record protection for suite s, writing with the
// local key and IV and reading with the remote ones.
func newPion(t *testing.T, s *cipher.Suite, localKey, localIV, remoteKey, remoteIV []byte) pionCipher {
	t.Helper()
	if s.ExplicitNonceLen > 0 {
		c, err := ciphersuite.NewGCM(localKey, localIV, remoteKey, remoteIV)
		require.NoError(t, err)
		return c
	}
	c, err := ciphersuite.NewChaCha20Poly1305(localKey, localIV, remoteKey, remoteIV)
	require.NoError(t, err)
	return c
}

// TestDTLS12Pion exchanges records with pion/dtls's own DTLS 1.2 AES-GCM and
// ChaCha20-Poly1305 record protection in both directions, at several epochs
// and sequence numbers and out of order, so the nonce (explicit epoch ||
// seq, or IV XOR epoch || seq) and additional data layouts must match
// another implementation's.
func TestDTLS12Pion(t *testing.T) {
	for _, id := range cipher.TLS12Suites() {
		s := cipher.SuiteByID(id)
		t.Run(s.Name, func(t *testing.T) {
			// pion writes with key a and reads with key b; we do the
			// opposite.
			aKey, aIV := bytes.Repeat([]byte{0xa1}, s.KeyLen), bytes.Repeat([]byte{0xa2}, s.FixedIVLen)
			bKey, bIV := bytes.Repeat([]byte{0xb1}, s.KeyLen), bytes.Repeat([]byte{0xb2}, s.FixedIVLen)
			pion := newPion(t, s, aKey, aIV, bKey, bIV)
			mirror := newPion(t, s, bKey, bIV, aKey, aIV) // writes as we do
			ours, err := cipher.NewState12(s, bKey, bIV)
			require.NoError(t, err)
			theirs, err := cipher.NewState12(s, aKey, aIV)
			require.NoError(t, err)

			for i, p := range []struct {
				typ   ContentType
				epoch uint16
				seq   uint64
			}{
				{TypeHandshake, 1, 0},
				{TypeApplicationData, 1, 5},
				{TypeApplicationData, 1, 2},
				{TypeAlert, 2, 1 << 33},
				{TypeApplicationData, 0x1234, 0xa1b2c3d4e5f6},
				{TypeApplicationData, 0xffff, MaxSeq48},
			} {
				payload := bytes.Repeat([]byte{byte(i + 1)}, 50*i+1)

				// pion seals, we open.
				pkt := &recordlayer.RecordLayer{Header: recordlayer.Header{
					ContentType:    protocol.ContentType(p.typ),
					Version:        protocol.Version1_2,
					Epoch:          p.epoch,
					SequenceNumber: p.seq,
				}}
				wire, err := pion.Encrypt(pkt, AppendDTLSPlain(nil, p.typ, VersionDTLS12, p.epoch, p.seq, payload))
				require.NoError(t, err)
				rec, rest, err := ParseDTLSRecord(wire)
				require.NoError(t, err)
				require.Empty(t, rest)
				pt, err := OpenDTLS12(theirs, rec)
				require.NoError(t, err, "record %d from pion", i)
				require.Equal(t, payload, pt)

				// We seal, pion opens; the record is byte for byte the one pion
				// would send.
				wire, err = SealDTLS12(nil, ours, p.typ, VersionDTLS12, p.epoch, p.seq, payload)
				require.NoError(t, err)
				out, err := pion.Decrypt(recordlayer.Header{}, bytes.Clone(wire))
				require.NoError(t, err, "record %d to pion", i)
				require.Equal(t, payload, out[DTLSHeaderLen:])
				same, err := mirror.Encrypt(pkt, AppendDTLSPlain(nil, p.typ, VersionDTLS12, p.epoch, p.seq, payload))
				require.NoError(t, err)
				require.Equal(t, same, wire)

				// A tampered record fails on both sides.
				wire[len(wire)-1] ^= 1
				_, err = pion.Decrypt(recordlayer.Header{}, bytes.Clone(wire))
				require.Error(t, err)
				rec, _, err = ParseDTLSRecord(wire)
				require.NoError(t, err)
				_, err = OpenDTLS12(ours, rec)
				require.ErrorIs(t, err, AlertBadRecordMAC)
			}
		})
	}
}
