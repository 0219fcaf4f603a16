package tls_test

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tlsm/tlsm/fsm"
	"github.com/tlsm/tlsm/internal/testcert"
	"github.com/tlsm/tlsm/internal/testconn"
	"github.com/tlsm/tlsm/tls"
)

// mib is the amount of application data moved in each direction.
const mib = 1 << 20

// maxWrite bounds the size of a single random application-data write.
const maxWrite = 20000

// ioTimeout bounds every connection in these tests, so nothing hangs.
const ioTimeout = 30 * time.Second

// tlsmCert converts a test certificate into tlsm's form (full chain).
func tlsmCert(c *testcert.Cert) tls.Certificate {
	return tls.Certificate{Certificate: c.CertDER, PrivateKey: c.Key, Leaf: c.Leaf}
}

// seedFor derives a reproducible seed from a test name.
func seedFor(name string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, name)
	return h.Sum64()
}

// randomBytes returns n bytes from a ChaCha8 stream seeded with seed.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "tlsm interop data stream")
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// randomLines returns at least n bytes of newline-terminated lines of
// printable ASCII (0x20..0x7e), each 1..maxLine characters long before its
// newline, and never the line "CLOSE" (which openssl s_server -rev treats
// as a command).
func randomLines(seed uint64, n, maxLine int) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x11e5))
	var b bytes.Buffer
	b.Grow(n + maxLine + 1)
	for b.Len() < n {
		l := 1 + rng.IntN(maxLine)
		start := b.Len()
		for range l {
			b.WriteByte(byte(0x20 + rng.IntN(0x7f-0x20)))
		}
		if string(b.Bytes()[start:]) == "CLOSE" {
			b.Truncate(start)
			continue
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// reverseLines reverses every newline-terminated line, as s_server -rev does.
func reverseLines(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\n')
		line := in[:i]
		for j := len(line) - 1; j >= 0; j-- {
			out = append(out, line[j])
		}
		out = append(out, '\n')
		in = in[i+1:]
	}
	return out
}

// writeRandomly writes data in writes of 1..maxWrite bytes chosen by a PCG
// seeded with seed.
func writeRandomly(w io.Writer, data []byte, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(maxWrite))
		m, err := w.Write(data[:n])
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if m != n {
			return fmt.Errorf("short write: %d of %d", m, n)
		}
		data = data[n:]
	}
	return nil
}

// transfer writes out (in random-sized writes) while concurrently reading
// exactly wantLen bytes, and returns what it read.
func transfer(conn io.ReadWriter, out []byte, wantLen int, seed uint64) ([]byte, error) {
	werr := make(chan error, 1)
	go func() { werr <- writeRandomly(conn, out, seed) }()
	got := make([]byte, wantLen)
	_, rerr := io.ReadFull(conn, got)
	if err := <-werr; err != nil {
		return got, err
	}
	if rerr != nil {
		return got, fmt.Errorf("read: %w", rerr)
	}
	return got, nil
}

// checkSame returns an error naming the first differing offset.
func checkSame(what string, want, got []byte) error {
	if bytes.Equal(want, got) {
		return nil
	}
	n := min(len(want), len(got))
	for i := range n {
		if want[i] != got[i] {
			return fmt.Errorf("%s: first difference at byte %d of %d (got %d bytes)", what, i, len(want), len(got))
		}
	}
	return fmt.Errorf("%s: got %d bytes, want %d", what, len(got), len(want))
}

// expectEOF reads once more and requires io.EOF with no data.
func expectEOF(r io.Reader) error {
	var b [16]byte
	n, err := r.Read(b[:])
	if n != 0 || err != io.EOF {
		return fmt.Errorf("after close_notify: read %d bytes, err %v; want 0, io.EOF", n, err)
	}
	return nil
}

// tapLimit is how much of each direction a tapConn keeps: enough for the
// plaintext handshake messages.
const tapLimit = 64 << 10

// tapConn records the first tapLimit bytes read and written on a net.Conn,
// so that tests can inspect the plaintext ClientHello and ServerHello
// messages.
type tapConn struct{ testconn.Tap }

func newTapConn(conn net.Conn) *tapConn {
	return &tapConn{testconn.Tap{Conn: conn, Limit: tapLimit}}
}

// summary parses the captured streams; asClient tells which one the
// client wrote.
func (c *tapConn) summary(asClient bool) (handshakeSummary, error) {
	read, written := c.Streams()
	if asClient {
		return summarize(written, read)
	}
	return summarize(read, written)
}

