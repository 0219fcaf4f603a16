package fsm_test

import (
	"bytes"
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

// recordTypes returns the content types of the TLS records in b.
func recordTypes(t *testing.T, b []byte) []record.ContentType {
	var types []record.ContentType
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), record.HeaderLen)
		n := record.HeaderLen + (int(b[3])<<8 | int(b[4]))
		if record.ContentType(b[0]) == record.TypeChangeCipherSpec {
			require.Equal(t, []byte{1}, b[record.HeaderLen:n], "the compatibility change_cipher_spec is in the clear")
		}
		types = append(types, record.ContentType(b[0]))
		b = b[n:]
	}
	return types
}

// flightTypes runs a TLS handshake between c and s, returning the record
// types of each flight each side sent, in order.
func flightTypes(t *testing.T, c, s *fsm.Conn) (client, server [][]record.ContentType) {
	require.NoError(t, c.Start(time.Now()))
	from, to, sent := c, s, &client
	for range 8 {
		var out []byte
		for ev := from.NextEvent(); ev.Kind != fsm.EventNone; ev = from.NextEvent() {
			if ev.Kind == fsm.EventTransmit {
				out = append(out, ev.Data...)
			}
		}
		if len(out) == 0 && c.HandshakeComplete() && s.HandshakeComplete() {
			return client, server
		}
		if len(out) > 0 {
			*sent = append(*sent, recordTypes(t, out))
		}
		require.NoError(t, to.HandleData(time.Now(), out))
		from, to = to, from
		if sent == &client {
			sent = &server
		} else {
			sent = &client
		}
	}
	t.Fatal("the handshake did not end")
	return nil, nil
}

const (
	ccs = record.TypeChangeCipherSpec
	hs  = record.TypeHandshake
	ad  = record.TypeApplicationData
)

// TestCompatibilityCCS: TLS 1.3 middlebox compatibility mode (RFC 8446
// Appendix D.4). The server sends one change_cipher_spec right after its
// ServerHello or HelloRetryRequest, the client one before its encrypted
// flight or its second ClientHello; never more than one each.
func TestCompatibilityCCS(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.SessionTicketsDisabled = true
	client, server := flightTypes(t, fsm.NewClient(cc), fsm.NewServer(sc))
	require.Equal(t, [][]record.ContentType{{hs}, {ccs, ad}}, client)
	require.Equal(t, [][]record.ContentType{{hs, ccs, ad}}, server)

	// A HelloRetryRequest: the server asks for P-256, which the client
	// lists but sent no share for.
	cc.CurvePreferences = []fsm.CurveID{fsm.X25519, fsm.CurveP256}
	sc.CurvePreferences = []fsm.CurveID{fsm.CurveP256}
	client, server = flightTypes(t, fsm.NewClient(cc), fsm.NewServer(sc))
	require.Equal(t, [][]record.ContentType{{hs}, {ccs, hs}, {ad}}, client)
	require.Equal(t, [][]record.ContentType{{hs, ccs}, {hs, ad}}, server)
}

// TestCompatibilityCCSNeedsSessionID: a server sends no
// change_cipher_spec to a client whose ClientHello has an empty
// legacy_session_id, which has not asked for compatibility mode.
func TestCompatibilityCCSNeedsSessionID(t *testing.T) {
	ch := goodHello(t)
	ch.SessionID = nil
	v := newServerVictim(t)
	out := v.feed(hsRecord(ch.Append(nil)))
	require.NoError(t, v.conn.Err())
	require.NotContains(t, recordTypes(t, out), ccs)
}

// transmitted drains c and returns what it sent.
func transmitted(c *fsm.Conn) []byte {
	var out []byte
	for ev := c.NextEvent(); ev.Kind != fsm.EventNone; ev = c.NextEvent() {
		if ev.Kind == fsm.EventTransmit {
			out = append(out, ev.Data...)
		}
	}
	return out
}

