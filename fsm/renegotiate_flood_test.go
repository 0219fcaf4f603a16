package fsm_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/record"
)

// A peer that asks for renegotiations the other side refuses gets one
// warning no_renegotiation for each, up to fsm.MaxRefusedRenegotiations;
// the next ends the connection with unexpected_message. Without the bound
// a record of 4,096 empty ClientHellos drew 4,096 alerts, 7.7 times its
// size, and a refusal counted as progress against fsm.MaxIdleRecords.

// outcome is what a Conn did with some input: the alerts it sent, the
// bytes it transmitted, whether it closed.
type outcome struct {
	warnings []fsm.Alert
	fatal    []fsm.Alert
	sent     int
	closed   bool
}

// add takes events a Conn emitted.
func (o *outcome) add(evs []fsm.Event) {
	for _, ev := range evs {
		switch {
		case ev.Kind == fsm.EventTransmit:
			o.sent += len(ev.Data)
		case ev.Kind == fsm.EventAlertSent && ev.Level == record.LevelWarning:
			o.warnings = append(o.warnings, ev.Alert)
		case ev.Kind == fsm.EventAlertSent:
			o.fatal = append(o.fatal, ev.Alert)
		case ev.Kind == fsm.EventClosed:
			o.closed = true
		}
	}
}

// feed hands c one piece of its stream and takes the events it emits.
func (o *outcome) feed(p *memconn.Pair, c *fsm.Conn, in []byte) {
	c.HandleData(p.Now, in)
	var evs []fsm.Event
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		evs = append(evs, ev)
	}
	o.add(evs)
}

// refusedThenClosed asserts that o is MaxRefusedRenegotiations refusals
// and then a close with unexpected_message.
func refusedThenClosed(t *testing.T, c *fsm.Conn, o *outcome) {
	t.Helper()
	require.Len(t, o.warnings, fsm.MaxRefusedRenegotiations, "warnings sent")
	for _, a := range o.warnings {
		require.Equal(t, record.AlertNoRenegotiation, a)
	}
	require.Equal(t, []fsm.Alert{record.AlertUnexpectedMessage}, o.fatal)
	require.True(t, o.closed)
	require.Equal(t, fsm.StateClosed, c.State())
	require.ErrorIs(t, c.Err(), record.AlertUnexpectedMessage)
}

// emptyClientHello is a ClientHello message with an empty body, which a
// server refuses before parsing it.
var emptyClientHello = handshakeMsg(flights.TypeClientHello, nil)

// helloRequest is a HelloRequest message.
var helloRequest = (&flights.HelloRequest{}).Append(nil)

// TestRefusedRenegotiationsTLS: over a stream, a server refusing
// renegotiation ClientHellos and a client refusing HelloRequests, one
// per record or thousands in one record.
func TestRefusedRenegotiationsTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		victim func(p *memconn.Pair) (victim, attacker *memconn.Side)
		msg    func(p *memconn.Pair) []byte
	}{
		{"server, ClientHellos", func(p *memconn.Pair) (*memconn.Side, *memconn.Side) { return p.Server, p.Client },
			func(p *memconn.Pair) []byte { return renegotiationHello(p).Append(nil) }},
		{"server, empty ClientHellos", func(p *memconn.Pair) (*memconn.Side, *memconn.Side) { return p.Server, p.Client },
			func(*memconn.Pair) []byte { return emptyClientHello }},
		{"client, HelloRequests", func(p *memconn.Pair) (*memconn.Side, *memconn.Side) { return p.Client, p.Server },
			func(*memconn.Pair) []byte { return helloRequest }},
	} {
		t.Run(tc.name+", one a record", func(t *testing.T) {
			p := tls12Pair(t, func(cc, sc *fsm.Config) { cc.Renegotiation = fsm.RenegotiateNever })
			v, a := tc.victim(p)
			o := &outcome{}
			for range fsm.MaxRefusedRenegotiations + 5 {
				if o.closed {
					break
				}
				o.feed(p, v.Conn, a.Conn.SealForTest(tc.msg(p)))
			}
			refusedThenClosed(t, v.Conn, o)
		})
		t.Run(tc.name+", a record full", func(t *testing.T) {
			p := tls12Pair(t, func(cc, sc *fsm.Config) { cc.Renegotiation = fsm.RenegotiateNever })
			v, a := tc.victim(p)
			msg := tc.msg(p)
			in := a.Conn.SealForTest(bytes.Repeat(msg, (1<<14)/len(msg)))
			o := &outcome{}
			o.feed(p, v.Conn, in)
			refusedThenClosed(t, v.Conn, o)
			t.Logf("%d bytes in, %d bytes out", len(in), o.sent)
		})
	}
}

