package fsm_test

import (
	"bytes"
	"crypto/ecdh"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/memconn"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/record"
	"golang.org/x/crypto/cryptobyte"
)

// victim is the Conn a case attacks, with every event it emitted.
type victim struct {
	conn   *fsm.Conn
	events []fsm.Event
}

// record appends ev, copying the bytes it aliases.
func (v *victim) record(ev fsm.Event) {
	if ev.Data != nil {
		ev.Data = bytes.Clone(ev.Data)
	}
	v.events = append(v.events, ev)
}

// drain collects every pending event and returns the bytes transmitted.
func (v *victim) drain() []byte {
	var out []byte
	for {
		ev := v.conn.NextEvent()
		if ev.Kind == fsm.EventNone {
			return out
		}
		v.record(ev)
		if ev.Kind == fsm.EventTransmit {
			out = append(out, ev.Data...)
		}
	}
}

// feed hands each chunk to the Conn in turn and drains its events.
func (v *victim) feed(chunks ...[]byte) []byte {
	var out []byte
	for _, b := range chunks {
		v.conn.HandleData(time.Now(), b)
		out = append(out, v.drain()...)
	}
	return out
}

// newServerVictim returns a fresh server with an ECDSA certificate.
func newServerVictim(t *testing.T) *victim {
	_, sc := configs(t, testcert.ECDSAP256)
	return &victim{conn: fsm.NewServer(sc)}
}

// newServer13Victim returns a fresh server that accepts only TLS 1.3.
func newServer13Victim(t *testing.T) *victim {
	_, sc := configs(t, testcert.ECDSAP256)
	sc.MinVersion = fsm.VersionTLS13
	return &victim{conn: fsm.NewServer(sc)}
}

// newClientVictim starts a client and returns it with the ClientHello it
// sent.
func newClientVictim(t *testing.T, edit func(*fsm.Config)) (*victim, *flights.ClientHello) {
	cc, _ := configs(t, testcert.ECDSAP256)
	if edit != nil {
		edit(cc)
	}
	v := &victim{conn: fsm.NewClient(cc)}
	require.NoError(t, v.conn.Start(time.Now()))
	out := v.drain()
	require.Greater(t, len(out), record.HeaderLen+4)
	require.Equal(t, byte(record.TypeHandshake), out[0])
	msg := out[record.HeaderLen:]
	require.Equal(t, byte(flights.TypeClientHello), msg[0])
	ch := new(flights.ClientHello)
	require.NoError(t, ch.Unmarshal(msg[4:]))
	return v, ch
}

// plain frames payload as one unprotected record, without checking its size.
func plain(typ record.ContentType, payload []byte) []byte {
	return record.AppendPlain(nil, typ, record.VersionTLS12, payload)
}

// hsRecord puts handshake messages into a single unprotected record.
func hsRecord(msgs ...[]byte) []byte {
	return plain(record.TypeHandshake, bytes.Join(msgs, nil))
}