// TestWarningBeforeServerHello: a warning alert (unrecognized_name, as
// servers send about SNI) before the ServerHello is ignored while the
// version is not known yet, and the TLS 1.2 handshake completes.
func TestWarningBeforeServerHello(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	sc.MaxVersion = fsm.VersionTLS12
	now := time.Now()
	c, s := fsm.NewClient(cc), fsm.NewServer(sc)
	require.NoError(t, c.Start(now))
	require.NoError(t, s.HandleData(now, transmitted(c)))
	warning := record.AppendPlain(nil, record.TypeAlert, record.VersionTLS12, []byte{1, byte(record.AlertUnrecognizedName)})
	require.NoError(t, c.HandleData(now, append(warning, transmitted(s)...)))
	for !c.HandshakeComplete() || !s.HandshakeComplete() {
		require.NoError(t, s.HandleData(now, transmitted(c)))
		require.NoError(t, c.HandleData(now, transmitted(s)))
	}
	require.Equal(t, uint16(fsm.VersionTLS12), c.ConnectionState().Version)
}

// TestEmptyAlertRecord: an alert record with no content is an
// unexpected_message (RFC 8446 §5.4); one of the wrong length a
// decode_error.
func TestEmptyAlertRecord(t *testing.T) {
	for payload, want := range map[string]fsm.Alert{"": record.AlertUnexpectedMessage, "\x01": record.AlertDecodeError, "\x01\x00\x00": record.AlertDecodeError} {
		v := newServerVictim(t)
		v.feed(plain(record.TypeAlert, []byte(payload)))
		require.ErrorIs(t, v.conn.Err(), want, "%q", payload)
	}
}

// TestClientHelloSessionID: a client sends a random legacy_session_id
// when it offers TLS 1.3 (compatibility mode); a TLS 1.2-only client with
// no session to resume sends none.
func TestClientHelloSessionID(t *testing.T) {
	_, ch := newClientVictim(t, nil)
	require.Len(t, ch.SessionID, 32, "TLS 1.3 offered")
	_, ch = newClientVictim(t, func(c *fsm.Config) { c.MaxVersion = fsm.VersionTLS12 })
	require.Empty(t, ch.SessionID, "TLS 1.2 only, nothing to resume")
}

// TestLegacyVersionSSL3: a ClientHello whose legacy_version is SSL 3.0 or
// lower is refused with protocol_version even when its supported_versions
// offers TLS 1.3 (RFC 8446 Appendix D.5).
func TestLegacyVersionSSL3(t *testing.T) {
	for _, legacy := range []uint16{0x0300, 0x0200} {
		ch := goodHello(t)
		ch.Version = legacy
		v := newServerVictim(t)
		v.feed(hsRecord(ch.Append(nil)))
		require.ErrorIs(t, v.conn.Err(), record.AlertProtocolVersion, "%#04x", legacy)
	}
}

// TestSRTPOverTLSIgnored: use_srtp is a DTLS extension (RFC 5764): a TLS
// server ignores it in a ClientHello, and a TLS client never offers it.
func TestSRTPOverTLSIgnored(t *testing.T) {
	ch := goodHello(t)
	ch.SRTPProfiles = []uint16{fsm.SRTP_AES128_CM_HMAC_SHA1_80}
	_, sc := configs(t, testcert.ECDSAP256)
	sc.SRTPProtectionProfiles = ch.SRTPProfiles
	v := &victim{conn: fsm.NewServer(sc)}
	v.feed(hsRecord(ch.Append(nil)))
	require.NoError(t, v.conn.Err())
	require.Zero(t, v.conn.ConnectionState().SRTPProtectionProfile)

	_, sent := newClientVictim(t, func(c *fsm.Config) { c.SRTPProtectionProfiles = ch.SRTPProfiles })
	require.False(t, sent.Offers(flights.ExtUseSRTP))
}

// earlyRecord is a record of early data the server cannot read: n bytes
// of ciphertext under keys it never had.
func earlyRecord(t *testing.T, n int) []byte {
	return plain(record.TypeApplicationData, randomBytes(t, n))
}

