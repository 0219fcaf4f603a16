package fsm

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"io"
	"slices"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// signatureSchemes13 are the schemes a server accepts in a client's
// CertificateVerify.
var signatureSchemes13 = signatureSchemes[:7]

// serverClientHello answers a first ClientHello with either a
// HelloRetryRequest or the server's whole first flight.
func (c *Conn) serverClientHello(m message) (State, error) {
	if err := c.cfg.validate(c.transport); err != nil {
		return 0, serverConfigError(err)
	}
	// The hello outlives the input buffer when a retry is needed.
	ch, err := c.transport.parseClientHello(bytes.Clone(m.body))
	if err != nil {
		return 0, err
	}
	// DTLS 1.3 has no HelloVerifyRequest: the client proves its address
	// by echoing the cookie of a HelloRetryRequest (RFC 9147 §5.1).
	dtls13 := c.transport.offers(ch.SupportedVersions, VersionTLS13) && c.cfg.versionEnabled(c.transport, VersionTLS13)
	if c.transport.HelloVerify && !dtls13 && !c.cfg.cookieValid(c.now, c.peerID, c.cookieFields(ch)) {
		return c.sendHelloVerifyRequest(ch)
	}
	if err := c.configForClient(ch); err != nil {
		return 0, err
	}
	c.hs = &handshake{hello: ch}
	version, err := c.chooseVersion(ch)
	if err != nil {
		return 0, err
	}
	c.version = version
	if version == VersionTLS12 {
		return c.server12ClientHello(ch, m)
	}
	if err := c.checkClientHello(ch); err != nil {
		return 0, err
	}
	if ch.EarlyData {
		// Declined: the server never accepts early data.
		c.layer.skipEarlyData(MaxSkippedEarlyData)
	}
	suite, err := c.chooseSuite(ch)
	if err != nil {
		return 0, err
	}
	c.suite = suite
	c.hashTranscript13()
	if err := c.chooseServerParams(ch); err != nil {
		return 0, err
	}
	checkAddress := c.transport.HelloVerify && !c.cfg.InsecureSkipHelloVerify
	if checkAddress && ch.Cookie != nil {
		return c.serverRetriedStateless(ch, m)
	}
	share, ok := c.chooseKeyShare(ch)
	if !ok || checkAddress {
		// A PSK offered now is checked in the second ClientHello.
		c.transcript.Write(m.raw)
		return c.sendHelloRetryRequest(ch, !ok, checkAddress)
	}
	if err := c.selectPSK(ch, m.raw); err != nil {
		return 0, err
	}
	c.transcript.Write(m.raw)
	return c.serverFlight(share)
}

// MaxSkippedEarlyData bounds the bytes of early data records a TLS 1.3
// server, which declines early data, skips unread after a ClientHello that
// announced some (RFC 8446 §4.2.10); a record beyond it fails the
// connection as an unreadable record would.
const MaxSkippedEarlyData = 16 << 10

// fallbackSCSV is TLS_FALLBACK_SCSV (RFC 7507).
const fallbackSCSV uint16 = 0x5600

// chooseVersion picks the highest version both sides enable: from
// supported_versions when the client sends it, else from legacy_version.
func (c *Conn) chooseVersion(ch *flights.ClientHello) (uint16, error) {
	if !c.transport.Datagram && ch.Version <= record.VersionSSL30 {
		// RFC 8446 Appendix D.5, whatever supported_versions says.
		return 0, alertf(record.AlertProtocolVersion, "legacy_version %#04x", ch.Version)
	}
	_, hi := c.cfg.versionRange(c.transport)
	hi = min(hi, c.transport.MaxVersion)
	enabled := func(v uint16) bool { return c.cfg.versionEnabled(c.transport, v) }
	offered := func(v uint16) bool { return v == VersionTLS12 && c.transport.legacyAtLeast12(ch.Version) }
	if slices.Contains(ch.Extensions, flights.ExtSupportedVersions) {
		offered = func(v uint16) bool { return c.transport.offers(ch.SupportedVersions, v) }
	}
	for _, v := range []uint16{VersionTLS13, VersionTLS12} {
		if !offered(v) || !enabled(v) {
			continue
		}
		if slices.Contains(ch.CipherSuites, fallbackSCSV) && v < hi && enabled(hi) {
			return 0, alertf(record.AlertInappropriateFallback, "fallback to %s while %s is enabled", VersionName(v), VersionName(hi))
		}
		return v, nil
	}
	return 0, alertf(record.AlertProtocolVersion, "no version in common (client legacy_version %#04x, supported_versions %x)", ch.Version, ch.SupportedVersions)
}