// handshakeMsg frames body as a handshake message of type typ.
func handshakeMsg(typ flights.MsgType, body []byte) []byte {
	b := []byte{byte(typ), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(b, body...)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := crand.Read(b)
	require.NoError(t, err)
	return b
}

// goodHello is a ClientHello the test server accepts without a retry.
func goodHello(t *testing.T) *flights.ClientHello {
	key, err := ecdh.X25519().GenerateKey(crand.Reader)
	require.NoError(t, err)
	return &flights.ClientHello{
		Version:             fsm.VersionTLS12,
		Random:              randomBytes(t, 32),
		SessionID:           randomBytes(t, 32),
		CipherSuites:        []uint16{fsm.TLS_AES_128_GCM_SHA256},
		CompressionMethods:  []byte{0},
		ServerName:          "localhost",
		SupportedGroups:     []uint16{uint16(fsm.X25519), uint16(fsm.CurveP256)},
		SignatureAlgorithms: []uint16{0x0403, 0x0804}, // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256
		SupportedVersions:   []uint16{fsm.VersionTLS13},
		KeyShares:           []flights.KeyShare{{Group: uint16(fsm.X25519), Data: key.PublicKey().Bytes()}},
	}
}

// helloRecord returns goodHello, changed by edit, as a record.
func helloRecord(t *testing.T, edit func(*flights.ClientHello)) []byte {
	ch := goodHello(t)
	if edit != nil {
		edit(ch)
	}
	return hsRecord(ch.Append(nil))
}

// classicalShare is ch's first ECDH key share: the crafted servers take
// no hybrid, and a client sends the ECDH half of its hybrid share as a
// share of its own.
func classicalShare(t *testing.T, ch *flights.ClientHello) flights.KeyShare {
	for _, ks := range ch.KeyShares {
		switch fsm.CurveID(ks.Group) {
		case fsm.X25519, fsm.CurveP256, fsm.CurveP384:
			return ks
		}
	}
	t.Fatalf("no ECDH key share in %v", ch.KeyShares)
	return flights.KeyShare{}
}

func curveFor(t *testing.T, group uint16) ecdh.Curve {
	switch fsm.CurveID(group) {
	case fsm.X25519:
		return ecdh.X25519()
	case fsm.CurveP256:
		return ecdh.P256()
	case fsm.CurveP384:
		return ecdh.P384()
	}
	t.Fatalf("no curve for group %d", group)
	return nil
}

// serverHelloFor returns a ServerHello message the client that sent ch
// accepts, changed by edit.
func serverHelloFor(t *testing.T, ch *flights.ClientHello, edit func(*flights.ServerHello)) []byte {
	group := classicalShare(t, ch).Group
	key, err := curveFor(t, group).GenerateKey(crand.Reader)
	require.NoError(t, err)
	sh := serverHelloWithShare(t, ch, flights.KeyShare{Group: group, Data: key.PublicKey().Bytes()})
	if edit != nil {
		edit(sh)
	}
	return sh.Append(nil)
}

// serverHelloWithShare is a TLS 1.3 ServerHello answering ch with share
// and ch's first suite.
func serverHelloWithShare(t *testing.T, ch *flights.ClientHello, share flights.KeyShare) *flights.ServerHello {
	return &flights.ServerHello{
		Version:          fsm.VersionTLS12,
		Random:           randomBytes(t, 32),
		SessionID:        ch.SessionID,
		CipherSuite:      ch.CipherSuites[0],
		SupportedVersion: fsm.VersionTLS13,
		KeyShare:         share,
	}
}

// withServerExtension adds an extension to a ServerHello message (TLS
// framing), fixing up the lengths.
func withServerExtension(t *testing.T, msg []byte, typ uint16, data []byte) []byte {
	t.Helper()
	extStart := 4 + 2 + 32 + 1 + int(msg[4+2+32]) + 2 + 1
	require.LessOrEqual(t, extStart+2, len(msg))
	ext := append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
	out := append(bytes.Clone(msg), ext...)
	n := int(out[extStart])<<8 | int(out[extStart+1]) + len(ext)
	out[extStart], out[extStart+1] = byte(n>>8), byte(n)
	body := len(out) - 4
	out[1], out[2], out[3] = byte(body>>16), byte(body>>8), byte(body)
	return out
}

// helloRetryFor returns a HelloRetryRequest asking the client for group.
func helloRetryFor(ch *flights.ClientHello, group fsm.CurveID) []byte {
	hrr := &flights.ServerHello{
		Version:          fsm.VersionTLS12,
		Random:           flights.HelloRetryRequestRandom[:],
		SessionID:        ch.SessionID,
		CipherSuite:      ch.CipherSuites[0],
		SupportedVersion: fsm.VersionTLS13,
		SelectedGroup:    uint16(group),
	}
	return hrr.Append(nil)
}

// extension is one raw extension.
type extension struct {
	typ  uint16
	data []byte
}

// editClientHelloExtensions re-encodes a ClientHello message with its
// extension list passed through edit.
func editClientHelloExtensions(t *testing.T, msg []byte, edit func([]extension) []extension) []byte {
	s := cryptobyte.String(msg[4:])
	var version uint16
	var random, sid, suites, comp, block cryptobyte.String
	require.True(t, s.ReadUint16(&version) && s.ReadBytes((*[]byte)(&random), 32) &&
		s.ReadUint8LengthPrefixed(&sid) && s.ReadUint16LengthPrefixed(&suites) &&
		s.ReadUint8LengthPrefixed(&comp))
	head := msg[4 : len(msg)-len(s)]
	require.True(t, s.ReadUint16LengthPrefixed(&block) && s.Empty())
	var exts []extension
	for !block.Empty() {
		var e extension
		require.True(t, block.ReadUint16(&e.typ) && block.ReadUint16LengthPrefixed((*cryptobyte.String)(&e.data)))
		exts = append(exts, e)
	}
	exts = edit(exts)
	b := cryptobyte.NewBuilder(nil)
	b.AddBytes(head)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.typ)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
		}
	})
	return handshakeMsg(flights.TypeClientHello, b.BytesOrPanic())
}

// splitMessages cuts a run of complete handshake messages apart.
func splitMessages(t *testing.T, b []byte) [][]byte {
	var msgs [][]byte
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 4)
		n := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
		require.GreaterOrEqual(t, len(b), n)
		msgs = append(msgs, b[:n])
		b = b[n:]
	}
	return msgs
}

// The tampered pairs use one suite so that the key log is enough to open
// and re-seal records.
const pairSuite = fsm.TLS_AES_128_GCM_SHA256

// newLoggedPair returns a pair whose server writes its key log to the
// returned buffer. The server knows every secret of the connection by the
// time its first flight is transmitted.
func newLoggedPair(t *testing.T) (*memconn.Pair, *bytes.Buffer) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.CipherSuites = []uint16{pairSuite}
	keyLog := new(bytes.Buffer)
	sc.KeyLogWriter = keyLog
	return memconn.New(cc, sc), keyLog
}

