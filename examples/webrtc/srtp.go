package main

import (
	"fmt"

	"github.com/tlsm/tlsm/fsm"
)

// srtpPreference lists the DTLS-SRTP profiles we offer as a client and
// choose from as a server, in order: AES-GCM first (RFC 7714), then the
// profile every WebRTC endpoint has.
var srtpPreference = []uint16{
	fsm.SRTP_AEAD_AES_128_GCM,
	fsm.SRTP_AEAD_AES_256_GCM,
	fsm.SRTP_AES128_CM_HMAC_SHA1_80,
}

// srtpProfile is what a DTLS-SRTP profile takes from the exporter: a
// master key and a master salt for each direction.
type srtpProfile struct {
	name    string // the IANA name, which getStats() reports as srtpCipher
	keyLen  int
	saltLen int
}

// srtpProfiles are the profiles of RFC 5764 §4.1.2 and RFC 7714 §14.2.
var srtpProfiles = map[uint16]srtpProfile{
	fsm.SRTP_AES128_CM_HMAC_SHA1_80: {"SRTP_AES128_CM_HMAC_SHA1_80", 16, 14},
	fsm.SRTP_AES128_CM_HMAC_SHA1_32: {"SRTP_AES128_CM_HMAC_SHA1_32", 16, 14},
	fsm.SRTP_AEAD_AES_128_GCM:       {"SRTP_AEAD_AES_128_GCM", 16, 12},
	fsm.SRTP_AEAD_AES_256_GCM:       {"SRTP_AEAD_AES_256_GCM", 32, 12},
}

// SRTPProfileName returns the IANA name of a DTLS-SRTP profile, as
// browsers report it.
func SRTPProfileName(id uint16) string {
	if p, ok := srtpProfiles[id]; ok {
		return p.name
	}
	return fmt.Sprintf("0x%04x", id)
}

// SRTPKeyingMaterialLen is how many bytes of keying material the profile
// takes from the exporter: 2 × (key + salt), or 0 for an unknown profile.
func SRTPKeyingMaterialLen(id uint16) int {
	p := srtpProfiles[id]
	return 2 * (p.keyLen + p.saltLen)
}

// srtpLabel is the exporter label of DTLS-SRTP (RFC 5764 §4.2).
const srtpLabel = "EXTRACTOR-dtls_srtp"

// SRTPKeys are the SRTP master keys and salts of both directions.
type SRTPKeys struct {
	Profile               uint16
	ClientKey, ClientSalt []byte
	ServerKey, ServerSalt []byte
	KeyingMaterialLen     int
}

// keyingMaterialExporter is what deriveSRTPKeys needs of a connection.
type keyingMaterialExporter interface {
	ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error)
}

// deriveSRTPKeys exports the keying material of the negotiated profile
// and cuts it as RFC 5764 §4.2 lays it out: client key, server key,
// client salt, server salt.
func deriveSRTPKeys(conn keyingMaterialExporter, profile uint16) (*SRTPKeys, error) {
	p, ok := srtpProfiles[profile]
	if !ok {
		return nil, fmt.Errorf("srtp: no profile negotiated (%#04x)", profile)
	}
	n := SRTPKeyingMaterialLen(profile)
	m, err := conn.ExportKeyingMaterial(srtpLabel, nil, n)
	if err != nil {
		return nil, fmt.Errorf("srtp: exporter: %w", err)
	}
	if len(m) != n {
		return nil, fmt.Errorf("srtp: exporter gave %d bytes, want %d", len(m), n)
	}
	k, s := p.keyLen, p.saltLen
	return &SRTPKeys{
		Profile:           profile,
		ClientKey:         m[:k],
		ServerKey:         m[k : 2*k],
		ClientSalt:        m[2*k : 2*k+s],
		ServerSalt:        m[2*k+s:],
		KeyingMaterialLen: len(m),
	}, nil
}
