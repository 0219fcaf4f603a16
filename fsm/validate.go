package fsm

import (
	"errors"
	"fmt"

	"github.com/tlsm/tlsm/cipher"
	"github.com/tlsm/tlsm/record"
)

// ErrInvalidConfig is matched (errors.Is) by the error a Conn fails with
// when its Config names what tlsm does not implement, or enables no
// version (that error also matches ErrUnsupportedVersion). A client's
// Start fails with it and sends nothing; a server answers the ClientHello
// with internal_error, or protocol_version when no version is enabled.
var ErrInvalidConfig = errors.New("tls: invalid configuration")

// configError is a Config mistake; version marks one of the version range.
type configError struct {
	msg     string
	version bool
}

func (e *configError) Error() string { return "tls: invalid configuration: " + e.msg }

// Is matches ErrInvalidConfig, and ErrUnsupportedVersion for a version
// range that enables nothing.
func (e *configError) Is(target error) bool {
	return target == ErrInvalidConfig || e.version && target == ErrUnsupportedVersion
}

// validate checks what the Config names against what tlsm implements
// over transport t, so that a mistake reads as one rather than as a
// handshake failure.
func (c *Config) validate(t *transport) error {
	for _, id := range c.CurvePreferences {
		if !groupKnown(id) {
			return &configError{msg: fmt.Sprintf("CurvePreferences: group %#04x is not implemented", uint16(id))}
		}
	}
	for _, id := range c.CipherSuites {
		if cipher.SuiteByID(id) == nil {
			return &configError{msg: fmt.Sprintf("CipherSuites: suite %#04x is not implemented", id)}
		}
	}
	lo, hi := c.versionRange(t)
	switch {
	case lo > hi:
		return &configError{msg: fmt.Sprintf("MinVersion %s is above MaxVersion %s", VersionName(lo), VersionName(hi)), version: true}
	case !c.versionEnabled(t, VersionTLS13) && !c.versionEnabled(t, VersionTLS12):
		return &configError{msg: "no version in [MinVersion, MaxVersion] has an enabled suite", version: true}
	case !c.versionEnabled(t, VersionTLS13) && !hasClassical(c.curves()):
		return &configError{msg: "CurvePreferences: only hybrid groups, which TLS 1.2 cannot use"}
	}
	return nil
}

// hasClassical reports whether curves list an ECDH group.
func hasClassical(curves []CurveID) bool {
	for _, id := range curves {
		if curveOf(id) != nil {
			return true
		}
	}
	return false
}

// serverConfigError is what a server with a Config mistake answers a
// ClientHello with: protocol_version when it enables no version, else
// internal_error, with the mistake as the cause.
func serverConfigError(err error) error {
	alert := record.AlertInternalError
	if errors.Is(err, ErrUnsupportedVersion) {
		alert = record.AlertProtocolVersion
	}
	return &protocolError{alert: alert, msg: err.Error(), cause: err}
}
