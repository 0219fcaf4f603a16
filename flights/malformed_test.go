package flights

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/record"
)

// ext encodes one extension with the given body.
func ext(typ uint16, body ...byte) []byte {
	b := newBuilder(nil)
	addExtension(b, typ, func(b *builder) { b.addBytes(body) })
	return b.mustBytes()
}

// helloHead is version 0x0303, a 32-byte random and an empty session id.
func helloHead(random []byte) []byte {
	return append(append([]byte{0x03, 0x03}, random...), 0x00)
}

// chBody builds a ClientHello body with one cipher suite, null compression
// and the given encoded extensions.
func chBody(exts ...[]byte) []byte {
	b := newBuilder(helloHead(fill(1, 32)))
	addList16(b, []uint16{0x1301})
	addBytes8(b, []byte{0})
	b.addPrefixed16(func(b *builder) {
		for _, e := range exts {
			b.addBytes(e)
		}
	})
	return b.mustBytes()
}

// shBody builds a ServerHello body with the given random and extensions.
func shBody(random []byte, exts ...[]byte) []byte {
	b := newBuilder(helloHead(random))
	b.addUint16(0x1301)
	b.addUint8(0)
	b.addPrefixed16(func(b *builder) {
		for _, e := range exts {
			b.addBytes(e)
		}
	})
	return b.mustBytes()
}