// checkClientHello applies the TLS 1.3 checks that do not depend on our
// choices.
func (c *Conn) checkClientHello(ch *flights.ClientHello) error {
	if !c.transport.offers(ch.SupportedVersions, VersionTLS13) {
		return alertf(record.AlertProtocolVersion, "second ClientHello does not offer TLS 1.3")
	}
	if len(ch.CompressionMethods) != 1 || ch.CompressionMethods[0] != 0 {
		return alertf(record.AlertIllegalParameter, "compression methods other than null")
	}
	if len(ch.SignatureAlgorithms) == 0 {
		return alertf(record.AlertMissingExtension, "no signature_algorithms")
	}
	if len(ch.PSKIdentities) > 0 && !slices.Contains(ch.Extensions, flights.ExtPSKModes) {
		return alertf(record.AlertMissingExtension, "pre_shared_key without psk_key_exchange_modes") // RFC 8446 §4.2.9
	}
	// An empty client_shares list is legal: it asks for a HelloRetryRequest.
	if len(ch.SupportedGroups) == 0 || !slices.Contains(ch.Extensions, flights.ExtKeyShare) {
		return alertf(record.AlertMissingExtension, "no supported_groups or key_share")
	}
	if group, ok := ch.KeySharesListed(); !ok {
		return alertf(record.AlertIllegalParameter, "key share for group %d duplicated or not in supported_groups", group)
	}
	return nil
}

// chooseSuite takes the client's most preferred TLS 1.3 suite that we
// enable.
func (c *Conn) chooseSuite(ch *flights.ClientHello) (*cipher.Suite, error) {
	ours := c.cfg.suitesFor(VersionTLS13)
	for _, id := range ch.CipherSuites {
		if s := cipher.SuiteByID(id); s != nil && s.TLS13 && slices.Contains(ours, id) {
			return s, nil
		}
	}
	return nil, alertf(record.AlertHandshakeFailure, "no cipher suite in common")
}

// chooseServerParams picks the group, ALPN protocol and certificate.
func (c *Conn) chooseServerParams(ch *flights.ClientHello) error {
	c.random = [32]byte(ch.Random)
	c.serverName = ch.ServerName
	for _, id := range c.cfg.curves() {
		if slices.Contains(ch.SupportedGroups, uint16(id)) && groupKnown(id) {
			c.hs.group = id
			break
		}
	}
	if c.hs.group == 0 {
		return alertf(record.AlertHandshakeFailure, "no key exchange group in common")
	}
	if err := c.chooseALPN(ch.ALPN); err != nil {
		return err
	}
	return c.chooseCertificate(ch)
}

func (c *Conn) chooseALPN(offered []string) error {
	if len(offered) == 0 || len(c.cfg.NextProtos) == 0 {
		return nil
	}
	for _, p := range c.cfg.NextProtos {
		if slices.Contains(offered, p) {
			c.alpn = p
			return nil
		}
	}
	return alertf(record.AlertNoApplicationProtocol, "no ALPN protocol in common")
}

func (c *Conn) chooseCertificate(ch *flights.ClientHello) error {
	if c.cfg.GetCertificate != nil {
		cert, err := c.cfg.GetCertificate(c.helloInfo(ch))
		switch {
		case err != nil:
			return alertf(record.AlertHandshakeFailure, "no certificate: %v", err)
		case cert == nil:
			// As crypto/tls: the Config's Certificates, then.
		case cert.PrivateKey == nil:
			return alertf(record.AlertHandshakeFailure, "the certificate chosen has no private key")
		default:
			if s, ok := chooseScheme(cert, ch.SignatureAlgorithms); ok {
				c.hs.cert, c.hs.scheme = cert, s
				return nil
			}
			return alertf(record.AlertHandshakeFailure, "certificate key fits no offered signature scheme")
		}
	}
	for i := range c.cfg.Certificates {
		cert := &c.cfg.Certificates[i]
		if cert.PrivateKey == nil {
			continue
		}
		if s, ok := chooseScheme(cert, ch.SignatureAlgorithms); ok {
			c.hs.cert, c.hs.scheme = cert, s
			return nil
		}
	}
	return alertf(record.AlertHandshakeFailure, "no certificate fits the offered signature schemes")
}