// secretFrom returns the last secret logged under label.
func secretFrom(t *testing.T, keyLog *bytes.Buffer, label string) []byte {
	var secret []byte
	for line := range strings.Lines(keyLog.String()) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == label {
			var err error
			secret, err = hex.DecodeString(f[2])
			require.NoError(t, err)
		}
	}
	require.NotNil(t, secret, "no %s in the key log", label)
	return secret
}

// trafficState returns a fresh protection state (sequence 0) for secret.
func trafficState(t *testing.T, secret []byte) *cipher.State {
	st, err := cipher.TLS13Labels.NewTrafficState(cipher.SuiteByID(pairSuite), secret)
	require.NoError(t, err)
	return st
}

// sealed returns one record protected under secret with sequence number 0.
func sealed(t *testing.T, secret []byte, typ record.ContentType, payload []byte) []byte {
	out, err := record.Seal13(nil, trafficState(t, secret), typ, payload, 0)
	require.NoError(t, err)
	return out
}

// onFirstProtected returns a Tamper hook that passes the first protected
// record sent by from to edit and puts the result in its place.
func onFirstProtected(from *memconn.Side, edit func(rec []byte) []byte) func(*memconn.Side, []byte) []byte {
	done := false
	return func(s *memconn.Side, b []byte) []byte {
		if s != from || done {
			return b
		}
		var out []byte
		for len(b) >= record.HeaderLen {
			n := record.HeaderLen + int(binary.BigEndian.Uint16(b[3:5]))
			if n > len(b) {
				break
			}
			rec := b[:n]
			b = b[n:]
			if !done && record.ContentType(rec[0]) == record.TypeApplicationData {
				done = true
				rec = edit(bytes.Clone(rec))
			}
			out = append(out, rec...)
		}
		return append(out, b...)
	}
}

// resealFirst returns a Tamper hook that opens the first protected record
// sent by from under the secret logged as label, passes its handshake
// plaintext to edit and seals the result in its place.
func resealFirst(t *testing.T, from *memconn.Side, keyLog *bytes.Buffer, label string, edit func(pt []byte) []byte) func(*memconn.Side, []byte) []byte {
	return onFirstProtected(from, func(rec []byte) []byte {
		secret := secretFrom(t, keyLog, label)
		typ, pt, err := record.Open13(trafficState(t, secret), record.Record{
			Type:    record.ContentType(rec[0]),
			Version: binary.BigEndian.Uint16(rec[1:3]),
			Header:  rec[:record.HeaderLen],
			Payload: rec[record.HeaderLen:],
		})
		require.NoError(t, err)
		require.Equal(t, record.TypeHandshake, typ)
		return sealed(t, secret, typ, edit(bytes.Clone(pt)))
	})
}

// watch makes side's events the victim's.
func watch(p *memconn.Pair, side *memconn.Side) *victim {
	v := &victim{conn: side.Conn}
	p.Trace = func(s *memconn.Side, ev fsm.Event) {
		if s == side {
			v.record(ev)
		}
	}
	return v
}

type badInputCase struct {
	name  string
	alert fsm.Alert
	// received is set when the victim closes on the peer's alert instead
	// of sending one.
	received bool
	run      func(t *testing.T) *victim
}

