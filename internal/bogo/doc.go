// Package bogo runs BoringSSL's TLS test suite (BoGo) against tlsm.
//
// The suite's runner is a Go program in BoringSSL's source tree
// (ssl/test/runner): it plays the peer, and starts a shim program once per
// test to play tlsm's side. The shim is in ./shim. TestBoGo fetches the
// runner at a pinned version through the module proxy, builds it and the
// shim, runs the suite in a network namespace of its own with only
// loopback (unshare -n, as root), and compares the results with two files:
//
//   - config.json, the runner's shim configuration: DisabledTests lists,
//     each with its reason, the tests of what tlsm deliberately does not
//     implement (TLS 1.0 and 1.1, CBC suites, RSA key exchange, QUIC...).
//   - known_failures.json: tests that fail today because of a known defect
//     of tlsm, grouped by defect. TestBoGo fails on any other failure, and
//     on a known failure that now passes, so the list shrinks as defects
//     are fixed and cannot go stale.
//
// Flags the shim cannot honour make it exit 89, which the runner reports
// as unimplemented; the shim's table (shim/table.go) says for each what
// tlsm would need.
//
// Run the whole suite with
//
//	go test ./internal/bogo -run TestBoGo -v -timeout 40m
//
// and a part of it with -bogo.test 'Glob-*;Other-*' (the runner's -test
// patterns). -bogo.workers sets the runner's parallelism.
package bogo
