package fsm_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/record"
)

// The DTLS 1.3 hostile-input cases (RFC 9147). As over DTLS 1.2, a record
// that does not authenticate — a bad unified header, an epoch without
// keys, a garbled record number — is dropped without a word (§4.5.2); a
// peer whose records authenticate but break the protocol gets a fatal
// alert. The pair is connected over DTLS 1.3 without a cookie exchange,
// so the client's next message_seq after its Finished is 2, and its
// records of application data are in epoch 3.

// clientNextMessageSeq is the client's next handshake message_seq once
// the handshake of connected13DT is over: ClientHello 0, Finished 1.
const clientNextMessageSeq = 2

// connected13DT is a dtPair connected over DTLS 1.3.
func connected13DT(t *testing.T) *dtPair {
	p := newDTPair(t, func(cc, sc *fsm.Config) {
		cc.CipherSuites = nil
		cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
		sc.InsecureSkipHelloVerify = true
	})
	p.connect()
	require.Equal(t, record.VersionDTLS13, p.client.conn.ConnectionState().Version)
	return p
}

// forge13 returns a DTLSCiphertext record as the client would send it
// under its traffic secret of epoch (3 the first, 4 the next, …), with
// the next forged sequence number.
func (p *dtPair) forge13(epoch uint64, typ record.ContentType, payload []byte) []byte {
	seq := p.forgeSeq
	p.forgeSeq++
	return p.seal13(p.client, epoch, seq, typ, payload)
}

// seal13 seals payload as from's record epoch/seq.
func (p *dtPair) seal13(from *dtSide, epoch, seq uint64, typ record.ContentType, payload []byte) []byte {
	suite := cipher.SuiteByID(p.client.conn.ConnectionState().CipherSuite)
	label := "CLIENT_TRAFFIC_SECRET_0"
	if from == p.server {
		label = "SERVER_TRAFFIC_SECRET_0"
	}
	secret := secretFrom(p.t, p.keyLog, label)
	for range epoch - 3 {
		secret = cipher.DTLS13Labels.NextTrafficSecret(suite.Hash, secret)
	}
	return sealUnder(p.t, suite, secret, epoch, seq, typ, payload)
}

// sealUnder seals payload as record epoch/seq under the keys of secret.
func sealUnder(t *testing.T, suite *cipher.Suite, secret []byte, epoch, seq uint64, typ record.ContentType, payload []byte) []byte {
	st, err := cipher.DTLS13Labels.NewTrafficState(suite, secret)
	require.NoError(t, err)
	sn, err := cipher.DTLS13Labels.NewRecordNumberKey(suite, secret)
	require.NoError(t, err)
	out, err := record.SealDTLS13(nil, st, sn, typ, epoch, seq, nil, payload)
	require.NoError(t, err)
	return out
}

// keyUpdate13 is a DTLS KeyUpdate message with message_seq seq.
func keyUpdate13(seq uint16, requested bool) []byte {
	ku := flights.KeyUpdate{}
	if requested {
		ku.RequestUpdate = 1
	}
	return dtMsg(ku.Append(nil), seq)
}

// ackOf is an ACK's content listing records.
func ackOf(records ...flights.RecordNumber) []byte {
	ack := flights.ACK{Records: records}
	return ack.Append(nil)
}

// connected13RRC is connected13DT with the return routability check
// negotiated: the client asks for a 4-byte Connection ID, the server for
// an empty one, so that the client's records carry none.
func connected13RRC(t *testing.T) *dtPair {
	p := newDTPair(t, func(cc, sc *fsm.Config) {
		cc.CipherSuites = nil
		cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
		sc.InsecureSkipHelloVerify = true
		cc.ConnectionIDs, sc.ConnectionIDs = &fsm.ConnectionIDs{Length: 4}, &fsm.ConnectionIDs{}
	})
	p.connect()
	require.True(t, p.server.conn.ConnectionState().ReturnRoutabilityCheck)
	return p
}

// pathMessage is a return_routability_check message of type typ.
func pathMessage(typ byte) []byte { return []byte{typ, 1, 2, 3, 4, 5, 6, 7, 8} }

// badInputDTLS13Cases are the DTLS 1.3 cases: of records, and of the
// return routability check.
func badInputDTLS13Cases() []badDTLSCase {
	return append(badInputDTLS13RecordCases(), badInputPathCases()...)
}

// badInputPathCases are the return routability check's (RFC 9853).
func badInputPathCases() []badDTLSCase {
	return append(negotiatedPathCases(), badDTLSCase{"dtls13 return_routability_check not negotiated", sendsDT(fsm.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
		p := connected13DT(t)
		rec := p.forge13(3, record.TypeReturnRoutabilityCheck, pathMessage(0))
		return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
	}})
}

