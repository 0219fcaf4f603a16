// Package dtls will put tlsm's state machine on datagrams (DTLS 1.2 and
// 1.3). It is not implemented yet; the stream adapter is package tls.
package dtls
