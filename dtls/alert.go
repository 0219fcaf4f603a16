package dtls

import "github.com/tlsm/tlsm/fsm"

// The alert types and names of package fsm, so that a dtls user need not
// import it to inspect an error: errors.Is(err, dtls.AlertBadCertificate),
// errors.As(err, &ae) with ae an AlertError, or crypto/tls's AlertError
// and CertificateVerificationError.
type (
	Alert                        = fsm.Alert
	AlertLevel                   = fsm.AlertLevel
	AlertError                   = fsm.AlertError
	CertificateVerificationError = fsm.CertificateVerificationError
)

// Alert levels and descriptions.
const (
	AlertLevelWarning                 = fsm.AlertLevelWarning
	AlertLevelFatal                   = fsm.AlertLevelFatal
	AlertCloseNotify                  = fsm.AlertCloseNotify
	AlertUnexpectedMessage            = fsm.AlertUnexpectedMessage
	AlertBadRecordMAC                 = fsm.AlertBadRecordMAC
	AlertRecordOverflow               = fsm.AlertRecordOverflow
	AlertHandshakeFailure             = fsm.AlertHandshakeFailure
	AlertBadCertificate               = fsm.AlertBadCertificate
	AlertUnsupportedCertificate       = fsm.AlertUnsupportedCertificate
	AlertCertificateRevoked           = fsm.AlertCertificateRevoked
	AlertCertificateExpired           = fsm.AlertCertificateExpired
	AlertCertificateUnknown           = fsm.AlertCertificateUnknown
	AlertIllegalParameter             = fsm.AlertIllegalParameter
	AlertUnknownCA                    = fsm.AlertUnknownCA
	AlertAccessDenied                 = fsm.AlertAccessDenied
	AlertDecodeError                  = fsm.AlertDecodeError
	AlertDecryptError                 = fsm.AlertDecryptError
	AlertProtocolVersion              = fsm.AlertProtocolVersion
	AlertInsufficientSecurity         = fsm.AlertInsufficientSecurity
	AlertInternalError                = fsm.AlertInternalError
	AlertInappropriateFallback        = fsm.AlertInappropriateFallback
	AlertUserCanceled                 = fsm.AlertUserCanceled
	AlertNoRenegotiation              = fsm.AlertNoRenegotiation
	AlertMissingExtension             = fsm.AlertMissingExtension
	AlertUnsupportedExtension         = fsm.AlertUnsupportedExtension
	AlertUnrecognizedName             = fsm.AlertUnrecognizedName
	AlertBadCertificateStatusResponse = fsm.AlertBadCertificateStatusResponse
	AlertUnknownPSKIdentity           = fsm.AlertUnknownPSKIdentity
	AlertCertificateRequired          = fsm.AlertCertificateRequired
	AlertNoApplicationProtocol        = fsm.AlertNoApplicationProtocol
)