// helloRetryRandom is ServerHello.random of a HelloRetryRequest
// (RFC 8446, section 4.1.3).
var helloRetryRandom, _ = hex.DecodeString("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

const (
	typeClientHello = 1
	typeServerHello = 2
	extKeyShare     = 51
)

// handshakeSummary is what the plaintext part of a TLS 1.3 handshake says.
type handshakeSummary struct {
	// ClientHelloShares lists, per ClientHello, the groups of its key shares.
	ClientHelloShares [][]uint16
	// HRR reports a HelloRetryRequest, and HRRGroup the group it asked for.
	HRR      bool
	HRRGroup uint16
	// Suite and Group are chosen by the (real) ServerHello.
	Suite uint16
	Group uint16
}

// plaintextHandshake concatenates the handshake records at the start of a
// stream, skipping change_cipher_spec and stopping at the first encrypted
// record, and splits them into (type, body) messages.
func plaintextHandshake(stream []byte) ([][2][]byte, error) {
	var hs []byte
	for len(stream) >= 5 {
		typ, n := stream[0], int(binary.BigEndian.Uint16(stream[3:5]))
		if len(stream) < 5+n {
			break
		}
		body := stream[5 : 5+n]
		stream = stream[5+n:]
		if typ == 20 {
			continue
		}
		if typ != 22 {
			break
		}
		hs = append(hs, body...)
	}
	var msgs [][2][]byte
	for len(hs) >= 4 {
		n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if len(hs) < 4+n {
			return msgs, errors.New("truncated handshake message")
		}
		msgs = append(msgs, [2][]byte{hs[:1], hs[4 : 4+n]})
		hs = hs[4+n:]
	}
	return msgs, nil
}

// reader is a minimal bounds-checked parser.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || len(r.b) < n {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

// extensions parses an extension block into type → data.
func extensions(r *reader) map[int][]byte {
	block := &reader{b: r.bytes(r.u16())}
	exts := map[int][]byte{}
	for len(block.b) > 0 && !block.bad {
		typ := block.u16()
		exts[typ] = block.bytes(block.u16())
	}
	if block.bad {
		r.bad = true
	}
	return exts
}

func summarize(clientStream, serverStream []byte) (handshakeSummary, error) {
	var s handshakeSummary
	cmsgs, err := plaintextHandshake(clientStream)
	if err != nil {
		return s, fmt.Errorf("client stream: %w", err)
	}
	for _, m := range cmsgs {
		if m[0][0] != typeClientHello {
			continue
		}
		r := &reader{b: m[1]}
		r.bytes(2 + 32)
		r.bytes(r.u8())  // session id
		r.bytes(r.u16()) // cipher suites
		r.bytes(r.u8())  // compression methods
		exts := extensions(r)
		var groups []uint16
		ks := &reader{b: exts[extKeyShare]}
		shares := &reader{b: ks.bytes(ks.u16())}
		for len(shares.b) > 0 && !shares.bad {
			groups = append(groups, uint16(shares.u16()))
			shares.bytes(shares.u16())
		}
		if r.bad || ks.bad || shares.bad {
			return s, errors.New("malformed ClientHello")
		}
		s.ClientHelloShares = append(s.ClientHelloShares, groups)
	}
	smsgs, err := plaintextHandshake(serverStream)
	if err != nil {
		return s, fmt.Errorf("server stream: %w", err)
	}
	for _, m := range smsgs {
		if m[0][0] != typeServerHello {
			continue
		}
		r := &reader{b: m[1]}
		r.bytes(2)
		random := r.bytes(32)
		r.bytes(r.u8())
		suite := r.u16()
		r.bytes(1)
		exts := extensions(r)
		if r.bad {
			return s, errors.New("malformed ServerHello")
		}
		ks := &reader{b: exts[extKeyShare]}
		group := uint16(ks.u16())
		if ks.bad {
			return s, errors.New("ServerHello without key_share")
		}
		if bytes.Equal(random, helloRetryRandom) {
			s.HRR, s.HRRGroup = true, group
			continue
		}
		s.Suite, s.Group = uint16(suite), group
	}
	return s, nil
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for KeyLogWriter.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// keyLog parses NSS key log lines into label → "clientrandom secret"
// (both lower-case hex); duplicate labels are an error.
func keyLog(text string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("malformed key log line %q", line)
		}
		if _, dup := out[f[0]]; dup {
			return nil, fmt.Errorf("duplicate key log label %s", f[0])
		}
		out[f[0]] = strings.ToLower(f[1]) + " " + strings.ToLower(f[2])
	}
	return out, sc.Err()
}

// suiteHash returns the hash of a TLS 1.3 cipher suite.
func suiteHash(suite uint16) func() hash.Hash {
	if suite == fsm.TLS_AES_256_GCM_SHA384 {
		return sha512.New384
	}
	return sha256.New
}

// expandLabel is HKDF-Expand-Label (RFC 8446, section 7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, context []byte, n int) []byte {
	full := "tls13 " + label
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		panic(err)
	}
	return out
}

// exportFromSecret computes the TLS 1.3 exporter (RFC 8446, section 7.5)
// from an exporter_master_secret.
func exportFromSecret(h func() hash.Hash, exporterSecret []byte, label string, context []byte, n int) []byte {
	derived := expandLabel(h, exporterSecret, label, h().Sum(nil), h().Size())
	ch := h()
	ch.Write(context)
	return expandLabel(h, derived, "exporter", ch.Sum(nil), n)
}