// pskExt builds a pre_shared_key extension with one identity and the
// given binders.
func pskExt(binders ...[]byte) []byte {
	b := newBuilder(nil)
	addExtension(b, ExtPreSharedKey, func(b *builder) {
		b.addPrefixed16(func(b *builder) {
			addBytes16(b, []byte("id"))
			b.addUint32(0)
		})
		b.addPrefixed16(func(b *builder) {
			for _, x := range binders {
				addBytes8(b, x)
			}
		})
	})
	return b.mustBytes()
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestMalformed(t *testing.T) {
	hrr := HelloRetryRequestRandom[:]
	rnd := fill(2, 32)
	cases := []struct {
		name string
		typ  MsgType
		body []byte
		want record.Alert
	}{
		{"ch empty", TypeClientHello, nil, record.AlertDecodeError},
		{"ch short random", TypeClientHello, cat([]byte{3, 3}, fill(1, 10)), record.AlertDecodeError},
		{"ch session id 33", TypeClientHello, cat([]byte{3, 3}, fill(1, 32), []byte{33}, fill(0, 33), []byte{0, 2, 0x13, 0x01, 1, 0}), record.AlertDecodeError},
		{"ch no cipher suites", TypeClientHello, cat(helloHead(rnd), []byte{0, 0, 1, 0}), record.AlertDecodeError},
		{"ch odd cipher suites", TypeClientHello, cat(helloHead(rnd), []byte{0, 3, 0x13, 0x01, 0x13, 1, 0}), record.AlertDecodeError},
		{"ch no compression", TypeClientHello, cat(helloHead(rnd), []byte{0, 2, 0x13, 0x01, 0}), record.AlertDecodeError},
		{"ch trailing byte", TypeClientHello, cat(chBody(), []byte{0}), record.AlertDecodeError},
		{"ch extension overruns block", TypeClientHello, cat(helloHead(rnd), []byte{0, 2, 0x13, 0x01, 1, 0, 0, 4, 0, 10, 0, 9}), record.AlertDecodeError},
		{"ch duplicate extension", TypeClientHello, chBody(ext(ExtExtendedMasterSecret), ext(ExtExtendedMasterSecret)), record.AlertIllegalParameter},
		{"ch duplicate unknown extension", TypeClientHello, chBody(ext(0x1234), ext(0x1234, 1)), record.AlertIllegalParameter},
		{"ch psk not last", TypeClientHello, chBody(pskExt(fill(5, 32)), ext(ExtExtendedMasterSecret)), record.AlertIllegalParameter},
		{"ch psk binder count", TypeClientHello, chBody(pskExt(fill(5, 32), fill(6, 32))), record.AlertIllegalParameter},
		{"ch psk short binder", TypeClientHello, chBody(pskExt(fill(5, 31))), record.AlertDecodeError},
		{"ch psk no binders", TypeClientHello, chBody(pskExt()), record.AlertDecodeError},
		{"ch empty supported_versions", TypeClientHello, chBody(ext(ExtSupportedVersions, 0)), record.AlertDecodeError},
		{"ch supported_versions trailing", TypeClientHello, chBody(ext(ExtSupportedVersions, 2, 3, 4, 0)), record.AlertDecodeError},
		{"ch key share empty key", TypeClientHello, chBody(ext(ExtKeyShare, 0, 4, 0, 0x1d, 0, 0)), record.AlertDecodeError},
		{"ch extended_master_secret body", TypeClientHello, chBody(ext(ExtExtendedMasterSecret, 0)), record.AlertDecodeError},
		{"ch empty server_name list", TypeClientHello, chBody(ext(ExtServerName, 0, 0)), record.AlertDecodeError},
		{"ch two host names", TypeClientHello, chBody(ext(ExtServerName, 0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b')), record.AlertIllegalParameter},
		{"ch empty alpn name", TypeClientHello, chBody(ext(ExtALPN, 0, 1, 0)), record.AlertDecodeError},
		{"ch empty signature_algorithms", TypeClientHello, chBody(ext(ExtSignatureAlgorithms, 0, 0)), record.AlertDecodeError},
		{"ch empty cookie", TypeClientHello, chBody(ext(ExtCookie, 0, 0)), record.AlertDecodeError},
		{"sh short random", TypeServerHello, cat([]byte{3, 3}, fill(1, 31)), record.AlertDecodeError},
		{"sh no compression method", TypeServerHello, cat(helloHead(rnd), []byte{0x13, 0x01}), record.AlertDecodeError},
		{"sh supported_versions as list", TypeServerHello, shBody(rnd, ext(ExtSupportedVersions, 2, 3, 4)), record.AlertDecodeError},
		{"sh key share group only", TypeServerHello, shBody(rnd, ext(ExtKeyShare, 0, 0x1d)), record.AlertDecodeError},
		{"sh two alpn names", TypeServerHello, shBody(rnd, ext(ExtALPN, 0, 6, 2, 'h', '2', 2, 'h', '3')), record.AlertDecodeError},
		{"sh duplicate extension", TypeServerHello, shBody(rnd, ext(ExtSupportedVersions, 3, 4), ext(ExtSupportedVersions, 3, 4)), record.AlertIllegalParameter},
		{"hrr key share entry", TypeServerHello, shBody(hrr, ext(ExtKeyShare, 0, 0x1d, 0, 1, 9)), record.AlertDecodeError},
		{"hrr empty key share", TypeServerHello, shBody(hrr, ext(ExtKeyShare)), record.AlertDecodeError},
		{"hrr empty cookie", TypeServerHello, shBody(hrr, ext(ExtCookie, 0, 0)), record.AlertDecodeError},
		{"ee no block", TypeEncryptedExtensions, nil, record.AlertDecodeError},
		{"ee server_name with body", TypeEncryptedExtensions, cat([]byte{0, 5}, ext(ExtServerName, 0)), record.AlertDecodeError},
		{"ee trailing byte", TypeEncryptedExtensions, []byte{0, 0, 0}, record.AlertDecodeError},
		{"cr without signature_algorithms", TypeCertificateRequest, []byte{0, 0, 0}, record.AlertMissingExtension},
		{"cr empty authorities", TypeCertificateRequest, cat([]byte{0, 0, 14}, sigalgs(), ext(ExtCertificateAuthorities, 0, 0)), record.AlertDecodeError},
		{"cert trailing byte", TypeCertificate, []byte{0, 0, 0, 0, 0}, record.AlertDecodeError},
		{"cert empty entry data", TypeCertificate, []byte{0, 0, 0, 5, 0, 0, 0, 0, 0}, record.AlertDecodeError},
		{"cert entry truncated", TypeCertificate, []byte{0, 0, 0, 5, 0, 0, 2, 0x30, 0x00}, record.AlertDecodeError},
		{"cert entry duplicate extension", TypeCertificate, cat([]byte{0, 0, 0, 14, 0, 0, 1, 0x30, 0, 8}, ext(ExtSCT+100), ext(ExtSCT+100)), record.AlertIllegalParameter},
		{"cert ocsp wrong status type", TypeCertificate, cat([]byte{0, 0, 0, 15, 0, 0, 1, 0x30, 0, 9}, ext(ExtStatusRequest, 2, 0, 0, 1, 7)), record.AlertDecodeError},
		{"cv truncated signature", TypeCertificateVerify, []byte{8, 4, 0, 4, 1, 2, 3}, record.AlertDecodeError},
		{"finished empty", TypeFinished, nil, record.AlertDecodeError},
		{"nst empty ticket", TypeNewSessionTicket, cat(fill(0, 8), []byte{0, 0, 0, 0, 0}), record.AlertDecodeError},
		{"nst early_data short", TypeNewSessionTicket, cat(fill(0, 8), []byte{0, 0, 1, 7, 0, 6}, ext(ExtEarlyData, 0, 0)), record.AlertDecodeError},
		{"key update empty", TypeKeyUpdate, nil, record.AlertDecodeError},
		{"key update two bytes", TypeKeyUpdate, []byte{1, 0}, record.AlertDecodeError},
		{"end_of_early_data with body", TypeEndOfEarlyData, []byte{0}, record.AlertDecodeError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := newMessage(tc.typ).Unmarshal(tc.body)
			require.Error(t, err)
			require.Equal(t, tc.want, err)
		})
	}
}

// TestMalformedBaseline checks that the helpers above build valid messages,
// so that each malformed case fails for the reason it names.
func TestMalformedBaseline(t *testing.T) {
	hrr := HelloRetryRequestRandom[:]
	require.NoError(t, new(ClientHello).Unmarshal(chBody(pskExt(fill(5, 32)))))
	require.NoError(t, new(ClientHello).Unmarshal(chBody(ext(ExtServerName, 0, 4, 0, 0, 1, 'a'))))
	require.NoError(t, new(ServerHello).Unmarshal(shBody(hrr, ext(ExtKeyShare, 0, 0x1d))))
	require.NoError(t, new(ServerHello).Unmarshal(shBody(fill(2, 32), ext(ExtKeyShare, 0, 0x1d, 0, 1, 9))))
	require.NoError(t, new(CertificateRequest).Unmarshal(cat([]byte{0, 0, 8}, sigalgs())))
	require.NoError(t, new(Certificate).Unmarshal([]byte{0, 0, 0, 6, 0, 0, 1, 0x30, 0, 0}))
	require.NoError(t, new(NewSessionTicket).Unmarshal(cat(fill(0, 8), []byte{0, 0, 1, 7, 0, 8}, ext(ExtEarlyData, 0, 0, 0, 1))))
	require.NoError(t, new(KeyUpdate).Unmarshal([]byte{7}))
}

func sigalgs() []byte { return ext(ExtSignatureAlgorithms, 0x00, 0x02, 0x04, 0x03) }

// TestTrailingBytesInExtensions: bytes after the vector an extension
// holds, or inside it past its last entry, make the message malformed:
// server_name, certificate_authorities, ec_point_formats.
func TestTrailingBytesInExtensions(t *testing.T) {
	sni := []byte{0, 12, 0, 0, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't'}
	var ok ClientHello
	require.NoError(t, ok.Unmarshal(chBody(ext(ExtServerName, sni...))))
	require.Equal(t, "localhost", ok.ServerName)
	for name, body := range map[string][]byte{
		"server_name, a byte after the list":   chBody(ext(ExtServerName, append(append([]byte(nil), sni...), 0)...)),
		"server_name, a byte inside the list":  chBody(ext(ExtServerName, 0, 13, 0, 0, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0)),
		"ec_point_formats, a byte after it":    chBody(ext(ExtECPointFormats, 1, 0, 0)),
		"supported_groups, an odd byte inside": chBody(ext(ExtSupportedGroups, 0, 3, 0, 29, 0)),
	} {
		var ch ClientHello
		require.ErrorIs(t, ch.Unmarshal(body), record.AlertDecodeError, name)
	}

	// certificate_authorities in a TLS 1.3 CertificateRequest.
	cr := func(cas ...byte) []byte {
		b := newBuilder(nil)
		addBytes8(b, nil)
		b.addPrefixed16(func(b *builder) {
			b.addBytes(ext(ExtSignatureAlgorithms, 0, 2, 4, 3))
			b.addBytes(ext(ExtCertificateAuthorities, cas...))
		})
		return b.mustBytes()
	}
	var good CertificateRequest
	require.NoError(t, good.Unmarshal(cr(0, 4, 0, 2, 0x30, 0)))
	for _, cas := range [][]byte{{0, 4, 0, 2, 0x30, 0, 9}, {0, 5, 0, 2, 0x30, 0, 9}} {
		var m CertificateRequest
		require.ErrorIs(t, m.Unmarshal(cr(cas...)), record.AlertDecodeError, "%x", cas)
	}
}
