package fsm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
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
)

// The crafted TLS 1.2 peers use one suite, so that the transcript hash
// (SHA-256) and the record protection are known.
const suite12 = cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256

// Signature schemes, by their code points.
const (
	ecdsaP256SHA256 uint16 = 0x0403
	ecdsaSHA1       uint16 = 0x0203 // offered by nobody here
)

func x25519Key(t *testing.T) *ecdh.PrivateKey {
	key, err := ecdh.X25519().GenerateKey(crand.Reader)
	require.NoError(t, err)
	return key
}

// signECDSA256 signs SHA-256(msg) with key, as ecdsa_secp256r1_sha256.
func signECDSA256(t *testing.T, key crypto.Signer, msg []byte) []byte {
	d := sha256.Sum256(msg)
	sig, err := key.Sign(crand.Reader, d[:], crypto.SHA256)
	require.NoError(t, err)
	return sig
}

// handshakeMessages returns the handshake messages in the unprotected
// records of out; protected records (after a ChangeCipherSpec) are skipped.
func handshakeMessages(t *testing.T, out []byte) [][]byte {
	var hs []byte
	for len(out) >= record.HeaderLen {
		n := record.HeaderLen + int(binary.BigEndian.Uint16(out[3:5]))
		require.GreaterOrEqual(t, len(out), n)
		if record.ContentType(out[0]) == record.TypeChangeCipherSpec {
			break
		}
		if record.ContentType(out[0]) == record.TypeHandshake {
			hs = append(hs, out[record.HeaderLen:n]...)
		}
		out = out[n:]
	}
	return splitMessages(t, hs)
}

// keyLog12 returns the client random and master secret of the last
// CLIENT_RANDOM line of a key log.
func keyLog12(t *testing.T, keyLog *bytes.Buffer) (clientRandom, master []byte) {
	for line := range strings.Lines(keyLog.String()) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "CLIENT_RANDOM" {
			var err error
			clientRandom, err = hex.DecodeString(f[1])
			require.NoError(t, err)
			master, err = hex.DecodeString(f[2])
			require.NoError(t, err)
		}
	}
	require.NotNil(t, master, "no CLIENT_RANDOM in the key log")
	return clientRandom, master
}

// states12 returns fresh (sequence 0) TLS 1.2 protection states for the
// client's and the server's writes.
func states12(t *testing.T, master, clientRandom, serverRandom []byte) (client, server *cipher.State) {
	s := cipher.SuiteByID(suite12)
	ck, sk, civ, siv := cipher.KeyBlock12(s, master, clientRandom, serverRandom)
	client, err := cipher.NewState12(s, ck, civ)
	require.NoError(t, err)
	server, err = cipher.NewState12(s, sk, siv)
	require.NoError(t, err)
	return client, server
}

// sealed12 appends one TLS 1.2 record protected under st.
func sealed12(t *testing.T, dst []byte, st *cipher.State, typ record.ContentType, payload []byte) []byte {
	out, err := record.Seal12(dst, st, typ, fsm.VersionTLS12, payload)
	require.NoError(t, err)
	return out
}

var ccsRecord = plain(record.TypeChangeCipherSpec, []byte{1})

// ---- A crafted TLS 1.2 server, for client victims.

// server12 builds the first flight of a TLS 1.2 server answering ch,
// signed with the ECDSA test certificate the client trusts.
type server12 struct {
	t     *testing.T
	ch    *flights.ClientHello
	cert  *testcert.Cert
	hello flights.ServerHello
	ske   flights.ServerKeyExchange
}

func newServer12(t *testing.T, ch *flights.ClientHello) *server12 {
	return &server12{
		t:    t,
		ch:   ch,
		cert: testcert.MustNew(testcert.ECDSAP256),
		hello: flights.ServerHello{
			// A new session: echoing the client's session ID would resume.
			Version: fsm.VersionTLS12, Random: randomBytes(t, 32), SessionID: randomBytes(t, 32),
			CipherSuite: suite12, ExtendedMasterSecret: ch.ExtendedMasterSecret,
			SecureRenegotiationSupported: true, ECPointFormats: []uint8{0},
		},
		ske: flights.ServerKeyExchange{
			Curve: uint16(fsm.X25519), PublicKey: x25519Key(t).PublicKey().Bytes(), Algorithm: ecdsaP256SHA256,
		},
	}
}

func (s *server12) serverHello() []byte { return s.hello.Append(nil) }

func (s *server12) certificate() []byte {
	return (&flights.Certificate12{Certificates: s.cert.CertDER}).Append(nil)
}

