package fsm_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// hybridParts describes a hybrid group for the crafted peers below, as
// draft-ietf-tls-ecdhe-mlkem lays out its shares.
type hybridParts struct {
	group    fsm.CurveID
	curve    ecdh.Curve
	kem1024  bool
	kemFirst bool // X25519MLKEM768 puts the ML-KEM part first
}

var hybridGroups = []hybridParts{
	{fsm.X25519MLKEM768, ecdh.X25519(), false, true},
	{fsm.SecP256r1MLKEM768, ecdh.P256(), false, false},
	{fsm.SecP384r1MLKEM1024, ecdh.P384(), true, false},
}

func (h hybridParts) join(ecdhPart, kemPart []byte) []byte {
	if h.kemFirst {
		return append(bytes.Clone(kemPart), ecdhPart...)
	}
	return append(bytes.Clone(ecdhPart), kemPart...)
}

// split cuts a well-formed share whose ML-KEM part is kemLen bytes.
func (h hybridParts) split(share []byte, kemLen int) (ecdhPart, kemPart []byte) {
	if h.kemFirst {
		return share[kemLen:], share[:kemLen]
	}
	return share[:len(share)-kemLen], share[len(share)-kemLen:]
}

// clientShare is a well-formed client key share of the group: an ECDH
// public key and an ML-KEM encapsulation key.
func (h hybridParts) clientShare(t *testing.T) []byte {
	key, err := h.curve.GenerateKey(nil)
	require.NoError(t, err)
	var ek []byte
	if h.kem1024 {
		dk, err := mlkem.GenerateKey1024()
		require.NoError(t, err)
		ek = dk.EncapsulationKey().Bytes()
	} else {
		dk, err := mlkem.GenerateKey768()
		require.NoError(t, err)
		ek = dk.EncapsulationKey().Bytes()
	}
	return h.join(key.PublicKey().Bytes(), ek)
}

// serverShare answers a client's share of the group as a server would:
// its ECDH public key and a ciphertext encapsulated to the client's key.
func (h hybridParts) serverShare(t *testing.T, clientShare []byte) []byte {
	key, err := h.curve.GenerateKey(nil)
	require.NoError(t, err)
	var ct []byte
	if h.kem1024 {
		_, ekBytes := h.split(clientShare, mlkem.EncapsulationKeySize1024)
		ek, err := mlkem.NewEncapsulationKey1024(ekBytes)
		require.NoError(t, err)
		_, ct = ek.Encapsulate()
	} else {
		_, ekBytes := h.split(clientShare, mlkem.EncapsulationKeySize768)
		ek, err := mlkem.NewEncapsulationKey768(ekBytes)
		require.NoError(t, err)
		_, ct = ek.Encapsulate()
	}
	return h.join(key.PublicKey().Bytes(), ct)
}

func (h hybridParts) kemKeyLen() int {
	if h.kem1024 {
		return mlkem.EncapsulationKeySize1024
	}
	return mlkem.EncapsulationKeySize768
}

func (h hybridParts) ciphertextLen() int {
	if h.kem1024 {
		return mlkem.CiphertextSize1024
	}
	return mlkem.CiphertextSize768
}

// hybridHello is goodHello offering the group, with a share edit makes
// of a well-formed one.
func hybridHello(t *testing.T, h hybridParts, edit func([]byte) []byte) []byte {
	return helloRecord(t, func(ch *flights.ClientHello) {
		ch.SupportedGroups = []uint16{uint16(h.group)}
		ch.KeyShares = []flights.KeyShare{{Group: uint16(h.group), Data: edit(h.clientShare(t))}}
	})
}

// hybridClient starts a client offering only the group and returns it
// with a ServerHello for it whose share edit makes of a well-formed one.
func hybridClient(t *testing.T, h hybridParts, edit func([]byte) []byte) (*victim, []byte) {
	v, ch := newClientVictim(t, func(c *fsm.Config) { c.CurvePreferences = []fsm.CurveID{h.group} })
	require.Len(t, ch.KeyShares, 1)
	share := ch.KeyShares[0]
	require.Equal(t, uint16(h.group), share.Group)
	sh := serverHelloWithShare(t, ch, flights.KeyShare{Group: share.Group, Data: edit(h.serverShare(t, share.Data))})
	return v, hsRecord(sh.Append(nil))
}

func unchanged(b []byte) []byte { return b }

