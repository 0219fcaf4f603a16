package fsm

import (
	"slices"
	"strconv"

	"github.com/tlsm/tlsm/flights"
)

// State is a state of the handshake state machine.
type State uint8

// States. Client and server states are distinct, and so are the TLS 1.2
// and TLS 1.3 ones (suffixes 12 and 13), so that the table says which role
// and version may receive what.
const (
	StateClientStart State = iota
	StateClientWaitServerHello
	StateClientWaitServerHelloRetried
	StateClientWaitEncryptedExtensions
	StateClientWaitCertOrCertRequest13
	StateClientWaitCertificate13
	StateClientWaitCertificateVerify13
	StateClientWaitFinished13
	StateClientConnected13
	StateClientWaitCertificate12
	StateClientWaitServerKeyExchange12
	StateClientWaitCertReqOrDone12
	StateClientWaitServerHelloDone12
	StateClientWaitNewSessionTicket12
	StateClientWaitChangeCipherSpec12
	StateClientWaitFinished12
	StateClientConnected12
	StateServerStart
	StateServerWaitClientHelloRetried
	StateServerWaitCertificate13
	StateServerWaitCertificateVerify13
	StateServerWaitFinished13
	StateServerConnected13
	StateServerWaitCertificate12
	StateServerWaitClientKeyExchange12
	StateServerWaitCertificateVerify12
	StateServerWaitChangeCipherSpec12
	StateServerWaitFinished12
	StateServerConnected12
	StateClosed
	numStates
)

var stateNames = [numStates]string{
	"ClientStart", "ClientWaitServerHello", "ClientWaitServerHelloRetried",
	"ClientWaitEncryptedExtensions", "ClientWaitCertOrCertRequest13",
	"ClientWaitCertificate13", "ClientWaitCertificateVerify13",
	"ClientWaitFinished13", "ClientConnected13", "ClientWaitCertificate12",
	"ClientWaitServerKeyExchange12", "ClientWaitCertReqOrDone12",
	"ClientWaitServerHelloDone12", "ClientWaitNewSessionTicket12",
	"ClientWaitChangeCipherSpec12", "ClientWaitFinished12", "ClientConnected12",
	"ServerStart", "ServerWaitClientHelloRetried", "ServerWaitCertificate13",
	"ServerWaitCertificateVerify13", "ServerWaitFinished13",
	"ServerConnected13", "ServerWaitCertificate12",
	"ServerWaitClientKeyExchange12", "ServerWaitCertificateVerify12",
	"ServerWaitChangeCipherSpec12", "ServerWaitFinished12", "ServerConnected12",
	"Closed",
}

// String returns the state's name.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Input is what drives a transition: a message or record from the peer, or
// the client's Start call.
type Input uint8

// Inputs.
const (
	InStart Input = iota // the client's Start call
	InClientHello
	InServerHello
	InHelloRetryRequest
	InEncryptedExtensions
	InCertificateRequest
	InCertificate
	InCertificateVerify
	InFinished
	InNewSessionTicket
	InKeyUpdate
	InServerKeyExchange
	InServerHelloDone
	InClientKeyExchange
	InChangeCipherSpec
	InHelloVerifyRequest
	InHelloRequest
	InRenegotiate     // a renegotiation the API scheduled
	InNoRenegotiation // a warning no_renegotiation alert
	InApplicationData
	numInputs
)

var inputNames = [numInputs]string{
	"Start", "ClientHello", "ServerHello", "HelloRetryRequest", "EncryptedExtensions",
	"CertificateRequest", "Certificate", "CertificateVerify", "Finished",
	"NewSessionTicket", "KeyUpdate", "ServerKeyExchange", "ServerHelloDone",
	"ClientKeyExchange", "ChangeCipherSpec", "HelloVerifyRequest", "HelloRequest",
	"Renegotiate", "NoRenegotiation", "ApplicationData",
}

// String returns the input's name.
func (in Input) String() string {
	if in < numInputs {
		return inputNames[in]
	}
	return "Input(" + strconv.Itoa(int(in)) + ")"
}