func badInputCases() []badInputCase {
	return []badInputCase{
		// A server fed crafted first-flight records.
		{"server/truncated ClientHello body", record.AlertDecodeError, false, func(t *testing.T) *victim {
			msg := goodHello(t).Append(nil)
			body := msg[4 : len(msg)-10] // the header announces exactly this much
			v := newServerVictim(t)
			v.feed(hsRecord(handshakeMsg(flights.TypeClientHello, body)))
			return v
		}},
		{"server/ClientHello lying cipher_suites length", record.AlertDecodeError, false, func(t *testing.T) *victim {
			msg := goodHello(t).Append(nil)
			at := 4 + 2 + 32 + 1 + 32 // header, version, random, session id
			binary.BigEndian.PutUint16(msg[at:], 0xfff0)
			v := newServerVictim(t)
			v.feed(hsRecord(msg))
			return v
		}},
		{"server/ClientHello lying extensions length", record.AlertDecodeError, false, func(t *testing.T) *victim {
			msg := goodHello(t).Append(nil)
			// The extensions block follows 2 suite bytes behind their length
			// and one compression method behind its length.
			at := 4 + 2 + 32 + 1 + 32 + 2 + 2 + 1 + 1
			n := binary.BigEndian.Uint16(msg[at:])
			binary.BigEndian.PutUint16(msg[at:], n+7)
			v := newServerVictim(t)
			v.feed(hsRecord(msg))
			return v
		}},
		{"server/alert inside a fragmented ClientHello", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			msg := goodHello(t).Append(nil)
			v := newServerVictim(t)
			v.feed(hsRecord(msg[:40]), plain(record.TypeAlert, []byte{byte(record.LevelWarning), byte(record.AlertUserCanceled)}))
			return v
		}},
		{"server/unknown handshake type 99", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(hsRecord(handshakeMsg(99, []byte{1, 2, 3, 4})))
			return v
		}},
		{"server/ServerHello sent to a server", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(hsRecord(serverHelloFor(t, goodHello(t), nil)))
			return v
		}},
		{"server/record length 2^14+257", record.AlertRecordOverflow, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(record.AppendHeader(nil, record.TypeHandshake, record.VersionTLS10, record.MaxPlaintext+257))
			return v
		}},
		{"server/plaintext record of 2^14+1 bytes", record.AlertRecordOverflow, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(plain(record.TypeHandshake, make([]byte, record.MaxPlaintext+1)))
			return v
		}},
		{"server/application data before the handshake", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(plain(record.TypeApplicationData, []byte("GET / HTTP/1.1\r\n")))
			return v
		}},
		{"server/ClientHello without TLS 1.3 in supported_versions", record.AlertProtocolVersion, false, func(t *testing.T) *victim {
			v := newServer13Victim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.SupportedVersions = []uint16{fsm.VersionTLS12} }))
			return v
		}},
		{"server/ClientHello without supported_versions", record.AlertProtocolVersion, false, func(t *testing.T) *victim {
			v := newServer13Victim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.SupportedVersions = nil }))
			return v
		}},
		{"server/no cipher suite in common", record.AlertHandshakeFailure, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.CipherSuites = []uint16{0xc02f, 0x009c} }))
			return v
		}},
		{"server/no signature_algorithms", record.AlertMissingExtension, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.SignatureAlgorithms = nil }))
			return v
		}},
		{"server/no key_share extension", record.AlertMissingExtension, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.KeyShares = nil }))
			return v
		}},
		{"server/key share for a group not in supported_groups", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.SupportedGroups = []uint16{uint16(fsm.CurveP256)} }))
			return v
		}},
		{"server/two key shares for one group", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.KeyShares = append(ch.KeyShares, ch.KeyShares[0]) }))
			return v
		}},
		{"server/duplicate extension", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			msg := editClientHelloExtensions(t, goodHello(t).Append(nil), func(exts []extension) []extension {
				for _, e := range exts {
					if e.typ == flights.ExtSupportedVersions {
						return append(exts, e)
					}
				}
				t.Fatal("no supported_versions")
				return nil
			})
			v := newServerVictim(t)
			v.feed(hsRecord(msg))
			return v
		}},
		{"server/non-null compression method", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, func(ch *flights.ClientHello) { ch.CompressionMethods = []byte{1} }))
			return v
		}},
		{"server/bad change_cipher_spec payload", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, nil))
			require.Equal(t, fsm.StateServerWaitFinished13, v.conn.State(), "the base ClientHello must be accepted")
			v.feed(plain(record.TypeChangeCipherSpec, []byte{1, 1}))
			return v
		}},
		{"server/second ClientHello after the server flight", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(helloRecord(t, nil))
			require.Equal(t, fsm.StateServerWaitFinished13, v.conn.State())
			v.feed(helloRecord(t, nil))
			return v
		}},
		{"server/ClientHello and more in one record", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(hsRecord(goodHello(t).Append(nil), (&flights.Finished{VerifyData: make([]byte, 32)}).Append(nil)))
			return v
		}},
		{"server/alert record of 3 bytes", record.AlertDecodeError, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(plain(record.TypeAlert, []byte{2, 40, 0}))
			return v
		}},
		{"server/zero-length handshake record", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(plain(record.TypeHandshake, nil))
			return v
		}},
		{"server/unknown record content type", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(plain(99, []byte{1, 2, 3}))
			return v
		}},
		{"server/handshake message over MaxHandshakeMessage", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			n := fsm.MaxHandshakeMessage + 1
			v := newServerVictim(t)
			v.feed(hsRecord([]byte{byte(flights.TypeClientHello), byte(n >> 16), byte(n >> 8), byte(n), 3, 3}))
			return v
		}},
		{"server/fatal alert received", record.AlertHandshakeFailure, true, func(t *testing.T) *victim {
			v := newServerVictim(t)
			v.feed(plain(record.TypeAlert, []byte{byte(record.LevelFatal), byte(record.AlertHandshakeFailure)}))
			return v
		}},

		// A client fed crafted answers to its ClientHello.
		{"client/ServerHello twice in two records", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			sh := serverHelloFor(t, ch, nil)
			v.feed(hsRecord(sh))
			require.Equal(t, fsm.StateClientWaitEncryptedExtensions, v.conn.State(), "the base ServerHello must be accepted")
			v.feed(hsRecord(sh))
			return v
		}},
		{"client/ServerHello twice in one record", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			sh := serverHelloFor(t, ch, nil)
			v.feed(hsRecord(sh, sh))
			return v
		}},
		{"client/change_cipher_spec inside a fragmented ServerHello", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			sh := serverHelloFor(t, ch, nil)
			// A well-formed change_cipher_spec is dropped in this state, but
			// not between two fragments of one handshake message.
			v.feed(hsRecord(sh[:40]), plain(record.TypeChangeCipherSpec, []byte{1}), hsRecord(sh[40:]))
			return v
		}},
		{"client/ServerHello with an unoffered cipher suite", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, func(c *fsm.Config) { c.CipherSuites = []uint16{fsm.TLS_AES_128_GCM_SHA256} })
			v.feed(hsRecord(serverHelloFor(t, ch, func(sh *flights.ServerHello) { sh.CipherSuite = fsm.TLS_AES_256_GCM_SHA384 })))
			return v
		}},
		{"client/ServerHello with an unknown extension", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			v.feed(hsRecord(withServerExtension(t, serverHelloFor(t, ch, nil), 0x1234, nil)))
			return v
		}},
		{"client/TLS 1.3 ServerHello with ALPN", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, func(c *fsm.Config) { c.NextProtos = []string{"h2"} })
			v.feed(hsRecord(serverHelloFor(t, ch, func(sh *flights.ServerHello) { sh.ALPN = "h2" })))
			return v
		}},
		{"client/ServerHello not echoing the session id", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			v.feed(hsRecord(serverHelloFor(t, ch, func(sh *flights.ServerHello) { sh.SessionID = nil })))
			return v
		}},
		{"client/downgrade sentinel in a TLS 1.2 ServerHello", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			v.feed(hsRecord(serverHelloFor(t, ch, func(sh *flights.ServerHello) {
				sh.SupportedVersion = 0
				sh.KeyShare = flights.KeyShare{}
				sh.CipherSuite = 0xc02f // ECDHE_RSA_WITH_AES_128_GCM_SHA256
				copy(sh.Random[24:], "DOWNGRD\x01")
			})))
			return v
		}},
		{"client/ServerHello with a key share off the curve", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, func(c *fsm.Config) { c.CurvePreferences = []fsm.CurveID{fsm.CurveP256} })
			point := bytes.Repeat([]byte{1}, 65)
			point[0] = 4 // uncompressed, but (1…1, 1…1) is not on P-256
			v.feed(hsRecord(serverHelloFor(t, ch, func(sh *flights.ServerHello) { sh.KeyShare.Data = point })))
			return v
		}},
		{"client/HelloRetryRequest cookie too long for the second ClientHello", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			// A cookie that fits the HelloRetryRequest, and overflows the
			// second ClientHello's extensions by one byte.
			raw := ch.Append(nil)
			at := 4 + 2 + 32 + 1 + len(ch.SessionID) + 2 + 2*len(ch.CipherSuites) + 1 + len(ch.CompressionMethods)
			exts := int(raw[at])<<8 | int(raw[at+1])
			hrr := &flights.ServerHello{
				Version: fsm.VersionTLS12, Random: flights.HelloRetryRequestRandom[:], SessionID: ch.SessionID,
				CipherSuite: ch.CipherSuites[0], SupportedVersion: fsm.VersionTLS13, Cookie: make([]byte, 1<<16-exts-6),
			}
			raw = hrr.Append(nil)
			for len(raw) > 0 { // in records of at most 2^14 bytes
				n := min(len(raw), record.MaxPlaintext)
				v.feed(hsRecord(raw[:n]))
				raw = raw[n:]
			}
			return v
		}},
		{"client/second HelloRetryRequest", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, func(c *fsm.Config) { c.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256} })
			hrr := helloRetryFor(ch, fsm.CurveP256)
			out := v.feed(hsRecord(hrr))
			require.Equal(t, fsm.StateClientWaitServerHelloRetried, v.conn.State(), "the first HelloRetryRequest must be accepted")
			require.NotEmpty(t, out, "no second ClientHello")
			v.feed(hsRecord(hrr))
			return v
		}},
		{"client/ClientHello sent to a client", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, _ := newClientVictim(t, nil)
			v.feed(helloRecord(t, nil))
			return v
		}},
		{"client/application data before the handshake", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, _ := newClientVictim(t, nil)
			v.feed(plain(record.TypeApplicationData, []byte("early")))
			return v
		}},
		{"client/fatal alert received", record.AlertProtocolVersion, true, func(t *testing.T) *victim {
			v, _ := newClientVictim(t, nil)
			v.feed(plain(record.TypeAlert, []byte{byte(record.LevelFatal), byte(record.AlertProtocolVersion)}))
			return v
		}},

		// Protected records changed in flight between two real Conns.
		{"client/server Finished with a wrong MAC", record.AlertDecryptError, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			v := watch(p, p.Client)
			p.Tamper = resealFirst(t, p.Server, keyLog, "SERVER_HANDSHAKE_TRAFFIC_SECRET", func(pt []byte) []byte {
				msgs := splitMessages(t, pt)
				require.Equal(t, byte(flights.TypeFinished), msgs[len(msgs)-1][0])
				pt[len(pt)-1] ^= 1 // the last byte of verify_data
				return pt
			})
			p.Handshake()
			return v
		}},
		{"server/client Finished with a wrong MAC", record.AlertDecryptError, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			v := watch(p, p.Server)
			p.Tamper = resealFirst(t, p.Client, keyLog, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", func(pt []byte) []byte {
				require.Equal(t, byte(flights.TypeFinished), pt[0])
				pt[len(pt)-1] ^= 0x80
				return pt
			})
			p.Handshake()
			return v
		}},
		{"server/client Finished one byte short", record.AlertDecodeError, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			v := watch(p, p.Server)
			p.Tamper = resealFirst(t, p.Client, keyLog, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", shortenFinished(t))
			p.Handshake()
			return v
		}},
		{"client/EncryptedExtensions carrying key_share", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			v := watch(p, p.Client)
			p.Tamper = resealFirst(t, p.Server, keyLog, "SERVER_HANDSHAKE_TRAFFIC_SECRET", func(pt []byte) []byte {
				msgs := splitMessages(t, pt)
				require.Equal(t, byte(flights.TypeEncryptedExtensions), msgs[0][0])
				// extensions: key_share (51) holding the group x25519
				ee := handshakeMsg(flights.TypeEncryptedExtensions, []byte{0, 6, 0, 51, 0, 2, 0, 29})
				return append(ee, bytes.Join(msgs[1:], nil)...)
			})
			p.Handshake()
			return v
		}},
		{"client/EncryptedExtensions with an unknown extension", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			v := watch(p, p.Client)
			p.Tamper = resealFirst(t, p.Server, keyLog, "SERVER_HANDSHAKE_TRAFFIC_SECRET", func(pt []byte) []byte {
				msgs := splitMessages(t, pt)
				require.Equal(t, byte(flights.TypeEncryptedExtensions), msgs[0][0])
				ee := handshakeMsg(flights.TypeEncryptedExtensions, []byte{0, 4, 0x12, 0x34, 0, 0})
				return append(ee, bytes.Join(msgs[1:], nil)...)
			})
			p.Handshake()
			return v
		}},
		{"client/signed_certificate_timestamp in a CertificateEntry, never asked for", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			v := watch(p, p.Client)
			p.Tamper = resealFirst(t, p.Server, keyLog, "SERVER_HANDSHAKE_TRAFFIC_SECRET", func(pt []byte) []byte {
				msgs := splitMessages(t, pt)
				for i, msg := range msgs {
					if msg[0] == byte(flights.TypeCertificate) {
						var cert flights.Certificate
						require.NoError(t, cert.Unmarshal(msg[4:]))
						cert.Entries[0].SCTs = [][]byte{{1, 2, 3}}
						msgs[i] = cert.Append(nil)
					}
				}
				return bytes.Join(msgs, nil)
			})
			p.Handshake()
			return v
		}},
		{"client/Finished not at a record boundary", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			v := watch(p, p.Client)
			p.Tamper = resealFirst(t, p.Server, keyLog, "SERVER_HANDSHAKE_TRAFFIC_SECRET", func(pt []byte) []byte {
				nst := &flights.NewSessionTicket{Lifetime: 60, Nonce: []byte{0}, Ticket: []byte{1, 2, 3}}
				return nst.Append(pt) // a whole message after Finished, before the key change
			})
			p.Handshake()
			return v
		}},
		{"client/corrupted protected record", record.AlertBadRecordMAC, false, func(t *testing.T) *victim {
			p, _ := newLoggedPair(t)
			v := watch(p, p.Client)
			p.Tamper = onFirstProtected(p.Server, func(rec []byte) []byte {
				rec[record.HeaderLen+3] ^= 0x10
				return rec
			})
			p.Handshake()
			return v
		}},
		{"server/corrupted protected record", record.AlertBadRecordMAC, false, func(t *testing.T) *victim {
			p, _ := newLoggedPair(t)
			v := watch(p, p.Server)
			p.Tamper = onFirstProtected(p.Client, func(rec []byte) []byte {
				rec[len(rec)-1] ^= 0x01 // in the tag
				return rec
			})
			p.Handshake()
			return v
		}},
		{"server/unprotected ServerHello after keys are set", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			p, _ := newLoggedPair(t)
			v := watch(p, p.Server)
			p.Tamper = onFirstProtected(p.Client, func([]byte) []byte {
				return hsRecord(serverHelloFor(t, goodHello(t), nil))
			})
			p.Handshake()
			return v
		}},
		{"server/KeyUpdate split across two records", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			require.NoError(t, p.Handshake())
			v := &victim{conn: p.Server.Conn}
			ku := (&flights.KeyUpdate{RequestUpdate: 0}).Append(nil)
			st := trafficState(t, secretFrom(t, keyLog, "CLIENT_TRAFFIC_SECRET_0"))
			wire, err := record.Seal13(nil, st, record.TypeHandshake, ku[:2], 0)
			require.NoError(t, err)
			wire, err = record.Seal13(wire, st, record.TypeApplicationData, []byte("data"), 0)
			require.NoError(t, err)
			v.feed(wire)
			return v
		}},
		{"server/KeyUpdate with request_update 2", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair(t)
			require.NoError(t, p.Handshake())
			v := &victim{conn: p.Server.Conn}
			ku := (&flights.KeyUpdate{RequestUpdate: 2}).Append(nil)
			v.feed(sealed(t, secretFrom(t, keyLog, "CLIENT_TRAFFIC_SECRET_0"), record.TypeHandshake, ku))
			return v
		}},
	}
}

