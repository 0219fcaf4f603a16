package flights

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// keySharesListedNaive is KeySharesListed as the RFC words it, one list
// searched for each entry of the other: the reference for small lists.
func keySharesListedNaive(m *ClientHello) (uint16, bool) {
	for i, ks := range m.KeyShares {
		dup := slices.ContainsFunc(m.KeyShares[:i], func(o KeyShare) bool { return o.Group == ks.Group })
		if dup || !slices.Contains(m.SupportedGroups, ks.Group) {
			return ks.Group, false
		}
	}
	return 0, true
}

func shares(groups ...uint16) []KeyShare {
	out := make([]KeyShare, len(groups))
	for i, g := range groups {
		out[i] = KeyShare{Group: g, Data: []byte{1}}
	}
	return out
}

func TestKeySharesListed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		groups []uint16
		shares []KeyShare
		bad    uint16
		ok     bool
	}{
		{"none", []uint16{29}, nil, 0, true},
		{"one", []uint16{29, 23}, shares(23), 0, true},
		{"all, out of order", []uint16{29, 23, 24}, shares(24, 29, 23), 0, true},
		{"extreme values", []uint16{0, 0xffff}, shares(0xffff, 0), 0, true},
		{"unlisted", []uint16{29}, shares(23), 23, false},
		{"no groups", nil, shares(29), 29, false},
		{"twice", []uint16{29, 23}, shares(29, 23, 29), 29, false},
		{"twice, listed twice", []uint16{29, 29}, shares(29, 29), 29, false},
		{"first offender reported", []uint16{29, 23}, shares(23, 24, 23), 24, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &ClientHello{SupportedGroups: tc.groups, KeyShares: tc.shares}
			bad, ok := m.KeySharesListed()
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.bad, bad)
		})
	}
}

// TestKeySharesListedAgainstNaive compares KeySharesListed with the
// reference on random lists drawn from few values, so that duplicates
// and unlisted groups are frequent.
func TestKeySharesListedAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	draw := func() uint16 { return uint16(r.IntN(12)) * 0x1111 }
	for range 5000 {
		m := &ClientHello{}
		for range r.IntN(8) {
			m.SupportedGroups = append(m.SupportedGroups, draw())
		}
		for range r.IntN(5) {
			m.KeyShares = append(m.KeyShares, KeyShare{Group: draw()})
		}
		bad, ok := m.KeySharesListed()
		wantBad, wantOK := keySharesListedNaive(m)
		require.Equal(t, wantOK, ok, "groups %x, shares %v", m.SupportedGroups, m.KeyShares)
		require.Equal(t, wantBad, bad)
	}
}

// TestClientHelloLongLists: lists of thousands of entries, as large as a
// hello holds, parse to what was sent; an empty client_shares list stays
// nil.
func TestClientHelloLongLists(t *testing.T) {
	m := &ClientHello{
		Version: 0x0303, Random: make([]byte, 32), CipherSuites: []uint16{0x1301},
		CompressionMethods: []byte{0}, SupportedVersions: []uint16{0x0304},
	}
	for i := range 4000 {
		m.KeyShares = append(m.KeyShares, KeyShare{Group: uint16(i), Data: []byte{byte(i), 2}})
		m.SupportedGroups = append(m.SupportedGroups, uint16(i))
	}
	for i := range 6000 {
		m.ALPN = append(m.ALPN, string(rune('a'+i%26))+string(make([]byte, i%3)))
	}
	enc := m.Append(nil)
	var got ClientHello
	require.NoError(t, got.Unmarshal(enc[4:]))
	require.Equal(t, m.KeyShares, got.KeyShares)
	require.Equal(t, m.SupportedGroups, got.SupportedGroups)
	require.Equal(t, m.ALPN, got.ALPN)
	require.Equal(t, enc, got.Append(nil))

	require.NoError(t, got.Unmarshal(chBody(ext(ExtKeyShare, 0, 0))))
	require.Nil(t, got.KeyShares)
	require.Contains(t, got.Extensions, ExtKeyShare)
}