// chooseKeyShare returns the client's share for the chosen group, if sent.
// The group is upgraded to the first of ours the client sent a share for,
// which avoids a retry.
func (c *Conn) chooseKeyShare(ch *flights.ClientHello) ([]byte, bool) {
	for _, id := range c.cfg.curves() {
		for _, ks := range ch.KeyShares {
			if ks.Group == uint16(id) && groupKnown(id) {
				c.hs.group = id
				return ks.Data, true
			}
		}
	}
	return nil, false
}

// sendHelloRetryRequest asks for another ClientHello: with a key share
// for c.hs.group when newShare, with a cookie when checkAddress (DTLS
// 1.3's proof that the client receives at its address, RFC 9147 §5.1).
func (c *Conn) sendHelloRetryRequest(ch *flights.ClientHello, newShare, checkAddress bool) (State, error) {
	_, psk := c.usablePSK(ch)
	st := retryState{suite: c.suite.ID, group: c.hs.group, askShare: newShare, psk: psk != nil}
	var cookie []byte
	if checkAddress {
		// The cookie carries what the second ClientHello needs, so that
		// a server that keeps no state can go on from it.
		st.helloHash = c.transcript.Sum(nil)
		var err error
		if cookie, err = c.cfg.retryCookie(c.now, c.peerID, &st); err != nil {
			return 0, err
		}
	}
	c.transcript.HelloRetry()
	c.retryWith(&st, cookie != nil)
	c.sendBuilt(c.helloRetryRequest(ch.SessionID, &st, cookie).Append(c.msgBuffer()))
	if err := c.sendCompatibilityCCS(); err != nil {
		return 0, err
	}
	return StateServerWaitClientHelloRetried, nil
}

// retryWith records in the handshake the choices of a HelloRetryRequest.
func (c *Conn) retryWith(st *retryState, cookie bool) {
	c.hs.retried, c.hs.tls13.hrrSuite, c.hs.group = true, st.suite, st.group
	c.hs.tls13.resumableBeforeRetry, c.hs.tls13.askedCookie = st.psk, cookie
}

// helloRetryRequest is the HelloRetryRequest of st to a ClientHello of
// sessionID, with cookie when not nil.
func (c *Conn) helloRetryRequest(sessionID []byte, st *retryState, cookie []byte) *flights.ServerHello {
	hrr := &flights.ServerHello{
		Version:          c.transport.Version12,
		Random:           flights.HelloRetryRequestRandom[:],
		SessionID:        c.sessionIDEcho13(sessionID),
		CipherSuite:      st.suite,
		SupportedVersion: c.transport.Version13,
		Cookie:           cookie,
	}
	if st.askShare {
		hrr.SelectedGroup = uint16(st.group)
	}
	return hrr
}

// serverRetriedStateless takes a DTLS 1.3 ClientHello that carries a
// cookie as the second of a handshake whose HelloRetryRequest this Conn
// did not send: the stateless front door (VerifyHello) did, and the
// cookie holds its choices and the first hello's hash (RFC 8446 §4.2.2,
// RFC 9147 §5.1). The transcript is rebuilt from them, and the hello goes
// on as any second one.
func (c *Conn) serverRetriedStateless(ch *flights.ClientHello, m message) (State, error) {
	st, ok := c.cfg.openRetryCookie(c.now, c.peerID, ch.Cookie)
	if !ok || st.suite != c.suite.ID || !groupKnown(st.group) {
		return 0, alertf(record.AlertIllegalParameter, "ClientHello with a cookie we did not make for this address, or an expired one")
	}
	c.transcript.HelloRetryFrom(st.helloHash)
	c.retryWith(&st, true)
	hrr := c.helloRetryRequest(ch.SessionID, &st, ch.Cookie).Append(nil)
	c.transcript.Write(flights.ToDTLS(nil, hrr, 0))
	return c.serverClientHelloRetried(m)
}

// retriedShare is the key share of the second ClientHello: the only one,
// for the group the HelloRetryRequest asked for, or, when it asked only
// for the cookie, the first ClientHello's share again.
func (c *Conn) retriedShare(ch *flights.ClientHello) ([]byte, bool) {
	if c.hs.tls13.askedCookie && len(ch.KeyShares) > 1 {
		for _, ks := range ch.KeyShares {
			if CurveID(ks.Group) == c.hs.group {
				return ks.Data, true
			}
		}
		return nil, false
	}
	if len(ch.KeyShares) != 1 || CurveID(ch.KeyShares[0].Group) != c.hs.group {
		return nil, false
	}
	return ch.KeyShares[0].Data, true
}