// checkClosedWith asserts that v closed on alert: sent by it (and
// reported in an EventAlertSent) or, when received, sent by the peer.
func checkClosedWith(t *testing.T, v *victim, alert fsm.Alert, received bool) {
	t.Helper()
	checkClosed(t, v.conn, &v.events, alert, received, func() error {
		return v.conn.HandleData(time.Now(), plain(record.TypeAlert, []byte{2, 10}))
	})
}

// checkDTLSClosedWith is checkClosedWith for a datagram Conn.
func checkDTLSClosedWith(t *testing.T, v *dtSide, alert fsm.Alert, received bool) {
	t.Helper()
	checkClosed(t, v.conn, &v.events, alert, received, func() error {
		alertRecord := record.AppendDTLSPlain(nil, record.TypeAlert, record.VersionDTLS12, 0, 1<<20, []byte{2, 10})
		return v.conn.HandleDatagram(time.Now(), alertRecord)
	})
}

// checkClosed is the one check of a closed Conn, whatever its
// transport: c reports alert the one way the Conn documents (Err,
// EventClosed and the Handle* result agree), sent exactly that fatal
// alert or received it, and a fatal alert given afterwards through
// probe is refused without a new event. events is what c reported
// so far; what the probe leaves is appended to it.
func checkClosed(t *testing.T, c *fsm.Conn, events *[]fsm.Event, alert fsm.Alert, received bool, probe func() error) {
	t.Helper()
	require.Equal(t, fsm.StateClosed, c.State(), "events: %v", eventKinds(*events))
	err := c.Err()
	require.Error(t, err)
	require.True(t, errors.Is(err, alert), "closed with %v, want %v", err, alert)
	var ae *fsm.AlertError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, received, ae.Received, "alert direction: %v", err)
	t.Logf("closed: %v", err)

	var sent, got []fsm.Alert
	closed := 0
	for _, ev := range *events {
		switch ev.Kind {
		case fsm.EventAlertSent:
			require.Equal(t, record.LevelFatal, ev.Level, "alert %v", ev.Alert)
			sent = append(sent, ev.Alert)
		case fsm.EventAlertReceived:
			got = append(got, ev.Alert)
		case fsm.EventClosed:
			closed++
			require.True(t, errors.Is(ev.Err, alert), "EventClosed carries %v", ev.Err)
		}
	}
	require.Equal(t, 1, closed, "EventClosed count")
	if received {
		require.Empty(t, sent, "alerts sent")
		require.Contains(t, got, alert)
	} else {
		require.Equal(t, []fsm.Alert{alert}, sent, "alerts sent")
	}

	// A closed Conn ignores more input and stays closed.
	n := len(*events)
	require.ErrorIs(t, probe(), alert)
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		*events = append(*events, ev)
	}
	require.Len(t, *events, n, "events after close")
	require.Equal(t, fsm.StateClosed, c.State())
}