// inputFor maps a handshake message to its input. HelloRetryRequest is a
// ServerHello with a special random.
func inputFor(typ flights.MsgType, body []byte) (Input, bool) {
	switch typ {
	case flights.TypeClientHello:
		return InClientHello, true
	case flights.TypeServerHello:
		if len(body) >= 34 && [32]byte(body[2:34]) == flights.HelloRetryRequestRandom {
			return InHelloRetryRequest, true
		}
		return InServerHello, true
	case flights.TypeEncryptedExtensions:
		return InEncryptedExtensions, true
	case flights.TypeCertificateRequest:
		return InCertificateRequest, true
	case flights.TypeCertificate:
		return InCertificate, true
	case flights.TypeCertificateVerify:
		return InCertificateVerify, true
	case flights.TypeFinished:
		return InFinished, true
	case flights.TypeNewSessionTicket:
		return InNewSessionTicket, true
	case flights.TypeKeyUpdate:
		return InKeyUpdate, true
	case flights.TypeServerKeyExchange:
		return InServerKeyExchange, true
	case flights.TypeServerHelloDone:
		return InServerHelloDone, true
	case flights.TypeClientKeyExchange:
		return InClientKeyExchange, true
	case flights.TypeHelloVerifyRequest:
		return InHelloVerifyRequest, true
	case flights.TypeHelloRequest:
		return InHelloRequest, true
	}
	return 0, false
}

// message is one input as handed to a transition: the body of a handshake
// message (and its raw bytes for the transcript) or application data.
type message struct {
	body []byte
	raw  []byte
}

// handler processes an input and returns the next state, which must be one
// of the transition's declared targets.
type handler func(c *Conn, m message) (State, error)

// Transition is one row of the table: in state From, input On may lead to
// any of To.
type Transition struct {
	From   State
	On     Input
	To     []State
	handle handler
}

