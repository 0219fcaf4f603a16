//go:build !linux

package dtls

import "net"

// batchSocket reads and writes a batch of datagrams per system call on
// Linux only (recvmmsg, sendmmsg); elsewhere newBatchSocket returns nil
// and every socket is read and written a datagram at a time.
type batchSocket struct{}

// batchServer is what serve would hand batches to.
type batchServer interface {
	beginServe() (quiet bool, err error)
	takeBatch(b *recvBatch, n int) (more bool)
}

// recvBatch is the memory of a batched read, on Linux only.
type recvBatch struct{}

// newBatchSocket returns nil: no socket is batched here.
func newBatchSocket(net.PacketConn, bool) *batchSocket { return nil }

// read is never called, there being no batchSocket.
func (*batchSocket) read() (*recvBatch, int, error) {
	panic("dtls: no batched reads on this system")
}

// serve is never called, there being no batchSocket.
func (*batchSocket) serve(batchServer) error {
	panic("dtls: no batched reads on this system")
}

// poll is never called, there being no batchSocket.
func (*batchSocket) poll() (*recvBatch, int, error) {
	panic("dtls: no batched reads on this system")
}

// release is never called, there being no batchSocket.
func (*batchSocket) release(*recvBatch) {}

// sendable reports that nothing goes out in batches.
func (*batchSocket) sendable(net.Addr, bool) (*net.UDPAddr, bool) { return nil, false }

// send is never called, sendable being false.
func (*batchSocket) send(*datagrams, *net.UDPAddr) error {
	panic("dtls: no batched writes on this system")
}

// counts returns zeros: nothing is batched.
func (*batchSocket) counts() ioCounts { return ioCounts{} }

// datagram is never called, there being no batched read.
func (*recvBatch) datagram(int) ([]byte, source, bool) {
	panic("dtls: no batched reads on this system")
}
