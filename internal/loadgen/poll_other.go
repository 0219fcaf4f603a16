//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// noSocket stands for a client without a socket.
const noSocket = -1

var (
	errWouldBlock  = errors.New("loadgen: no datagram waiting")
	errUnsupported = errors.New("loadgen: runs on Linux only")
)

// poller is Linux's epoll set; elsewhere New fails.
type poller struct{}

func newPoller(string) (*poller, error)             { return nil, errUnsupported }
func (p *poller) open(int) (int, error)             { return noSocket, errUnsupported }
func (p *poller) wait(time.Duration) ([]int, error) { return nil, errUnsupported }
func (p *poller) read(int, []byte) (int, error)     { return 0, errUnsupported }
func (p *poller) write(int, []byte) error           { return errUnsupported }
func (p *poller) close(int)                         {}
func (p *poller) shutdown() error                   { return nil }
