package fsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"slices"

	"github.com/tlsm/tlsm/record"
)

// Signature schemes (RFC 8446 §4.2.3).
const (
	PKCS1WithSHA256        uint16 = 0x0401
	PKCS1WithSHA384        uint16 = 0x0501
	PKCS1WithSHA512        uint16 = 0x0601
	ECDSAWithP256AndSHA256 uint16 = 0x0403
	ECDSAWithP384AndSHA384 uint16 = 0x0503
	ECDSAWithP521AndSHA512 uint16 = 0x0603
	PSSWithSHA256          uint16 = 0x0804
	PSSWithSHA384          uint16 = 0x0805
	PSSWithSHA512          uint16 = 0x0806
	Ed25519                uint16 = 0x0807
)

// signatureSchemes is what we offer in signature_algorithms: the TLS 1.3
// handshake schemes, then PKCS#1 v1.5 for certificate signatures only.
var signatureSchemes = []uint16{
	ECDSAWithP256AndSHA256, Ed25519, PSSWithSHA256, ECDSAWithP384AndSHA384,
	PSSWithSHA384, PSSWithSHA512, ECDSAWithP521AndSHA512,
	PKCS1WithSHA256, PKCS1WithSHA384, PKCS1WithSHA512,
}

// hashOf returns the hash a scheme signs with (0 for Ed25519).
func hashOf(scheme uint16) crypto.Hash {
	switch scheme {
	case ECDSAWithP256AndSHA256, PSSWithSHA256, PKCS1WithSHA256:
		return crypto.SHA256
	case ECDSAWithP384AndSHA384, PSSWithSHA384, PKCS1WithSHA384:
		return crypto.SHA384
	case ECDSAWithP521AndSHA512, PSSWithSHA512, PKCS1WithSHA512:
		return crypto.SHA512
	}
	return 0
}

// schemesFor13 lists the TLS 1.3 CertificateVerify schemes a key can make.
func schemesFor13(pub crypto.PublicKey) []uint16 {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return schemesP256
		case elliptic.P384():
			return schemesP384
		case elliptic.P521():
			return schemesP521
		}
	case *rsa.PublicKey:
		return schemesRSAPSS
	case ed25519.PublicKey:
		return schemesEd25519
	}
	return nil
}

// The lists schemesFor13 returns, which its callers only read.
var (
	schemesP256    = []uint16{ECDSAWithP256AndSHA256}
	schemesP384    = []uint16{ECDSAWithP384AndSHA384}
	schemesP521    = []uint16{ECDSAWithP521AndSHA512}
	schemesRSAPSS  = []uint16{PSSWithSHA256, PSSWithSHA384, PSSWithSHA512}
	schemesEd25519 = []uint16{Ed25519}
)

// schemesFor12 lists the TLS 1.2 signature schemes a key can make: ECDSA
// with any hash, RSA with PSS or PKCS #1 v1.5, Ed25519.
func schemesFor12(pub crypto.PublicKey) []uint16 {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return []uint16{ECDSAWithP256AndSHA256, ECDSAWithP384AndSHA384, ECDSAWithP521AndSHA512}
	case *rsa.PublicKey:
		return []uint16{PSSWithSHA256, PSSWithSHA384, PSSWithSHA512, PKCS1WithSHA256, PKCS1WithSHA384, PKCS1WithSHA512}
	case ed25519.PublicKey:
		return []uint16{Ed25519}
	}
	return nil
}

// chooseScheme picks the first TLS 1.3 scheme of ours for the
// certificate that the peer accepts.
func chooseScheme(cert *Certificate, peer []uint16) (uint16, bool) {
	return pickScheme(schemesFor13(cert.PrivateKey.Public()), cert.SupportedSignatureAlgorithms, peer)
}

// pickScheme returns the first scheme of ours that the peer accepts: ours
// are those the key can make or, when the certificate restricts them,
// those of its list that the key can make, in the list's order.
func pickScheme(canMake, restrict, peer []uint16) (uint16, bool) {
	ours := canMake
	if restrict != nil {
		ours = restrict
	}
	for _, s := range ours {
		if slices.Contains(peer, s) && (restrict == nil || slices.Contains(canMake, s)) {
			return s, true
		}
	}
	return 0, false
}