// negotiatedPathCases are those of a connection that negotiated the
// return routability check.
func negotiatedPathCases() []badDTLSCase {
	return []badDTLSCase{
		{"dtls13 path_challenge answered", completesDT, func(t *testing.T) *dtAttack {
			p := connected13RRC(t)
			rec := p.forge13(3, record.TypeReturnRoutabilityCheck, pathMessage(0))
			a := attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
			require.Equal(t, 1, countKind(a.events, fsm.EventTransmit), "one path_response")
			return a
		}},
		{"dtls13 path_response to no challenge", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13RRC(t)
			rec := p.forge13(3, record.TypeReturnRoutabilityCheck, pathMessage(1))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 return_routability_check of an unknown type", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13RRC(t)
			rec := p.forge13(3, record.TypeReturnRoutabilityCheck, pathMessage(9))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 path_challenge cut short", sendsDT(fsm.AlertDecodeError), func(t *testing.T) *dtAttack {
			p := connected13RRC(t)
			rec := p.forge13(3, record.TypeReturnRoutabilityCheck, pathMessage(0)[:5])
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
	}
}

// badInputDTLS13RecordCases are the cases of DTLS 1.3 records.
func badInputDTLS13RecordCases() []badDTLSCase {
	return []badDTLSCase{
		{"dtls13 garbled record number", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeApplicationData, []byte("x"))
			rec[1] ^= 0x5a // the protected sequence number
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 ciphertext bit flipped", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeApplicationData, []byte("x"))
			rec[len(rec)-1] ^= 1
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 connection ID bit without one negotiated", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeApplicationData, []byte("x"))
			rec[0] |= 0x10
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 length beyond the datagram", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeApplicationData, []byte("x"))
			rec[3], rec[4] = 0xff, 0xff
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 truncated unified header", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeApplicationData, []byte("x"))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec[:2]) })
		}},
		{"dtls13 epoch jump to keys not yet in use", ignoredDT, func(t *testing.T) *dtAttack {
			// Sealed under the client's genuine keys of epoch 5, which
			// no KeyUpdate has announced.
			p := connected13DT(t)
			rec := p.forge13(5, record.TypeApplicationData, []byte("x"))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 next epoch before its KeyUpdate", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(4, record.TypeApplicationData, []byte("x"))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 sequence number far ahead", ignoredDT, func(t *testing.T) *dtAttack {
			// The 16-bit number on the wire is reconstructed near the
			// window, so the record does not open: dropped.
			p := connected13DT(t)
			rec := p.seal13(p.client, 3, 1<<40+5, record.TypeApplicationData, []byte("x"))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 plaintext handshake record after the handshake", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.plainRec(record.TypeHandshake, keyUpdate13(clientNextMessageSeq, true))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 plaintext application data", ignoredDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.plainRec(record.TypeApplicationData, []byte("x"))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 ACK for records never sent", completesDT, func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeACK, ackOf(flights.RecordNumber{Epoch: 3, Seq: 1000}, flights.RecordNumber{Epoch: 9, Seq: 0}))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 malformed ACK", sendsDT(fsm.AlertDecodeError), func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeACK, []byte{0, 3, 1, 2, 3})
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 second KeyUpdate before the first is acknowledged", sendsDT(fsm.AlertUnexpectedMessage), func(t *testing.T) *dtAttack {
			// A sender keeps its epoch until its KeyUpdate is
			// acknowledged and never has two outstanding (RFC 9147 §8):
			// a second KeyUpdate in the epoch the first one ended is a
			// message from keys already retired.
			p := connected13DT(t)
			first := p.forge13(3, record.TypeHandshake, keyUpdate13(clientNextMessageSeq, false))
			second := p.forge13(3, record.TypeHandshake, keyUpdate13(clientNextMessageSeq+1, false))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, first, second) })
		}},
		{"dtls13 KeyUpdate with request_update 2", sendsDT(fsm.AlertIllegalParameter), func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			msg := keyUpdate13(clientNextMessageSeq, false)
			msg[len(msg)-1] = 2
			rec := p.forge13(3, record.TypeHandshake, msg)
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
		{"dtls13 handshake message in an ACK record", sendsDT(fsm.AlertDecodeError), func(t *testing.T) *dtAttack {
			p := connected13DT(t)
			rec := p.forge13(3, record.TypeACK, keyUpdate13(clientNextMessageSeq, false))
			return attack(p, p.server, func() []fsm.Event { return p.inject(p.server, rec) })
		}},
	}
}

func TestBadInputDTLS13(t *testing.T) {
	cases := badInputDTLS13Cases()
	require.GreaterOrEqual(t, len(cases), 20)
	runBadDTLSCases(t, cases)
}