// signedParams returns what a ServerKeyExchange signature covers.
func (s *server12) signedParams(ske *flights.ServerKeyExchange) []byte {
	return append(append(bytes.Clone(s.ch.Random), s.hello.Random...), ske.Params()...)
}

// serverKeyExchange returns the ServerKeyExchange changed by edit and, if
// edit left no signature, correctly signed.
func (s *server12) serverKeyExchange(edit func(*flights.ServerKeyExchange)) []byte {
	ske := s.ske
	if edit != nil {
		edit(&ske)
	}
	if ske.Signature == nil {
		ske.Signature = signECDSA256(s.t, s.cert.Key, s.signedParams(&ske))
	}
	return ske.Append(nil)
}

func serverHelloDone() []byte { return (&flights.ServerHelloDone{}).Append(nil) }

// flight is the whole first flight in one record.
func (s *server12) flight() []byte {
	return hsRecord(s.serverHello(), s.certificate(), s.serverKeyExchange(nil), serverHelloDone())
}

// newClient12Victim starts a client limited to TLS 1.2.
func newClient12Victim(t *testing.T, edit func(*fsm.Config)) (*victim, *server12) {
	v, ch := newClientVictim(t, func(c *fsm.Config) {
		c.MaxVersion = fsm.VersionTLS12
		if edit != nil {
			edit(c)
		}
	})
	return v, newServer12(t, ch)
}

// afterServerFlight returns a 1.2 client that has answered a good first
// flight and waits for the server's ChangeCipherSpec.
func afterServerFlight(t *testing.T) *victim {
	v, s := newClient12Victim(t, nil)
	out := v.feed(s.flight())
	require.Equal(t, fsm.StateClientWaitChangeCipherSpec12, v.conn.State(), "events: %v", eventKinds(v.events))
	require.NotEmpty(t, out)
	return v
}

// ---- A crafted TLS 1.2 client, for server victims.

// client12 drives a server victim with hand-made TLS 1.2 messages, keeping
// the transcript; the server's key log supplies the master secret.
type client12 struct {
	t          *testing.T
	v          *victim
	keyLog     *bytes.Buffer
	hello      *flights.ClientHello
	key        *ecdh.PrivateKey
	transcript []byte
	sh         flights.ServerHello
	ske        flights.ServerKeyExchange
	types      []flights.MsgType // of the server's first flight
	write      *cipher.State
}

// newServer12Victim returns a server limited to TLS 1.2, changed by edit,
// and a client for it.
func newServer12Victim(t *testing.T, edit func(*fsm.Config)) *client12 {
	_, sc := configs(t, testcert.ECDSAP256)
	sc.MaxVersion = fsm.VersionTLS12
	keyLog := new(bytes.Buffer)
	sc.KeyLogWriter = keyLog
	if edit != nil {
		edit(sc)
	}
	key := x25519Key(t)
	return &client12{
		t: t, v: &victim{conn: fsm.NewServer(sc)}, keyLog: keyLog, key: key,
		hello: &flights.ClientHello{
			Version:                      fsm.VersionTLS12,
			Random:                       randomBytes(t, 32),
			CipherSuites:                 []uint16{suite12},
			CompressionMethods:           []byte{0},
			ServerName:                   "localhost",
			SupportedGroups:              []uint16{uint16(fsm.X25519), uint16(fsm.CurveP256)}, // P-256 also for the ECDSA certificate
			SignatureAlgorithms:          []uint16{ecdsaP256SHA256},
			ExtendedMasterSecret:         true,
			SecureRenegotiationSupported: true,
			ECPointFormats:               []uint8{0},
		},
	}
}

// msg adds a message to the transcript and returns it.
func (c *client12) msg(raw []byte) []byte {
	c.transcript = append(c.transcript, raw...)
	return raw
}

// sendHello sends the ClientHello, changed by edit, and reads the answer.
func (c *client12) sendHello(edit func(*flights.ClientHello)) {
	if edit != nil {
		edit(c.hello)
	}
	out := c.v.feed(hsRecord(c.msg(c.hello.Append(nil))))
	if c.v.conn.State() == fsm.StateClosed {
		return
	}
	for _, m := range handshakeMessages(c.t, out) {
		c.msg(m)
		c.types = append(c.types, flights.MsgType(m[0]))
		switch flights.MsgType(m[0]) {
		case flights.TypeServerHello:
			require.NoError(c.t, c.sh.Unmarshal(bytes.Clone(m[4:])))
		case flights.TypeServerKeyExchange:
			require.NoError(c.t, c.ske.Unmarshal(bytes.Clone(m[4:])))
		}
	}
	require.Equal(c.t, flights.TypeServerHelloDone, c.types[len(c.types)-1])
}

