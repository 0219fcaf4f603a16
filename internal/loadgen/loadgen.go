// Package loadgen drives many DTLS clients from one goroutine: each client
// is an fsm.Conn with a UDP socket of its own, connected to one server,
// and one epoll set tells the goroutine which sockets have datagrams.
// Timers go on one heap. No goroutine, timer or buffer is held per
// client, so ten thousand clients cost their fsm.Conns and their sockets.
//
// It is the client side of the scale figures (examples/bench -scale) and
// of examples/eventloop's client mode. It runs on Linux only.
package loadgen

import (
	"errors"
	"fmt"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/timers"
)

// ErrTimeout is returned when the clients did not finish in time.
var ErrTimeout = errors.New("loadgen: timed out")

// state is where a client is.
type state uint8

const (
	waiting     state = iota // not started
	handshaking              // started, handshake under way
	established              // handshake complete
	failed                   // the Conn closed with an error, or the socket failed
	closed                   // closed by Close
)

// client is one connection: its Conn, its socket and the timer it asked for.
type client struct {
	index    int
	conn     *fsm.Conn
	sock     int // the socket's descriptor; noSocket before it opens and after it closes
	state    state
	deadline time.Time
	err      error
	// awaiting is set while a RoundTrip waits for a reply; reply is the
	// last application data the server sent.
	awaiting bool
	reply    []byte
}

// Result sums up a Connect or a RoundTrip.
type Result struct {
	// Done is how many clients succeeded, Failed how many failed.
	Done, Failed int
	// Resumed counts the handshakes that resumed a session.
	Resumed int
	// Retransmits counts flights sent again after a timeout.
	Retransmits int
	// Elapsed is the wall-clock time taken.
	Elapsed time.Duration
	// FirstErr is the first failure, if any.
	FirstErr error
}

// Driver is a set of DTLS clients of one server, all driven by the
// goroutine calling its methods (one at a time).
type Driver struct {
	cfg     *fsm.Config
	poll    *poller
	clients []*client
	timers  timers.Queue[int]
	buf     []byte
	// inState counts the clients in each state; awaiting counts those a
	// RoundTrip waits for.
	inState  [closed + 1]int
	awaiting int
	// retransmits and resumed count EventRetransmit and resumed
	// handshakes over the Driver's life.
	retransmits, resumed int
}

// New returns a Driver of clients with cfg, which connect to server, a
// UDP address ("127.0.0.1:4444").
func New(server string, cfg *fsm.Config) (*Driver, error) {
	p, err := newPoller(server)
	if err != nil {
		return nil, err
	}
	return &Driver{cfg: cfg, poll: p, buf: make([]byte, 1<<16)}, nil
}

// Clients returns how many clients the Driver has opened.
func (d *Driver) Clients() int { return len(d.clients) }

// Connect opens n more clients and runs their handshakes, at most
// inFlight at a time, until each has completed or failed, or timeout has
// passed (ErrTimeout).
func (d *Driver) Connect(n, inFlight int, timeout time.Duration) (Result, error) {
	start := time.Now()
	first := len(d.clients)
	for i := range n {
		d.clients = append(d.clients, &client{index: first + i, conn: fsm.NewDTLSClient(d.cfg), sock: noSocket})
		d.inState[waiting]++
	}
	retransmits, resumed := d.retransmits, d.resumed
	next := first
	finished := func() bool {
		for d.inState[handshaking] < inFlight && next < len(d.clients) {
			d.start(d.clients[next], time.Now())
			next++
		}
		return next == len(d.clients) && d.inState[handshaking] == 0
	}
	err := d.run(start.Add(timeout), finished)
	res := d.result(first, established, start)
	res.Retransmits, res.Resumed = d.retransmits-retransmits, d.resumed-resumed
	return res, err
}

// RoundTrip has every established client send msg, at most inFlight
// awaiting their reply at a time (UDP drops what a socket has no room
// for, and DTLS sends application data once), and waits, until timeout,
// for each to receive a reply for which ok is true. Replies an earlier
// RoundTrip still waited for when it timed out are waited for no more.
func (d *Driver) RoundTrip(msg []byte, ok func(reply []byte) bool, inFlight int, timeout time.Duration) (Result, error) {
	start := time.Now()
	for _, c := range d.clients {
		d.answered(c)
	}
	var asked []*client
	next := 0
	allAnswered := func() bool {
		for ; d.awaiting < inFlight && next < len(d.clients); next++ {
			if c := d.clients[next]; c.state == established {
				asked = append(asked, c)
				d.ask(c, msg)
			}
		}
		return next == len(d.clients) && d.awaiting == 0
	}
	err := d.run(start.Add(timeout), allAnswered)
	res := Result{Elapsed: time.Since(start)}
	for _, c := range asked {
		if c.state == established && c.reply != nil && ok(c.reply) {
			res.Done++
			continue
		}
		res.Failed++
		if res.FirstErr == nil {
			res.FirstErr = c.failure(fmt.Errorf("loadgen: reply %q", c.reply))
		}
	}
	return res, err
}

// ask sends msg from c and notes that c awaits a reply.
func (d *Driver) ask(c *client, msg []byte) {
	c.reply, c.awaiting = nil, true
	d.awaiting++
	if _, err := c.conn.Write(time.Now(), msg); err != nil {
		d.fail(c, err)
		return
	}
	d.drain(c)
}

