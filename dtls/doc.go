// Package dtls puts tlsm's sans-I/O state machine (package fsm) on
// datagrams: DTLS 1.2, and DTLS 1.3 when the Config enables it, over a
// net.PacketConn, usually UDP.
//
// A *Conn is a net.Conn whose Read returns one record of application data
// at a time and whose Write sends records that each fit a datagram of
// Config.MTU. Datagrams may be lost, duplicated or reordered: the handshake
// recovers by retransmitting flights, application data does not, so a
// protocol on top of DTLS must tolerate loss as it would over UDP.
//
// There are two ways to get a Conn:
//
//   - Client, Server and Dial put a Conn on a socket that it reads itself,
//     keeping only the datagrams from its peer. Such a Conn runs no
//     goroutine: its Read or Handshake reads the socket, as package tls
//     does on a stream.
//   - Listen and NewListener share one socket among many Conns. The
//     listener's one goroutine reads it and sorts datagrams by source
//     address. A datagram from an unknown address meets fsm.VerifyHello
//     first, which answers a ClientHello without a valid cookie with a
//     HelloVerifyRequest and keeps no state; only a ClientHello with a
//     valid cookie makes a Conn, which Accept then returns. The listener
//     feeds each of its Conns as datagrams arrive, so their handshakes,
//     and answers to a peer's retransmissions, go on whether or not the
//     application is reading.
//
// Retransmission timers are runtime timers (time.AfterFunc): an idle Conn
// has no goroutine, and a timer still fires while a reader is blocked on
// the socket.
//
// How the socket is read and written: a *net.UDPConn a batch of
// datagrams per system call on Linux (recvmmsg, sendmmsg), elsewhere a
// datagram at a time without allocating the source address; any other
// PacketConn, a type that wraps or embeds a *net.UDPConn included, a
// datagram at a time through its own ReadFrom and WriteTo.
package dtls