func (c *client12) clientKeyExchange() []byte {
	return c.msg((&flights.ClientKeyExchange{PublicKey: c.key.PublicKey().Bytes()}).Append(nil))
}

// writeState returns the client's write state, created on first use from
// the master secret the server logged.
func (c *client12) writeState() *cipher.State {
	if c.write == nil {
		cr, master := keyLog12(c.t, c.keyLog)
		require.Equal(c.t, c.hello.Random, cr)
		c.write, _ = states12(c.t, master, cr, c.sh.Random)
	}
	return c.write
}

// finished returns the client Finished over the transcript so far.
func (c *client12) finished() []byte {
	_, master := keyLog12(c.t, c.keyLog)
	th := sha256.Sum256(c.transcript)
	fin := flights.Finished{VerifyData: cipher.VerifyData12(crypto.SHA256, master, cipher.LabelClientFinished, th[:])}
	return c.msg(fin.Append(nil))
}

// sealed returns records protected under the client's write state.
func (c *client12) sealed(typ record.ContentType, payloads ...[]byte) []byte {
	var out []byte
	for _, p := range payloads {
		out = sealed12(c.t, out, c.writeState(), typ, p)
	}
	return out
}

// connect completes a full handshake and checks the server is connected.
func (c *client12) connect() {
	c.sendHello(nil)
	c.v.feed(hsRecord(c.clientKeyExchange()), ccsRecord)
	c.v.feed(c.sealed(record.TypeHandshake, c.finished()))
	require.Equal(c.t, fsm.StateServerConnected12, c.v.conn.State(), "events: %v", eventKinds(c.v.events))
}

// ---- Pairs of real Conns speaking TLS 1.2, with Tamper hooks.

// newLoggedPair12 returns a TLS 1.2 pair whose two sides write their key
// logs to the returned buffer.
func newLoggedPair12(t *testing.T) (*memconn.Pair, *bytes.Buffer) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	cc.CipherSuites = []uint16{suite12}
	keyLog := new(bytes.Buffer)
	cc.KeyLogWriter, sc.KeyLogWriter = keyLog, keyLog
	return memconn.New(cc, sc), keyLog
}

// reseal12First returns a Tamper hook that opens the first record from
// protects (the one right after its ChangeCipherSpec, its Finished), passes
// the plaintext to edit and seals the result in its place. The server
// random is taken from the ServerHello in flight, the master secret from
// the key log.
func reseal12First(t *testing.T, p *memconn.Pair, from *memconn.Side, keyLog *bytes.Buffer, edit func(pt []byte) []byte) func(*memconn.Side, []byte) []byte {
	var serverRandom []byte
	afterCCS, done := false, false
	return func(s *memconn.Side, b []byte) []byte {
		var out []byte
		for len(b) >= record.HeaderLen {
			n := record.HeaderLen + int(binary.BigEndian.Uint16(b[3:5]))
			if n > len(b) {
				break
			}
			rec := b[:n]
			b = b[n:]
			typ := record.ContentType(rec[0])
			if s == p.Server && serverRandom == nil && typ == record.TypeHandshake && rec[record.HeaderLen] == byte(flights.TypeServerHello) {
				at := record.HeaderLen + 4 + 2
				serverRandom = bytes.Clone(rec[at : at+32])
			}
			switch {
			case s != from || done:
			case typ == record.TypeChangeCipherSpec:
				afterCCS = true
			case afterCCS:
				done = true
				require.Equal(t, record.TypeHandshake, typ)
				cr, master := keyLog12(t, keyLog)
				cw, sw := states12(t, master, cr, serverRandom)
				cw2, sw2 := states12(t, master, cr, serverRandom)
				st, st2 := cw, cw2
				if from == p.Server {
					st, st2 = sw, sw2
				}
				pt, err := record.Open12(st, record.Record{
					Type: typ, Version: binary.BigEndian.Uint16(rec[1:3]),
					Header: rec[:record.HeaderLen], Payload: bytes.Clone(rec[record.HeaderLen:]),
				})
				require.NoError(t, err)
				rec = sealed12(t, nil, st2, typ, edit(bytes.Clone(pt)))
			}
			out = append(out, rec...)
		}
		return append(out, b...)
	}
}