// serverClientHelloRetried handles the ClientHello that answers our
// HelloRetryRequest.
func (c *Conn) serverClientHelloRetried(m message) (State, error) {
	// Kept in c.hs.hello and read again when the client's flight, which
	// lands in the same input buffer, is done: parsed from a copy.
	ch, err := c.transport.parseClientHello(bytes.Clone(m.body))
	if err != nil {
		return 0, err
	}
	if err := c.checkClientHello(ch); err != nil {
		return 0, err
	}
	if c.hs.tls13.askedCookie {
		st, ok := c.cfg.openRetryCookie(c.now, c.peerID, ch.Cookie)
		if !ok || st.suite != c.hs.tls13.hrrSuite || st.group != c.hs.group {
			return 0, alertf(record.AlertIllegalParameter, "second ClientHello without our cookie")
		}
	}
	share, ok := c.retriedShare(ch)
	if !ok {
		return 0, alertf(record.AlertIllegalParameter, "second ClientHello lacks the requested key share")
	}
	if ch.EarlyData {
		return 0, alertf(record.AlertIllegalParameter, "early_data in the second ClientHello") // RFC 8446 §4.2.10
	}
	if c.hs.tls13.resumableBeforeRetry && len(ch.PSKIdentities) == 0 {
		// RFC 8446 §4.1.2 lets a client drop only PSKs the suite rules out.
		return 0, alertf(record.AlertIllegalParameter, "second ClientHello drops the PSK the first offered")
	}
	if !bytes.Equal(ch.Random, c.hs.hello.Random) || !bytes.Equal(ch.SessionID, c.hs.hello.SessionID) {
		return 0, alertf(record.AlertIllegalParameter, "second ClientHello changed random or session id")
	}
	if suite, err := c.chooseSuite(ch); err != nil || suite.ID != c.hs.tls13.hrrSuite {
		return 0, alertf(record.AlertIllegalParameter, "second ClientHello changed the cipher suite")
	}
	c.hs.hello = ch
	if err := c.selectPSK(ch, m.raw); err != nil {
		return 0, err
	}
	c.transcript.Write(m.raw)
	return c.serverFlight(share)
}

// selectPSK resumes the first offered ticket that is ours, still valid,
// and of the chosen suite's hash, after checking its binder over the
// truncated ClientHello raw (RFC 8446 §4.2.11). Only psk_dhe_ke is
// supported, so the key exchange runs as usual.
func (c *Conn) selectPSK(ch *flights.ClientHello, raw []byte) error {
	i, s := c.usablePSK(ch)
	if s == nil {
		return nil
	}
	h := c.suite.Hash
	th := c.transcript.SumWith(h, c.truncatedHello(raw, ch.BindersLen()))
	if !hmac.Equal(ch.PSKBinders[i], binder(c.transport.Labels, h, s.Secret, th)) {
		return alertf(record.AlertDecryptError, "PSK binder does not verify")
	}
	c.hs.resumed, c.hs.tls13.psk, c.hs.tls13.pskIndex, c.hs.session = true, s.Secret, uint16(i), s
	c.peerCerts = s.PeerCertificates
	return nil
}

// truncatedHello is a received ClientHello raw without its binders
// (bindersLen bytes), in the form the binder covers: over DTLS 1.3
// without the DTLS fields of its header, which keeps the full length.
func (c *Conn) truncatedHello(raw []byte, bindersLen int) []byte {
	if !c.transport.Datagram {
		return raw[:len(raw)-bindersLen]
	}
	return append(bytes.Clone(raw[:4]), raw[flights.DTLSHeaderLen:len(raw)-bindersLen]...)
}

// usablePSK returns the first PSK of ch the server would resume, with
// the chosen suite's hash, before its binder is checked; nil for none.
func (c *Conn) usablePSK(ch *flights.ClientHello) (int, *Session) {
	if c.cfg.SessionTicketsDisabled || len(ch.PSKIdentities) == 0 || !slices.Contains(ch.PSKModes, pskDHEKeyExchange) {
		return 0, nil
	}
	for i, id := range ch.PSKIdentities {
		s := c.openTicket(id.Identity)
		if s == nil || s.Version != VersionTLS13 || !s.valid(c.wallTime()) || !c.sessionMeetsClientAuth(s) {
			continue
		}
		if suite := cipher.SuiteByID(s.Suite); suite != nil && suite.Hash == c.suite.Hash {
			return i, s
		}
	}
	return 0, nil
}

