package tls_test

import (
	"bytes"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tlsm/tlsm/internal/peers"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/tls"
)

// TestKeyLogDecryptsAfterKeyUpdates captures a TLS 1.3 connection with
// three key updates on loopback and checks that tshark, given our NSS key
// log, decrypts the application data sent under every key.
func TestKeyLogDecryptsAfterKeyUpdates(t *testing.T) {
	peers.Need(t, "tshark")
	messages := []string{"before any update", "after update one", "after update two", "after update three"}
	// A capture that starts late under load sees nothing; that says
	// nothing about the key log, so it is tried again.
	for attempt := 1; attempt <= 3; attempt++ {
		res := captureKeyUpdates(t, messages)
		if res.packets == 0 {
			t.Logf("attempt %d: the capture saw no packets; trying again", attempt)
			continue
		}
		for _, msg := range messages {
			// Each message appears twice: sent, then echoed.
			require.Equal(t, 2, count(res.decrypted, msg), "decrypted: %q", res.decrypted)
		}
		// Three updates from the client, and the server's answer to the
		// requested one.
		require.Equal(t, 4, res.updates, res.out)
		return
	}
	t.Fatal("tshark captured nothing in three attempts")
}

type captureResult struct {
	packets, updates int
	decrypted        []string
	out              string
}

// captureKeyUpdates runs one connection with three key updates under a
// capture and reads the capture back decrypted with our key log.
func captureKeyUpdates(t *testing.T, messages []string) captureResult {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "capture.pcapng")
	keyLog := filepath.Join(dir, "keys.log")
	cert := testcert.MustNew(testcert.ECDSAP256)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: cert.CertDER, PrivateKey: cert.Key}}})
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	capture := exec.Command("tshark", "-i", "lo", "-f", "tcp port "+strconv.Itoa(port), "-w", pcap)
	var capErr lockedBuffer
	capture.Stderr = &capErr
	require.NoError(t, capture.Start())
	defer capture.Process.Kill()
	require.Eventually(t, func() bool { return strings.Contains(capErr.String(), "Capturing on") }, 20*time.Second, 50*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // the filter is set a moment after the banner

	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	f, err := os.Create(keyLog)
	require.NoError(t, err)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: cert.CAPool, ServerName: "localhost", KeyLogWriter: f})
	require.NoError(t, err)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i, msg := range messages {
		if i > 0 {
			typ := tls.UpdateNotRequested
			if i == 2 {
				typ = tls.UpdateRequested
			}
			require.NoError(t, c.KeyUpdate(typ))
		}
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		echo := make([]byte, len(msg))
		_, err = io.ReadFull(c, echo)
		require.NoError(t, err)
	}
	c.Close()
	f.Close()
	time.Sleep(500 * time.Millisecond) // let the last packets reach the capture
	capture.Process.Signal(syscall.SIGINT)
	capture.Wait()

	out, err := exec.Command("tshark", "-r", pcap, "-o", "tls.keylog_file:"+keyLog,
		"-T", "fields", "-e", "frame.number", "-e", "tls.handshake.type", "-e", "data.data").CombinedOutput()
	require.NoError(t, err, string(out))
	res := captureResult{out: string(out)}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) < 3 {
			continue
		}
		res.packets++
		res.updates += strings.Count(fields[1], "24")
		for _, h := range strings.Split(fields[2], ",") {
			if b, err := hex.DecodeString(h); err == nil && len(b) > 0 {
				res.decrypted = append(res.decrypted, string(b))
			}
		}
	}
	return res
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