// TestDeclinedEarlyDataSkipped: a server that declines 0-RTT skips the
// early data records that follow a ClientHello announcing them, up to
// MaxSkippedEarlyData bytes, then fails as on any unreadable record; after
// a HelloRetryRequest it skips them too, and refuses a second ClientHello
// that still announces early data (RFC 8446 §4.2.10).
func TestDeclinedEarlyDataSkipped(t *testing.T) {
	ch := goodHello(t)
	ch.EarlyData = true
	v := newServerVictim(t)
	v.feed(hsRecord(ch.Append(nil)), earlyRecord(t, 1000), earlyRecord(t, 3000))
	require.NoError(t, v.conn.Err())
	require.Equal(t, fsm.StateServerWaitFinished13, v.conn.State())
	v.feed(earlyRecord(t, fsm.MaxSkippedEarlyData))
	require.ErrorIs(t, v.conn.Err(), record.AlertBadRecordMAC, "beyond the budget")

	retried := func(secondHasEarlyData bool) *victim {
		ch := goodHello(t)
		ch.EarlyData = true
		first := editClientHelloExtensions(t, ch.Append(nil), func(exts []extension) []extension {
			for i, e := range exts {
				if e.typ == flights.ExtKeyShare {
					exts[i].data = []byte{0, 0} // no share: a HelloRetryRequest
				}
			}
			return exts
		})
		v := newServerVictim(t)
		v.feed(hsRecord(first), earlyRecord(t, 2000), earlyRecord(t, 2000))
		require.NoError(t, v.conn.Err())
		require.Equal(t, fsm.StateServerWaitClientHelloRetried, v.conn.State())
		ch.EarlyData = secondHasEarlyData
		v.feed(hsRecord(ch.Append(nil)))
		return v
	}
	v = retried(false)
	require.NoError(t, v.conn.Err())
	require.Equal(t, fsm.StateServerWaitFinished13, v.conn.State())
	v = retried(true)
	require.ErrorIs(t, v.conn.Err(), record.AlertIllegalParameter)
}

// TestExporterArguments: an exporter takes any label, the empty one too,
// and an empty or absent context (the same in TLS 1.3, different in TLS
// 1.2); what TLS 1.3 cannot encode is an error, never a panic.
func TestExporterArguments(t *testing.T) {
	for _, v := range []uint16{fsm.VersionTLS12, fsm.VersionTLS13} {
		cc, sc := configs(t, testcert.ECDSAP256)
		cc.MaxVersion = v
		p := memconn.New(cc, sc)
		require.NoError(t, p.Handshake())
		export := func(c *fsm.Conn, label string, context []byte, n int) []byte {
			out, err := c.ExportKeyingMaterial(label, context, n)
			require.NoError(t, err, "%s: label of %d bytes, %d bytes", fsm.VersionName(v), len(label), n)
			require.Len(t, out, n)
			return out
		}
		require.Equal(t, export(p.Client.Conn, "", nil, 32), export(p.Server.Conn, "", nil, 32), "the empty label")
		same := bytes.Equal(export(p.Client.Conn, "x", nil, 32), export(p.Client.Conn, "x", []byte{}, 32))
		require.Equal(t, v == fsm.VersionTLS13, same, "an empty context is no context only in TLS 1.3")
		long := strings.Repeat("l", 249)
		require.Equal(t, export(p.Client.Conn, long, nil, 8160), export(p.Server.Conn, long, nil, 8160))
		if v == fsm.VersionTLS13 {
			_, err := p.Client.Conn.ExportKeyingMaterial(long+"l", nil, 32)
			require.Error(t, err)
			_, err = p.Client.Conn.ExportKeyingMaterial("x", nil, 255*32+1)
			require.Error(t, err)
		}
	}
}

// TestRetryKeepsPSK: a second ClientHello that drops the PSK its first
// offered, which the server would resume, is refused (RFC 8446 §4.1.2
// allows dropping only PSKs the chosen suite rules out).
func TestRetryKeepsPSK(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.ClientSessionCache = fsm.NewLRUSessionCache(4)
	p := memconn.New(cc, sc)
	require.NoError(t, p.Handshake())
	p.Pump() // the ticket
	s, ok := cc.ClientSessionCache.Get("localhost")
	require.True(t, ok)

	for _, keep := range []bool{false, true} {
		ch := goodHello(t)
		ch.PSKModes = []uint8{1}
		ch.PSKIdentities = []flights.PSKIdentity{{Identity: s.Ticket}}
		ch.PSKBinders = [][]byte{make([]byte, 32)}
		first := editClientHelloExtensions(t, ch.Append(nil), func(exts []extension) []extension {
			for i, e := range exts {
				if e.typ == flights.ExtKeyShare {
					exts[i].data = []byte{0, 0} // no share: a HelloRetryRequest
				}
			}
			return exts
		})
		v := &victim{conn: fsm.NewServer(sc)}
		v.feed(hsRecord(first))
		require.Equal(t, fsm.StateServerWaitClientHelloRetried, v.conn.State())
		if !keep {
			ch.PSKIdentities, ch.PSKBinders = nil, nil
		}
		v.feed(hsRecord(ch.Append(nil)))
		if keep {
			require.ErrorIs(t, v.conn.Err(), record.AlertDecryptError, "kept, with a binder that does not verify")
		} else {
			require.ErrorIs(t, v.conn.Err(), record.AlertIllegalParameter, "dropped")
		}
	}
}