func eventKinds(evs []fsm.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind.String()
		if ev.Kind == fsm.EventAlertSent || ev.Kind == fsm.EventAlertReceived {
			out[i] += "(" + ev.Alert.String() + ")"
		}
	}
	return out
}

// guard runs f, turning a panic into a test failure and a hang into a
// crash that names the case.
func guard(t *testing.T, name string, f func()) {
	t.Helper()
	watchdog := time.AfterFunc(30*time.Second, func() { panic("fsm_test: case hung: " + name) })
	defer watchdog.Stop()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	f()
}

func TestBadInput(t *testing.T) {
	cases := badInputCases()
	require.GreaterOrEqual(t, len(cases), 25)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v *victim
			guard(t, tc.name, func() { v = tc.run(t) })
			checkClosedWith(t, v, tc.alert, tc.received)
		})
	}
}

// An empty client_shares list is not bad input: it asks the server to pick
// a group with a HelloRetryRequest (RFC 8446 §4.2.8).
func TestEmptyKeyShareRetries(t *testing.T) {
	ch := goodHello(t)
	share := ch.KeyShares[0]
	msg := editClientHelloExtensions(t, ch.Append(nil), func(exts []extension) []extension {
		for i, e := range exts {
			if e.typ == flights.ExtKeyShare {
				exts[i].data = []byte{0, 0}
			}
		}
		return exts
	})
	v := newServerVictim(t)
	out := v.feed(hsRecord(msg))
	require.NoError(t, v.conn.Err())
	require.Equal(t, fsm.StateServerWaitClientHelloRetried, v.conn.State())
	require.Greater(t, len(out), record.HeaderLen+4)
	n := int(out[3])<<8 | int(out[4]) // the HelloRetryRequest's record; the compatibility change_cipher_spec follows
	var hrr flights.ServerHello
	require.NoError(t, hrr.Unmarshal(out[record.HeaderLen+4:record.HeaderLen+n]))
	require.True(t, hrr.IsHelloRetryRequest())
	require.Equal(t, share.Group, hrr.SelectedGroup)

	v.feed(hsRecord(ch.Append(nil)))
	require.NoError(t, v.conn.Err())
	require.Equal(t, fsm.StateServerWaitFinished13, v.conn.State())
}

