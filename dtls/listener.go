package dtls

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// MaxPendingConns bounds the Conns a listener has made that Accept has not
// returned yet. While the backlog is full, a ClientHello with a valid
// cookie is dropped; the client sends it again.
const MaxPendingConns = 128

// listener shares one socket among server Conns, sorting datagrams by
// source address.
type listener struct {
	pconn net.PacketConn
	// batch reads pconn a batch of datagrams per system call, into
	// buffers of its own, and writes the flights of its Conns; nil: a
	// datagram at a time.
	batch  *batchSocket
	cfg    *Config
	accept chan *Conn
	done   chan struct{} // closed by Close
	dead   chan struct{} // closed when reading the socket fails

	mu      sync.Mutex
	conns   map[addrKey]*Conn // by the peer's address
	byCID   map[string]*Conn  // by the Connection ID the peer puts in its records
	cidLen  int               // the length of those CIDs, when the Config asks for them
	closed  bool
	readErr error

	closeSocket func() error
}

// Listen opens a UDP socket on laddr and returns a listener whose Accept
// returns server *Conns (a *Conn as a net.Conn).
func Listen(network, laddr string, cfg *Config) (net.Listener, error) {
	pconn, err := net.ListenPacket(network, laddr)
	if err != nil {
		return nil, err
	}
	return NewListener(pconn, cfg), nil
}

// NewListener returns a listener over pconn, which it reads in a goroutine
// of its own until pconn is closed. A datagram from an address without a
// Conn goes to fsm.VerifyHello: it gets the HelloVerifyRequest, if any,
// and makes a Conn only when it holds a ClientHello with a valid cookie.
// Closing the listener stops it making Conns and closes those not
// accepted; pconn is closed once every Conn is. On Linux, a *net.UDPConn
// is read up to eight datagrams per system call (recvmmsg), into 512 KiB
// of buffers the listener keeps, and a Conn sends the datagrams of a
// flight in one (sendmmsg); any other PacketConn, a wrapper of a
// *net.UDPConn included, a datagram at a time.
func NewListener(pconn net.PacketConn, cfg *Config) net.Listener {
	if cfg == nil {
		cfg = &Config{}
	}
	l := &listener{
		pconn:  pconn,
		cfg:    cfg,
		accept: make(chan *Conn, MaxPendingConns),
		done:   make(chan struct{}),
		dead:   make(chan struct{}),
		conns:  make(map[addrKey]*Conn),
		byCID:  make(map[string]*Conn),
		batch:  newBatchSocket(pconn, true),
	}
	if cfg.ConnectionIDs != nil {
		l.cidLen = cfg.ConnectionIDs.Length
	}
	l.closeSocket = sync.OnceValue(pconn.Close)
	go l.readLoop()
	return l
}

// readLoop reads the socket and hands each datagram to its Conn, or to
// the stateless cookie check.
func (l *listener) readLoop() {
	if l.batch != nil {
		l.readBatches()
		return
	}
	buf := make([]byte, maxDatagram)
	for {
		n, src, err := readSource(l.pconn, buf)
		if err != nil {
			l.shutdown(err)
			return
		}
		l.handle(src, buf[:n])
	}
}

// readBatches is readLoop for a socket read a batch at a time: each
// datagram of a batch is routed, in order, before the next read, which
// waits for the poller when the batch emptied the socket.
func (l *listener) readBatches() {
	l.shutdown(l.batch.serve(l))
}

// beginServe starts a listener's reads: with the first, it has sent
// nothing.
func (l *listener) beginServe() (quiet bool, err error) { return false, nil }

// takeBatch routes each datagram of b, in order.
func (l *listener) takeBatch(b *recvBatch, n int) (more bool) {
	for i := range n {
		if d, src, ok := b.datagram(i); ok {
			l.handle(src, d)
		}
	}
	return true
}

// handle routes one datagram: by the Connection ID it carries, if it is
// one of ours; else to the Conn for its source, unless it
// starts another connection from there (a ClientHello of another random:
// the client restarted on the same address), which, like a datagram from
// a new source, meets the stateless cookie check first.
func (l *listener) handle(src source, datagram []byte) {
	if cid, ok := record.ConnectionIDOf(datagram, l.cidLen); ok {
		l.mu.Lock()
		c := l.byCID[string(cid)]
		l.mu.Unlock()
		if c != nil {
			c.deliverFrom(src, datagram)
			return
		}
		// A CID not routed yet (its handshake has not completed: the
		// client's Finished may come in a datagram of its own) goes by
		// the source address.
	}
	key := src.key()
	l.mu.Lock()
	c, closed := l.conns[key], l.closed
	l.mu.Unlock()
	random, hello := fsm.HelloRandom(datagram)
	if c != nil && (!hello || random == c.helloRandom) {
		c.deliver(datagram)
		return
	}
	if closed {
		return
	}
	var room [32]byte
	peerID := key.appendID(room[:0])
	reply, accept := fsm.VerifyHello(l.cfg, peerID, time.Now(), datagram)
	if len(reply) > 0 {
		l.pconn.WriteTo(reply, src.addr())
	}
	if !accept {
		return
	}
	nc := newConn(l.pconn, src.addr(), fsm.NewDTLSServer(l.cfg, peerID), l)
	nc.helloRandom, nc.replaces = random, c
	if !l.add(key, nc) {
		return
	}
	nc.deliver(datagram)
}

