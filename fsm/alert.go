package fsm

import (
	gotls "crypto/tls"

	"github.com/tlsm/tlsm/record"
)

// Alert is a TLS alert description and AlertLevel its level; they are
// the record layer's, named here too so that users need not import it.
type (
	Alert      = record.Alert
	AlertLevel = record.AlertLevel
)

// Alert levels.
const (
	AlertLevelWarning = record.LevelWarning
	AlertLevelFatal   = record.LevelFatal
)

// Alert descriptions (RFC 8446 §6, RFC 5246 §7.2). Each is an error, so
// errors.Is(err, fsm.AlertBadCertificate) tells a connection that ended
// on that alert, sent or received.
const (
	AlertCloseNotify                  = record.AlertCloseNotify
	AlertUnexpectedMessage            = record.AlertUnexpectedMessage
	AlertBadRecordMAC                 = record.AlertBadRecordMAC
	AlertRecordOverflow               = record.AlertRecordOverflow
	AlertHandshakeFailure             = record.AlertHandshakeFailure
	AlertBadCertificate               = record.AlertBadCertificate
	AlertUnsupportedCertificate       = record.AlertUnsupportedCertificate
	AlertCertificateRevoked           = record.AlertCertificateRevoked
	AlertCertificateExpired           = record.AlertCertificateExpired
	AlertCertificateUnknown           = record.AlertCertificateUnknown
	AlertIllegalParameter             = record.AlertIllegalParameter
	AlertUnknownCA                    = record.AlertUnknownCA
	AlertAccessDenied                 = record.AlertAccessDenied
	AlertDecodeError                  = record.AlertDecodeError
	AlertDecryptError                 = record.AlertDecryptError
	AlertProtocolVersion              = record.AlertProtocolVersion
	AlertInsufficientSecurity         = record.AlertInsufficientSecurity
	AlertInternalError                = record.AlertInternalError
	AlertInappropriateFallback        = record.AlertInappropriateFallback
	AlertUserCanceled                 = record.AlertUserCanceled
	AlertNoRenegotiation              = record.AlertNoRenegotiation
	AlertMissingExtension             = record.AlertMissingExtension
	AlertUnsupportedExtension         = record.AlertUnsupportedExtension
	AlertUnrecognizedName             = record.AlertUnrecognizedName
	AlertBadCertificateStatusResponse = record.AlertBadCertificateStatusResponse
	AlertUnknownPSKIdentity           = record.AlertUnknownPSKIdentity
	AlertCertificateRequired          = record.AlertCertificateRequired
	AlertNoApplicationProtocol        = record.AlertNoApplicationProtocol
)

// AlertError is the alert a connection ended on, sent or received.
//
// errors.Is matches it against its description, so errors.Is(err,
// fsm.AlertBadRecordMAC) works. errors.As finds it as *AlertError or as an
// AlertError value, and as crypto/tls's AlertError (the description), so
// code written for crypto/tls reads it unchanged. A sent alert wraps what
// made us send it: a failed certificate verification is reached with
// errors.As(err, &*tls.CertificateVerificationError) and, through it, the
// x509 error (x509.HostnameError, x509.UnknownAuthorityError, ...).
type AlertError struct {
	Level       AlertLevel
	Description Alert
	// Received is true for an alert the peer sent, false for one we sent.
	Received bool
	// Err is what made us send the alert, if known.
	Err error
	// DTLS is set on a DTLS connection's alert; Error then says "dtls:".
	DTLS bool
}

// Error describes the alert and its direction.
func (e AlertError) Error() string {
	prefix, dir := "tls: ", "sent"
	if e.DTLS {
		prefix = "dtls: "
	}
	if e.Received {
		dir = "received"
	}
	msg := prefix + dir + " " + e.Level.String() + " alert " + e.Description.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause of a sent alert.
func (e *AlertError) Unwrap() error { return e.Err }

// Is reports whether target is the same alert description.
func (e *AlertError) Is(target error) bool {
	if a, ok := target.(Alert); ok {
		return a == e.Description
	}
	return false
}

// As sets an AlertError value or a crypto/tls AlertError target from e.
func (e *AlertError) As(target any) bool {
	switch t := target.(type) {
	case *AlertError:
		*t = *e
		return true
	case *gotls.AlertError:
		*t = gotls.AlertError(e.Description)
		return true
	}
	return false
}

// CertificateVerificationError is crypto/tls's: a peer certificate chain
// that failed verification, the x509 error in Err. A sent AlertError
// wraps it.
type CertificateVerificationError = gotls.CertificateVerificationError