// table is the whole state machine: every legal (state, input) pair.
var table = []Transition{
	{StateClientStart, InStart, []State{StateClientWaitServerHello}, (*Conn).clientStart},
	{StateClientWaitServerHello, InServerHello, []State{StateClientWaitEncryptedExtensions,
		StateClientWaitCertificate12, StateClientWaitNewSessionTicket12, StateClientWaitChangeCipherSpec12}, (*Conn).clientServerHello},
	{StateClientWaitServerHello, InHelloVerifyRequest, []State{StateClientWaitServerHello}, (*Conn).clientHelloVerifyRequest},
	{StateClientWaitServerHello, InHelloRetryRequest, []State{StateClientWaitServerHelloRetried}, (*Conn).clientHelloRetryRequest},
	{StateClientWaitServerHelloRetried, InServerHello, []State{StateClientWaitEncryptedExtensions}, (*Conn).clientServerHello},
	{StateClientWaitEncryptedExtensions, InEncryptedExtensions, []State{StateClientWaitCertOrCertRequest13, StateClientWaitFinished13}, (*Conn).clientEncryptedExtensions},
	{StateClientWaitCertOrCertRequest13, InCertificateRequest, []State{StateClientWaitCertificate13}, (*Conn).clientCertificateRequest},
	{StateClientWaitCertOrCertRequest13, InCertificate, []State{StateClientWaitCertificateVerify13}, (*Conn).clientCertificate},
	{StateClientWaitCertificate13, InCertificate, []State{StateClientWaitCertificateVerify13}, (*Conn).clientCertificate},
	{StateClientWaitCertificateVerify13, InCertificateVerify, []State{StateClientWaitFinished13}, (*Conn).clientCertificateVerify},
	{StateClientWaitFinished13, InFinished, []State{StateClientConnected13}, (*Conn).clientFinished},
	{StateClientConnected13, InNewSessionTicket, []State{StateClientConnected13}, (*Conn).clientNewSessionTicket},
	{StateClientConnected13, InKeyUpdate, []State{StateClientConnected13}, (*Conn).receiveKeyUpdate},
	{StateClientConnected13, InApplicationData, []State{StateClientConnected13}, (*Conn).deliver},

	{StateServerStart, InClientHello, []State{StateServerStart, StateServerWaitFinished13, StateServerWaitCertificate13, StateServerWaitClientHelloRetried,
		StateServerWaitCertificate12, StateServerWaitClientKeyExchange12, StateServerWaitChangeCipherSpec12}, (*Conn).serverClientHello},
	{StateServerWaitClientHelloRetried, InClientHello, []State{StateServerWaitFinished13, StateServerWaitCertificate13}, (*Conn).serverClientHelloRetried},
	{StateServerWaitCertificate13, InCertificate, []State{StateServerWaitCertificateVerify13, StateServerWaitFinished13}, (*Conn).serverCertificate},
	{StateServerWaitCertificateVerify13, InCertificateVerify, []State{StateServerWaitFinished13}, (*Conn).serverCertificateVerify},
	{StateServerWaitFinished13, InFinished, []State{StateServerConnected13}, (*Conn).serverFinished},
	{StateServerConnected13, InKeyUpdate, []State{StateServerConnected13}, (*Conn).receiveKeyUpdate},
	{StateServerConnected13, InApplicationData, []State{StateServerConnected13}, (*Conn).deliver},

	// TLS 1.2, client.
	{StateClientWaitCertificate12, InCertificate, []State{StateClientWaitServerKeyExchange12}, (*Conn).client12Certificate},
	{StateClientWaitServerKeyExchange12, InServerKeyExchange, []State{StateClientWaitCertReqOrDone12}, (*Conn).client12ServerKeyExchange},
	{StateClientWaitCertReqOrDone12, InCertificateRequest, []State{StateClientWaitServerHelloDone12}, (*Conn).client12CertificateRequest},
	{StateClientWaitCertReqOrDone12, InServerHelloDone, []State{StateClientWaitNewSessionTicket12, StateClientWaitChangeCipherSpec12}, (*Conn).client12ServerHelloDone},
	{StateClientWaitServerHelloDone12, InServerHelloDone, []State{StateClientWaitNewSessionTicket12, StateClientWaitChangeCipherSpec12}, (*Conn).client12ServerHelloDone},
	{StateClientWaitNewSessionTicket12, InNewSessionTicket, []State{StateClientWaitChangeCipherSpec12}, (*Conn).client12NewSessionTicket},
	{StateClientWaitChangeCipherSpec12, InChangeCipherSpec, []State{StateClientWaitFinished12}, (*Conn).changeCipherSpec12},
	{StateClientWaitFinished12, InFinished, []State{StateClientConnected12}, (*Conn).client12Finished},
	{StateClientConnected12, InApplicationData, []State{StateClientConnected12}, (*Conn).deliver},

	// TLS 1.2, server.
	{StateServerWaitCertificate12, InCertificate, []State{StateServerWaitClientKeyExchange12}, (*Conn).server12Certificate},
	{StateServerWaitClientKeyExchange12, InClientKeyExchange, []State{StateServerWaitCertificateVerify12, StateServerWaitChangeCipherSpec12}, (*Conn).server12ClientKeyExchange},
	{StateServerWaitCertificateVerify12, InCertificateVerify, []State{StateServerWaitChangeCipherSpec12}, (*Conn).server12CertificateVerify},
	{StateServerWaitChangeCipherSpec12, InChangeCipherSpec, []State{StateServerWaitFinished12}, (*Conn).changeCipherSpec12},
	{StateServerWaitFinished12, InFinished, []State{StateServerConnected12}, (*Conn).server12Finished},
	{StateServerConnected12, InApplicationData, []State{StateServerConnected12}, (*Conn).deliver},

	// TLS 1.2 renegotiation.
	{StateClientConnected12, InHelloRequest, []State{StateClientConnected12, StateClientWaitServerHello}, (*Conn).clientHelloRequest},
	{StateClientConnected12, InRenegotiate, []State{StateClientWaitServerHello}, (*Conn).clientRenegotiate},
	{StateServerConnected12, InRenegotiate, []State{StateServerConnected12}, (*Conn).serverHelloRequest},
	{StateServerConnected12, InNoRenegotiation, []State{StateServerConnected12}, (*Conn).serverRequestRefused},
	{StateClientWaitServerHello, InNoRenegotiation, []State{StateClientWaitServerHello, StateClientConnected12}, (*Conn).clientRenegotiationRefused},
	{StateServerConnected12, InClientHello, []State{StateServerConnected12, StateServerWaitCertificate12,
		StateServerWaitClientKeyExchange12, StateServerWaitChangeCipherSpec12}, (*Conn).serverRenegotiationHello},
}

