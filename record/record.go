package record

import (
	"encoding/binary"
	"strconv"
)

// ContentType is the type byte of a record.
type ContentType uint8

// Record content types.
const (
	TypeChangeCipherSpec ContentType = 20
	TypeAlert            ContentType = 21
	TypeHandshake        ContentType = 22
	TypeApplicationData  ContentType = 23
	// TypeConnectionID is tls12_cid, the outer type of a DTLS 1.2 record
	// carrying a Connection ID (RFC 9146 §4); the real type is inside.
	TypeConnectionID ContentType = 25
	// TypeACK is a DTLS 1.3 ACK record (RFC 9147 §7), which
	// acknowledges records carrying handshake messages.
	TypeACK ContentType = 26
	// TypeReturnRoutabilityCheck carries the path_challenge,
	// path_response and path_drop messages of RFC 9853.
	TypeReturnRoutabilityCheck ContentType = 27
)

// String returns the RFC name of the content type.
func (t ContentType) String() string {
	switch t {
	case TypeChangeCipherSpec:
		return "change_cipher_spec"
	case TypeAlert:
		return "alert"
	case TypeHandshake:
		return "handshake"
	case TypeApplicationData:
		return "application_data"
	case TypeConnectionID:
		return "tls12_cid"
	case TypeACK:
		return "ack"
	case TypeReturnRoutabilityCheck:
		return "return_routability_check"
	}
	return "content_type(" + strconv.Itoa(int(t)) + ")"
}

// Limits of the record layer (RFC 8446 §5.1, §5.2).
const (
	// HeaderLen is the length of a TLS record header.
	HeaderLen = 5
	// MaxPlaintext is the largest plaintext fragment, 2^14 bytes.
	MaxPlaintext = 1 << 14
	// MaxCiphertext13 is the largest TLS 1.3 protected fragment, 2^14+256.
	MaxCiphertext13 = MaxPlaintext + 256
	// MaxCiphertext12 is the largest TLS 1.2 protected fragment, 2^14+2048.
	MaxCiphertext12 = MaxPlaintext + 2048
)

// Version values that appear on the wire.
const (
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// Record is one record as read from the wire. Payload aliases the reader's
// buffer and may be decrypted in place.
type Record struct {
	Type    ContentType
	Version uint16
	// Header is the 5-byte header, the additional data of TLS 1.3 protection.
	Header  []byte
	Payload []byte
}

// AppendHeader appends a record header for a fragment of length n.
func AppendHeader(dst []byte, typ ContentType, version uint16, n int) []byte {
	dst = append(dst, byte(typ))
	dst = binary.BigEndian.AppendUint16(dst, version)
	return binary.BigEndian.AppendUint16(dst, uint16(n))
}

// AppendPlain appends an unprotected record carrying payload, which must not
// exceed MaxPlaintext.
func AppendPlain(dst []byte, typ ContentType, version uint16, payload []byte) []byte {
	dst = AppendHeader(dst, typ, version, len(payload))
	return append(dst, payload...)
}
