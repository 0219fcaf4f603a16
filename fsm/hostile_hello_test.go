package fsm_test

import (
	"crypto"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
)

// A server's work on a ClientHello must be linear in the hello's size:
// no list the client sends may be checked entry by entry against another
// it sends (BenchmarkHostileClientHello at the module root gives the
// figures). Time is no property to test; these tests pin what can be
// counted instead: allocations, and calls into the caller's own code.

// hostileHelloSize is the body length of the hellos of these tests, near
// the largest a server takes.
const hostileHelloSize = 60_000

// hsRecords cuts a handshake message into unprotected records of the
// largest size.
func hsRecords(msg []byte) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(len(msg), 1<<14)
		out = append(out, plain(record.TypeHandshake, msg[:n])...)
		msg = msg[n:]
	}
	return out
}

// paddedHello encodes ch with a padding extension (RFC 7685) that makes
// its body hostileHelloSize bytes long, so that hellos of different lists
// cost the record layer the same.
func paddedHello(t *testing.T, ch *flights.ClientHello) []byte {
	msg := ch.Append(nil)
	pad := hostileHelloSize - (len(msg) - 4) - 4
	require.GreaterOrEqual(t, pad, 0)
	msg = editClientHelloExtensions(t, msg, func(exts []extension) []extension {
		return append(exts, extension{typ: 21, data: make([]byte, pad)})
	})
	require.Len(t, msg, 4+hostileHelloSize)
	return msg
}

// manySharesHello is goodHello with thousands of key shares, each of a
// group that supported_groups lists after thousands of others; the real
// X25519 share comes last.
func manySharesHello(t *testing.T) *flights.ClientHello {
	ch := goodHello(t)
	var groups []uint16
	var shares []flights.KeyShare
	for i := range 5000 {
		groups = append(groups, uint16(0x8000+i))
	}
	for i := range 4000 {
		g := uint16(0x3000 + i) // clear of every registered group
		groups = append(groups, g)
		shares = append(shares, flights.KeyShare{Group: g, Data: []byte{1}})
	}
	ch.SupportedGroups = append(groups, ch.SupportedGroups...)
	ch.KeyShares = append(shares, ch.KeyShares...)
	return ch
}

// manyProtocolsHello is goodHello offering thousands of ALPN protocols,
// http/1.1 last.
func manyProtocolsHello(t *testing.T) *flights.ClientHello {
	ch := goodHello(t)
	for i := range 15_000 {
		ch.ALPN = append(ch.ALPN, string(rune('a'+i%26))+"x")
	}
	ch.ALPN = append(ch.ALPN, "http/1.1")
	return ch
}

// serverAllocs counts the allocations of a fresh server taking msg and
// answering it.
func serverAllocs(t *testing.T, sc *fsm.Config, msg []byte) float64 {
	in := hsRecords(msg)
	now := time.Now()
	return testing.AllocsPerRun(20, func() {
		c := fsm.NewServer(sc)
		require.NoError(t, c.HandleData(now, in))
		for c.NextEvent().Kind != fsm.EventNone {
		}
		require.Equal(t, fsm.StateServerWaitFinished13, c.State())
	})
}

// TestHostileHelloAllocations: a server allocates as often for a hello of
// thousands of key shares and groups, or of ALPN protocols, as for one of
// the same size made of padding. Checking each share against a set made
// per hello (a map, as before) or growing a list one entry at a time
// costs allocations in the number of entries.
func TestHostileHelloAllocations(t *testing.T) {
	_, sc := configs(t, testcert.ECDSAP256)
	sc.SessionTicketsDisabled = true
	sc.NextProtos = []string{"h2", "http/1.1"}
	withALPN := func(ch *flights.ClientHello) *flights.ClientHello {
		if ch.ALPN == nil {
			ch.ALPN = []string{"http/1.1"}
		}
		return ch
	}
	base := serverAllocs(t, sc, paddedHello(t, withALPN(goodHello(t))))
	for _, tc := range []struct {
		name string
		ch   *flights.ClientHello
	}{
		{"key shares and groups", withALPN(manySharesHello(t))},
		{"ALPN protocols", manyProtocolsHello(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := serverAllocs(t, sc, paddedHello(t, tc.ch))
			t.Logf("%v allocations, padding only: %v", got, base)
			require.LessOrEqual(t, got, base+2)
		})
	}
}