// pskDHEKeyExchange is the psk_dhe_ke mode of psk_key_exchange_modes.
const pskDHEKeyExchange = 1

// sessionMeetsClientAuth reports whether a session may be resumed under
// the client certificate policy: one that requires a certificate needs a
// session that had one.
func (c *Conn) sessionMeetsClientAuth(s *Session) bool {
	auth := c.cfg.ClientAuth
	if auth == RequireAnyClientCert || auth == RequireAndVerifyClientCert {
		return len(s.PeerCertificates) > 0
	}
	return true
}

// serverFlight sends ServerHello through Finished and switches to the
// application write keys.
func (c *Conn) serverFlight(clientShare []byte) (State, error) {
	hs := c.hs
	rand := c.cfg.rand()
	shared, share, err := serverSecret(hs.group, clientShare, rand)
	if err != nil {
		return 0, err
	}
	random := make([]byte, 32)
	if _, err := io.ReadFull(rand, random); err != nil {
		return 0, err
	}
	sh := flights.ServerHello{
		Version: c.transport.Version12, Random: random, SessionID: c.sessionIDEcho13(hs.hello.SessionID),
		CipherSuite: c.suite.ID, SupportedVersion: c.transport.Version13,
		KeyShare:       flights.KeyShare{Group: uint16(hs.group), Data: share},
		HasSelectedPSK: hs.resumed, SelectedPSK: hs.tls13.pskIndex,
	}
	// DTLS 1.3: CIDs from the handshake keys on (RFC 9147 §9).
	if err := c.chooseConnectionID(hs.hello, &sh); err != nil {
		return 0, err
	}
	c.version = VersionTLS13
	c.sendBuilt(sh.Append(c.msgBuffer()))
	if err := c.sendCompatibilityCCS(); err != nil {
		return 0, err
	}
	c.deriveHandshakeSecrets(shared)
	if err := c.setWriteKeys(hs.tls13.serverHS); err != nil {
		return 0, err
	}
	if err := c.setReadKeys(hs.tls13.clientHS); err != nil {
		return 0, err
	}
	ee := flights.EncryptedExtensions{ALPN: c.alpn}
	c.chooseSRTP(c.hs.hello, &ee.SRTPProfiles)
	c.sendBuilt(ee.Append(c.msgBuffer()))
	next := StateServerWaitFinished13
	if !hs.resumed {
		if c.cfg.ClientAuth != NoClientCert {
			hs.tls13.certReq = &flights.CertificateRequest{SignatureAlgorithms: signatureSchemes13}
			c.sendBuilt(hs.tls13.certReq.Append(c.msgBuffer()))
			next = StateServerWaitCertificate13
		}
		if err := c.sendCertificate(serverSignatureContext); err != nil {
			return 0, err
		}
	}
	c.sendFinished(hs.tls13.serverHS)
	c.deriveApplicationSecrets()
	if err := c.setWriteKeys(c.tls13.serverAP); err != nil {
		return 0, err
	}
	if next == StateServerWaitFinished13 {
		// With no client certificate to come, the client's Finished is
		// known now, and so is the resumption secret: the ticket goes out
		// with our flight, as RFC 8446 §4.6.1 allows. A server that sent
		// it later could be writing it just as the client writes its
		// first data, which a peer that does not read while it writes
		// (a synchronous pipe) would never take.
		var mac [64]byte
		if c.transport.Datagram {
			// DTLS 1.3 sends it after the handshake, as a flight of its
			// own that the client acknowledges (serverFinished).
			return next, nil
		}
		fin := flights.Finished{VerifyData: c.finishedMAC(mac[:0], hs.tls13.clientHS)}
		th := c.transcript.SumWith(c.suite.Hash, fin.Append(nil))
		c.tls13.resumptionMaster = hs.tls13.sched.Derive(cipher.LabelResumptionMaster, th)
		if err := c.sendNewSessionTicket(); err != nil {
			return 0, err
		}
	}
	return next, nil
}