// mutate returns a copy of b with a few random changes: flipped bytes, a
// truncation or inserted garbage.
func mutate(r *mrand.Rand, b []byte) []byte {
	b = bytes.Clone(b)
	for range 1 + r.IntN(4) {
		switch r.IntN(4) {
		case 0, 1:
			if len(b) > 0 {
				b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
			}
		case 2:
			if len(b) > 0 {
				b = b[:r.IntN(len(b))]
			}
		case 3:
			at := r.IntN(len(b) + 1)
			junk := make([]byte, 1+r.IntN(8))
			for i := range junk {
				junk[i] = byte(r.Uint32())
			}
			b = append(b[:at:at], append(junk, b[at:]...)...)
		}
	}
	return b
}

// randomInput returns one random input: raw noise, a record of a random
// type around noise, a handshake message of a random type, or a mutation
// of seed, a well-formed first message for the receiver.
func randomInput(r *mrand.Rand, seed []byte) []byte {
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	switch r.IntN(4) {
	case 0:
		return noise(r.IntN(300))
	case 1:
		typ := record.ContentType(20 + r.IntN(4))
		if r.IntN(8) == 0 {
			typ = record.ContentType(r.Uint32())
		}
		return plain(typ, noise(r.IntN(64)))
	case 2:
		return hsRecord(handshakeMsg(flights.MsgType(r.IntN(26)), noise(r.IntN(200))))
	}
	return mutate(r, seed)
}

