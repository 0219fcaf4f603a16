//go:build !unix

package tls

import "net"

// rawReader reads a socket without a buffer while it waits, on unix
// systems only; elsewhere every socket is read through its Read method.
type rawReader struct{}

func newRawReader(net.Conn) *rawReader { return nil }

func (*rawReader) tryWrite([]byte) int {
	panic("tls: no raw socket writes on this system")
}

func (*rawReader) readSocket(int) (*[]byte, int, error) {
	panic("tls: no raw socket reads on this system")
}

func (*rawReader) counts() (reads, empty uint64) { return 0, 0 }

func (*rawReader) serve(streamServer) error {
	panic("tls: no raw socket reads on this system")
}
