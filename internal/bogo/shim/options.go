package main

// options is what the runner's flags ask of one connection. Flags without
// a prefix apply to every connection; -on-initial- and -on-resume- ones
// to the first connection or to the resumptions.
type options struct {
	// The runner's socket.
	port   int
	ipv6   bool
	shimID uint64

	server            bool
	dtls              bool
	resumeCount       int
	async             bool
	implicitHandshake bool

	// Versions, as the runner's wire values.
	minVersion, maxVersion int
	noTLS13, noTLS12       bool
	expectVersion          int
	expectCurveID          int
	tlsUnique              bool

	// Credentials: the default one, and those -new-x509-credential adds,
	// which the flags after it describe. expectCredential is the number
	// of the credential the handshake must have signed with (-1: the
	// default, or none) when expectCredentialSet.
	defaultCredential   credential
	credentials         []credential
	expectCredential    int
	expectCredentialSet bool

	// Peer authentication.
	requireAnyClientCert bool
	verifyPeer           bool
	verifyFail           bool
	reverifyOnResume     bool
	expectVerifyResult   bool
	expectPeerCertFile   string
	expectPeerVerifyPref []int

	// ALPN, in the wire format of a protocol list for advertiseALPN and
	// expectAdvertisedALPN.
	advertiseALPN        string
	expectALPN           string
	selectALPN           string
	declineALPN          bool
	expectAdvertisedALPN string

	hostName         string
	expectServerName string
	curves           []int
	cipher           string
	expectCipher     int
	srtpProfiles     string
	mtu              int
	initialTimeoutMS int

	// Sessions.
	expectSessionMiss   bool
	noTicket            bool
	expectNoSession     bool
	expectTicketRenewal bool
	expectSessionID     bool
	expectNoSessionID   bool
	resumptionDelay     int

	// Early data: tlsm neither sends nor accepts it, so a server asked to
	// enable it still declines every attempt.
	enableEarlyData        bool
	expectRejectEarlyData  bool
	expectNoOfferEarlyData bool

	expectHRR   bool
	expectNoHRR bool

	// What the shim does once connected.
	shimWritesFirst           bool
	shimShutsDown             bool
	checkCloseNotify          bool
	keyUpdate                 bool
	writeDifferentRecordSizes bool
	handshakeTwice            bool
	noOpExtraHandshake        bool

	exportKeyingMaterial int
	exportLabel          string
	exportContext        string
	useExportContext     bool
	// useExporterBetweenReads exports one byte with no label and no
	// context after every read, as BoringSSL's shim does.
	useExporterBetweenReads bool

	renegotiateOnce           bool
	renegotiateFreely         bool
	expectTotalRenegotiations int
}

// credential is a certificate chain and key, with the signature schemes
// the key may sign with (all when empty).
type credential struct {
	certFile, keyFile string
	signingPrefs      []int
}

// credential returns the credential the flags describe now: the last one
// added, or the default.
func (o *options) credential() *credential {
	if len(o.credentials) > 0 {
		return &o.credentials[len(o.credentials)-1]
	}
	return &o.defaultCredential
}
