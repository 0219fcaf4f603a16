package fsm

import (
	"bytes"
	"io"
	"net"
	"slices"
	"time"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// downgradeTLS12 and downgradeTLS11 end a ServerHello random when a TLS 1.3
// server negotiates an older version (RFC 8446 §4.1.3).
var (
	downgradeTLS12 = []byte("DOWNGRD\x01")
	downgradeTLS11 = []byte("DOWNGRD\x00")
)

// clientStart builds and sends the first ClientHello, offering every
// version the configuration enables.
func (c *Conn) clientStart(message) (State, error) {
	offer := c.cfg.offeredVersions(c.transport)
	if len(offer.versions) == 0 {
		return 0, ErrUnsupportedVersion
	}
	if err := c.sendClientHello(offer, false); err != nil {
		return 0, err
	}
	return StateClientWaitServerHello, nil
}

// sendClientHello starts a handshake: a first one, or a renegotiation,
// which offers only TLS 1.2 and carries the previous client verify_data
// (RFC 5746). noResume offers no session.
func (c *Conn) sendClientHello(offer versionOffer, noResume bool) error {
	curves := c.cfg.clientCurves(offer.has(VersionTLS13))
	if len(curves) == 0 { // a renegotiation, TLS 1.2 only, of a Config of hybrids only
		return &configError{msg: "CurvePreferences: only hybrid groups, which TLS 1.2 cannot use"}
	}
	c.hs = &handshake{group: curves[0], offer: offer, noResume: noResume}
	rand := c.cfg.rand()
	// The connection's client random changes only when a ServerHello
	// takes this hello: a refused renegotiation leaves the old one, which
	// the exporter and the key log still use.
	if _, err := io.ReadFull(rand, c.hs.clientRandom[:]); err != nil {
		return err
	}
	// A random legacy_session_id asks for TLS 1.3's middlebox
	// compatibility mode (RFC 8446 Appendix D.4) and shows whether a TLS
	// 1.2 server took a ticket (RFC 5077 §3.4); otherwise, and without a
	// session to resume, a client sends none.
	randomID := make([]byte, 32)
	if _, err := io.ReadFull(rand, randomID); err != nil {
		return err
	}
	hello := &flights.ClientHello{
		Version:             c.transport.Version12,
		DTLS:                c.transport.HelloVerify,
		Random:              c.hs.clientRandom[:],
		CipherSuites:        offer.suites,
		CompressionMethods:  []byte{0},
		SupportedGroups:     curveIDs(curves),
		SignatureAlgorithms: signatureSchemes,
		ALPN:                c.cfg.NextProtos,
	}
	if c.handshakes > 0 {
		// OpenSSL's DTLS server expects a renegotiation to carry the
		// cookie of the first handshake, as its own client does.
		hello.DTLSCookie = c.reneg.dtlsCookie
	}
	if offer.has(VersionTLS13) {
		share, err := newEphemeral(c.hs.group, rand)
		if err != nil {
			return err
		}
		c.hs.share = share
		hello.SupportedVersions = offer.versions // TLS writes them as they are
		if c.transport.Datagram {
			hello.SupportedVersions = make([]uint16, len(offer.versions))
			for i, v := range offer.versions {
				hello.SupportedVersions[i] = c.transport.wireVersion(v)
			}
		}
		hello.KeyShares = keyShares(share, curves)
		hello.PSKModes = []uint8{1}
	}
	if offer.has(VersionTLS12) {
		hello.ExtendedMasterSecret = true
		hello.SecureRenegotiationSupported = true
		hello.SecureRenegotiation = c.reneg.clientVerify
		hello.ECPointFormats = []uint8{0}
		hello.TicketSupported = !c.cfg.SessionTicketsDisabled
	}
	if err := c.offerConnectionID(hello); err != nil { // DTLS 1.2 and 1.3
		return err
	}
	if c.transport.Datagram { // use_srtp is a DTLS extension (RFC 5764), of 1.2 and 1.3
		hello.SRTPProfiles = c.cfg.SRTPProtectionProfiles
	}
	if net.ParseIP(c.cfg.ServerName) == nil {
		hello.ServerName = c.cfg.ServerName
	}
	c.offerSession(hello)
	// TLS 1.3's compatibility mode sends a random session ID; DTLS has
	// none (RFC 9147 §5).
	if len(hello.SessionID) == 0 && (offer.has(VersionTLS13) && c.transport.CompatibilityCCS || len(hello.SessionTicket) > 0) {
		hello.SessionID = randomID
	}
	c.hs.helloSessionID = hello.SessionID
	c.hs.hello = hello
	if err := c.sendHello(hello); err == nil || c.hs.session == nil {
		return err
	}
	// The cached session's ticket, which a server chose, is too long to
	// offer: go on without it.
	hello.PSKIdentities, hello.PSKBinders, hello.SessionTicket, c.hs.session = nil, nil, nil, nil
	return c.sendHello(hello)
}

// offerSession puts the cached session for this server, if usable, into
// the ClientHello: a TLS 1.2 session ID or ticket, or a TLS 1.3 PSK whose
// binder bindHello fills in.
func (c *Conn) offerSession(hello *flights.ClientHello) {
	if c.hs.noResume {
		return
	}
	s, ok := c.reneg.session, c.reneg.session != nil
	if c.handshakes == 0 {
		key := c.sessionCacheKey()
		if key == "" {
			return
		}
		cache, _ := c.cfg.caches()
		s, ok = cache.Get(key)
	}
	if !ok || !s.valid(c.wallTime()) {
		return
	}
	suite := cipher.SuiteByID(s.Suite)
	switch {
	case suite == nil:
		return
	case s.Version == VersionTLS12 && c.hs.offer.has(VersionTLS12) && s.EMS && slices.Contains(hello.CipherSuites, s.Suite):
		if s.Ticket != nil {
			if c.cfg.SessionTicketsDisabled {
				return
			}
			hello.SessionTicket = s.Ticket
		} else {
			hello.SessionID = s.SessionID
		}
	case s.Version == VersionTLS13 && c.hs.offer.has(VersionTLS13) && c.offersHash(hello, suite):
		age := uint32(c.wallTime().Sub(s.CreatedAt)/time.Millisecond) + s.AgeAdd
		hello.PSKIdentities = []flights.PSKIdentity{{Identity: s.Ticket, ObfuscatedTicketAge: age}}
		hello.PSKBinders = [][]byte{make([]byte, suite.Hash.Size())}
	default:
		return
	}
	c.hs.session = s
}

// offersHash reports whether hello offers a TLS 1.3 suite with the hash of
// suite, with which a PSK of that suite can be used.
func (c *Conn) offersHash(hello *flights.ClientHello, suite *cipher.Suite) bool {
	for _, id := range hello.CipherSuites {
		if s := cipher.SuiteByID(id); s != nil && s.TLS13 && s.Hash == suite.Hash {
			return true
		}
	}
	return false
}

// bindHello encodes hello, computing its PSK binder over the transcript so
// far and the truncated hello when it offers a PSK.
func (c *Conn) bindHello(hello *flights.ClientHello) ([]byte, error) {
	raw, err := hello.AppendChecked(nil)
	if err != nil || len(hello.PSKIdentities) == 0 {
		return raw, err
	}
	h := cipher.SuiteByID(c.hs.session.Suite).Hash
	th := c.transcript.SumWith(h, raw[:len(raw)-hello.BindersLen()])
	hello.PSKBinders = [][]byte{binder(c.transport.Labels, h, c.hs.session.Secret, th)}
	return hello.Append(nil), nil
}

// sendHello binds and sends a ClientHello; one that cannot be encoded
// holds something the server sent that does not fit.
func (c *Conn) sendHello(hello *flights.ClientHello) error {
	raw, err := c.bindHello(hello)
	if err != nil {
		return alertf(record.AlertIllegalParameter, "the server's values do not fit a ClientHello: %v", err)
	}
	c.sendMessage(raw)
	return nil
}

func curveIDs(curves []CurveID) []uint16 {
	out := make([]uint16, len(curves))
	for i, id := range curves {
		out[i] = uint16(id)
	}
	return out
}

// serverHelloVersion returns the version a ServerHello (or
// HelloRetryRequest) selects, checking it against what we offered and the
// downgrade sentinels (RFC 8446 §4.1.3).
func (c *Conn) serverHelloVersion(sh *flights.ServerHello) (uint16, error) {
	v := sh.SupportedVersion
	switch {
	case v != 0 && c.transport.protocolVersion(v) == VersionTLS13 && c.hs.offer.has(VersionTLS13):
		if sh.Version != c.transport.Version12 {
			return 0, alertf(record.AlertIllegalParameter, "legacy_version %#04x", sh.Version)
		}
		return VersionTLS13, nil
	case v != 0:
		return 0, alertf(record.AlertIllegalParameter, "server chose version %#04x in supported_versions, which was not offered", v)
	}
	if c.hs.offer.has(VersionTLS13) {
		tail := sh.Random[24:]
		if bytes.Equal(tail, downgradeTLS12) || bytes.Equal(tail, downgradeTLS11) {
			return 0, alertf(record.AlertIllegalParameter, "downgrade sentinel in ServerHello random")
		}
	}
	if sh.Version != c.transport.Version12 || !c.hs.offer.has(VersionTLS12) {
		return 0, alertf(record.AlertProtocolVersion, "server chose version %#04x, which is not enabled", sh.Version)
	}
	return VersionTLS12, nil
}

// sessionIDEcho13 is the legacy_session_id_echo of a TLS 1.3 ServerHello
// answering a ClientHello whose legacy_session_id is id: id, or over DTLS
// 1.3 none (RFC 9147 §5).
func (c *Conn) sessionIDEcho13(id []byte) []byte {
	if c.transport.Datagram {
		return nil
	}
	return id
}

// checkServerHelloCommon applies the checks a ServerHello and a
// HelloRetryRequest share, for the version the server chose.
func (c *Conn) checkServerHelloCommon(sh *flights.ServerHello, version uint16) error {
	if version == VersionTLS13 && !bytes.Equal(sh.SessionID, c.sessionIDEcho13(c.hs.helloSessionID)) {
		return alertf(record.AlertIllegalParameter, "session id not echoed")
	}
	if sh.CompressionMethod != 0 {
		return alertf(record.AlertIllegalParameter, "compression method %d", sh.CompressionMethod)
	}
	suite := cipher.SuiteByID(sh.CipherSuite)
	if !slices.Contains(c.hs.hello.CipherSuites, sh.CipherSuite) || suite == nil || suite.TLS13 != (version == VersionTLS13) {
		return alertf(record.AlertIllegalParameter, "cipher suite %#04x was not offered for %s", sh.CipherSuite, VersionName(version))
	}
	if c.hs.retried && sh.CipherSuite != c.hs.tls13.hrrSuite {
		return alertf(record.AlertIllegalParameter, "cipher suite changed after HelloRetryRequest")
	}
	return nil
}

// clientHelloRetryRequest answers a HelloRetryRequest with a second
// ClientHello carrying a share for the group the server asked for.
func (c *Conn) clientHelloRetryRequest(m message) (State, error) {
	var hrr flights.ServerHello
	if err := hrr.Unmarshal(m.body); err != nil {
		return 0, err
	}
	version, err := c.serverHelloVersion(&hrr)
	if err != nil {
		return 0, err
	}
	if version != VersionTLS13 {
		return 0, alertf(record.AlertIllegalParameter, "HelloRetryRequest for %s", VersionName(version))
	}
	if err := c.checkServerHelloCommon(&hrr, version); err != nil {
		return 0, err
	}
	if err := c.checkAnswered("a HelloRetryRequest", hrr.Extensions, helloRetryExtensions, flights.ExtCookie); err != nil {
		return 0, err
	}
	group := CurveID(hrr.SelectedGroup)
	if group == 0 && hrr.Cookie == nil {
		return 0, alertf(record.AlertIllegalParameter, "HelloRetryRequest changes nothing")
	}
	c.suite = cipher.SuiteByID(hrr.CipherSuite)
	c.hs.retried, c.hs.tls13.hrrSuite = true, hrr.CipherSuite
	c.hashTranscript13()
	c.transcript.HelloRetry()
	c.transcript.Write(m.raw)
	hello := *c.hs.hello
	if group != 0 {
		if sentShare(&hello, group) || !slices.Contains(hello.SupportedGroups, uint16(group)) {
			return 0, alertf(record.AlertIllegalParameter, "HelloRetryRequest for group %d", group)
		}
		share, err := newEphemeral(group, c.cfg.rand())
		if err != nil {
			return 0, err
		}
		c.hs.share, c.hs.group = share, group
		hello.KeyShares = []flights.KeyShare{{Group: uint16(group), Data: share.share()}}
	}
	hello.Cookie = bytes.Clone(hrr.Cookie) // the HRR's buffer is reused
	hello.EarlyData = false
	if len(hello.PSKIdentities) > 0 && cipher.SuiteByID(c.hs.session.Suite).Hash != c.suite.Hash {
		// The PSK cannot be used with the suite the server chose.
		hello.PSKIdentities, hello.PSKBinders, c.hs.session = nil, nil, nil
	}
	c.hs.hello = &hello
	if err := c.sendCompatibilityCCS(); err != nil {
		return 0, err
	}
	if err := c.sendHello(&hello); err != nil {
		return 0, err
	}
	return StateClientWaitServerHelloRetried, nil
}

// clientServerHello checks the ServerHello, runs the key exchange and
// switches to the handshake keys.
func (c *Conn) clientServerHello(m message) (State, error) {
	var sh flights.ServerHello
	if err := sh.Unmarshal(m.body); err != nil {
		return 0, err
	}
	version, err := c.serverHelloVersion(&sh)
	if err != nil {
		return 0, err
	}
	if version == VersionTLS12 && c.hs.retried {
		return 0, alertf(record.AlertIllegalParameter, "TLS 1.2 ServerHello after a HelloRetryRequest")
	}
	if err := c.checkServerHelloCommon(&sh, version); err != nil {
		return 0, err
	}
	c.random = c.hs.clientRandom
	if version == VersionTLS12 {
		return c.client12ServerHello(&sh, m)
	}
	if err := c.checkAnswered("a ServerHello", sh.Extensions, serverHello13Extensions, 0); err != nil {
		return 0, err
	}
	c.acceptConnectionID(&sh) // DTLS 1.3: from the handshake keys on (RFC 9147 §9)
	if !sentShare(c.hs.hello, CurveID(sh.KeyShare.Group)) {
		return 0, alertf(record.AlertIllegalParameter, "key share for group %d was not offered", sh.KeyShare.Group)
	}
	c.hs.group = CurveID(sh.KeyShare.Group)
	c.version = VersionTLS13
	c.suite = cipher.SuiteByID(sh.CipherSuite)
	if sh.HasSelectedPSK {
		if err := c.acceptPSK(sh.SelectedPSK); err != nil {
			return 0, err
		}
	}
	shared, err := c.hs.share.clientSecret(c.hs.group, sh.KeyShare.Data)
	if err != nil {
		return 0, err
	}
	c.hashTranscript13()
	c.transcript.Write(m.raw)
	c.deriveHandshakeSecrets(shared)
	if err := c.setReadKeys(c.hs.tls13.serverHS); err != nil {
		return 0, err
	}
	if err := c.sendCompatibilityCCS(); err != nil {
		return 0, err
	}
	if err := c.setWriteKeys(c.hs.tls13.clientHS); err != nil {
		return 0, err
	}
	return StateClientWaitEncryptedExtensions, nil
}

// acceptPSK takes the server's choice of our PSK: resumption.
func (c *Conn) acceptPSK(index uint16) error {
	s := c.hs.session
	if s == nil || len(c.hs.hello.PSKIdentities) == 0 || index != 0 {
		return alertf(record.AlertIllegalParameter, "server selected PSK %d, which was not offered", index)
	}
	if cipher.SuiteByID(s.Suite).Hash != c.suite.Hash {
		return alertf(record.AlertIllegalParameter, "server selected a PSK with a suite of another hash")
	}
	c.hs.resumed, c.hs.tls13.psk = true, s.Secret
	c.peerCerts = s.PeerCertificates
	return nil
}

// extensions we know that may not appear in EncryptedExtensions.
var knownExtensions = []uint16{
	flights.ExtStatusRequest, flights.ExtECPointFormats, flights.ExtSignatureAlgorithms,
	flights.ExtSCT, flights.ExtExtendedMasterSecret, flights.ExtSessionTicket,
	flights.ExtPreSharedKey, flights.ExtSupportedVersions, flights.ExtCookie, flights.ExtPSKModes,
	flights.ExtCertificateAuthorities, flights.ExtSignatureAlgorithmsCert, flights.ExtKeyShare,
	flights.ExtRenegotiationInfo,
}

func (c *Conn) clientEncryptedExtensions(m message) (State, error) {
	var ee flights.EncryptedExtensions
	if err := ee.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if err := c.checkAnswered("EncryptedExtensions", ee.Extensions, nil, 0); err != nil {
		return 0, err
	}
	for _, ext := range ee.Extensions {
		if slices.Contains(knownExtensions, ext) {
			return 0, alertf(record.AlertIllegalParameter, "extension %d in EncryptedExtensions", ext)
		}
	}
	if ee.ALPN != "" {
		if len(c.cfg.NextProtos) == 0 {
			return 0, alertf(record.AlertUnsupportedExtension, "ALPN was not offered")
		}
		if !slices.Contains(c.cfg.NextProtos, ee.ALPN) {
			return 0, alertf(record.AlertIllegalParameter, "ALPN %q was not offered", ee.ALPN)
		}
	}
	if ee.EarlyData {
		return 0, alertf(record.AlertUnsupportedExtension, "early data was not offered")
	}
	if err := c.acceptSRTP(ee.SRTPProfiles, ee.SRTPMKI); err != nil {
		return 0, err
	}
	c.alpn = ee.ALPN
	c.transcript.Write(m.raw)
	if c.hs.resumed {
		return StateClientWaitFinished13, nil
	}
	return StateClientWaitCertOrCertRequest13, nil
}

func (c *Conn) clientCertificateRequest(m message) (State, error) {
	var cr flights.CertificateRequest
	if err := cr.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if len(cr.Context) != 0 {
		return 0, alertf(record.AlertIllegalParameter, "certificate_request_context in the handshake")
	}
	if len(cr.SignatureAlgorithms) == 0 {
		return 0, alertf(record.AlertMissingExtension, "CertificateRequest without signature_algorithms")
	}
	// Kept until our flight: only the parsed lists, which are the
	// request's own, not the bytes of the input buffer.
	c.hs.tls13.certReq = &flights.CertificateRequest{SignatureAlgorithms: cr.SignatureAlgorithms, SignatureAlgorithmsCert: cr.SignatureAlgorithmsCert,
		CertificateAuthorities: c.keptAuthorities(cr.CertificateAuthorities)}
	c.transcript.Write(m.raw)
	return StateClientWaitCertificate13, nil
}

func (c *Conn) clientCertificate(m message) (State, error) {
	var cert flights.Certificate
	if err := cert.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if len(cert.Context) != 0 {
		return 0, alertf(record.AlertIllegalParameter, "certificate_request_context from the server")
	}
	if len(cert.Entries) == 0 {
		return 0, alertf(record.AlertDecodeError, "empty server Certificate")
	}
	if err := c.checkEntryExtensions(cert.Entries); err != nil {
		return 0, err
	}
	roots, name, usage, verify := c.serverChain()
	if err := c.acceptPeerCertificates(cert.Entries, roots, name, usage, verify); err != nil {
		return 0, err
	}
	c.transcript.Write(m.raw)
	return StateClientWaitCertificateVerify13, nil
}

func (c *Conn) clientCertificateVerify(m message) (State, error) {
	if err := c.checkCertificateVerify(m, serverSignatureContext, c.hs.hello.SignatureAlgorithms); err != nil {
		return 0, err
	}
	return StateClientWaitFinished13, nil
}

// clientFinished checks the server Finished, sends our certificate if asked
// and our Finished, and switches to the application keys.
func (c *Conn) clientFinished(m message) (State, error) {
	hs := c.hs
	if err := c.checkFinished(m, hs.tls13.serverHS); err != nil {
		return 0, err
	}
	c.deriveApplicationSecrets()
	if err := c.setReadKeys(c.tls13.serverAP); err != nil {
		return 0, err
	}
	if hs.tls13.certReq != nil {
		var err error
		if hs.cert, hs.scheme, err = c.clientCertificateFor(hs.tls13.certReq); err != nil {
			return 0, err
		}
		if err := c.sendCertificate(clientSignatureContext); err != nil {
			return 0, err
		}
	}
	c.sendFinished(hs.tls13.clientHS)
	c.tls13.resumptionMaster = hs.tls13.sched.Derive(cipher.LabelResumptionMaster, c.transcript.Digest())
	if err := c.setWriteKeys(c.tls13.clientAP); err != nil {
		return 0, err
	}
	if err := c.completeHandshake(); err != nil {
		return 0, err
	}
	return StateClientConnected13, nil
}

// clientCertificateFor picks the first candidate certificate whose key
// can sign with a scheme the server accepts; none means an empty
// Certificate.
func (c *Conn) clientCertificateFor(cr *flights.CertificateRequest) (*Certificate, uint16, error) {
	candidates, err := c.clientCandidates(cr.CertificateAuthorities, cr.SignatureAlgorithms)
	if err != nil {
		return nil, 0, err
	}
	for i := range candidates {
		cert := &candidates[i]
		if cert.PrivateKey == nil {
			continue
		}
		if s, ok := chooseScheme(cert, cr.SignatureAlgorithms); ok {
			return cert, s, nil
		}
	}
	return nil, 0, nil
}

// clientCandidates are the certificates a client may answer a
// CertificateRequest with: Config.Certificates, or the one
// GetClientCertificate returns.
func (c *Conn) clientCandidates(authorities [][]byte, schemes []uint16) ([]Certificate, error) {
	if c.cfg.GetClientCertificate == nil {
		return c.cfg.Certificates, nil
	}
	info := &CertificateRequestInfo{AcceptableCAs: authorities, SignatureSchemes: schemes, Version: c.version}
	if c.hooks != nil {
		info.ctx = c.hooks.ctx
	}
	cert, err := c.cfg.GetClientCertificate(info)
	switch {
	case err != nil:
		return nil, &protocolError{alert: record.AlertInternalError, msg: "GetClientCertificate: " + err.Error(), cause: err}
	case cert == nil:
		return nil, alertf(record.AlertInternalError, "%v", errNoClientCertificate)
	case len(cert.Certificate) == 0:
		return nil, nil
	}
	return []Certificate{*cert}, nil
}

// keptAuthorities copies a CertificateRequest's CA names out of the input
// buffer when GetClientCertificate will be shown them.
func (c *Conn) keptAuthorities(names [][]byte) [][]byte {
	if c.cfg.GetClientCertificate == nil || len(names) == 0 {
		return nil
	}
	kept := make([][]byte, len(names))
	for i, n := range names {
		kept[i] = bytes.Clone(n)
	}
	return kept
}

// clientNewSessionTicket stores the session a TLS 1.3 ticket resumes.
func (c *Conn) clientNewSessionTicket(m message) (State, error) {
	var nst flights.NewSessionTicket
	if err := nst.Unmarshal(m.body); err != nil {
		return 0, err
	}
	if err := c.countPostHandshake(); err != nil {
		return 0, err
	}
	lifetime := min(time.Duration(nst.Lifetime)*time.Second, SessionLifetime)
	key := c.sessionCacheKey()
	if lifetime == 0 || key == "" || c.cfg.SessionTicketsDisabled {
		return StateClientConnected13, nil
	}
	h := c.suite.Hash
	cache, _ := c.cfg.caches()
	cache.Put(key, &Session{
		Version: VersionTLS13, Suite: c.suite.ID,
		Secret:    c.transport.Labels.ExpandLabel(h, c.tls13.resumptionMaster, "resumption", nst.Nonce, h.Size()),
		CreatedAt: c.wallTime(), Lifetime: lifetime, PeerCertificates: c.peerCerts, ALPN: c.alpn,
		Ticket: bytes.Clone(nst.Ticket), AgeAdd: nst.AgeAdd,
	})
	return StateClientConnected13, nil
}

// keyShares are the key shares of a ClientHello listing curves: the one
// of share's group and, for a hybrid whose ECDH half's group is listed,
// one of that group with the same ECDH key.
func keyShares(share *ephemeral, curves []CurveID) []flights.KeyShare {
	shares := []flights.KeyShare{{Group: uint16(share.group), Data: share.share()}}
	if g := share.classicalGroup(); g != 0 && slices.Contains(curves, g) {
		shares = append(shares, flights.KeyShare{Group: uint16(g), Data: share.ecdh.PublicKey().Bytes()})
	}
	return shares
}

// sentShare reports whether hello carries a key share of group.
func sentShare(hello *flights.ClientHello, group CurveID) bool {
	return slices.ContainsFunc(hello.KeyShares, func(ks flights.KeyShare) bool { return CurveID(ks.Group) == group })
}
