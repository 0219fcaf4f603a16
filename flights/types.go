package flights

import "strconv"

// MsgType is a handshake message type (RFC 8446 §4).
type MsgType uint8

// Handshake message types.
const (
	TypeHelloRequest        MsgType = 0
	TypeClientHello         MsgType = 1
	TypeServerHello         MsgType = 2
	TypeHelloVerifyRequest  MsgType = 3
	TypeNewSessionTicket    MsgType = 4
	TypeEndOfEarlyData      MsgType = 5
	TypeEncryptedExtensions MsgType = 8
	TypeCertificate         MsgType = 11
	TypeServerKeyExchange   MsgType = 12
	TypeCertificateRequest  MsgType = 13
	TypeServerHelloDone     MsgType = 14
	TypeCertificateVerify   MsgType = 15
	TypeClientKeyExchange   MsgType = 16
	TypeFinished            MsgType = 20
	TypeKeyUpdate           MsgType = 24
	TypeMessageHash         MsgType = 254
)

var msgTypeNames = map[MsgType]string{
	TypeHelloRequest:        "hello_request",
	TypeClientHello:         "client_hello",
	TypeServerHello:         "server_hello",
	TypeHelloVerifyRequest:  "hello_verify_request",
	TypeNewSessionTicket:    "new_session_ticket",
	TypeEndOfEarlyData:      "end_of_early_data",
	TypeEncryptedExtensions: "encrypted_extensions",
	TypeCertificate:         "certificate",
	TypeServerKeyExchange:   "server_key_exchange",
	TypeCertificateRequest:  "certificate_request",
	TypeServerHelloDone:     "server_hello_done",
	TypeCertificateVerify:   "certificate_verify",
	TypeClientKeyExchange:   "client_key_exchange",
	TypeFinished:            "finished",
	TypeKeyUpdate:           "key_update",
	TypeMessageHash:         "message_hash",
}

// String returns the RFC name of the type, e.g. "client_hello".
func (t MsgType) String() string {
	if s, ok := msgTypeNames[t]; ok {
		return s
	}
	return "msg_type(" + strconv.Itoa(int(t)) + ")"
}

// Extension types (IANA TLS ExtensionType registry).
const (
	ExtServerName              uint16 = 0
	ExtStatusRequest           uint16 = 5
	ExtSupportedGroups         uint16 = 10
	ExtECPointFormats          uint16 = 11
	ExtSignatureAlgorithms     uint16 = 13
	ExtALPN                    uint16 = 16
	ExtUseSRTP                 uint16 = 14
	ExtSCT                     uint16 = 18
	ExtExtendedMasterSecret    uint16 = 23
	ExtSessionTicket           uint16 = 35
	ExtPreSharedKey            uint16 = 41
	ExtEarlyData               uint16 = 42
	ExtSupportedVersions       uint16 = 43
	ExtCookie                  uint16 = 44
	ExtPSKModes                uint16 = 45
	ExtCertificateAuthorities  uint16 = 47
	ExtSignatureAlgorithmsCert uint16 = 50
	ExtKeyShare                uint16 = 51
	ExtConnectionID            uint16 = 54
	ExtRRC                     uint16 = 61 // RFC 9853
	ExtRenegotiationInfo       uint16 = 0xff01
)

// KeyShare is one KeyShareEntry: a named group and its key exchange value.
type KeyShare struct {
	Group uint16
	Data  []byte
}

// PSKIdentity is one identity offered in a ClientHello pre_shared_key
// extension.
type PSKIdentity struct {
	Identity            []byte
	ObfuscatedTicketAge uint32
}