// clientHandshake12 are the client's states while a TLS 1.2 handshake
// waits for the server: a HelloRequest there is ignored (RFC 5246 §7.4.1.1),
// and during a renegotiation application data still flows.
var clientHandshake12 = []State{
	StateClientWaitServerHello, StateClientWaitCertificate12, StateClientWaitServerKeyExchange12,
	StateClientWaitCertReqOrDone12, StateClientWaitServerHelloDone12, StateClientWaitNewSessionTicket12,
	StateClientWaitChangeCipherSpec12,
}

// serverHandshake12 are the server's states, before the client's
// ChangeCipherSpec, in which application data of a renegotiating client
// may still arrive.
var serverHandshake12 = []State{
	StateServerWaitCertificate12, StateServerWaitClientKeyExchange12,
	StateServerWaitCertificateVerify12, StateServerWaitChangeCipherSpec12,
}

func init() {
	table = append(table, selfLoops(append(clientHandshake12, StateClientWaitFinished12), InHelloRequest, (*Conn).ignoreHelloRequest)...)
	table = append(table, selfLoops(append(clientHandshake12, serverHandshake12...), InApplicationData, (*Conn).deliverDuringRenegotiation)...)
	buildIndex()
}

// stateProperty is what the rules outside the table need to know of a
// state: the table says which inputs it takes, this the rest.
type stateProperty struct {
	// start: no handshake has begun.
	start bool
	// initialRecords: records sent here carry the transport's initial
	// record version (a client's first ClientHello).
	initialRecords bool
	// connected: a handshake is complete and application data flows.
	connected bool
	// restartedBy is the message that, arriving numbered out of turn,
	// starts a handshake over in this state (DTLS): a client's new
	// ClientHello at a server, a ServerHello after our retried hello.
	restartedBy flights.MsgType
	// restarts is set where restartedBy applies.
	restarts bool
}

// properties holds each state's properties; states not listed have none.
var properties = func() (p [numStates]stateProperty) {
	p[StateClientStart].start = true
	p[StateClientStart].initialRecords = true
	p[StateServerStart].start = true
	for _, s := range []State{StateClientConnected13, StateServerConnected13, StateClientConnected12, StateServerConnected12} {
		p[s].connected = true
	}
	for _, r := range []struct {
		s State
		m flights.MsgType
	}{
		{StateServerStart, flights.TypeClientHello},
		{StateServerConnected12, flights.TypeClientHello},
		// Not a HelloVerifyRequest: a copy of one already answered would
		// make us send a third ClientHello. (A copy of an earlier
		// handshake's ServerHello is of an earlier epoch, never seen here.)
		{StateClientWaitServerHello, flights.TypeServerHello},
	} {
		p[r.s].restartedBy, p[r.s].restarts = r.m, true
	}
	return p
}()

// property returns the properties of s.
func property(s State) stateProperty {
	if s >= numStates {
		return stateProperty{}
	}
	return properties[s]
}

// selfLoops declares input in each of states as legal, staying put.
func selfLoops(states []State, in Input, h handler) []Transition {
	out := make([]Transition, len(states))
	for i, s := range states {
		out[i] = Transition{From: s, On: in, To: []State{s}, handle: h}
	}
	return out
}

// index[state][input] points into table; nil means unexpected_message.
var index [numStates][numInputs]*Transition

func buildIndex() {
	for i := range table {
		t := &table[i]
		if index[t.From][t.On] != nil {
			panic("fsm: duplicate transition " + t.From.String() + " " + t.On.String())
		}
		index[t.From][t.On] = t
	}
}

// Table returns a copy of the transition table.
func Table() []Transition {
	out := make([]Transition, len(table))
	for i, t := range table {
		out[i] = t.public()
	}
	return out
}

// public is a copy of t that shares nothing with the table.
func (t *Transition) public() Transition {
	return Transition{From: t.From, On: t.On, To: slices.Clone(t.To)}
}

// Lookup returns a copy of the transition for (s, in), and false when the
// input is not legal in that state. Changing the copy changes nothing.
func Lookup(s State, in Input) (Transition, bool) {
	t := lookup(s, in)
	if t == nil {
		return Transition{}, false
	}
	return t.public(), true
}

// lookup is Lookup for the state machine itself: the live entry, or nil.
func lookup(s State, in Input) *Transition {
	if s >= numStates || in >= numInputs {
		return nil
	}
	return index[s][in]
}