// Serve answers what comes in (retransmissions, alerts) until d has
// passed.
func (d *Driver) Serve(dur time.Duration) error {
	err := d.run(time.Now().Add(dur), func() bool { return false })
	if errors.Is(err, ErrTimeout) {
		return nil
	}
	return err
}

// Close sends every established client's close_notify and closes every
// socket.
func (d *Driver) Close() error {
	now := time.Now()
	for _, c := range d.clients {
		if c.state == established {
			c.conn.Close(now)
			d.drain(c)
		}
		d.closeSocket(c)
		d.setState(c, closed)
	}
	return d.poll.shutdown()
}

// start opens c's socket and sends its ClientHello.
func (d *Driver) start(c *client, now time.Time) {
	d.setState(c, handshaking)
	sock, err := d.poll.open(c.index)
	if err != nil {
		d.fail(c, err)
		return
	}
	c.sock = sock
	if err := c.conn.Start(now); err != nil {
		d.fail(c, err)
		return
	}
	d.drain(c)
}

// run waits for datagrams and timers and hands them to the clients until
// done reports true or until passes (ErrTimeout).
func (d *Driver) run(until time.Time, done func() bool) error {
	for {
		now := time.Now()
		d.fireTimers(now)
		if done() {
			return nil
		}
		wait := until.Sub(now)
		if wait <= 0 {
			return ErrTimeout
		}
		if at, ok := d.timers.Next(); ok {
			wait = min(wait, at.Sub(now))
		}
		ready, err := d.poll.wait(wait)
		if err != nil {
			return err
		}
		for _, i := range ready {
			d.receive(d.clients[i])
		}
	}
}

// receive hands every datagram waiting on c's socket to c.
func (d *Driver) receive(c *client) {
	for c.sock != noSocket {
		n, err := d.poll.read(c.sock, d.buf)
		if errors.Is(err, errWouldBlock) {
			return
		}
		if err != nil {
			continue // an ICMP error reported on the connected socket: a lost datagram
		}
		c.conn.HandleDatagram(time.Now(), d.buf[:n])
		d.drain(c)
	}
}

// fireTimers hands the time to the clients whose timers have passed. An
// entry whose client has since asked for another time is skipped.
func (d *Driver) fireTimers(now time.Time) {
	for t, ok := d.timers.PopDue(now); ok; t, ok = d.timers.PopDue(now) {
		c := d.clients[t.Key]
		if !c.deadline.Equal(t.At) || c.state != handshaking && c.state != established {
			continue
		}
		c.deadline = time.Time{}
		c.conn.HandleTimeout(now)
		d.drain(c)
	}
}

// drain acts on c's events: datagrams go out, timers go on the heap, data
// is kept as the reply, a close ends the client.
func (d *Driver) drain(c *client) {
	for ev := c.conn.NextEvent(); ev.Kind != fsm.EventNone; ev = c.conn.NextEvent() {
		switch ev.Kind {
		case fsm.EventTransmit:
			d.poll.write(c.sock, ev.Data) // a failed send is a lost datagram
		case fsm.EventTimer:
			c.deadline = ev.Deadline
			if !ev.Deadline.IsZero() {
				d.timers.Push(ev.Deadline, c.index)
			}
		case fsm.EventRetransmit:
			d.retransmits++
		case fsm.EventHandshakeDone:
			d.setState(c, established)
			if ev.Resumed {
				d.resumed++
			}
		case fsm.EventData:
			c.reply = append(c.reply[:0], ev.Data...)
			d.answered(c)
		case fsm.EventClosed:
			if c.state != closed {
				d.fail(c, ev.Err)
			}
		}
	}
}

// setState moves c to s.
func (d *Driver) setState(c *client, s state) {
	d.inState[c.state]--
	d.inState[s]++
	c.state = s
}

// answered notes that c, if a RoundTrip waits for it, has its reply or
// will get none.
func (d *Driver) answered(c *client) {
	if c.awaiting {
		c.awaiting = false
		d.awaiting--
	}
}

// fail ends c with err, closing its socket.
func (d *Driver) fail(c *client, err error) {
	if err == nil {
		err = errors.New("loadgen: the server closed the connection")
	}
	c.err = err
	d.setState(c, failed)
	d.answered(c)
	d.closeSocket(c)
}

// closeSocket closes c's socket, if open.
func (d *Driver) closeSocket(c *client) {
	if c.sock != noSocket {
		d.poll.close(c.sock)
		c.sock = noSocket
	}
}

// failure is c's error, or err when it has none.
func (c *client) failure(err error) error {
	if c.err != nil {
		return c.err
	}
	return err
}

// result counts the clients from first on that reached want.
func (d *Driver) result(first int, want state, start time.Time) Result {
	res := Result{Elapsed: time.Since(start)}
	for _, c := range d.clients[first:] {
		if c.state == want {
			res.Done++
			continue
		}
		res.Failed++
		if res.FirstErr == nil {
			res.FirstErr = c.failure(fmt.Errorf("loadgen: client stopped in state %d", c.state))
		}
	}
	return res
}