// checkRandomOutcome asserts that v is either still waiting for input or
// closed with an alert it sent or received.
func checkRandomOutcome(t *testing.T, v *victim, in []byte) (closed bool) {
	t.Helper()
	c := v.conn
	if c.State() != fsm.StateClosed {
		require.NoError(t, c.Err(), "input %x", in)
		for _, ev := range v.events {
			require.NotEqual(t, fsm.EventClosed, ev.Kind, "input %x", in)
			require.NotEqual(t, fsm.EventAlertSent, ev.Kind, "input %x", in)
		}
		return false
	}
	var ae *fsm.AlertError
	require.ErrorAs(t, c.Err(), &ae, "input %x", in)
	want := fsm.EventAlertSent
	if ae.Received {
		want = fsm.EventAlertReceived
	}
	var sawAlert, sawClosed bool
	for _, ev := range v.events {
		sawAlert = sawAlert || ev.Kind == want && ev.Alert == ae.Description
		sawClosed = sawClosed || ev.Kind == fsm.EventClosed
	}
	require.True(t, sawAlert, "input %x: no %s event for %v", in, want, c.Err())
	require.True(t, sawClosed, "input %x: no closed event", in)
	return true
}

func TestRandomInput(t *testing.T) {
	const rounds = 2000
	r := mrand.New(mrand.NewPCG(0x746c736d, 1))
	cc, sc := configs(t, testcert.ECDSAP256)
	serverSeed := helloRecord(t, nil)
	closed := map[string]int{}
	for i := range rounds {
		// A fresh server.
		in := randomInput(r, serverSeed)
		s := &victim{conn: fsm.NewServer(sc)}
		guard(t, fmt.Sprintf("server input %d", i), func() {
			cut := r.IntN(len(in) + 1)
			s.feed(in[:cut], in[cut:])
		})
		if checkRandomOutcome(t, s, in) {
			closed["server"]++
		}

		// A client that has sent its ClientHello.
		c := &victim{conn: fsm.NewClient(cc)}
		require.NoError(t, c.conn.Start(time.Now()))
		hello := c.drain()
		ch := new(flights.ClientHello)
		require.NoError(t, ch.Unmarshal(hello[record.HeaderLen+4:]))
		in = randomInput(r, hsRecord(serverHelloFor(t, ch, nil)))
		guard(t, fmt.Sprintf("client input %d", i), func() {
			cut := r.IntN(len(in) + 1)
			c.feed(in[:cut], in[cut:])
		})
		if checkRandomOutcome(t, c, in) {
			closed["client"]++
		}
	}
	t.Logf("closed with an alert: server %d/%d, client %d/%d", closed["server"], rounds, closed["client"], rounds)
}
