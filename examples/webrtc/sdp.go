package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// offer is what the answerer needs of a browser's SDP offer for one data
// channel: the ICE credentials and candidates, the DTLS fingerprint and
// role, and the media section's identification tag.
type offer struct {
	ufrag, pwd  string
	fingerprint [sha256.Size]byte // of the browser's certificate
	setup       string            // actpass, active or passive
	mid         string
	candidates  []string // a=candidate values, "candidate:" prefix kept
}

// parseOffer reads an SDP offer with one application (data channel) media
// section. It needs ICE credentials, a SHA-256 fingerprint and a setup
// attribute; it does not validate the rest of the SDP.
func parseOffer(sdp string) (*offer, error) {
	o := &offer{}
	haveFingerprint, haveApplication := false, false
	for line := range strings.Lines(sdp) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "m=") {
			if !strings.HasPrefix(line, "m=application ") {
				return nil, fmt.Errorf("sdp: only a data channel is answered, not %q", line)
			}
			haveApplication = true
		}
		attr, ok := strings.CutPrefix(line, "a=")
		if !ok {
			continue
		}
		name, value, _ := strings.Cut(attr, ":")
		switch name {
		case "ice-ufrag":
			o.ufrag = value
		case "ice-pwd":
			o.pwd = value
		case "setup":
			o.setup = value
		case "mid":
			o.mid = value
		case "candidate":
			o.candidates = append(o.candidates, "candidate:"+value)
		case "fingerprint":
			fp, err := parseFingerprint(value)
			if err != nil {
				return nil, err
			}
			o.fingerprint, haveFingerprint = fp, true
		}
	}
	switch {
	case !haveApplication:
		return nil, errors.New("sdp: no application media section")
	case o.ufrag == "" || o.pwd == "":
		return nil, errors.New("sdp: no ICE credentials")
	case !haveFingerprint:
		return nil, errors.New("sdp: no sha-256 fingerprint")
	case o.setup == "":
		return nil, errors.New("sdp: no setup attribute")
	}
	return o, nil
}

// parseFingerprint reads the value of an a=fingerprint attribute,
// "sha-256 AB:CD:...", the only hash function browsers use today.
func parseFingerprint(value string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	hash, hexPairs, ok := strings.Cut(value, " ")
	if !ok || !strings.EqualFold(hash, "sha-256") {
		return fp, fmt.Errorf("sdp: fingerprint %q is not sha-256", value)
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(hexPairs, ":", ""))
	if err != nil || len(raw) != sha256.Size {
		return fp, fmt.Errorf("sdp: bad sha-256 fingerprint %q", hexPairs)
	}
	copy(fp[:], raw)
	return fp, nil
}

// formatFingerprint is the a=fingerprint value for a certificate of DER
// encoding der.
func formatFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return "sha-256 " + strings.Join(pairs, ":")
}

// answer is what goes into our SDP answer.
type answer struct {
	sessionID   uint64
	ufrag, pwd  string
	fingerprint string // formatFingerprint's value
	setup       string // active: we are the DTLS client; passive: the server
	mid         string
	candidates  []string // "candidate:..." values
}

// sctpPort is the SCTP port of our data channels, as browsers use
// (a=sctp-port, RFC 8841).
const sctpPort = 5000

// maxMessageSize is the largest data channel message we announce.
const maxMessageSize = 65536

// String renders the answer as SDP, one data channel section over
// UDP/DTLS/SCTP with all our candidates.
func (a *answer) String() string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	line("v=0")
	line("o=- %d 2 IN IP4 127.0.0.1", a.sessionID)
	line("s=-")
	line("t=0 0")
	line("a=group:BUNDLE %s", a.mid)
	line("m=application 9 UDP/DTLS/SCTP webrtc-datachannel")
	line("c=IN IP4 0.0.0.0")
	line("a=mid:%s", a.mid)
	line("a=ice-ufrag:%s", a.ufrag)
	line("a=ice-pwd:%s", a.pwd)
	line("a=fingerprint:%s", a.fingerprint)
	line("a=setup:%s", a.setup)
	line("a=sctp-port:%d", sctpPort)
	line("a=max-message-size:%d", maxMessageSize)
	for _, c := range a.candidates {
		line("a=%s", c)
	}
	line("a=end-of-candidates")
	return b.String()
}
