package fsm_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHostileInputCount counts the cases of the hostile-input tables of
// this package, each of which asserts an exact outcome: TestBadInput (TLS
// 1.3 and version negotiation), TestBadInput12 (TLS 1.2), TestBadInputDTLS
// (DTLS 1.2) and TestRenegotiationHostile (its table and the truncated
// ClientHello beside it). The random-input and flood tests are not
// counted: they assert classes of outcome, not one outcome per input.
func TestHostileInputCount(t *testing.T) {
	tls13 := len(badInputCases())
	tls12 := len(badInput12Cases())
	dtls := len(badInputDTLSCases())
	reneg := len(renegotiationHostileCases()) + renegotiationHostileExtra
	n := tls13 + tls12 + dtls + reneg
	t.Logf("hostile-input cases: %d (TLS 1.3: %d, TLS 1.2: %d, DTLS: %d, renegotiation: %d)", n, tls13, tls12, dtls, reneg)
	require.GreaterOrEqual(t, n, 100)
}
