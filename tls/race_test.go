//go:build race

package tls_test

// raceEnabled is set when the tests run under the race detector, whose
// instrumentation allocates where the code does not.
const raceEnabled = true
