// Package testutil holds the helpers that duometer's tests share: a goroutine-safe log
// buffer, self-signed certificates, polling with a deadline, running goroutines at once, gzip
// bodies, the headers of an ingestion request and catalogs of events. Only tests import it.
package testutil

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/events"
)

// SyncBuffer is a bytes.Buffer that several goroutines may write and read at once, such as
// the output of a logger under test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset forgets what was written so far.
func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// SelfSigned writes a self-signed ECDSA P-256 server certificate for 127.0.0.1 and
// localhost that expires at notAfter, and its PKCS #8 key, into a fresh temporary directory,
// and returns their paths and the certificate.
func SelfSigned(t testing.TB, notAfter time.Time) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "duometer test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// WaitFor polls ok every 20 ms until it holds, and fails the test if it does not within d.
func WaitFor(t testing.TB, d time.Duration, ok func() bool) {
	t.Helper()
	WaitUntil(t, d, 20*time.Millisecond, "condition", func() (bool, string) { return ok(), "" })
}

// WaitUntil polls cond every interval until it reports true. If it has not within d, the
// test fails, naming what was awaited and the status cond gave last. cond runs on the test's
// goroutine, so it may end the test itself (t.Fatal) when waiting is pointless.
func WaitUntil(t testing.TB, d, interval time.Duration, what string, cond func() (ok bool, status string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if status == "" {
				t.Fatalf("%s not met within %v", what, d)
			}
			t.Fatalf("%s not met within %v; last: %s", what, d, status)
		}
		time.Sleep(interval)
	}
}

// Concurrently runs fn(w) in n goroutines at once, w from 0 to n-1, and returns when they
// have all returned.
func Concurrently(n int, fn func(w int)) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() { fn(w) })
	}
	wg.Wait()
}

// Gzip returns s compressed in one gzip member.
func Gzip(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Gunzip decompresses all of r, and fails the test when it is not valid gzip.
func Gunzip(t testing.TB, r io.Reader) []byte {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return b
}

// IngestHeader returns the headers of a request to the ingestion API: Content-Type ctype,
// where "" means application/json and "-" none, and Content-Encoding and Authorization when
// they are not empty.
func IngestHeader(ctype, encoding, authorization string) http.Header {
	h := http.Header{}
	switch ctype {
	case "":
		h.Set("Content-Type", "application/json")
	case "-":
	default:
		h.Set("Content-Type", ctype)
	}
	if encoding != "" {
		h.Set("Content-Encoding", encoding)
	}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	return h
}

// Catalog returns a new catalog with defs defined in it, in order; see Define.
func Catalog(t testing.TB, defs ...events.Def) *events.Catalog {
	t.Helper()
	cat := events.NewCatalog()
	Define(t, cat, defs...)
	return cat
}

// Define defines defs in cat, in order, and returns their events. It fails the test on the
// first definition that the catalog refuses, naming it.
func Define(t testing.TB, cat *events.Catalog, defs ...events.Def) []*events.Event {
	t.Helper()
	evs := make([]*events.Event, len(defs))
	for i, d := range defs {
		ev, err := cat.Define(d)
		if err != nil {
			t.Fatalf("define %s: %v", d.Name, err)
		}
		evs[i] = ev
	}
	return evs
}