// TestRefusedRenegotiationsDTLS is TestRefusedRenegotiationsTLS over
// datagrams, one message a record.
func TestRefusedRenegotiationsDTLS(t *testing.T) {
	t.Run("server, ClientHellos", func(t *testing.T) {
		p := connectedDT(t, nil)
		ch := renegotiationHelloDT(p).Append(nil)
		o := &outcome{}
		for range fsm.MaxRefusedRenegotiations + 5 {
			if !o.closed {
				o.add(p.inject(p.server, p.forge(p.client, 1, record.TypeHandshake, dtMsg(ch, 0))))
			}
		}
		refusedThenClosed(t, p.server.conn, o)
	})
	t.Run("client, HelloRequests", func(t *testing.T) {
		p := connectedDT(t, func(cc, sc *fsm.Config) { cc.Renegotiation = fsm.RenegotiateNever })
		o := &outcome{}
		for range fsm.MaxRefusedRenegotiations + 5 {
			if !o.closed {
				o.add(p.inject(p.client, p.forge(p.server, 1, record.TypeHandshake, dtMsg(helloRequest, 0))))
			}
		}
		refusedThenClosed(t, p.client.conn, o)
	})
}

// TestRefusedRenegotiationIsIdle: a record that only drew a refusal is no
// progress: it counts towards MaxIdleRecords as an empty record does, and
// does not start the count again. Data does.
func TestRefusedRenegotiationIsIdle(t *testing.T) {
	type side struct {
		name   string
		victim func(p *memconn.Pair) (victim, attacker *memconn.Side)
		msg    []byte
	}
	for _, sd := range []side{
		{"server", func(p *memconn.Pair) (*memconn.Side, *memconn.Side) { return p.Server, p.Client }, emptyClientHello},
		{"client", func(p *memconn.Pair) (*memconn.Side, *memconn.Side) { return p.Client, p.Server }, helloRequest},
	} {
		for _, refused := range []bool{true, false} {
			name := sd.name + ", data between"
			if refused {
				name = sd.name + ", refusal between"
			}
			t.Run(name, func(t *testing.T) {
				p := tls12Pair(t, func(cc, sc *fsm.Config) { cc.Renegotiation = fsm.RenegotiateNever })
				v, a := sd.victim(p)
				o := &outcome{}
				for range fsm.MaxIdleRecords - 1 {
					o.feed(p, v.Conn, a.Conn.SealAppDataForTest(nil))
				}
				if refused {
					o.feed(p, v.Conn, a.Conn.SealForTest(sd.msg))
				} else {
					o.feed(p, v.Conn, a.Conn.SealAppDataForTest([]byte("x")))
				}
				o.feed(p, v.Conn, a.Conn.SealAppDataForTest(nil))
				o.feed(p, v.Conn, a.Conn.SealAppDataForTest(nil))
				if !refused {
					require.False(t, o.closed, "closed: %v", v.Conn.Err())
					return
				}
				require.Len(t, o.warnings, 1)
				require.True(t, o.closed)
				require.ErrorIs(t, v.Conn.Err(), record.AlertUnexpectedMessage)
			})
		}
	}
}

// TestRefusedRenegotiationIsIdleDTLS is TestRefusedRenegotiationIsIdle
// over datagrams, for the server.
func TestRefusedRenegotiationIsIdleDTLS(t *testing.T) {
	p := connectedDT(t, nil)
	ch := dtMsg(renegotiationHelloDT(p).Append(nil), 0)
	o := &outcome{}
	for range fsm.MaxIdleRecords - 1 {
		o.add(p.inject(p.server, p.forge(p.client, 1, record.TypeApplicationData, nil)))
	}
	o.add(p.inject(p.server, p.forge(p.client, 1, record.TypeHandshake, ch)))
	o.add(p.inject(p.server, p.forge(p.client, 1, record.TypeApplicationData, nil)))
	require.Len(t, o.warnings, 1)
	require.True(t, o.closed)
	require.ErrorIs(t, p.server.conn.Err(), record.AlertUnexpectedMessage)
}

// TestDTLSRefusingClientAnswersEveryHelloRequest: a DTLS server numbers
// each HelloRequest 0 (RFC 6347 §4.2.2), so a client that refused one
// takes the next as a new request, not as a copy of the old one: every
// request the server makes is answered with no_renegotiation, and none is
// left to time out.
func TestDTLSRefusingClientAnswersEveryHelloRequest(t *testing.T) {
	p := connectedDT(t, func(cc, sc *fsm.Config) { cc.Renegotiation = fsm.RenegotiateNever })
	// The server asks only once it knows the client completed the
	// handshake: the client's data says so.
	_, err := p.client.conn.Write(p.now, []byte("done"))
	require.NoError(t, err)
	p.drain(p.client)
	p.run()
	for i := range 3 {
		require.NoError(t, p.server.conn.Renegotiate())
		require.NoError(t, p.server.conn.Handshake(p.now))
		p.drain(p.server)
		p.run()
		require.NoError(t, p.server.conn.Err(), "request %d", i)
		require.False(t, p.server.conn.RenegotiatePending(), "request %d unanswered", i)
	}
	refusals := 0
	for _, ev := range p.server.events {
		if ev.Kind == fsm.EventAlertReceived && ev.Alert == record.AlertNoRenegotiation {
			refusals++
		}
	}
	require.Equal(t, 3, refusals)
	require.NoError(t, p.client.conn.Err())
}