// add makes c the Conn for key and queues it for Accept; false when the
// listener is closed or its backlog full.
func (l *listener) add(key addrKey, c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	select {
	case l.accept <- c:
		l.conns[key] = c
		return true
	default:
		return false // backlog full
	}
}

// restore runs when c, which took its source over from old, fails before
// its handshake completes: old gets its datagrams back, unless it was
// closed meanwhile.
func (l *listener) restore(c, old *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[c.key] == c && !old.closedFlag.Load() {
		l.conns[c.key] = old
	}
}

// shutdown fails every Conn after the socket failed.
func (l *listener) shutdown(err error) {
	l.mu.Lock()
	l.readErr = err
	close(l.dead)
	conns := make([]*Conn, 0, len(l.conns))
	for _, c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.socketFailed(err)
	}
}

// Accept waits for the next Conn and returns it as a *Conn. Its
// handshake is under way; Read, Write and Handshake wait for it.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, l.opError(net.ErrClosed)
	default:
	}
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, l.opError(net.ErrClosed)
	case <-l.dead:
		return nil, l.opError(l.readErr)
	}
}

// Close stops making Conns and closes those not accepted. The socket is
// closed when the last Conn is.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.opError(net.ErrClosed)
	}
	l.closed = true
	close(l.done)
	var backlog []*Conn
	for len(l.accept) > 0 {
		backlog = append(backlog, <-l.accept)
	}
	l.mu.Unlock()
	for _, c := range backlog {
		c.Close()
	}
	l.mu.Lock()
	idle := len(l.conns) == 0
	l.mu.Unlock()
	if idle {
		return l.closeSocket()
	}
	return nil
}

// addCID routes the records that carry cid to c. A CID another live
// Conn has is left to that one (Config.ConnectionIDs.New made the same
// twice): c is then routed by its address only.
func (l *listener) addCID(c *Conn, cid []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, taken := l.byCID[string(cid)]; !taken {
		l.byCID[string(cid)] = c
		c.cid = string(cid)
	}
}

// moved routes datagrams from to, the peer's new address, to c.
func (l *listener) moved(c *Conn, to net.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[c.key] == c {
		delete(l.conns, c.key)
	}
	c.key = keyOf(to)
	if l.conns[c.key] == nil {
		l.conns[c.key] = c
	}
}

// remove takes a closed Conn out of the demultiplexer, closing the socket
// after the last one when the listener is closed.
func (l *listener) remove(c *Conn) {
	l.mu.Lock()
	if l.conns[c.key] == c {
		delete(l.conns, c.key)
	}
	if c.cid != "" && l.byCID[c.cid] == c {
		delete(l.byCID, c.cid)
	}
	idle := l.closed && len(l.conns) == 0
	l.mu.Unlock()
	if idle {
		l.closeSocket()
	}
}

// Addr returns the socket's local address.
func (l *listener) Addr() net.Addr { return l.pconn.LocalAddr() }

func (l *listener) opError(err error) error {
	return &net.OpError{Op: "accept", Net: l.pconn.LocalAddr().Network(), Addr: l.pconn.LocalAddr(), Err: err}
}

// addrKey identifies a peer's transport address: for UDP, without
// allocating, as the listener looks one up for every datagram.
type addrKey struct {
	ap    netip.AddrPort
	other string // an address of another network, with its network
}

func keyOf(a net.Addr) addrKey {
	if u, ok := a.(*net.UDPAddr); ok {
		return keyOfAddrPort(u.AddrPort())
	}
	return addrKey{other: a.Network() + " " + a.String()}
}

// keyOfAddrPort is keyOf for a UDP address read as a netip.AddrPort.
func keyOfAddrPort(ap netip.AddrPort) addrKey {
	return addrKey{ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

// appendID appends the bytes that a cookie binds the address by.
func (k addrKey) appendID(dst []byte) []byte {
	if k.other != "" {
		return append(dst, k.other...)
	}
	b, _ := k.ap.AppendBinary(dst)
	return b
}
