package fsm

import (
	"bytes"
	"slices"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// The TLS 1.2 client (RFC 5246 §7.3, RFC 8422 ECDHE).

// client12ServerHello takes a TLS 1.2 ServerHello.
func (c *Conn) client12ServerHello(sh *flights.ServerHello, m message) (State, error) {
	if err := c.checkAnswered12(sh); err != nil {
		return 0, err
	}
	c.enterTLS12(cipher.SuiteByID(sh.CipherSuite), nil)
	c.addTranscript(m.raw)
	c.tls12.serverRandom = [32]byte(sh.Random)
	if err := c.checkRenegotiationInfo(sh.SecureRenegotiationSupported, sh.SecureRenegotiation, true); err != nil {
		return 0, err
	}
	if sh.SecureRenegotiationSupported {
		c.reneg.secure = true
	} else if c.cfg.RequireSecureRenegotiation {
		return 0, alertf(record.AlertHandshakeFailure, "server does not support secure renegotiation")
	}
	if sh.ECPointFormats != nil && !slices.Contains(sh.ECPointFormats, 0) {
		return 0, alertf(record.AlertIllegalParameter, "ec_point_formats without uncompressed") // RFC 8422 §5.2
	}
	c.tls12.ems = sh.ExtendedMasterSecret
	if sh.ALPN != "" && !slices.Contains(c.cfg.NextProtos, sh.ALPN) {
		return 0, alertf(record.AlertIllegalParameter, "ALPN %q was not offered", sh.ALPN)
	}
	c.alpn = sh.ALPN
	c.hs.tls12.expectTicket = sh.TicketSupported
	if err := c.acceptSRTP(sh.SRTPProfiles, sh.SRTPMKI); err != nil {
		return 0, err
	}
	c.acceptConnectionID(sh)
	c.hs.tls12.sessionID = bytes.Clone(sh.SessionID)
	if len(sh.SessionID) > 0 && bytes.Equal(sh.SessionID, c.hs.helloSessionID) {
		return c.client12Resume(sh)
	}
	return StateClientWaitCertificate12, nil
}

// acceptSRTP takes the server's use_srtp choice, which must be one we
// offered, with no MKI since we offered none.
// It comes in the ServerHello (DTLS 1.2) or the EncryptedExtensions
// (DTLS 1.3).
func (c *Conn) acceptSRTP(profiles []uint16, mki []byte) error {
	if len(profiles) == 0 {
		return nil
	}
	p := profiles[0]
	if !slices.Contains(c.cfg.SRTPProtectionProfiles, p) || len(mki) > 0 {
		return alertf(record.AlertIllegalParameter, "use_srtp profile %#04x or MKI was not offered", p)
	}
	c.srtpProfile = p
	return nil
}

// client12Resume continues an abbreviated handshake: the server echoed the
// session ID of the session we offered (by ID, or beside its ticket).
func (c *Conn) client12Resume(sh *flights.ServerHello) (State, error) {
	s := c.hs.session
	if s == nil || s.Version != VersionTLS12 {
		return 0, alertf(record.AlertIllegalParameter, "server resumed a session that was not offered")
	}
	if s.Suite != sh.CipherSuite {
		return 0, alertf(record.AlertIllegalParameter, "resumed session with another cipher suite")
	}
	if !c.tls12.ems {
		return 0, alertf(record.AlertHandshakeFailure, "resumed session without extended master secret")
	}
	c.hs.resumed = true
	c.tls12.master = s.Secret
	c.peerCerts = s.PeerCertificates
	c.reneg.session = s
	if err := c.derivePendingKeys12(); err != nil {
		return 0, err
	}
	if c.hs.tls12.expectTicket {
		return StateClientWaitNewSessionTicket12, nil
	}
	return StateClientWaitChangeCipherSpec12, nil
}

func (c *Conn) client12Certificate(m message) (State, error) {
	var msg flights.Certificate12
	if err := msg.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if len(msg.Certificates) == 0 {
		return 0, alertf(record.AlertBadCertificate, "empty server Certificate")
	}
	if err := c.checkSamePeer(msg.Certificates[0]); err != nil {
		return 0, err
	}
	roots, name, usage, verify := c.serverChain()
	if err := c.acceptPeerCertificates(certificateEntries(&msg), roots, name, usage, verify); err != nil {
		return 0, err
	}
	if !certificateFitsSuite12(c.suite, c.hs.peerKey) {
		return 0, alertf(record.AlertUnsupportedCertificate, "%T key for %s", c.hs.peerKey, c.suite.Name)
	}
	if !fitsGroups12(c.hs.peerKey, c.hs.hello.SupportedGroups) {
		return 0, alertf(record.AlertIllegalParameter, "server's ECDSA curve was not offered") // RFC 8422 §5.1
	}
	c.addTranscript(m.raw)
	return StateClientWaitServerKeyExchange12, nil
}

// Precompute does ahead, while the Conn waits for its peer, work that the
// peer's next flight will need. There is one such work today: a TLS 1.2
// or DTLS 1.2 client that offered no other version and no session to
// resume generates its ECDHE key for the first group it offered, which
// its answer to the ServerKeyExchange takes if the server chose that
// group (one key generation is spent for nothing otherwise). Precompute
// sends nothing and changes nothing the peer sees: with the same
// Config.Rand, the bytes on the wire are the same as without it. An
// adapter calls it once a flight has gone, before waiting for the answer;
// when there is nothing to do, it returns at once.
func (c *Conn) Precompute() {
	hs := c.hs
	if !c.isClient || c.state != StateClientWaitServerHello || hs == nil || hs.key != nil ||
		hs.hello == nil || hs.session != nil || hs.offer.has(VersionTLS13) {
		return
	}
	group, ok := firstGroup12(hs.hello.SupportedGroups)
	if !ok {
		return
	}
	// A failure of Config.Rand is left for the ServerKeyExchange, whose
	// own key generation reports it.
	if key, err := generateKeyShare(group, c.cfg.rand()); err == nil {
		hs.key, hs.group = key, group
	}
}

// firstGroup12 returns the first of the offered groups that a TLS 1.2
// ECDHE key exchange can use.
func firstGroup12(offered []uint16) (CurveID, bool) {
	for _, id := range offered {
		if curveOf(CurveID(id)) != nil {
			return CurveID(id), true
		}
	}
	return 0, false
}

// client12ServerKeyExchange checks the server's signed ECDHE share and runs
// our half of the key exchange.
func (c *Conn) client12ServerKeyExchange(m message) (State, error) {
	var ske flights.ServerKeyExchange
	if err := ske.Unmarshal(m.body); err != nil {
		return 0, err
	}
	group := CurveID(ske.Curve)
	if !slices.Contains(c.hs.hello.SupportedGroups, ske.Curve) || curveOf(group) == nil {
		return 0, alertf(record.AlertIllegalParameter, "ServerKeyExchange for group %d, which was not offered", ske.Curve)
	}
	if !slices.Contains(c.hs.hello.SignatureAlgorithms, ske.Algorithm) {
		return 0, alertf(record.AlertIllegalParameter, "signature scheme %#04x was not offered", ske.Algorithm)
	}
	signed := append(append(append([]byte(nil), c.random[:]...), c.tls12.serverRandom[:]...), ske.Params()...)
	if err := verify12(c.hs.peerKey, ske.Algorithm, signed, ske.Signature); err != nil {
		return 0, err
	}
	key := c.hs.key // made ahead by Precompute, for the group we preferred
	if key == nil || c.hs.group != group {
		var err error
		if key, err = generateKeyShare(group, c.cfg.rand()); err != nil {
			return 0, err
		}
	}
	shared, err := sharedSecret(key, ske.PublicKey)
	if err != nil {
		return 0, err
	}
	c.hs.key, c.hs.group, c.hs.tls12.preMaster = key, group, shared
	c.addTranscript(m.raw)
	return StateClientWaitCertReqOrDone12, nil
}

func (c *Conn) client12CertificateRequest(m message) (State, error) {
	var cr flights.CertificateRequest12
	if err := cr.Unmarshal(m.body); err != nil {
		return 0, err
	}
	// Kept until ServerHelloDone: only the parsed list, which is the
	// request's own, not the bytes of the input buffer.
	c.hs.tls12.certReq = &flights.CertificateRequest12{SignatureAlgorithms: cr.SignatureAlgorithms, CertificateTypes: bytes.Clone(cr.CertificateTypes),
		CertificateAuthorities: c.keptAuthorities(cr.CertificateAuthorities)}
	c.addTranscript(m.raw)
	return StateClientWaitServerHelloDone12, nil
}

// client12ServerHelloDone sends our flight: [Certificate],
// ClientKeyExchange, [CertificateVerify], ChangeCipherSpec, Finished.
func (c *Conn) client12ServerHelloDone(m message) (State, error) {
	var done flights.ServerHelloDone
	if err := done.Unmarshal(m.body); err != nil {
		return 0, err
	}
	c.addTranscript(m.raw)
	hs := c.hs
	if hs.tls12.certReq != nil {
		var err error
		if hs.cert, hs.scheme, err = c.clientCertificate12(hs.tls12.certReq); err != nil {
			return 0, err
		}
		msg := flights.Certificate12{}
		if hs.cert != nil {
			msg.Certificates = hs.cert.Certificate
		}
		c.sendBuilt(msg.Append(c.msgBuffer()))
	}
	cke := flights.ClientKeyExchange{PublicKey: hs.key.PublicKey().Bytes()}
	c.sendBuilt(cke.Append(c.msgBuffer()))
	if err := c.establishKeys12(hs.tls12.preMaster); err != nil {
		return 0, err
	}
	if hs.cert != nil {
		if err := c.sendCertificateVerify12(); err != nil {
			return 0, err
		}
	}
	if err := c.sendFinished12(); err != nil {
		return 0, err
	}
	if hs.tls12.expectTicket {
		return StateClientWaitNewSessionTicket12, nil
	}
	return StateClientWaitChangeCipherSpec12, nil
}

// clientCertificate12 picks a certificate the server's request accepts.
func (c *Conn) clientCertificate12(cr *flights.CertificateRequest12) (*Certificate, uint16, error) {
	candidates, err := c.clientCandidates(cr.CertificateAuthorities, cr.SignatureAlgorithms)
	if err != nil {
		return nil, 0, err
	}
	for i := range candidates {
		cert := &candidates[i]
		if cert.PrivateKey == nil {
			continue
		}
		pub := cert.PrivateKey.Public()
		if !slices.Contains(cr.CertificateTypes, certificateTypeOf12(pub)) {
			continue // RFC 5246 §7.4.6: then an empty Certificate
		}
		if s, ok := chooseScheme12(cert, pub, cr.SignatureAlgorithms); ok {
			return cert, s, nil
		}
	}
	return nil, 0, nil
}

// sendCertificateVerify12 signs every handshake message so far.
func (c *Conn) sendCertificateVerify12() error {
	sig, err := sign(c.cfg.rand(), c.hs.cert.PrivateKey, c.hs.scheme, c.hs.tls12.messages)
	if err != nil {
		return alertf(record.AlertInternalError, "signing: %v", err)
	}
	cv := flights.CertificateVerify{Algorithm: c.hs.scheme, Signature: sig}
	c.sendBuilt(cv.Append(c.msgBuffer()))
	return nil
}

func (c *Conn) client12NewSessionTicket(m message) (State, error) {
	var nst flights.NewSessionTicket12
	if err := nst.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if len(nst.Ticket) > 0 {
		c.hs.tls12.newTicket = bytes.Clone(nst.Ticket)
	}
	c.addTranscript(m.raw)
	return StateClientWaitChangeCipherSpec12, nil
}

// client12Finished checks the server's Finished; in an abbreviated
// handshake our ChangeCipherSpec and Finished follow it.
func (c *Conn) client12Finished(m message) (State, error) {
	if err := c.checkFinished12(m); err != nil {
		return 0, err
	}
	if c.hs.resumed {
		if err := c.sendFinished12(); err != nil {
			return 0, err
		}
	}
	c.storeSession12()
	if err := c.completeHandshake(); err != nil {
		return 0, err
	}
	return StateClientConnected12, nil
}

// storeSession12 caches the session of a TLS 1.2 handshake that used
// extended master secret (required for resumption) under the ID the
// server assigned or the ticket it sent.
func (c *Conn) storeSession12() {
	hs := c.hs
	key := c.sessionCacheKey()
	if !c.tls12.ems || (hs.resumed && hs.tls12.newTicket == nil) {
		return
	}
	s := &Session{
		Version: VersionTLS12, Suite: c.suite.ID, Secret: c.tls12.master, EMS: true, Group: c.sessionGroup12(),
		CreatedAt: c.wallTime(), Lifetime: SessionLifetime, PeerCertificates: c.peerCerts, ALPN: c.alpn,
	}
	switch {
	case hs.tls12.newTicket != nil:
		s.Ticket = hs.tls12.newTicket
	case len(hs.tls12.sessionID) > 0:
		s.SessionID = hs.tls12.sessionID
	default:
		return
	}
	c.reneg.session = s
	if key != "" {
		cache, _ := c.cfg.caches()
		cache.Put(key, s)
	}
}