// flipVerifyData changes the last byte of a lone Finished.
func flipVerifyData(t *testing.T) func(pt []byte) []byte {
	return func(pt []byte) []byte {
		require.Equal(t, byte(flights.TypeFinished), pt[0])
		require.Len(t, pt, 4+cipher.VerifyDataLen12)
		pt[len(pt)-1] ^= 0x40
		return pt
	}
}

// shortenFinished drops the last byte of a Finished message, keeping its
// header consistent.
func shortenFinished(t *testing.T) func(pt []byte) []byte {
	return func(pt []byte) []byte {
		require.Equal(t, byte(flights.TypeFinished), pt[0])
		pt[3]--
		return pt[:len(pt)-1]
	}
}

func badInput12Cases() []badInputCase {
	return []badInputCase{
		{"client12/ServerHello with use_srtp over TLS", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, func(c *fsm.Config) { c.SRTPProtectionProfiles = []uint16{fsm.SRTP_AES128_CM_HMAC_SHA1_80} })
			s.hello.SRTPProfiles = []uint16{fsm.SRTP_AES128_CM_HMAC_SHA1_80}
			v.feed(s.flight())
			return v
		}},
		{"client12/ServerHello with ec_point_formats lacking uncompressed", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			s.hello.ECPointFormats = []uint8{1}
			v.feed(s.flight())
			return v
		}},
		{"client12/ServerHello with an unknown extension", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			v.feed(hsRecord(withServerExtension(t, s.serverHello(), 0x1234, []byte{0})))
			return v
		}},
		// A TLS 1.2 client fed a crafted server's first flight.
		{"client12/ServerKeyExchange with a bad signature", record.AlertDecryptError, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			ske := s.serverKeyExchange(func(ske *flights.ServerKeyExchange) {
				// A valid signature, over the randoms in the wrong order.
				signed := append(append(bytes.Clone(s.hello.Random), s.ch.Random...), ske.Params()...)
				ske.Signature = signECDSA256(t, s.cert.Key, signed)
			})
			v.feed(hsRecord(s.serverHello(), s.certificate(), ske))
			return v
		}},
		{"client12/ServerKeyExchange for a group not offered", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, func(c *fsm.Config) { c.CurvePreferences = []fsm.CurveID{fsm.X25519} })
			key, err := ecdh.P256().GenerateKey(crand.Reader)
			require.NoError(t, err)
			ske := s.serverKeyExchange(func(ske *flights.ServerKeyExchange) {
				ske.Curve, ske.PublicKey = uint16(fsm.CurveP256), key.PublicKey().Bytes()
			})
			v.feed(hsRecord(s.serverHello(), s.certificate(), ske))
			return v
		}},
		{"client12/ServerKeyExchange with an unoffered signature scheme", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			require.NotContains(t, s.ch.SignatureAlgorithms, ecdsaSHA1)
			ske := s.serverKeyExchange(func(ske *flights.ServerKeyExchange) { ske.Algorithm = ecdsaSHA1 })
			v.feed(hsRecord(s.serverHello(), s.certificate(), ske))
			return v
		}},
		{"client12/ServerKeyExchange with a scheme that does not fit the key", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			const pssSHA256 uint16 = 0x0804 // offered, but the certificate key is ECDSA
			require.Contains(t, s.ch.SignatureAlgorithms, pssSHA256)
			ske := s.serverKeyExchange(func(ske *flights.ServerKeyExchange) {
				ske.Algorithm = pssSHA256
				ske.Signature = signECDSA256(t, s.cert.Key, s.signedParams(ske))
			})
			v.feed(hsRecord(s.serverHello(), s.certificate(), ske))
			return v
		}},
		{"client12/ServerKeyExchange with curve_type explicit_prime", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			ske := s.serverKeyExchange(nil)
			require.Equal(t, byte(3), ske[4]) // named_curve
			ske[4] = 1                        // explicit_prime
			v.feed(hsRecord(s.serverHello(), s.certificate(), ske))
			return v
		}},
		{"client12/ServerKeyExchange with an invalid point", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, func(c *fsm.Config) { c.CurvePreferences = []fsm.CurveID{fsm.CurveP256} })
			point := bytes.Repeat([]byte{1}, 65)
			point[0] = 4 // uncompressed, but (1…1, 1…1) is not on P-256
			// Correctly signed, so that only the point is wrong.
			ske := s.serverKeyExchange(func(ske *flights.ServerKeyExchange) {
				ske.Curve, ske.PublicKey = uint16(fsm.CurveP256), point
			})
			v.feed(hsRecord(s.serverHello(), s.certificate(), ske))
			return v
		}},
		{"client12/ServerKeyExchange with a low-order X25519 point", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			ske := s.serverKeyExchange(func(ske *flights.ServerKeyExchange) { ske.PublicKey = make([]byte, 32) })
			v.feed(hsRecord(s.serverHello(), s.certificate(), ske))
			return v
		}},
		{"client12/ServerHelloDone with a body", record.AlertDecodeError, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			v.feed(hsRecord(s.serverHello(), s.certificate(), s.serverKeyExchange(nil),
				handshakeMsg(flights.TypeServerHelloDone, []byte{0})))
			return v
		}},
		{"client12/ChangeCipherSpec before ServerHelloDone", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			v.feed(hsRecord(s.serverHello(), s.certificate(), s.serverKeyExchange(nil)))
			require.Equal(t, fsm.StateClientWaitCertReqOrDone12, v.conn.State(), "events: %v", eventKinds(v.events))
			v.feed(ccsRecord)
			return v
		}},
		{"client12/ChangeCipherSpec inside a fragmented Certificate", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			cert := s.certificate()
			v.feed(hsRecord(s.serverHello(), cert[:100]), ccsRecord, hsRecord(cert[100:]))
			return v
		}},
		{"client12/Finished before ChangeCipherSpec", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := afterServerFlight(t)
			v.feed(hsRecord((&flights.Finished{VerifyData: make([]byte, cipher.VerifyDataLen12)}).Append(nil)))
			return v
		}},
		{"client12/NewSessionTicket without session_ticket negotiated", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := afterServerFlight(t)
			v.feed(hsRecord((&flights.NewSessionTicket12{LifetimeHint: 60, Ticket: []byte{1, 2, 3}}).Append(nil)))
			return v
		}},
		{"client12/ChangeCipherSpec with payload 2", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v := afterServerFlight(t)
			v.feed(plain(record.TypeChangeCipherSpec, []byte{2}))
			return v
		}},
		{"client12/application data before the handshake completes", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			v.feed(hsRecord(s.serverHello()))
			require.Equal(t, fsm.StateClientWaitCertificate12, v.conn.State(), "events: %v", eventKinds(v.events))
			v.feed(plain(record.TypeApplicationData, []byte("early")))
			return v
		}},
		{"client12/ServerHello with non-empty renegotiation_info", record.AlertHandshakeFailure, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			s.hello.SecureRenegotiation = randomBytes(t, 24)
			v.feed(hsRecord(s.serverHello()))
			return v
		}},
		// RFC 8446 §4.2 and RFC 5246 §7.4.1.4: an extension in the
		// ServerHello that the ClientHello did not carry is
		// unsupported_extension. A TLS 1.2-only client sends no key_share.
		{"client12/TLS 1.2 ServerHello with key_share to a 1.2-only client", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			require.Empty(t, s.ch.KeyShares)
			s.hello.KeyShare = flights.KeyShare{Group: uint16(fsm.X25519), Data: x25519Key(t).PublicKey().Bytes()}
			v.feed(hsRecord(s.serverHello()))
			return v
		}},
		// A client that also offers TLS 1.3 did send key_share, but the
		// extension has no meaning in a TLS 1.2 ServerHello; like BoringSSL
		// the client answers unsupported_extension.
		{"client/TLS 1.2 ServerHello with key_share to a 1.3 client", record.AlertUnsupportedExtension, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			require.NotEmpty(t, ch.KeyShares)
			s := newServer12(t, ch)
			s.hello.KeyShare = flights.KeyShare{Group: uint16(fsm.X25519), Data: x25519Key(t).PublicKey().Bytes()}
			v.feed(hsRecord(s.serverHello()))
			return v
		}},
		{"client/TLS 1.2 ServerHello with a TLS 1.3 suite", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			s := newServer12(t, ch)
			require.Contains(t, ch.CipherSuites, fsm.TLS_AES_128_GCM_SHA256)
			s.hello.CipherSuite = fsm.TLS_AES_128_GCM_SHA256
			v.feed(hsRecord(s.serverHello()))
			return v
		}},
		{"client13/TLS 1.2 ServerHello to a TLS 1.3-only client", record.AlertProtocolVersion, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, func(c *fsm.Config) { c.MinVersion = fsm.VersionTLS13 })
			s := newServer12(t, ch)
			v.feed(hsRecord(s.serverHello()))
			return v
		}},
		{"client/TLS 1.2 ServerHello with the DOWNGRD 01 sentinel", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			s := newServer12(t, ch)
			copy(s.hello.Random[24:], "DOWNGRD\x01")
			v.feed(hsRecord(s.serverHello()))
			return v
		}},
		{"client/TLS 1.2 ServerHello with the DOWNGRD 00 sentinel", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			v, ch := newClientVictim(t, nil)
			s := newServer12(t, ch)
			copy(s.hello.Random[24:], "DOWNGRD\x00")
			v.feed(hsRecord(s.serverHello()))
			return v
		}},
		{"client12/RSA certificate for an ECDHE_ECDSA suite", record.AlertUnsupportedCertificate, false, func(t *testing.T) *victim {
			rsaCert := testcert.MustNew(testcert.RSA2048)
			v, s := newClient12Victim(t, func(c *fsm.Config) {
				// Trust the RSA chain, so that only its key type is wrong.
				roots := x509.NewCertPool()
				roots.AddCert(testcert.MustNew(testcert.ECDSAP256).CA)
				roots.AddCert(rsaCert.CA)
				c.RootCAs = roots
			})
			cert := (&flights.Certificate12{Certificates: rsaCert.CertDER}).Append(nil)
			v.feed(hsRecord(s.serverHello(), cert))
			return v
		}},
		{"client12/KeyUpdate during the handshake", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			v, s := newClient12Victim(t, nil)
			v.feed(hsRecord(s.serverHello(), (&flights.KeyUpdate{}).Append(nil)))
			return v
		}},

		// A TLS 1.2 server fed a crafted client's messages.
		{"server12/ChangeCipherSpec before ClientKeyExchange", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			require.Equal(t, fsm.StateServerWaitClientKeyExchange12, c.v.conn.State())
			c.v.feed(ccsRecord)
			return c.v
		}},
		{"server12/ChangeCipherSpec with payload 2", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			c.v.feed(hsRecord(c.clientKeyExchange()))
			require.Equal(t, fsm.StateServerWaitChangeCipherSpec12, c.v.conn.State(), "events: %v", eventKinds(c.v.events))
			c.v.feed(plain(record.TypeChangeCipherSpec, []byte{2}))
			return c.v
		}},
		{"server12/ChangeCipherSpec inside a fragmented ClientKeyExchange", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			cke := c.clientKeyExchange()
			c.v.feed(hsRecord(cke[:10]), ccsRecord, hsRecord(cke[10:]))
			return c.v
		}},
		{"server12/Finished before ChangeCipherSpec", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			c.v.feed(hsRecord(c.clientKeyExchange()))
			c.v.feed(hsRecord(c.finished()))
			return c.v
		}},
		{"server12/protected application data before Finished", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			c.v.feed(hsRecord(c.clientKeyExchange()), ccsRecord)
			require.Equal(t, fsm.StateServerWaitFinished12, c.v.conn.State(), "events: %v", eventKinds(c.v.events))
			c.v.feed(c.sealed(record.TypeApplicationData, []byte("GET / HTTP/1.1\r\n")))
			return c.v
		}},
		{"server12/application data before keys", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			c.v.feed(plain(record.TypeApplicationData, []byte("GET / HTTP/1.1\r\n")))
			return c.v
		}},
		{"server12/ClientKeyExchange with an invalid point", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(func(ch *flights.ClientHello) { ch.SupportedGroups = []uint16{uint16(fsm.CurveP256)} })
			require.Equal(t, uint16(fsm.CurveP256), c.ske.Curve)
			point := bytes.Repeat([]byte{1}, 65)
			point[0] = 4 // not on P-256
			c.v.feed(hsRecord((&flights.ClientKeyExchange{PublicKey: point}).Append(nil)))
			return c.v
		}},
		{"server12/ClientKeyExchange with a short X25519 point", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			c.v.feed(hsRecord((&flights.ClientKeyExchange{PublicKey: make([]byte, 31)}).Append(nil)))
			return c.v
		}},
		{"server12/ClientHello with non-empty renegotiation_info", record.AlertHandshakeFailure, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(func(ch *flights.ClientHello) { ch.SecureRenegotiation = randomBytes(t, 12) })
			return c.v
		}},
		{"server/TLS_FALLBACK_SCSV in a TLS 1.2 ClientHello", record.AlertInappropriateFallback, false, func(t *testing.T) *victim {
			// The server enables TLS 1.3; the client's hello is TLS 1.2 only.
			c := newServer12Victim(t, func(c *fsm.Config) { c.MaxVersion = 0 })
			c.sendHello(func(ch *flights.ClientHello) { ch.CipherSuites = append(ch.CipherSuites, 0x5600) })
			return c.v
		}},
		{"server12/client certificate required, empty Certificate", record.AlertHandshakeFailure, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, func(c *fsm.Config) { c.ClientAuth = fsm.RequireAnyClientCert })
			c.sendHello(nil)
			require.Equal(t, fsm.StateServerWaitCertificate12, c.v.conn.State())
			c.v.feed(hsRecord(c.msg((&flights.Certificate12{}).Append(nil))))
			return c.v
		}},
		{"server12/client CertificateVerify with a bad signature", record.AlertDecryptError, false, func(t *testing.T) *victim {
			cert := testcert.MustNew(testcert.ECDSAP256)
			c := newServer12Victim(t, func(c *fsm.Config) { c.ClientAuth = fsm.RequireAnyClientCert })
			c.sendHello(nil)
			certMsg := c.msg((&flights.Certificate12{Certificates: cert.CertDER}).Append(nil))
			cke := c.clientKeyExchange()
			// Signed with the right key over all but the last message.
			sig := signECDSA256(t, cert.Key, c.transcript[:len(c.transcript)-len(cke)])
			cv := (&flights.CertificateVerify{Algorithm: ecdsaP256SHA256, Signature: sig}).Append(nil)
			c.v.feed(hsRecord(certMsg, cke, cv))
			return c.v
		}},
		{"server12/client Certificate without CertificateVerify", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			cert := testcert.MustNew(testcert.ECDSAP256)
			c := newServer12Victim(t, func(c *fsm.Config) { c.ClientAuth = fsm.RequireAnyClientCert })
			c.sendHello(nil)
			certMsg := c.msg((&flights.Certificate12{Certificates: cert.CertDER}).Append(nil))
			c.v.feed(hsRecord(certMsg, c.clientKeyExchange()))
			require.Equal(t, fsm.StateServerWaitCertificateVerify12, c.v.conn.State(), "events: %v", eventKinds(c.v.events))
			c.v.feed(ccsRecord)
			return c.v
		}},
		{"server12/client CertificateVerify with an unoffered scheme", record.AlertIllegalParameter, false, func(t *testing.T) *victim {
			cert := testcert.MustNew(testcert.ECDSAP256)
			c := newServer12Victim(t, func(c *fsm.Config) { c.ClientAuth = fsm.RequireAnyClientCert })
			c.sendHello(nil)
			certMsg := c.msg((&flights.Certificate12{Certificates: cert.CertDER}).Append(nil))
			cke := c.clientKeyExchange()
			d := sha256.Sum256(c.transcript) // SHA-1 would be right for the scheme; it is refused before that matters
			sig, err := cert.Key.Sign(crand.Reader, d[:], crypto.SHA256)
			require.NoError(t, err)
			cv := (&flights.CertificateVerify{Algorithm: ecdsaSHA1, Signature: sig}).Append(nil)
			c.v.feed(hsRecord(certMsg, cke, cv))
			return c.v
		}},
		{"server12/KeyUpdate after the handshake", record.AlertUnexpectedMessage, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.connect()
			c.v.feed(c.sealed(record.TypeHandshake, (&flights.KeyUpdate{RequestUpdate: 1}).Append(nil)))
			return c.v
		}},
		{"server12/record length 2^14+2048+1", record.AlertRecordOverflow, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.connect()
			c.v.feed(record.AppendHeader(nil, record.TypeApplicationData, record.VersionTLS12, record.MaxCiphertext12+1))
			return c.v
		}},
		{"server12/protected record with 2^14+1 bytes of plaintext", record.AlertRecordOverflow, false, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.connect()
			// record.Seal12 refuses this much; seal by hand.
			pt := make([]byte, record.MaxPlaintext+1)
			st := c.writeState()
			n := st.ExplicitNonceLen() + len(pt) + st.Overhead()
			wire := record.AppendHeader(nil, record.TypeApplicationData, record.VersionTLS12, n)
			wire, err := st.Seal12(wire, uint8(record.TypeApplicationData), record.VersionTLS12, pt)
			require.NoError(t, err)
			require.LessOrEqual(t, len(wire)-record.HeaderLen, record.MaxCiphertext12)
			c.v.feed(wire)
			return c.v
		}},
		{"server12/fatal alert received during the handshake", record.AlertBadCertificate, true, func(t *testing.T) *victim {
			c := newServer12Victim(t, nil)
			c.sendHello(nil)
			c.v.feed(plain(record.TypeAlert, []byte{byte(record.LevelFatal), byte(record.AlertBadCertificate)}))
			return c.v
		}},

		// Protected TLS 1.2 records changed in flight between two real Conns.
		{"client12/server Finished with wrong verify_data", record.AlertDecryptError, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair12(t)
			v := watch(p, p.Client)
			p.Tamper = reseal12First(t, p, p.Server, keyLog, flipVerifyData(t))
			p.Handshake()
			return v
		}},
		{"server12/client Finished with wrong verify_data", record.AlertDecryptError, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair12(t)
			v := watch(p, p.Server)
			p.Tamper = reseal12First(t, p, p.Client, keyLog, flipVerifyData(t))
			p.Handshake()
			return v
		}},
		{"server12/client Finished one byte short", record.AlertDecodeError, false, func(t *testing.T) *victim {
			p, keyLog := newLoggedPair12(t)
			v := watch(p, p.Server)
			p.Tamper = reseal12First(t, p, p.Client, keyLog, shortenFinished(t))
			p.Handshake()
			return v
		}},
		{"client12/corrupted application data record", record.AlertBadRecordMAC, false, func(t *testing.T) *victim {
			p, _ := newLoggedPair12(t)
			v := watch(p, p.Client)
			require.NoError(t, p.Handshake())
			require.Equal(t, fsm.StateClientConnected12, p.Client.Conn.State())
			p.Tamper = onFirstProtected(p.Server, func(rec []byte) []byte {
				rec[len(rec)-1] ^= 0x01 // in the tag
				return rec
			})
			require.NoError(t, p.Write(p.Server, []byte("pong")))
			return v
		}},
		{"server12/corrupted explicit nonce", record.AlertBadRecordMAC, false, func(t *testing.T) *victim {
			p, _ := newLoggedPair12(t)
			v := watch(p, p.Server)
			require.NoError(t, p.Handshake())
			p.Tamper = onFirstProtected(p.Client, func(rec []byte) []byte {
				rec[record.HeaderLen] ^= 0x80 // the explicit nonce enters the AEAD nonce
				return rec
			})
			require.NoError(t, p.Write(p.Client, []byte("ping")))
			return v
		}},
	}
}