// TestDTLS13ACKOfOtherRecordsKeepsKeys: while the server's KeyUpdate
// waits for its ACK, an ACK that lists other records — ones it never
// sent — does not move it to its next keys; the genuine ACK does.
func TestDTLS13ACKOfOtherRecordsKeepsKeys(t *testing.T) {
	p := connected13DT(t)
	require.NoError(t, p.server.conn.KeyUpdate(fsm.UpdateNotRequested))
	require.NoError(t, p.server.conn.Handshake(p.now))
	p.drain(p.server)
	require.Len(t, p.client.inbox, 1, "the server's KeyUpdate")
	keyUpdate := p.client.inbox[0]
	p.client.inbox = nil

	bogus := p.forge13(3, record.TypeACK, ackOf(flights.RecordNumber{Epoch: 3, Seq: 77}, flights.RecordNumber{Epoch: 4, Seq: 0}))
	evs := p.inject(p.server, bogus)
	require.Zero(t, countKind(evs, fsm.EventKeyUpdateSent), "keys switched on an ACK of other records: %v", eventKinds(evs))
	_, err := p.server.conn.Write(p.now, []byte("still epoch 3"))
	require.NoError(t, err)
	p.drain(p.server)
	require.Len(t, p.client.inbox, 1)
	require.Equal(t, byte(3), p.client.inbox[0][0]&3, "written under the keys of epoch 3")
	p.step(p.client)

	p.inject(p.client, keyUpdate) // the client acknowledges it
	evs = p.step(p.server)
	require.Equal(t, 1, countKind(evs, fsm.EventKeyUpdateSent), "events: %v", eventKinds(evs))
	checkDTLSOutcome(t, &dtAttack{p: p, v: p.server, before: p.server.conn.State()}, completesDT)
	require.True(t, bytes.HasSuffix(p.client.received, []byte("after")))
}

// TestDTLS13MessageAfterKeyUpdateInOldEpoch: a KeyUpdate ends the
// post-handshake messages of its epoch (RFC 9147 §8). A server that sends
// a NewSessionTicket in the epoch its KeyUpdate ended breaks the protocol:
// the client, which took the KeyUpdate, ends the connection with
// unexpected_message. Before, it acknowledged the ticket's record without
// taking the ticket.
func TestDTLS13MessageAfterKeyUpdateInOldEpoch(t *testing.T) {
	p := connected13DT(t)
	serverSeq := uint16(countKind(p.server.events, fsm.EventMessageSent))
	ticket := flights.NewSessionTicket{Lifetime: 60, Nonce: []byte{1}, Ticket: []byte("a ticket")}
	ku := p.seal13(p.server, 3, 100, record.TypeHandshake, keyUpdate13(serverSeq, false))
	nst := p.seal13(p.server, 3, 101, record.TypeHandshake, dtMsg(ticket.Append(nil), serverSeq+1))
	evs := p.inject(p.client, ku)
	require.Equal(t, 1, countKind(evs, fsm.EventKeyUpdateReceived), "events: %v", eventKinds(evs))
	p.inject(p.client, nst)
	checkDTLSClosedWith(t, p.client, fsm.AlertUnexpectedMessage, false)
}

// TestDTLS13AuthFailureLimit: records that fail authentication are
// dropped but counted under each read key (RFC 9147 §4.5.3). Past half
// the limit the server asks the client for new keys with a KeyUpdate
// (update_requested); under the client's new keys the count starts again;
// at the limit under one key the connection ends with bad_record_mac.
func TestDTLS13AuthFailureLimit(t *testing.T) {
	p := newDTPair(t, func(cc, sc *fsm.Config) {
		cc.CipherSuites = nil
		cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS13, fsm.VersionTLS13
		sc.InsecureSkipHelloVerify = true
		sc.SetAuthFailureLimitForTest(4)
	})
	p.connect()
	forged := func(epoch uint64) []byte {
		rec := p.forge13(epoch, record.TypeApplicationData, []byte("x"))
		rec[len(rec)-1] ^= 1
		return rec
	}
	evs := p.inject(p.server, forged(3), forged(3), forged(3))
	require.Equal(t, 1, countKind(evs, fsm.EventMessageSent), "the server's KeyUpdate: %v", eventKinds(evs))
	require.Equal(t, fsm.UpdateRequested, p.server.conn.PendingKeyUpdate())
	require.NoError(t, p.server.conn.Err(), "dropped, not fatal")

	p.run()
	_, err := p.client.conn.Write(p.now, []byte("under new keys")) // the client's answer goes first
	require.NoError(t, err)
	p.drain(p.client)
	p.run()
	require.Equal(t, []byte("under new keys"), p.server.received)
	require.Equal(t, 1, countKind(p.server.events, fsm.EventKeyUpdateReceived))
	p.inject(p.server, forged(4), forged(4), forged(4))
	require.NoError(t, p.server.conn.Err(), "the count started again under the new key")
	p.inject(p.server, forged(4))
	checkDTLSClosedWith(t, p.server, fsm.AlertBadRecordMAC, false)
}
