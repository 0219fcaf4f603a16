package fsm

import (
	"crypto"
	"crypto/ecdh"
	"crypto/hmac"
	"errors"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// handshake is the state that lives only while a handshake runs.
type handshake struct {
	hello *flights.ClientHello // client: sent; server: received
	// clientRandom is the random of our ClientHello (client), the
	// connection's once a ServerHello takes it.
	clientRandom [32]byte
	key          *ecdh.PrivateKey // our ephemeral ECDH key (TLS 1.2)
	share        *ephemeral       // our key of a TLS 1.3 key share (client)
	group        CurveID
	scheme       uint16 // our CertificateVerify scheme
	retried      bool   // a HelloRetryRequest was sent or received
	resumed      bool
	noResume     bool         // client: offer no session
	cert         *Certificate // ours, to send
	peerKey      crypto.PublicKey
	// helloSessionID is the legacy_session_id of our (client) or the
	// peer's (server) ClientHello.
	helloSessionID []byte
	offer          versionOffer // client: what the ClientHello offered
	session        *Session     // client: the session offered; server: the one resumed

	tls13 handshake13
	tls12 handshake12
	dtls  handshakeDTLS
}

// handshake13 is what only a TLS 1.3 handshake keeps.
type handshake13 struct {
	sched    *cipher.Schedule
	clientHS []byte // client handshake traffic secret
	serverHS []byte // server handshake traffic secret
	certReq  *flights.CertificateRequest
	psk      []byte // the PSK in use
	pskIndex uint16 // server: which offered PSK was chosen
	hrrSuite uint16 // suite of the HelloRetryRequest
	// resumableBeforeRetry: the ClientHello a HelloRetryRequest answered
	// offered a PSK the server would resume (server).
	resumableBeforeRetry bool
	// askedCookie: our HelloRetryRequest carried a cookie, which the
	// second ClientHello must echo (DTLS server).
	askedCookie bool
	// sentCompatCCS is set once our compatibility change_cipher_spec is
	// out (RFC 8446 Appendix D.4).
	sentCompatCCS bool
}

// handshake12 is what only a TLS/DTLS 1.2 handshake keeps.
type handshake12 struct {
	messages     []byte // every handshake message so far, for CertificateVerify
	certReq      *flights.CertificateRequest12
	pendingRead  *cipher.State // read keys waiting for the peer's ChangeCipherSpec
	pendingWrite *cipher.State
	preMaster    []byte // client: the ECDHE secret, until ClientKeyExchange is sent
	sessionID    []byte // the session ID the server assigned
	newTicket    []byte // a ticket from NewSessionTicket
	expectTicket bool
	issueTicket  bool // server: send a NewSessionTicket
}

// handshakeDTLS is what only a DTLS handshake keeps.
type handshakeDTLS struct {
	// earlyCCS: the peer's ChangeCipherSpec came ahead of handshake
	// messages it follows, and is read once they are.
	earlyCCS bool
	// verifyRequests counts HelloVerifyRequests (client).
	verifyRequests int
}

// hashTranscript13 chooses the transcript hash of a TLS 1.3 handshake,
// the suite's; over DTLS 1.3 the transcript drops the DTLS fields of its
// messages, the ClientHello buffered so far included (RFC 9147 §5.2).
func (c *Conn) hashTranscript13() {
	if c.transport.Datagram && c.transcript.Hash() == 0 { // not yet, as after a HelloRetryRequest
		c.transcript.DropDTLSFields()
	}
	c.transcript.SetHash(c.suite.Hash)
}

// deriveHandshakeSecrets derives the handshake traffic secrets once the
// shared secret and the transcript through ServerHello are known.
func (c *Conn) deriveHandshakeSecrets(shared []byte) {
	hs := c.hs
	hs.tls13.sched = c.transport.Labels.NewSchedule(c.suite.Hash, hs.tls13.psk)
	hs.tls13.sched.ToHandshake(shared)
	th := c.transcript.Digest()
	n := c.suite.Hash.Size()
	block := make([]byte, 0, 2*n) // both secrets in one allocation
	hs.tls13.clientHS = hs.tls13.sched.AppendDerive(block, cipher.LabelClientHandshake, th)
	hs.tls13.serverHS = hs.tls13.sched.AppendDerive(block[n:n], cipher.LabelServerHandshake, th)
	c.keyLog("CLIENT_HANDSHAKE_TRAFFIC_SECRET", hs.tls13.clientHS)
	c.keyLog("SERVER_HANDSHAKE_TRAFFIC_SECRET", hs.tls13.serverHS)
}

// deriveApplicationSecrets runs after the server Finished is in the
// transcript.
func (c *Conn) deriveApplicationSecrets() {
	hs := c.hs
	hs.tls13.sched.ToMaster()
	th := c.transcript.Digest()
	n := c.suite.Hash.Size()
	block := make([]byte, 0, 3*n) // the three secrets in one allocation
	c.tls13.clientAP = hs.tls13.sched.AppendDerive(block, cipher.LabelClientApplication, th)
	c.tls13.serverAP = hs.tls13.sched.AppendDerive(block[n:n], cipher.LabelServerApplication, th)
	c.tls13.exporter = hs.tls13.sched.AppendDerive(block[2*n:2*n], cipher.LabelExporterMaster, th)
	c.keyLog("CLIENT_TRAFFIC_SECRET_0", c.tls13.clientAP)
	c.keyLog("SERVER_TRAFFIC_SECRET_0", c.tls13.serverAP)
	c.keyLog("EXPORTER_SECRET", c.tls13.exporter)
}

// finishedMAC appends to dst the verify_data of a Finished sent with
// trafficSecret; 64 bytes of room take any hash.
func (c *Conn) finishedMAC(dst, trafficSecret []byte) []byte {
	return c.transport.Labels.AppendFinishedMAC(dst, c.suite.Hash, trafficSecret, c.transcript.Digest())
}

// checkFinished verifies a peer's Finished and adds it to the transcript.
func (c *Conn) checkFinished(m message, trafficSecret []byte) error {
	var fin flights.Finished
	if err := fin.Unmarshal(m.body); err != nil {
		return err
	}
	var want [64]byte
	if err := checkVerifyData(fin.VerifyData, c.finishedMAC(want[:0], trafficSecret)); err != nil {
		return err
	}
	c.transcript.Write(m.raw)
	return nil
}

// checkVerifyData compares a Finished's verify_data with ours: one of
// another length is malformed (decode_error), another value of the right
// length a failed check (decrypt_error).
func checkVerifyData(got, want []byte) error {
	switch {
	case len(got) != len(want):
		return alertf(record.AlertDecodeError, "Finished of %d bytes, not %d", len(got), len(want))
	case !hmac.Equal(got, want):
		return alertf(record.AlertDecryptError, "wrong Finished verify_data")
	}
	return nil
}

// sendFinished queues our Finished.
func (c *Conn) sendFinished(trafficSecret []byte) {
	var mac [64]byte
	fin := flights.Finished{VerifyData: c.finishedMAC(mac[:0], trafficSecret)}
	c.sendBuilt(fin.Append(c.msgBuffer()))
}

// sendCertificate queues our Certificate and, when it is not empty, our
// CertificateVerify.
func (c *Conn) sendCertificate(context string) error {
	hs := c.hs
	msg := flights.Certificate{}
	if hs.cert != nil {
		for _, der := range hs.cert.Certificate {
			msg.Entries = append(msg.Entries, flights.CertificateEntry{Data: der})
		}
	}
	c.sendBuilt(msg.Append(c.msgBuffer()))
	if hs.cert == nil {
		return nil
	}
	sig, err := sign(c.cfg.rand(), hs.cert.PrivateKey, hs.scheme, signedMessage(context, c.transcript.Digest()))
	if err != nil {
		return alertf(record.AlertInternalError, "signing: %v", err)
	}
	cv := flights.CertificateVerify{Algorithm: hs.scheme, Signature: sig}
	c.sendBuilt(cv.Append(c.msgBuffer()))
	return nil
}

// checkCertificateVerify verifies the peer's signature over the transcript.
func (c *Conn) checkCertificateVerify(m message, context string, offered []uint16) error {
	var cv flights.CertificateVerify
	if err := cv.Unmarshal(m.body); err != nil {
		return err
	}
	if !containsScheme(offered, cv.Algorithm) {
		return alertf(record.AlertIllegalParameter, "signature scheme %#04x was not offered", cv.Algorithm)
	}
	if err := verify(c.hs.peerKey, cv.Algorithm, signedMessage(context, c.transcript.Digest()), cv.Signature); err != nil {
		return err
	}
	c.transcript.Write(m.raw)
	return nil
}

func containsScheme(list []uint16, s uint16) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sessionGroup12 is the key exchange group a TLS 1.2 handshake reports
// and keeps in its session: its own, or, when it resumed, that of the
// handshake that made the session (as crypto/tls and BoringSSL report).
func (c *Conn) sessionGroup12() CurveID {
	if c.hs.resumed {
		return c.hs.session.Group
	}
	return c.hs.group
}

// completeHandshake has Config.VerifyConnection check the outcome, then
// records it and reports it.
func (c *Conn) completeHandshake() error {
	if err := c.verifyConnection(); err != nil {
		return err
	}
	c.handshakes++
	c.releaseWhenDrained = true
	c.resumed, c.retried = c.hs.resumed, c.hs.retried
	c.group = c.hs.group
	if c.version == VersionTLS12 {
		c.group = c.sessionGroup12()
	}
	// Over datagrams, the side that sent the handshake's last flight
	// cannot know the peer received it until the peer sends something
	// more; until then that flight must stay ready to be sent again, so
	// no new handshake (or DTLS 1.3 KeyUpdate) may replace it. The last
	// flight is the server's in a full TLS 1.2 handshake, the client's in
	// an abbreviated one, and the client's in TLS 1.3.
	sentLast := c.version == VersionTLS12 && c.isClient == c.hs.resumed || c.version == VersionTLS13 && c.isClient
	c.reneg.peerCompleted = !c.transport.Datagram || !sentLast
	// A DTLS 1.3 client's last flight is acknowledged, explicitly or by
	// the server's data, and sent again on the timer until it is.
	c.lastFlightUnacked = c.transport.Datagram && c.version == VersionTLS13 && c.isClient
	c.hs = nil
	if !sentLast {
		// The peer's last flight answered ours: nothing of ours is
		// sent again.
		c.layer.dropFlight()
	}
	c.layer.handshakeDone()
	if err := c.releaseHeld(); err != nil {
		c.fail(err)
	}
	c.events.push(Event{Kind: EventHandshakeDone, Version: c.transport.wireVersion(c.version), Suite: c.suite.ID,
		Group: c.group, Resumed: c.resumed, Handshake: c.handshakes})
	return nil
}

// verifyConnection runs Config.VerifyConnection on the state the
// handshake is about to report; its error fails the handshake with
// bad_certificate.
func (c *Conn) verifyConnection() error {
	if c.cfg.VerifyConnection == nil {
		return nil
	}
	cs := c.ConnectionState()
	cs.HandshakeComplete, cs.DidResume, cs.Handshakes = true, c.hs.resumed, c.handshakes+1
	cs.HelloRetryRequest = c.hs.retried
	cs.CurveID, cs.TLSUnique = c.hs.group, nil
	if c.version == VersionTLS12 {
		cs.CurveID, cs.TLSUnique = c.sessionGroup12(), c.tlsUnique(c.hs.resumed)
	}
	if err := c.cfg.VerifyConnection(cs); err != nil {
		return callbackError("VerifyConnection", err)
	}
	return nil
}

// callbackError is the failure of a verification callback: bad_certificate,
// unless err wraps another Alert (errors.As), which is sent instead.
func callbackError(name string, err error) error {
	alert := record.AlertBadCertificate
	errors.As(err, &alert)
	return &protocolError{alert: alert, msg: name + ": " + err.Error(), cause: err}
}

// binder computes a TLS 1.3 PSK binder (RFC 8446 §4.2.11.2) over the
// transcript hash up to the truncated ClientHello.
func binder(labels cipher.Labels, h crypto.Hash, psk, transcriptHash []byte) []byte {
	early := labels.NewSchedule(h, psk)
	key := early.Derive(cipher.LabelResumptionBinder, h.New().Sum(nil))
	return labels.FinishedMAC(h, key, transcriptHash)
}

// sessionCacheKey is the key of the client's session for this server.
func (c *Conn) sessionCacheKey() string { return c.cfg.ServerName }

// deliver hands application data to the caller.
func (c *Conn) deliver(m message) (State, error) {
	c.ku.inRow = 0
	if len(m.body) > 0 {
		c.events.push(Event{Kind: EventData, Data: m.body})
	}
	return c.state, nil
}