func TestBadInput12(t *testing.T) {
	cases := badInput12Cases()
	require.GreaterOrEqual(t, len(cases), 25)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v *victim
			guard(t, tc.name, func() { v = tc.run(t) })
			checkClosedWith(t, v, tc.alert, tc.received)
		})
	}
}

// The crafted peers are sound: without tampering they complete the
// handshake, so that each case above fails only for the change it makes.
func TestCraftedPeers12(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		c := newServer12Victim(t, nil)
		c.connect()
		require.NoError(t, c.v.conn.Err())
	})
	t.Run("client", func(t *testing.T) {
		v := afterServerFlight(t)
		require.NoError(t, v.conn.Err())
	})
}

func TestRandomInput12(t *testing.T) {
	const rounds = 1000
	r := mrand.New(mrand.NewPCG(0x746c736d, 12))
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion = fsm.VersionTLS12
	sc.MaxVersion = fsm.VersionTLS12
	serverSeed := newServer12Victim(t, nil).hello.Append(nil)
	closed := map[string]int{}
	for i := range rounds {
		// A fresh server that speaks only TLS 1.2.
		in := randomInput(r, hsRecord(serverSeed))
		s := &victim{conn: fsm.NewServer(sc)}
		guard(t, fmt.Sprintf("server12 input %d", i), func() {
			cut := r.IntN(len(in) + 1)
			s.feed(in[:cut], in[cut:])
		})
		if checkRandomOutcome(t, s, in) {
			closed["server"]++
		}

		// A TLS 1.2 client that has accepted a ServerHello; the seed is
		// the rest of a good first flight.
		c := &victim{conn: fsm.NewClient(cc)}
		require.NoError(t, c.conn.Start(time.Now()))
		hello := c.drain()
		ch := new(flights.ClientHello)
		require.NoError(t, ch.Unmarshal(hello[record.HeaderLen+4:]))
		srv := newServer12(t, ch)
		c.feed(hsRecord(srv.serverHello()))
		require.Equal(t, fsm.StateClientWaitCertificate12, c.conn.State(), "events: %v", eventKinds(c.events))
		in = randomInput(r, hsRecord(srv.certificate(), srv.serverKeyExchange(nil), serverHelloDone()))
		guard(t, fmt.Sprintf("client12 input %d", i), func() {
			cut := r.IntN(len(in) + 1)
			c.feed(in[:cut], in[cut:])
		})
		if checkRandomOutcome(t, c, in) {
			closed["client"]++
		}
	}
	t.Logf("closed with an alert: server %d/%d, client %d/%d", closed["server"], rounds, closed["client"], rounds)
}