// hybridBadInputCases are hostile hybrid key shares: each closes the
// Conn with the alert named.
func hybridBadInputCases() []badInputCase {
	var cases []badInputCase
	add := func(name string, alert fsm.Alert, run func(t *testing.T) *victim) {
		cases = append(cases, badInputCase{name, alert, false, run})
	}
	for _, h := range hybridGroups {
		serverCase := func(what string, edit func(h hybridParts, share []byte) []byte) {
			add("server/"+h.group.String()+" "+what, record.AlertIllegalParameter, func(t *testing.T) *victim {
				v := newServer13Victim(t)
				v.feed(hybridHello(t, h, func(b []byte) []byte { return edit(h, b) }))
				return v
			})
		}
		clientCase := func(what string, edit func(h hybridParts, share []byte) []byte) {
			add("client/"+h.group.String()+" "+what, record.AlertIllegalParameter, func(t *testing.T) *victim {
				v, sh := hybridClient(t, h, func(b []byte) []byte { return edit(h, b) })
				v.feed(sh)
				return v
			})
		}
		serverCase("share one byte short", func(_ hybridParts, b []byte) []byte { return b[:len(b)-1] })
		serverCase("share one byte long", func(_ hybridParts, b []byte) []byte { return append(b, 0) })
		serverCase("share of the ECDH part only", func(h hybridParts, b []byte) []byte {
			ecdhPart, _ := h.split(b, h.kemKeyLen())
			return ecdhPart
		})
		// Every coefficient 0xFFF is above q: FIPS 203's modulus check fails.
		serverCase("encapsulation key not reduced mod q", func(h hybridParts, b []byte) []byte {
			ecdhPart, ek := h.split(b, h.kemKeyLen())
			return h.join(ecdhPart, bytes.Repeat([]byte{0xff}, len(ek)))
		})
		serverCase("ECDH part not a point", func(h hybridParts, b []byte) []byte {
			ecdhPart, ek := h.split(b, h.kemKeyLen())
			bad := make([]byte, len(ecdhPart)) // X25519's zero point, or a NIST point with a bad prefix
			return h.join(bad, ek)
		})
		ctLen := h.ciphertextLen()
		clientCase("ciphertext truncated", func(h hybridParts, b []byte) []byte {
			ecdhPart, ct := h.split(b, ctLen)
			return h.join(ecdhPart, ct[:len(ct)-1])
		})
		clientCase("ciphertext missing", func(h hybridParts, b []byte) []byte {
			ecdhPart, _ := h.split(b, ctLen)
			return ecdhPart
		})
		clientCase("ECDH part not a point", func(h hybridParts, b []byte) []byte {
			ecdhPart, ct := h.split(b, ctLen)
			return h.join(make([]byte, len(ecdhPart)), ct)
		})
	}
	add("client12/ServerKeyExchange naming a hybrid", record.AlertIllegalParameter, func(t *testing.T) *victim {
		// The client offers TLS 1.3 too, so the hybrid is in its
		// supported_groups; a TLS 1.2 server may not pick it.
		v, ch := newClientVictim(t, nil)
		require.Contains(t, ch.SupportedGroups, uint16(fsm.X25519MLKEM768))
		s := newServer12(t, ch)
		s.ske.Curve = uint16(fsm.X25519MLKEM768)
		// (A hybrid share does not fit the ServerKeyExchange's one-byte
		// length: the crafted server's X25519 key stands in for it.)
		v.feed(s.flight())
		return v
	})
	add("server12/ClientHello listing only hybrids", record.AlertHandshakeFailure, func(t *testing.T) *victim {
		c := newServer12Victim(t, nil)
		c.sendHello(func(ch *flights.ClientHello) {
			ch.SupportedGroups = []uint16{uint16(fsm.X25519MLKEM768), uint16(fsm.SecP256r1MLKEM768), uint16(fsm.SecP384r1MLKEM1024)}
		})
		require.ErrorContains(t, c.v.conn.Err(), "group")
		return c.v
	})
	return cases
}

func TestBadInputHybrid(t *testing.T) {
	for _, tc := range hybridBadInputCases() {
		t.Run(tc.name, func(t *testing.T) {
			var v *victim
			guard(t, tc.name, func() { v = tc.run(t) })
			checkClosedWith(t, v, tc.alert, tc.received)
		})
	}
}

// TestCraftedHybridPeers: the crafted hellos the cases above spoil are
// taken as they are, so that each case fails for the spoiled share.
func TestCraftedHybridPeers(t *testing.T) {
	for _, h := range hybridGroups {
		t.Run(h.group.String(), func(t *testing.T) {
			t.Run("server", func(t *testing.T) {
				v := newServer13Victim(t)
				out := v.feed(hybridHello(t, h, unchanged))
				require.NoError(t, v.conn.Err())
				msgs := handshakeMessages(t, out)
				require.Equal(t, byte(flights.TypeServerHello), msgs[0][0])
				sh := new(flights.ServerHello)
				require.NoError(t, sh.Unmarshal(msgs[0][4:]))
				require.Equal(t, uint16(h.group), sh.KeyShare.Group)
				key, err := h.curve.GenerateKey(nil)
				require.NoError(t, err)
				require.Len(t, sh.KeyShare.Data, len(key.PublicKey().Bytes())+h.ciphertextLen())
			})
			t.Run("client", func(t *testing.T) {
				v, sh := hybridClient(t, h, unchanged)
				v.feed(sh)
				require.NoError(t, v.conn.Err())
				require.Equal(t, fsm.StateClientWaitEncryptedExtensions, v.conn.State())
			})
		})
	}
}
