package main

import "strconv"

// The reasons a flag cannot be honoured, shared by families of flags.
const (
	noQUIC        = "QUIC: tlsm has no QUIC API"
	noPSK         = "external PSKs: no Config field for them"
	noECH         = "Encrypted ClientHello: not implemented"
	noNPN         = "NPN: not implemented"
	noFalseStart  = "False Start: not implemented"
	noChannelID   = "Channel ID: not implemented"
	noALPS        = "ALPS (application settings): not implemented"
	noOCSP        = "OCSP stapling: not implemented"
	noSCT         = "signed certificate timestamps: not implemented"
	noCompression = "certificate compression: not implemented"
	noSplit       = "split handshakes (handshaker, hints): not implemented"
	noDelegated   = "delegated credentials: not implemented"
	noEarlyData   = "0-RTT: tlsm neither sends nor accepts early data"
	noPolicy      = "compliance policies: not implemented"
	noTicketKeyCB = "session ticket key callbacks: not implemented"
	noSHA256Cert  = "keeping only a hash of the client certificate: not implemented"
)

// flagTable lists every flag of BoringSSL's shim (ssl/test/test_config.cc
// at the pinned version) with what tlsm's shim does with it.
var flagTable = map[string]flagDef{
	"-port":                    intFlag(func(o *options) *int { return &o.port }),
	"-ipv6":                    boolFlag(func(o *options) *bool { return &o.ipv6 }),
	"-shim-id":                 {param: true, set: setShimID},
	"-server":                  boolFlag(func(o *options) *bool { return &o.server }),
	"-dtls":                    boolFlag(func(o *options) *bool { return &o.dtls }),
	"-quic":                    missing(false, noQUIC),
	"-resume-count":            intFlag(func(o *options) *int { return &o.resumeCount }),
	"-write-settings":          missing(true, "transcripts for BoringSSL's fuzzers"),
	"-fallback-scsv":           missing(false, "sending TLS_FALLBACK_SCSV: no Config field"),
	"-verify-prefs":            missing(true, "a Config field for the signature algorithms accepted from the peer"),
	"-curves":                  intListFlag(func(o *options) *[]int { return &o.curves }),
	"-expect-peer-verify-pref": intListFlag(func(o *options) *[]int { return &o.expectPeerVerifyPref }),
	"-trust-cert":              ignored(true, "BoringSSL's shim ignores it too: peers are checked by the verify callback"),
	"-expect-server-name":      stringFlag(func(o *options) *string { return &o.expectServerName }),
	"-enable-ech-grease":       missing(false, noECH),
	"-ech-server-config":       missing(true, noECH),
	"-ech-server-key":          missing(true, noECH),
	"-ech-is-retry-config":     missing(true, noECH),
	"-expect-ech-accept":       missing(false, noECH),

	"-expect-ech-name-override":       missing(true, noECH),
	"-expect-no-ech-name-override":    missing(false, noECH),
	"-expect-ech-retry-configs":       missing(true, noECH),
	"-expect-no-ech-retry-configs":    missing(false, noECH),
	"-ech-config-list":                missing(true, noECH),
	"-expect-certificate-types":       missing(true, "the certificate_types of a CertificateRequest: no API shows the request to a client"),
	"-require-any-client-certificate": boolFlag(func(o *options) *bool { return &o.requireAnyClientCert }),
	"-advertise-npn":                  missing(true, noNPN),
	"-expect-next-proto":              missing(true, noNPN),
	"-false-start":                    missing(false, noFalseStart),
	"-select-next-proto":              missing(true, noNPN),
	"-async":                          boolFlag(func(o *options) *bool { return &o.async }),
	"-write-different-record-sizes":   boolFlag(func(o *options) *bool { return &o.writeDifferentRecordSizes }),
	"-cbc-record-splitting":           missing(false, "CBC suites: not implemented"),
	"-partial-write":                  missing(false, "partial writes: Write always takes everything"),
	"-no-tls13":                       boolFlag(func(o *options) *bool { return &o.noTLS13 }),
	"-no-tls12":                       boolFlag(func(o *options) *bool { return &o.noTLS12 }),
	"-no-tls11":                       ignored(false, "tlsm has no TLS 1.1"),
	"-no-tls1":                        ignored(false, "tlsm has no TLS 1.0"),
	"-no-ticket":                      boolFlag(func(o *options) *bool { return &o.noTicket }),
	"-expect-channel-id":              missing(true, noChannelID),
	"-enable-channel-id":              missing(false, noChannelID),
	"-send-channel-id":                missing(true, noChannelID),
	"-shim-writes-first":              boolFlag(func(o *options) *bool { return &o.shimWritesFirst }),
	"-host-name":                      stringFlag(func(o *options) *string { return &o.hostName }),
	"-advertise-alpn":                 stringFlag(func(o *options) *string { return &o.advertiseALPN }),
	"-expect-alpn":                    stringFlag(func(o *options) *string { return &o.expectALPN }),
	"-expect-advertised-alpn":         stringFlag(func(o *options) *string { return &o.expectAdvertisedALPN }),
	"-select-alpn":                    stringFlag(func(o *options) *string { return &o.selectALPN }),
	"-decline-alpn":                   boolFlag(func(o *options) *bool { return &o.declineALPN }),
	"-reject-alpn":                    missing(false, "a server ALPN choice that fails the handshake: no callback"),
	"-select-empty-alpn":              missing(false, "a server ALPN choice of the empty protocol: no callback"),
	"-defer-alps":                     missing(false, noALPS),
	"-application-settings":           missing(true, noALPS),

	"-expect-peer-application-settings": missing(true, noALPS),
	"-alps-use-new-codepoint":           missing(false, noALPS),
	"-quic-transport-params":            missing(true, noQUIC),
	"-expect-quic-transport-params":     missing(true, noQUIC),
	"-quic-use-legacy-codepoint":        missing(true, noQUIC),
	"-expect-session-miss":              boolFlag(func(o *options) *bool { return &o.expectSessionMiss }),
	"-expect-extended-master-secret":    missing(false, "a ConnectionState field saying whether extended master secret (RFC 7627) is in use"),
	"-psk":                              missing(true, noPSK),
	"-psk-identity":                     missing(true, noPSK),
	"-srtp-profiles":                    stringFlag(func(o *options) *string { return &o.srtpProfiles }),
	"-enable-ocsp-stapling":             missing(false, noOCSP),
	"-enable-signed-cert-timestamps":    missing(false, noSCT),
	"-expect-signed-cert-timestamps":    missing(true, noSCT),
	"-min-version":                      intFlag(func(o *options) *int { return &o.minVersion }),
	"-max-version":                      intFlag(func(o *options) *int { return &o.maxVersion }),
	"-expect-version":                   intFlag(func(o *options) *int { return &o.expectVersion }),
	"-mtu":                              intFlag(func(o *options) *int { return &o.mtu }),
	"-implicit-handshake":               boolFlag(func(o *options) *bool { return &o.implicitHandshake }),
	"-use-early-callback":               missing(false, "a callback on the ClientHello before any processing"),
	"-fail-early-callback":              missing(false, "a callback on the ClientHello before any processing"),
	"-install-ddos-callback":            missing(false, "a callback that may refuse a ClientHello"),
	"-fail-ddos-callback":               missing(false, "a callback that may refuse a ClientHello"),
	"-fail-cert-callback":               missing(false, "a client certificate callback that fails the handshake"),
	"-cipher":                           stringFlag(func(o *options) *string { return &o.cipher }),
	"-handshake-never-done":             missing(false, "a BoringSSL test hook"),
	"-export-keying-material":           intFlag(func(o *options) *int { return &o.exportKeyingMaterial }),
	"-export-label":                     stringFlag(func(o *options) *string { return &o.exportLabel }),
	"-export-context":                   stringFlag(func(o *options) *string { return &o.exportContext }),
	"-use-export-context":               boolFlag(func(o *options) *bool { return &o.useExportContext }),
	"-tls-unique":                       boolFlag(func(o *options) *bool { return &o.tlsUnique }),
	"-expect-ticket-renewal":            boolFlag(func(o *options) *bool { return &o.expectTicketRenewal }),
	"-expect-no-session":                boolFlag(func(o *options) *bool { return &o.expectNoSession }),

	"-expect-ticket-supports-early-data": missing(false, noEarlyData),
	"-expect-accept-early-data":          missing(false, noEarlyData),
	"-expect-reject-early-data":          boolFlag(func(o *options) *bool { return &o.expectRejectEarlyData }),
	"-expect-no-offer-early-data":        boolFlag(func(o *options) *bool { return &o.expectNoOfferEarlyData }),
	"-use-ticket-callback":               missing(false, noTicketKeyCB),
	"-renew-ticket":                      missing(false, noTicketKeyCB),
	"-enable-early-data":                 boolFlag(func(o *options) *bool { return &o.enableEarlyData }),
	"-expect-ocsp-response":              missing(true, noOCSP),
	"-check-close-notify":                boolFlag(func(o *options) *bool { return &o.checkCloseNotify }),
	"-shim-shuts-down":                   boolFlag(func(o *options) *bool { return &o.shimShutsDown }),
	"-verify-fail":                       boolFlag(func(o *options) *bool { return &o.verifyFail }),
	"-verify-peer":                       boolFlag(func(o *options) *bool { return &o.verifyPeer }),
	"-verify-peer-if-no-obc":             missing(false, noChannelID),
	"-expect-verify-result":              boolFlag(func(o *options) *bool { return &o.expectVerifyResult }),
	"-expect-total-renegotiations":       intFlag(func(o *options) *int { return &o.expectTotalRenegotiations }),
	"-renegotiate-once":                  boolFlag(func(o *options) *bool { return &o.renegotiateOnce }),
	"-renegotiate-freely":                boolFlag(func(o *options) *bool { return &o.renegotiateFreely }),
	"-renegotiate-ignore":                missing(false, "a renegotiation policy that ignores HelloRequest"),
	"-renegotiate-explicit":              missing(false, "a renegotiation policy where the caller answers HelloRequest"),

	"-forbid-renegotiation-after-handshake": missing(false, "changing the renegotiation policy of a Conn after its handshake"),
	"-expect-peer-signature-algorithm":      missing(true, "a ConnectionState field with the peer's signature algorithm"),
	"-expect-curve-id":                      intFlag(func(o *options) *int { return &o.expectCurveID }),
	"-use-old-client-cert-callback":         ignored(false, "a client offers Certificates when asked, as the callback would"),
	"-initial-timeout-duration-ms":          intFlag(func(o *options) *int { return &o.initialTimeoutMS }),
	"-use-client-ca-list":                   missing(true, "certificate_authorities lists: not implemented"),
	"-expect-client-ca-list":                missing(true, "certificate_authorities lists: not implemented"),
	"-send-alert":                           missing(false, "sending an arbitrary alert: no API"),
	"-peek-then-read":                       missing(false, "peeking at application data: no API"),
	"-enable-grease":                        missing(false, "GREASE: not implemented"),
	"-permute-extensions":                   missing(false, "permuting ClientHello extensions: not implemented"),
	"-max-cert-list":                        missing(true, "a Config bound on the peer's certificate chain size"),
	"-ticket-key":                           missing(true, "BoringSSL's 48-byte ticket keys: tlsm's SessionTicketKeys are 32-byte secrets"),
	"-use-exporter-between-reads":           boolFlag(func(o *options) *bool { return &o.useExporterBetweenReads }),
	"-expect-cipher-aes":                    missing(true, "whether suites are ordered for AES hardware: no API"),
	"-expect-cipher-no-aes":                 missing(true, "whether suites are ordered for AES hardware: no API"),
	"-expect-cipher":                        intFlag(func(o *options) *int { return &o.expectCipher }),
	"-expect-peer-cert-file":                stringFlag(func(o *options) *string { return &o.expectPeerCertFile }),
	"-resumption-delay":                     intFlag(func(o *options) *int { return &o.resumptionDelay }),
	"-retain-only-sha256-client-cert":       missing(false, noSHA256Cert),
	"-expect-sha256-client-cert":            missing(false, noSHA256Cert),
	"-read-with-unfinished-write":           missing(false, "a Write left unfinished (non-blocking output): the core takes every Write whole"),
	"-expect-secure-renegotiation":          missing(false, "a ConnectionState field saying whether RFC 5746 is in use"),
	"-expect-no-secure-renegotiation":       missing(false, "a ConnectionState field saying whether RFC 5746 is in use"),
	"-max-send-fragment":                    missing(true, "a Config bound on the size of records sent"),
	"-read-size":                            missing(true, "reading a record into a short buffer: the shim reads whole records"),
	"-expect-session-id":                    boolFlag(func(o *options) *bool { return &o.expectSessionID }),
	"-expect-no-session-id":                 boolFlag(func(o *options) *bool { return &o.expectNoSessionID }),
	"-expect-ticket-age-skew":               missing(true, "a ConnectionState field with the TLS 1.3 ticket age skew"),
	"-no-op-extra-handshake":                boolFlag(func(o *options) *bool { return &o.noOpExtraHandshake }),
	"-handshake-twice":                      boolFlag(func(o *options) *bool { return &o.handshakeTwice }),
	"-allow-unknown-alpn-protos":            missing(false, "a server ALPN choice the client did not offer: no callback"),
	"-use-custom-verify-callback":           ignored(false, "VerifyPeerCertificate is tlsm's one verify callback"),
	"-expect-msg-callback":                  missing(true, "BoringSSL's message callback trace"),
	"-allow-false-start-without-alpn":       missing(false, noFalseStart),
	"-handoff":                              missing(false, noSplit),
	"-handshake-hints":                      missing(false, noSplit),
	"-allow-hint-mismatch":                  missing(false, noSplit),
	"-use-ocsp-callback":                    missing(false, noOCSP),
	"-set-ocsp-in-callback":                 missing(false, noOCSP),
	"-decline-ocsp-callback":                missing(false, noOCSP),
	"-fail-ocsp-callback":                   missing(false, noOCSP),
	"-install-cert-compression-algs":        missing(false, noCompression),
	"-install-one-cert-compression-alg":     missing(true, noCompression),
	"-reverify-on-resume":                   boolFlag(func(o *options) *bool { return &o.reverifyOnResume }),
	"-ignore-rsa-key-usage":                 missing(false, "a switch for the RSA keyUsage check"),
	"-expect-key-usage-invalid":             missing(false, "reporting that a peer's keyUsage was ignored"),
	"-is-handshaker-supported":              ignored(false, "answered before any other flag"),
	"-handshaker-resume":                    missing(false, noSplit),
	"-handshaker-path":                      missing(true, noSplit),
	"-jdk11-workaround":                     missing(false, "the JDK 11 workaround: not implemented"),
	"-server-preference":                    missing(false, "a Config switch for the server's cipher suite order: tlsm takes the client's"),
	"-export-traffic-secrets":               missing(false, "access to the TLS 1.3 traffic secrets"),
	"-key-update":                           boolFlag(func(o *options) *bool { return &o.keyUpdate }),
	"-expect-early-data-reason":             missing(true, "a ConnectionState field saying why early data was declined"),
	"-expect-hrr":                           boolFlag(func(o *options) *bool { return &o.expectHRR }),
	"-expect-no-hrr":                        boolFlag(func(o *options) *bool { return &o.expectNoHRR }),
	"-wait-for-debugger":                    missing(false, "debugging"),
	"-quic-early-data-context":              missing(true, noQUIC),
	"-early-write-after-message":            missing(true, noEarlyData),
	"-fips-202205":                          missing(false, noPolicy),
	"-wpa-202304":                           missing(false, noPolicy),

	"-no-check-client-certificate-type": missing(false, "a switch for the TLS 1.2 client certificate type check"),
	"-no-check-ecdsa-curve":             missing(false, "a switch for the TLS 1.2 ECDSA curve check"),
	"-expect-selected-credential":       {param: true, set: setExpectCredential},
	"-new-x509-credential":              {set: func(o *options, _ string) error { o.credentials = append(o.credentials, credential{}); return nil }},
	"-new-delegated-credential":         missing(false, noDelegated),
	"-cert-file":                        stringFlag(func(o *options) *string { return &o.credential().certFile }),
	"-key-file":                         stringFlag(func(o *options) *string { return &o.credential().keyFile }),
	"-signing-prefs":                    intListFlag(func(o *options) *[]int { return &o.credential().signingPrefs }),
	"-delegated-credential":             missing(true, noDelegated),
	"-ocsp-response":                    missing(true, noOCSP),
	"-signed-cert-timestamps":           missing(true, noSCT),
}

func setExpectCredential(o *options, v string) error {
	var err error
	o.expectCredential, err = strconv.Atoi(v)
	o.expectCredentialSet = true
	return err
}

func setShimID(o *options, v string) error {
	var err error
	o.shimID, err = strconv.ParseUint(v, 10, 64)
	return err
}
