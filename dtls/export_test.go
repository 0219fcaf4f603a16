package dtls

import "net"

// DemuxConns returns how many Conns a listener's demultiplexer holds.
func DemuxConns(ln net.Listener) int {
	l := ln.(*listener)
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
