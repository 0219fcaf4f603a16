package tls_test

import (
	"bufio"
	"fmt"

	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// A server from Listen and a client from Dial, over TCP on loopback,
// configured as with crypto/tls.
func ExampleListen() {
	cert := testcert.MustNew(testcert.ECDSAP256) // a test CA and a certificate for localhost
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}},
		NextProtos:   []string{"echo"},
	})
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprint(c, "echo: "+line)
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs: cert.CAPool, ServerName: "localhost", NextProtos: []string{"echo"},
	})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintln(conn, "hello")
	answer, _ := bufio.NewReader(conn).ReadString('\n')
	st := conn.ConnectionState()
	fmt.Print(answer)
	fmt.Println(st.NegotiatedProtocol, st.Version == tls.VersionTLS13)
	// Output:
	// echo: hello
	// echo true
}
