package fsmtest_test

import (
	"fmt"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/fsm/fsmtest"
	"github.com/tlsm/tlsm/internal/testcert"
)

// A DTLS handshake and a write over a lossy, reordering network on a
// virtual clock: the flights are retransmitted until they get through,
// and no real time passes. The same seed gives the same run.
func ExampleSim() {
	const seed = 7
	cert := testcert.MustNew(testcert.Ed25519) // a test CA and a certificate for localhost
	client := &fsm.Config{Rand: fsmtest.Rand(seed, fsmtest.Client), RootCAs: cert.CAPool, ServerName: "localhost"}
	server := &fsm.Config{Rand: fsmtest.Rand(seed, fsmtest.Server),
		Certificates: []fsm.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}}
	s := fsmtest.New(seed, fsmtest.DTLS, client, server, fsmtest.Options{
		Epoch: cert.Leaf.NotBefore.Add(time.Hour), // the virtual clock starts within the validity
		Link:  fsmtest.Link{Delay: 20 * time.Millisecond, Loss: 0.3, Reorder: 0.2},
	})
	if err := s.Handshake(); err != nil {
		fmt.Println("handshake failed:", err)
		return
	}
	s.SetLinks(fsmtest.Link{Delay: 20 * time.Millisecond}) // application data is not resent: no loss now
	s.Write(fsmtest.Client, []byte("hello"))
	s.Run()
	fmt.Println("client handshakes:", s.Client.Handshakes, "server handshakes:", s.Server.Handshakes)
	fmt.Printf("server received: %q\n", s.Server.Received)
	fmt.Println("flights resent:", s.Client.Retransmits+s.Server.Retransmits > 0)
	// Output:
	// client handshakes: 1 server handshakes: 1
	// server received: "hello"
	// flights resent: true
}