// TestRecordVersion: the first records may carry any TLS record version
// (0x03xx), for old clients; garbage is protocol_version. Once TLS 1.2 is
// chosen records must carry its version; TLS 1.3 ignores the field.
func TestRecordVersion(t *testing.T) {
	hello := goodHello(t).Append(nil)
	for version, want := range map[uint16]error{0x03ff: nil, 0x0301: nil, 0xffff: record.AlertProtocolVersion, 0x0203: record.AlertProtocolVersion} {
		v := newServerVictim(t)
		v.feed(record.AppendPlain(nil, record.TypeHandshake, version, hello))
		require.ErrorIs(t, v.conn.Err(), want, "%#04x", version)
	}
	v := newServerVictim(t)
	v.feed(record.AppendPlain(nil, record.TypeHandshake, 0x0301, hello))
	v.feed(record.AppendPlain(nil, record.TypeChangeCipherSpec, 0x03ff, []byte{1}))
	require.NoError(t, v.conn.Err(), "TLS 1.3 ignores the version")

	c, s := newClient12Victim(t, nil)
	c.feed(s.flight())
	require.NoError(t, c.conn.Err())
	c.feed(record.AppendPlain(nil, record.TypeChangeCipherSpec, record.VersionTLS10, []byte{1}))
	require.ErrorIs(t, c.conn.Err(), record.AlertProtocolVersion, "a TLS 1.0 record once TLS 1.2 is chosen")
}

// TestEmptyApplicationDataBeforeHandshake: an empty application data
// record where a ClientHello should be is unexpected_message, whatever
// the early data a server may skip.
func TestEmptyApplicationDataBeforeHandshake(t *testing.T) {
	v := newServerVictim(t)
	v.feed(plain(record.TypeApplicationData, nil))
	require.ErrorIs(t, v.conn.Err(), record.AlertUnexpectedMessage)
}

// TestExporterDuringRenegotiation: while a renegotiation runs the
// exporter fails, as the keys change under it; once it completes both
// sides export the same from the new keys, and a refused one leaves the
// client's exporter as it was.
func TestExporterDuringRenegotiation(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		p := tls12Pair(t, func(_, sc *fsm.Config) { sc.AllowClientRenegotiation = allowed })
		before, err := p.Client.Conn.ExportKeyingMaterial("label", nil, 16)
		require.NoError(t, err)
		require.NoError(t, p.Client.Conn.Renegotiate())
		require.NoError(t, p.Client.Conn.Handshake(p.Now))
		_, err = p.Client.Conn.ExportKeyingMaterial("label", nil, 16)
		require.Error(t, err)
		p.Pump()
		after, err := p.Client.Conn.ExportKeyingMaterial("label", nil, 16)
		require.NoError(t, err)
		require.Equal(t, allowed, !bytes.Equal(before, after), "renegotiated: %v", allowed)
		server, err := p.Server.Conn.ExportKeyingMaterial("label", nil, 16)
		require.NoError(t, err)
		require.Equal(t, after, server, "renegotiated: %v", allowed)
	}
}