// TestHostileHelloKeySharesChecked: however many shares a hello carries,
// one of an unlisted group or a second one of a group is refused with
// illegal_parameter, in the first hello and in the one that answers a
// HelloRetryRequest.
func TestHostileHelloKeySharesChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(ch *flights.ClientHello)
	}{
		{"unlisted share last", func(ch *flights.ClientHello) {
			ch.KeyShares = append(ch.KeyShares, flights.KeyShare{Group: 0x2fff, Data: []byte{1}})
		}},
		{"unlisted share first", func(ch *flights.ClientHello) {
			ch.KeyShares = append([]flights.KeyShare{{Group: 0x2fff, Data: []byte{1}}}, ch.KeyShares...)
		}},
		{"two shares of the last group", func(ch *flights.ClientHello) {
			ch.KeyShares = append(ch.KeyShares, ch.KeyShares[len(ch.KeyShares)-1])
		}},
		{"two shares of one group far apart", func(ch *flights.ClientHello) {
			ch.KeyShares = append(ch.KeyShares[:3000], append([]flights.KeyShare{ch.KeyShares[0]}, ch.KeyShares[3000:]...)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := manySharesHello(t)
			tc.edit(ch)
			v := newServerVictim(t)
			v.feed(hsRecords(paddedHello(t, ch)))
			checkClosedWith(t, v, record.AlertIllegalParameter, false)
		})
		t.Run(tc.name+" after a HelloRetryRequest", func(t *testing.T) {
			v := newServerVictim(t)
			// A share of no group of ours asks for a retry.
			first := goodHello(t)
			first.SupportedGroups = append(first.SupportedGroups, 0x3000)
			first.KeyShares = []flights.KeyShare{{Group: 0x3000, Data: []byte{1}}}
			v.feed(hsRecord(first.Append(nil)))
			require.Equal(t, fsm.StateServerWaitClientHelloRetried, v.conn.State())
			ch := manySharesHello(t)
			ch.Random, ch.SessionID = first.Random, first.SessionID
			tc.edit(ch)
			v.feed(hsRecords(paddedHello(t, ch)))
			checkClosedWith(t, v, record.AlertIllegalParameter, false)
		})
	}
	t.Run("control", func(t *testing.T) {
		v := newServerVictim(t)
		v.feed(hsRecords(paddedHello(t, manySharesHello(t))))
		require.NoError(t, v.conn.Err())
		require.Equal(t, fsm.StateServerWaitFinished13, v.conn.State())
	})
}

// countingSigner counts the calls of Public on a certificate key.
type countingSigner struct {
	crypto.Signer
	publics *int
}

func (s countingSigner) Public() crypto.PublicKey {
	*s.publics++
	return s.Signer.Public()
}

// TestHostileHello12SuitesOnce: a TLS 1.2 server looks at its
// certificate's key as often for a hello listing its suite thousands of
// times as for one listing it once. Matching every listed suite against
// every signature algorithm listed, as it did, looked at the key for each
// suite: thousands of lists read in full when no algorithm fits.
func TestHostileHello12SuitesOnce(t *testing.T) {
	const suite = 0xc02b // ECDHE-ECDSA-AES128-GCM-SHA256
	hello := func(copies int, schemes []uint16) []byte {
		ch := &flights.ClientHello{
			Version: fsm.VersionTLS12, Random: make([]byte, 32),
			CompressionMethods: []byte{0}, SupportedGroups: []uint16{uint16(fsm.X25519), uint16(fsm.CurveP256)},
			SignatureAlgorithms: schemes,
		}
		for range copies {
			ch.CipherSuites = append(ch.CipherSuites, suite)
		}
		return ch.Append(nil)
	}
	unfit := make([]uint16, 10_000)
	for i := range unfit {
		unfit[i] = uint16(0x3000 + i) // clear of every registered scheme
	}
	fit := append(unfit[:len(unfit):len(unfit)], fsm.ECDSAWithP256AndSHA256)
	for _, tc := range []struct {
		name    string
		schemes []uint16
		alert   fsm.Alert
	}{
		{"no scheme fits", unfit, record.AlertHandshakeFailure},
		{"the last scheme fits", fit, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := map[int]int{}
			for _, copies := range []int{1, 10_000} {
				_, sc := configs(t, testcert.ECDSAP256)
				sc.MaxVersion = fsm.VersionTLS12
				key := &sc.Certificates[0].PrivateKey
				n := 0
				*key = countingSigner{Signer: *key, publics: &n}
				v := &victim{conn: fsm.NewServer(sc)}
				v.feed(hsRecords(hello(copies, tc.schemes)))
				if tc.alert != 0 {
					checkClosedWith(t, v, tc.alert, false)
				} else {
					require.NoError(t, v.conn.Err())
					require.Equal(t, fsm.StateServerWaitClientKeyExchange12, v.conn.State())
				}
				calls[copies] = n
			}
			t.Logf("calls of Public by copies of the suite: %v", calls)
			require.Equal(t, calls[1], calls[10_000])
		})
	}
}
