package fsm

import (
	"crypto"
	"io"
	"slices"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// The TLS 1.2 server (RFC 5246 §7.3, RFC 8422 ECDHE).

// server12ClientHello answers a ClientHello for which TLS 1.2 was chosen
// with ServerHello, Certificate, ServerKeyExchange, [CertificateRequest],
// ServerHelloDone.
func (c *Conn) server12ClientHello(ch *flights.ClientHello, m message) (State, error) {
	if !slices.Contains(ch.CompressionMethods, 0) {
		return 0, alertf(record.AlertIllegalParameter, "no null compression method")
	}
	if ch.ECPointFormats != nil && !slices.Contains(ch.ECPointFormats, 0) {
		return 0, alertf(record.AlertIllegalParameter, "uncompressed points not supported by the client")
	}
	scsv := slices.Contains(ch.CipherSuites, renegotiationSCSV)
	if c.handshakes > 0 && scsv {
		return 0, alertf(record.AlertHandshakeFailure, "renegotiation SCSV in a renegotiation")
	}
	if err := c.checkRenegotiationInfo(ch.SecureRenegotiationSupported || scsv, ch.SecureRenegotiation, false); err != nil {
		return 0, err
	}
	if ch.SecureRenegotiationSupported || scsv {
		c.reneg.secure = true
	} else if c.cfg.RequireSecureRenegotiation {
		return 0, alertf(record.AlertHandshakeFailure, "client does not support secure renegotiation")
	}
	c.tls12.ems = ch.ExtendedMasterSecret
	c.random = [32]byte(ch.Random)
	c.serverName = ch.ServerName
	if err := c.chooseALPN(ch.ALPN); err != nil {
		return 0, err
	}
	if s := c.findSession12(ch); s != nil {
		return c.server12Resume(ch, s, m)
	}
	if err := c.chooseGroup12(ch); err != nil {
		return 0, err
	}
	suite, err := c.chooseSuiteAndCertificate12(ch)
	if err != nil {
		return 0, err
	}
	c.enterTLS12(suite, m.raw)
	return c.server12Flight(ch)
}

// findSession12 returns the session the ClientHello asks to resume, by
// ticket or by session ID, if we can resume it: only sessions with
// extended master secret are (RFC 7627 §5.3).
func (c *Conn) findSession12(ch *flights.ClientHello) *Session {
	if !ch.ExtendedMasterSecret {
		return nil
	}
	var s *Session
	switch {
	case len(ch.SessionTicket) > 0:
		if !c.cfg.SessionTicketsDisabled {
			s = c.openTicket(ch.SessionTicket)
		}
	case len(ch.SessionID) > 0:
		_, cache := c.cfg.caches()
		s, _ = cache.Get(string(ch.SessionID))
	}
	if s == nil || s.Version != VersionTLS12 || !s.EMS || !s.valid(c.wallTime()) || !c.sessionMeetsClientAuth(s) {
		return nil
	}
	if !slices.Contains(ch.CipherSuites, s.Suite) || !slices.Contains(c.cfg.suitesFor(VersionTLS12), s.Suite) {
		return nil
	}
	return s
}

// server12Resume runs an abbreviated handshake: ServerHello echoing the
// client's session ID, then ChangeCipherSpec and Finished.
func (c *Conn) server12Resume(ch *flights.ClientHello, s *Session, m message) (State, error) {
	c.enterTLS12(cipher.SuiteByID(s.Suite), m.raw)
	hs := c.hs
	hs.resumed, hs.session = true, s
	c.tls12.master, c.peerCerts = s.Secret, s.PeerCertificates
	if err := c.newServerRandom12(); err != nil {
		return 0, err
	}
	sh := flights.ServerHello{
		Version: c.transport.Version12, Random: c.tls12.serverRandom[:], SessionID: ch.SessionID, CipherSuite: c.suite.ID,
		SecureRenegotiationSupported: c.reneg.secure, SecureRenegotiation: c.renegotiationInfo(),
		ExtendedMasterSecret: true, ALPN: c.alpn,
	}
	if ch.ECPointFormats != nil {
		sh.ECPointFormats = []uint8{0}
	}
	c.chooseSRTP(ch, &sh.SRTPProfiles)
	if err := c.chooseConnectionID(ch, &sh); err != nil {
		return 0, err
	}
	c.sendBuilt(sh.Append(c.msgBuffer()))
	if err := c.derivePendingKeys12(); err != nil {
		return 0, err
	}
	if err := c.sendFinished12(); err != nil {
		return 0, err
	}
	return StateServerWaitChangeCipherSpec12, nil
}

// renegotiationInfo is the server's renegotiation_info: empty on a first
// handshake, both verify_data of the previous one on a renegotiation.
func (c *Conn) renegotiationInfo() []byte {
	if c.handshakes == 0 {
		return nil
	}
	return append(append([]byte(nil), c.reneg.clientVerify...), c.reneg.serverVerify...)
}

// chooseSRTP answers use_srtp with our first profile the client offers;
// with none in common the extension is left out (RFC 5764 §4.1.1).
// The answer goes in the ServerHello (DTLS 1.2) or the
// EncryptedExtensions (DTLS 1.3).
func (c *Conn) chooseSRTP(ch *flights.ClientHello, answer *[]uint16) {
	if !c.transport.Datagram {
		return // use_srtp is a DTLS extension (RFC 5764): ignored over TLS
	}
	for _, p := range c.cfg.SRTPProtectionProfiles {
		if slices.Contains(ch.SRTPProfiles, p) {
			c.srtpProfile = p
			*answer = []uint16{p}
			return
		}
	}
}

// newServerRandom12 draws the server random, ending it with the RFC 8446
// downgrade sentinel when we could have spoken TLS 1.3.
func (c *Conn) newServerRandom12() error {
	if _, err := io.ReadFull(c.cfg.rand(), c.tls12.serverRandom[:]); err != nil {
		return err
	}
	if c.cfg.versionEnabled(c.transport, VersionTLS13) {
		copy(c.tls12.serverRandom[24:], downgradeTLS12)
	}
	return nil
}

func (c *Conn) chooseGroup12(ch *flights.ClientHello) error {
	for _, id := range c.cfg.curves() {
		if slices.Contains(ch.SupportedGroups, uint16(id)) && curveOf(id) != nil {
			c.hs.group = id
			return nil
		}
	}
	return alertf(record.AlertHandshakeFailure, "no key exchange group in common")
}

// chooseSuiteAndCertificate12 takes the client's most preferred suite for
// which we have a fitting certificate and a signature scheme it accepts.
// Each certificate's scheme is found before the suites are walked, so
// that each of the client's lists is read once, however long both are.
func (c *Conn) chooseSuiteAndCertificate12(ch *flights.ClientHello) (*cipher.Suite, error) {
	certs, err := c.certificates12(ch)
	if err != nil {
		return nil, err
	}
	var room [4]signer12
	signers := appendSigners12(room[:0], certs, ch.SignatureAlgorithms, ch.SupportedGroups)
	ours := c.cfg.suitesFor(VersionTLS12)
	for _, id := range ch.CipherSuites {
		s := cipher.SuiteByID(id)
		if s == nil || s.TLS13 || !slices.Contains(ours, id) {
			continue
		}
		for _, sg := range signers {
			if certificateFitsSuite12(s, sg.pub) {
				c.hs.cert, c.hs.scheme = sg.cert, sg.scheme
				return s, nil
			}
		}
	}
	return nil, alertf(record.AlertHandshakeFailure, "no TLS 1.2 cipher suite with a certificate in common")
}

// certificates12 returns the certificates a TLS 1.2 server may use: the
// one GetCertificate gives, or the Config's when it gives none.
func (c *Conn) certificates12(ch *flights.ClientHello) ([]Certificate, error) {
	if c.cfg.GetCertificate == nil {
		return c.cfg.Certificates, nil
	}
	cert, err := c.cfg.GetCertificate(c.helloInfo(ch))
	switch {
	case err != nil:
		return nil, alertf(record.AlertHandshakeFailure, "no certificate: %v", err)
	case cert == nil:
		return c.cfg.Certificates, nil // as crypto/tls
	}
	return []Certificate{*cert}, nil
}

// signer12 is a certificate with the TLS 1.2 signature scheme it would
// sign with for the client.
type signer12 struct {
	cert   *Certificate
	pub    crypto.PublicKey
	scheme uint16
}

// appendSigners12 appends to dst, in order, the certificates that can
// sign with a scheme the client accepts, each with the first such scheme
// of ours; an ECDSA certificate must also be on a curve of the client's
// supported_groups (RFC 8422 §5.1).
func appendSigners12(dst []signer12, certs []Certificate, accepted, groups []uint16) []signer12 {
	for i := range certs {
		cert := &certs[i]
		if cert.PrivateKey == nil {
			continue
		}
		pub := cert.PrivateKey.Public()
		if !fitsGroups12(pub, groups) {
			continue
		}
		if scheme, ok := chooseScheme12(cert, pub, accepted); ok {
			dst = append(dst, signer12{cert: cert, pub: pub, scheme: scheme})
		}
	}
	return dst
}

// server12Flight sends the server's first flight of a full handshake.
func (c *Conn) server12Flight(ch *flights.ClientHello) (State, error) {
	hs := c.hs
	if err := c.newServerRandom12(); err != nil {
		return 0, err
	}
	sh := flights.ServerHello{
		Version: c.transport.Version12, Random: c.tls12.serverRandom[:], CipherSuite: c.suite.ID,
		SecureRenegotiationSupported: c.reneg.secure,
		SecureRenegotiation:          c.renegotiationInfo(),
		ExtendedMasterSecret:         c.tls12.ems,
		ALPN:                         c.alpn,
	}
	if ch.ECPointFormats != nil {
		sh.ECPointFormats = []uint8{0}
	}
	c.chooseSRTP(ch, &sh.SRTPProfiles)
	if err := c.chooseConnectionID(ch, &sh); err != nil {
		return 0, err
	}
	// Sessions need extended master secret: a ticket when the client
	// takes them, else a session ID for our cache.
	switch {
	case !c.tls12.ems:
	case ch.TicketSupported && !c.cfg.SessionTicketsDisabled:
		hs.tls12.issueTicket, sh.TicketSupported = true, true
	default:
		hs.tls12.sessionID = make([]byte, 32)
		if _, err := io.ReadFull(c.cfg.rand(), hs.tls12.sessionID); err != nil {
			return 0, err
		}
		sh.SessionID = hs.tls12.sessionID
	}
	c.sendBuilt(sh.Append(c.msgBuffer()))
	cert := flights.Certificate12{Certificates: hs.cert.Certificate}
	c.sendBuilt(cert.Append(c.msgBuffer()))
	if err := c.sendServerKeyExchange12(); err != nil {
		return 0, err
	}
	next := StateServerWaitClientKeyExchange12
	if c.cfg.ClientAuth != NoClientCert {
		hs.tls12.certReq = &flights.CertificateRequest12{
			CertificateTypes:    []byte{64, 1}, // ecdsa_sign, rsa_sign
			SignatureAlgorithms: signatureSchemes12,
		}
		c.sendBuilt(hs.tls12.certReq.Append(c.msgBuffer()))
		next = StateServerWaitCertificate12
	}
	c.sendBuilt((&flights.ServerHelloDone{}).Append(c.msgBuffer()))
	return next, nil
}

// sendServerKeyExchange12 sends our ECDHE share signed with the
// certificate key over both randoms.
func (c *Conn) sendServerKeyExchange12() error {
	hs := c.hs
	key, err := generateKeyShare(hs.group, c.cfg.rand())
	if err != nil {
		return err
	}
	hs.key = key
	ske := flights.ServerKeyExchange{Curve: uint16(hs.group), PublicKey: key.PublicKey().Bytes(), Algorithm: hs.scheme}
	signed := append(append(append([]byte(nil), c.random[:]...), c.tls12.serverRandom[:]...), ske.Params()...)
	if ske.Signature, err = sign(c.cfg.rand(), hs.cert.PrivateKey, hs.scheme, signed); err != nil {
		return alertf(record.AlertInternalError, "signing: %v", err)
	}
	c.sendBuilt(ske.Append(c.msgBuffer()))
	return nil
}

func (c *Conn) server12Certificate(m message) (State, error) {
	var msg flights.Certificate12
	if err := msg.Unmarshal(m.body); err != nil {
		return 0, err
	}
	auth := c.cfg.ClientAuth
	if len(msg.Certificates) == 0 {
		if auth == RequireAnyClientCert || auth == RequireAndVerifyClientCert {
			return 0, alertf(record.AlertHandshakeFailure, "client sent no certificate")
		}
	} else {
		if err := c.checkSamePeer(msg.Certificates[0]); err != nil {
			return 0, err
		}
		roots, name, usage, verify := c.clientChain()
		if err := c.acceptPeerCertificates(certificateEntries(&msg), roots, name, usage, verify); err != nil {
			return 0, err
		}
	}
	c.addTranscript(m.raw)
	return StateServerWaitClientKeyExchange12, nil
}

func (c *Conn) server12ClientKeyExchange(m message) (State, error) {
	var cke flights.ClientKeyExchange
	if err := cke.Unmarshal(m.body); err != nil {
		return 0, err
	}
	shared, err := sharedSecret(c.hs.key, cke.PublicKey)
	if err != nil {
		return 0, err
	}
	c.addTranscript(m.raw)
	if err := c.establishKeys12(shared); err != nil {
		return 0, err
	}
	if c.hs.peerKey != nil {
		return StateServerWaitCertificateVerify12, nil
	}
	return StateServerWaitChangeCipherSpec12, nil
}

// server12CertificateVerify checks the client's signature over every
// handshake message before it.
func (c *Conn) server12CertificateVerify(m message) (State, error) {
	var cv flights.CertificateVerify
	if err := cv.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if !slices.Contains(c.hs.tls12.certReq.SignatureAlgorithms, cv.Algorithm) {
		return 0, alertf(record.AlertIllegalParameter, "signature scheme %#04x was not offered", cv.Algorithm)
	}
	if err := verify12(c.hs.peerKey, cv.Algorithm, c.hs.tls12.messages, cv.Signature); err != nil {
		return 0, err
	}
	c.addTranscript(m.raw)
	return StateServerWaitChangeCipherSpec12, nil
}

// server12Finished checks the client's Finished and, in a full handshake,
// answers with ChangeCipherSpec and our Finished.
func (c *Conn) server12Finished(m message) (State, error) {
	if err := c.checkFinished12(m); err != nil {
		return 0, err
	}
	if !c.hs.resumed {
		if err := c.sendServerFinished12(); err != nil {
			return 0, err
		}
	}
	if err := c.completeHandshake(); err != nil {
		return 0, err
	}
	return StateServerConnected12, nil
}

// sendServerFinished12 ends a full handshake: a NewSessionTicket when one
// was promised, ChangeCipherSpec and Finished; the session goes into the
// cache when it has an ID.
func (c *Conn) sendServerFinished12() error {
	hs := c.hs
	s := &Session{
		Version: VersionTLS12, Suite: c.suite.ID, Secret: c.tls12.master, EMS: c.tls12.ems, Group: c.sessionGroup12(),
		CreatedAt: c.wallTime(), Lifetime: SessionLifetime, PeerCertificates: c.peerCerts, ALPN: c.alpn,
	}
	if hs.tls12.issueTicket {
		// Promised in the ServerHello: a session too large for a ticket
		// gets an empty one (RFC 5077 §3.3).
		ticket, err := c.sealTicket(s)
		if err != nil {
			return err
		}
		nst := flights.NewSessionTicket12{LifetimeHint: uint32(SessionLifetime / time.Second), Ticket: ticket}
		c.sendBuilt(nst.Append(c.msgBuffer()))
	}
	if err := c.sendFinished12(); err != nil {
		return err
	}
	if len(hs.tls12.sessionID) > 0 {
		_, cache := c.cfg.caches()
		cache.Put(string(hs.tls12.sessionID), s)
	}
	return nil
}
