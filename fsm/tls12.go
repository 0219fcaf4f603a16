package fsm

import (
	"crypto"
	"slices"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/flights"
	"github.com/tlsm/tlsm/record"
)

// Pieces shared by the TLS 1.2 client and server.

// renegotiationSCSV is TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746).
const renegotiationSCSV uint16 = 0x00ff

// Finished labels of TLS 1.2.
const (
	labelClientFinished = "client finished"
	labelServerFinished = "server finished"
)

// enterTLS12 fixes the version and suite once a TLS 1.2 ServerHello is
// sent or received, and starts the transcript.
func (c *Conn) enterTLS12(suite *cipher.Suite, clientHelloRaw []byte) {
	c.version = VersionTLS12
	c.suite = suite
	c.transcript.SetHash(suite.Hash)
	if clientHelloRaw != nil {
		c.addTranscript(clientHelloRaw)
	}
}

// establishKeys12 derives the master secret from the premaster secret (with
// the RFC 7627 session hash when extended master secret is in use, so the
// transcript must end with the ClientKeyExchange) and the pending keys.
func (c *Conn) establishKeys12(preMaster []byte) error {
	h := c.suite.Hash
	if c.tls12.ems {
		c.tls12.master = cipher.ExtendedMasterSecret12(h, preMaster, c.transcript.Digest())
	} else {
		c.tls12.master = cipher.MasterSecret12(h, preMaster, c.random[:], c.tls12.serverRandom[:])
	}
	c.keyLog("CLIENT_RANDOM", c.tls12.master)
	return c.derivePendingKeys12()
}

// derivePendingKeys12 makes the keys the next ChangeCipherSpecs switch to.
func (c *Conn) derivePendingKeys12() error {
	ck, sk, civ, siv := cipher.KeyBlock12(c.suite, c.tls12.master, c.random[:], c.tls12.serverRandom[:])
	client, err := cipher.NewState12(c.suite, ck, civ)
	if err != nil {
		return err
	}
	server, err := cipher.NewState12(c.suite, sk, siv)
	if err != nil {
		return err
	}
	if c.isClient {
		c.hs.tls12.pendingWrite, c.hs.tls12.pendingRead = client, server
	} else {
		c.hs.tls12.pendingWrite, c.hs.tls12.pendingRead = server, client
	}
	return nil
}

// sendChangeCipherSpec12 sends ChangeCipherSpec and switches to the
// pending write keys.
func (c *Conn) sendChangeCipherSpec12() error {
	if err := c.layer.flush(); err != nil {
		return err
	}
	if err := c.layer.writeRecord(record.TypeChangeCipherSpec, []byte{1}); err != nil {
		return err
	}
	st := c.hs.tls12.pendingWrite
	c.hs.tls12.pendingWrite = nil
	return c.layer.setWriteState(st, nil)
}

// changeCipherSpec12 switches to the pending read keys.
func (c *Conn) changeCipherSpec12(message) (State, error) {
	if c.hs.tls12.pendingRead == nil {
		return 0, alertf(record.AlertUnexpectedMessage, "ChangeCipherSpec before the keys are known")
	}
	c.setReadState(c.hs.tls12.pendingRead, nil)
	c.hs.tls12.pendingRead = nil
	if c.isClient {
		return StateClientWaitFinished12, nil
	}
	return StateServerWaitFinished12, nil
}

// finishedLabels returns the label of our Finished and of the peer's.
func (c *Conn) finishedLabels() (ours, peers string) {
	if c.isClient {
		return labelClientFinished, labelServerFinished
	}
	return labelServerFinished, labelClientFinished
}

// sendFinished12 sends ChangeCipherSpec and our Finished.
func (c *Conn) sendFinished12() error {
	if err := c.sendChangeCipherSpec12(); err != nil {
		return err
	}
	label, _ := c.finishedLabels()
	verify := cipher.VerifyData12(c.suite.Hash, c.tls12.master, label, c.transcript.Digest())
	c.rememberVerifyData(true, verify)
	fin := flights.Finished{VerifyData: verify}
	c.sendBuilt(fin.Append(c.msgBuffer()))
	return c.layer.flush()
}

// checkFinished12 verifies the peer's Finished.
func (c *Conn) checkFinished12(m message) error {
	var fin flights.Finished
	if err := fin.Unmarshal(m.body); err != nil {
		return err
	}
	_, label := c.finishedLabels()
	want := cipher.VerifyData12(c.suite.Hash, c.tls12.master, label, c.transcript.Digest())
	if err := checkVerifyData(fin.VerifyData, want); err != nil {
		return err
	}
	c.rememberVerifyData(false, want)
	c.addTranscript(m.raw)
	return nil
}

// rememberVerifyData keeps the verify_data RFC 5746 binds renegotiations to.
func (c *Conn) rememberVerifyData(ours bool, verify []byte) {
	if ours == c.isClient {
		c.reneg.clientVerify = verify
	} else {
		c.reneg.serverVerify = verify
	}
}

// certificateFitsSuite12 reports whether a certificate key can
// authenticate a TLS 1.2 suite: ECDSA suites take ECDSA and Ed25519 keys,
// RSA suites RSA keys.
func certificateFitsSuite12(s *cipher.Suite, pub any) bool {
	schemes := schemesFor12(pub)
	if len(schemes) == 0 {
		return false
	}
	isRSA := slices.Contains(schemes, PKCS1WithSHA256)
	return s.ECDSA != isRSA
}

// certificateEntries gives a TLS 1.2 Certificate the TLS 1.3 shape.
func certificateEntries(msg *flights.Certificate12) []flights.CertificateEntry {
	entries := make([]flights.CertificateEntry, len(msg.Certificates))
	for i, der := range msg.Certificates {
		entries[i].Data = der
	}
	return entries
}

// signatureSchemes12 are the schemes we accept in TLS 1.2 signatures.
var signatureSchemes12 = []uint16{
	ECDSAWithP256AndSHA256, Ed25519, PSSWithSHA256, ECDSAWithP384AndSHA384,
	PSSWithSHA384, PSSWithSHA512, ECDSAWithP521AndSHA512,
	PKCS1WithSHA256, PKCS1WithSHA384, PKCS1WithSHA512,
}

// chooseScheme12 picks the first TLS 1.2 scheme of ours for the
// certificate, whose public key is pub, that the peer accepts.
func chooseScheme12(cert *Certificate, pub crypto.PublicKey, peer []uint16) (uint16, bool) {
	return pickScheme(schemesFor12(pub), cert.SupportedSignatureAlgorithms, peer)
}
