package tls_test

import (
	gotls "crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// keyUpdateLog counts key update events seen through OnEvent.
type keyUpdateLog struct {
	mu       sync.Mutex
	sent     map[fsm.KeyUpdateType]int
	received map[fsm.KeyUpdateType]int
}

func watchKeyUpdates(c *tls.Conn) *keyUpdateLog {
	l := &keyUpdateLog{sent: map[fsm.KeyUpdateType]int{}, received: map[fsm.KeyUpdateType]int{}}
	c.OnEvent(func(ev fsm.Event) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev.Kind {
		case fsm.EventKeyUpdateSent:
			l.sent[ev.KeyUpdate]++
		case fsm.EventKeyUpdateReceived:
			l.received[ev.KeyUpdate]++
		}
	})
	return l
}

func (l *keyUpdateLog) counts() (sent, received map[fsm.KeyUpdateType]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.received
}

// exchangeWithUpdates runs 100 rounds of: alternate key update type,
// write a line, read its echo.
func exchangeWithUpdates(t *testing.T, c *tls.Conn) {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	for i := 0; i < 100; i++ {
		typ := tls.UpdateNotRequested
		if i%2 == 1 {
			typ = tls.UpdateRequested
		}
		require.NoError(t, c.KeyUpdate(typ))
		require.Equal(t, typ, c.PendingKeyUpdate())
		msg := fmt.Sprintf("line %03d %s\n", i, make([]byte, i*50))
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		require.Equal(t, tls.KeyUpdateNone, c.PendingKeyUpdate())
		got := make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, msg, string(got))
	}
}

func TestKeyUpdateWithGoServer(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	ln, err := gotls.Listen("tcp", "127.0.0.1:0", &gotls.Config{Certificates: []gotls.Certificate{cert.TLSCertificate()}})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	c := tls.Client(raw, &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
	defer c.Close()
	log := watchKeyUpdates(c)
	require.NoError(t, c.Handshake())
	exchangeWithUpdates(t, c)
	sent, received := log.counts()
	require.Equal(t, 50, sent[tls.UpdateNotRequested])
	require.Equal(t, 50, sent[tls.UpdateRequested])
	// crypto/tls answers each update_requested with update_not_requested.
	require.Equal(t, 50, received[tls.UpdateNotRequested])
}

func TestKeyUpdateWithGoClient(t *testing.T) {
	cert := testcert.MustNew(testcert.ECDSAP256)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := gotls.Dial("tcp", ln.Addr().String(), &gotls.Config{RootCAs: cert.CAPool, ServerName: "localhost"})
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	raw, err := ln.Accept()
	require.NoError(t, err)
	c := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}})
	defer c.Close()
	log := watchKeyUpdates(c)
	require.NoError(t, c.Handshake())
	exchangeWithUpdates(t, c)
	_, received := log.counts()
	require.Equal(t, 50, received[tls.UpdateNotRequested])
}

func TestKeyUpdateRefusedBeforeHandshake(t *testing.T) {
	a, _ := net.Pipe()
	c := tls.Client(a, &tls.Config{})
	require.ErrorIs(t, c.KeyUpdate(tls.UpdateRequested), fsm.ErrHandshakeIncomplete)
	require.ErrorIs(t, c.KeyUpdate(tls.KeyUpdateNone), fsm.ErrInvalidKeyUpdateType)
}