// serverCertificate handles the client's Certificate.
func (c *Conn) serverCertificate(m message) (State, error) {
	var cert flights.Certificate
	if err := cert.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if len(cert.Context) != 0 {
		return 0, alertf(record.AlertIllegalParameter, "unexpected certificate_request_context")
	}
	if err := c.checkEntryExtensions(cert.Entries); err != nil {
		return 0, err
	}
	auth := c.cfg.ClientAuth
	if len(cert.Entries) == 0 {
		if auth == RequireAnyClientCert || auth == RequireAndVerifyClientCert {
			return 0, alertf(record.AlertCertificateRequired, "client sent no certificate")
		}
		c.transcript.Write(m.raw)
		return StateServerWaitFinished13, nil
	}
	roots, name, usage, verify := c.clientChain()
	if err := c.acceptPeerCertificates(cert.Entries, roots, name, usage, verify); err != nil {
		return 0, err
	}
	c.transcript.Write(m.raw)
	return StateServerWaitCertificateVerify13, nil
}

func (c *Conn) serverCertificateVerify(m message) (State, error) {
	if err := c.checkCertificateVerify(m, clientSignatureContext, signatureSchemes13); err != nil {
		return 0, err
	}
	return StateServerWaitFinished13, nil
}

func (c *Conn) serverFinished(m message) (State, error) {
	if err := c.checkFinished(m, c.hs.tls13.clientHS); err != nil {
		return 0, err
	}
	if err := c.setReadKeys(c.tls13.clientAP); err != nil {
		return 0, err
	}
	if c.tls13.resumptionMaster == nil {
		c.tls13.resumptionMaster = c.hs.tls13.sched.Derive(cipher.LabelResumptionMaster, c.transcript.Digest())
		if !c.transport.Datagram {
			if err := c.sendNewSessionTicket(); err != nil {
				return 0, err
			}
		}
	}
	ticket := c.transport.Datagram && c.ticketWanted()
	if err := c.completeHandshake(); err != nil {
		return 0, err
	}
	if ticket {
		// A post-handshake flight, sent again until acknowledged, as a
		// KeyUpdate is: a lost ticket would leave a gap in the message
		// numbers that holds back every later post-handshake message.
		sent, err := c.sendTicket()
		if err != nil {
			return 0, err
		}
		c.postHandshakeUnacked = sent
	}
	return StateServerConnected13, nil
}

// sendNewSessionTicket sends one TLS 1.3 ticket carrying the session
// encrypted under our ticket key, when the client can use it.
func (c *Conn) sendNewSessionTicket() error {
	if !c.ticketWanted() {
		return nil
	}
	_, err := c.sendTicket()
	return err
}

// ticketWanted reports whether the client of this handshake can use a
// ticket and we issue them.
func (c *Conn) ticketWanted() bool {
	return !c.cfg.SessionTicketsDisabled && slices.Contains(c.hs.hello.PSKModes, pskDHEKeyExchange)
}

// sendTicket sends a NewSessionTicket for the current session, and
// reports whether it did (a ticket too long to send is not).
func (c *Conn) sendTicket() (bool, error) {
	var ageAdd [4]byte
	if _, err := io.ReadFull(c.cfg.rand(), ageAdd[:]); err != nil {
		return false, err
	}
	h := c.suite.Hash
	nonce := []byte{0}
	s := &Session{
		Version: VersionTLS13, Suite: c.suite.ID,
		Secret:    c.transport.Labels.ExpandLabel(h, c.tls13.resumptionMaster, "resumption", nonce, h.Size()),
		CreatedAt: c.wallTime(), Lifetime: SessionLifetime, PeerCertificates: c.peerCerts, ALPN: c.alpn,
		AgeAdd: binary.BigEndian.Uint32(ageAdd[:]),
	}
	ticket, err := c.sealTicket(s)
	if err != nil || ticket == nil {
		return false, err
	}
	nst := flights.NewSessionTicket{Lifetime: uint32(SessionLifetime / time.Second), AgeAdd: s.AgeAdd, Nonce: nonce, Ticket: ticket}
	c.sendPostHandshake(nst.Append(nil))
	return true, nil
}

// configForClient lets Config.GetConfigForClient choose the Config of
// this connection from the ClientHello, and checks the one chosen.
func (c *Conn) configForClient(ch *flights.ClientHello) error {
	if c.cfg.GetConfigForClient == nil {
		return nil
	}
	cfg, err := c.cfg.GetConfigForClient(c.helloInfo(ch))
	switch {
	case err != nil:
		return &protocolError{alert: record.AlertInternalError, msg: "GetConfigForClient: " + err.Error(), cause: err}
	case cfg == nil:
		return nil
	}
	if err := cfg.validate(c.transport); err != nil {
		return serverConfigError(err)
	}
	c.cfg = cfg
	return nil
}