// TestPSKWithoutModes: a ClientHello offering a PSK without
// psk_key_exchange_modes is refused with missing_extension (RFC 8446
// §4.2.9).
func TestPSKWithoutModes(t *testing.T) {
	ch := goodHello(t)
	ch.PSKModes = nil
	ch.PSKIdentities = []flights.PSKIdentity{{Identity: []byte("ticket")}}
	ch.PSKBinders = [][]byte{make([]byte, 32)}
	v := newServerVictim(t)
	v.feed(hsRecord(ch.Append(nil)))
	require.ErrorIs(t, v.conn.Err(), record.AlertMissingExtension)
}

// TestResume12WithPSKOffered: a ClientHello offering TLS 1.3 (with a PSK)
// and TLS 1.2 (with a ticket) resumes the TLS 1.2 session at a TLS 1.2
// server, which ignores pre_shared_key.
func TestResume12WithPSKOffered(t *testing.T) {
	cc, sc := configs(t, testcert.ECDSAP256)
	cc.MaxVersion, sc.MaxVersion = fsm.VersionTLS12, fsm.VersionTLS12
	cc.ClientSessionCache = fsm.NewLRUSessionCache(4)
	require.NoError(t, memconn.New(cc, sc).Handshake())
	s, ok := cc.ClientSessionCache.Get("localhost")
	require.True(t, ok)
	ch := goodHello(t)
	ch.CipherSuites = append(ch.CipherSuites, s.Suite)
	ch.SupportedGroups = append(ch.SupportedGroups, uint16(fsm.CurveP256))
	ch.TicketSupported, ch.SessionTicket = true, s.Ticket
	ch.ExtendedMasterSecret, ch.SecureRenegotiationSupported, ch.ECPointFormats = true, true, []uint8{0}
	ch.SupportedVersions = []uint16{fsm.VersionTLS13, fsm.VersionTLS12}
	ch.PSKModes = []uint8{1}
	ch.PSKIdentities = []flights.PSKIdentity{{Identity: []byte("a TLS 1.3 ticket")}}
	ch.PSKBinders = [][]byte{make([]byte, 32)}
	v := &victim{conn: fsm.NewServer(sc)}
	v.feed(hsRecord(ch.Append(nil)))
	require.NoError(t, v.conn.Err())
	require.Equal(t, fsm.StateServerWaitChangeCipherSpec12, v.conn.State(), "an abbreviated handshake")
}

// TestNothingAfterMessageAwaitingAnswer: a handshake message that the
// peer must wait for us to answer ends its record; more handshake bytes
// after it, which no peer can have sent yet, are unexpected_message.
// With nothing after it the same hello is answered.
func TestNothingAfterMessageAwaitingAnswer(t *testing.T) {
	hellos := map[string]func(*flights.ClientHello){
		"TLS 1.3 hello drawing a HelloRetryRequest": func(ch *flights.ClientHello) {
			const p521 = 25 // a group tlsm does not implement
			ch.SupportedGroups = []uint16{p521, uint16(fsm.CurveP256)}
			ch.KeyShares = []flights.KeyShare{{Group: p521, Data: make([]byte, 133)}}
		},
		"TLS 1.2 hello": func(ch *flights.ClientHello) {
			ch.SupportedVersions, ch.KeyShares = nil, nil
			ch.CipherSuites = []uint16{cipher.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		},
	}
	for name, edit := range hellos {
		ch := goodHello(t)
		edit(ch)
		hello := ch.Append(nil)
		v := newServerVictim(t)
		answer := v.feed(hsRecord(hello))
		require.NoError(t, v.conn.Err(), name)
		require.NotEmpty(t, answer, name)

		v = newServerVictim(t)
		v.feed(hsRecord(append(hello, byte(flights.TypeClientHello))))
		require.ErrorIs(t, v.conn.Err(), record.AlertUnexpectedMessage, name)
	}
}

// TestExporterNeedsEMS12: on TLS 1.2 the exporter needs extended master
// secret (RFC 7627): without it the output is not bound to the
// connection, and the call fails, as crypto/tls's does.
func TestExporterNeedsEMS12(t *testing.T) {
	p := tls12Pair(t, nil)
	_, err := p.Client.Conn.ExportKeyingMaterial("label", nil, 16)
	require.NoError(t, err)
	p.Client.Conn.ForgetExtendedMasterSecretForTest()
	_, err = p.Client.Conn.ExportKeyingMaterial("label", nil, 16)
	require.ErrorContains(t, err, "extended master secret")
}