// Contexts of TLS 1.3 CertificateVerify signatures.
const (
	serverSignatureContext = "TLS 1.3, server CertificateVerify\x00"
	clientSignatureContext = "TLS 1.3, client CertificateVerify\x00"
)

// signedMessage is the TLS 1.3 CertificateVerify input (RFC 8446 §4.4.3).
func signedMessage(context string, transcriptHash []byte) []byte {
	const pad = 64
	out := make([]byte, 0, pad+len(context)+len(transcriptHash))
	for i := 0; i < pad; i++ {
		out = append(out, 0x20)
	}
	out = append(out, context...)
	return append(out, transcriptHash...)
}

// digest returns the h hash of msg, or msg itself for h 0 (Ed25519).
func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case 0:
		return msg
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// sign signs msg with key under scheme.
func sign(rand io.Reader, key crypto.Signer, scheme uint16, msg []byte) ([]byte, error) {
	h := hashOf(scheme)
	var opts crypto.SignerOpts = h
	switch scheme {
	case PSSWithSHA256, PSSWithSHA384, PSSWithSHA512:
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	return key.Sign(rand, digest(h, msg), opts)
}

var errBadSignature = errors.New("tls: invalid signature")

// verify checks a TLS 1.3 signature sig over msg with pub under scheme.
func verify(pub crypto.PublicKey, scheme uint16, msg, sig []byte) error {
	return verifyWith(schemesFor13(pub), pub, scheme, msg, sig)
}

// verify12 checks a TLS 1.2 signature.
func verify12(pub crypto.PublicKey, scheme uint16, msg, sig []byte) error {
	return verifyWith(schemesFor12(pub), pub, scheme, msg, sig)
}

func verifyWith(allowed []uint16, pub crypto.PublicKey, scheme uint16, msg, sig []byte) error {
	if !slices.Contains(allowed, scheme) {
		return alertf(record.AlertIllegalParameter, "signature scheme %#04x does not fit the certificate key", scheme)
	}
	h := hashOf(scheme)
	d := digest(h, msg)
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, d, sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, d, sig)
	case *rsa.PublicKey:
		switch scheme {
		case PKCS1WithSHA256, PKCS1WithSHA384, PKCS1WithSHA512:
			ok = rsa.VerifyPKCS1v15(k, h, d, sig) == nil
		default:
			ok = rsa.VerifyPSS(k, h, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
	}
	if !ok {
		return &protocolError{alert: record.AlertDecryptError, msg: errBadSignature.Error()}
	}
	return nil
}

// ecdsaGroup12 returns the named group of an ECDSA key, which TLS 1.2
// ties to the client's supported_groups (RFC 8422 §5.1); ok is false for
// other keys, which it does not.
func ecdsaGroup12(pub crypto.PublicKey) (group uint16, ok bool) {
	k, isECDSA := pub.(*ecdsa.PublicKey)
	if !isECDSA {
		return 0, false
	}
	switch k.Curve {
	case elliptic.P256():
		return uint16(CurveP256), true
	case elliptic.P384():
		return uint16(CurveP384), true
	case elliptic.P521():
		return 25, true // secp521r1
	}
	return 0, true // a curve no group names
}

// fitsGroups12 reports whether a TLS 1.2 peer that sent groups (none:
// the extension was absent, and any curve may do) can take an ECDSA
// signature of pub.
func fitsGroups12(pub crypto.PublicKey, groups []uint16) bool {
	g, ok := ecdsaGroup12(pub)
	return !ok || len(groups) == 0 || slices.Contains(groups, g)
}

// certificateTypeOf12 returns the TLS 1.2 ClientCertificateType (RFC 5246
// §7.4.4, RFC 8422 §5.5) a client key signs as.
func certificateTypeOf12(pub crypto.PublicKey) byte {
	switch pub.(type) {
	case *rsa.PublicKey:
		return 1 // rsa_sign
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return 64 // ecdsa_sign, under which RFC 8422 also puts EdDSA
	}
	return 0
}
