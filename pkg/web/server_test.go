package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/web"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startServer(t *testing.T, o web.ServerOptions, h http.Handler) *web.Server {
	t.Helper()
	o.Listen = "127.0.0.1:0"
	o.ReadHeaderTimeout, o.ReadTimeout, o.WriteTimeout, o.IdleTimeout = time.Second, time.Second, time.Second, time.Second
	s := web.NewServer(o, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func TestServerTLS(t *testing.T) {
	notAfter := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	certFile, keyFile, cert := testutil.SelfSigned(t, notAfter)
	self := events.NewCatalog().Self()
	s := startServer(t, web.ServerOptions{CertFile: certFile, KeyFile: keyFile, Self: self},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) }))
	if got := self.CertExpiry.With(certFile).Value(); got != float64(notAfter.Unix()) {
		t.Errorf("duometer.tls.cert-expiry{file=%s} = %v, want %d", certFile, got, notAfter.Unix())
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, tc := range []struct {
		h2   bool
		want string
	}{{false, "HTTP/1.1"}, {true, "HTTP/2.0"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tc.h2}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + s.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(body) != tc.want {
			t.Errorf("served %q, want %q", body, tc.want)
		}
	}
	// TLS 1.1 and plain HTTP are refused.
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	if resp, err := (&http.Client{Transport: old, Timeout: 5 * time.Second}).Get("https://" + s.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	old.CloseIdleConnections()
	plain := &http.Transport{}
	if resp, err := (&http.Client{Transport: plain, Timeout: 5 * time.Second}).Get("http://" + s.Addr().String() + "/"); err == nil {
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS listener: status %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
	plain.CloseIdleConnections()
}

// A certificate renewed on disk is served to new connections without a restart; a renewal
// that does not load leaves the previous certificate serving.
func TestServerTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	copyPair(t, first, certFile, keyFile)
	self := events.NewCatalog().Self()
	var log testutil.SyncBuffer
	s := startServer(t, web.ServerOptions{CertFile: certFile, KeyFile: keyFile, Self: self, Log: slog.New(slog.NewTextHandler(&log, nil))},
		http.NotFoundHandler())
	served := func() time.Time {
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reads the served certificate
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].NotAfter
	}
	if got := served(); !got.Equal(first) {
		t.Fatalf("serves a certificate expiring %v, want %v", got, first)
	}
	second := first.Add(48 * time.Hour)
	copyPair(t, second, certFile, keyFile)
	testutil.WaitFor(t, 10*time.Second, func() bool { return served().Equal(second) })
	if got := self.CertExpiry.With(certFile).Value(); got != float64(second.Unix()) {
		t.Errorf("duometer.tls.cert-expiry = %v after the renewal, want %d", got, second.Unix())
	}
	if !strings.Contains(log.String(), "renewed on disk") {
		t.Errorf("the renewal was not logged:\n%s", log.String())
	}

	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The files are looked at during handshakes: keep connecting until the bad pair is seen.
	testutil.WaitFor(t, 10*time.Second, func() bool {
		if got := served(); !got.Equal(second) {
			t.Fatalf("after a bad renewal serves %v, want the previous certificate (%v)", got, second)
		}
		return strings.Contains(log.String(), "does not load")
	})
}

// copyPair writes a new self-signed pair expiring at notAfter over certFile and keyFile.
func copyPair(t *testing.T, notAfter time.Time, certFile, keyFile string) {
	t.Helper()
	c, k, _ := testutil.SelfSigned(t, notAfter)
	for src, dst := range map[string]string{c: certFile, k: keyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerTLSBadFiles(t *testing.T) {
	certFile, _, _ := testutil.SelfSigned(t, time.Now().Add(time.Hour))
	_, otherKey, _ := testutil.SelfSigned(t, time.Now().Add(time.Hour))
	for name, files := range map[string][2]string{
		"missing key": {certFile, filepath.Join(t.TempDir(), "nope.pem")},
		"wrong key":   {certFile, otherKey},
	} {
		s := web.NewServer(web.ServerOptions{Listen: "127.0.0.1:0", CertFile: files[0], KeyFile: files[1]}, http.NotFoundHandler())
		err := s.Start()
		if err == nil {
			_ = s.Shutdown(context.Background())
			t.Errorf("%s: Start succeeded", name)
		} else if !strings.HasPrefix(err.Error(), "server.tls: ") {
			t.Errorf("%s: error %q does not start with server.tls", name, err)
		}
	}
}

// Shutdown drains a request in flight within its context; past it, the connection is closed
// and Shutdown says so.
func TestServerShutdown(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	s := startServer(t, web.ServerOptions{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "done")
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	get := func(addr string, got chan<- string) {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}
	got := make(chan string, 1)
	go get(s.Addr().String(), got)
	<-arrived
	go func() { time.Sleep(100 * time.Millisecond); close(release) }()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if g := <-got; g != "done" {
		t.Errorf("request in flight got %q, want it drained", g)
	}

	stuck := startServer(t, web.ServerOptions{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	go get(stuck.Addr().String(), got)
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := stuck.Shutdown(ctx); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("Shutdown with a stuck request: %v after %v; want the context's error at its deadline", err, time.Since(start))
	}
	if g := <-got; g == "done" {
		t.Error("the stuck request was answered; want its connection closed")
	}
}

func TestSwappable(t *testing.T) {
	var s web.Swappable
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get(); code != http.StatusNotFound {
		t.Errorf("unset: %d, want 404", code)
	}
	s.Set(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "one") }))
	if _, body := get(); body != "one" {
		t.Errorf("set: %q", body)
	}
	s.Set(nil)
	if code, _ := get(); code != http.StatusNotFound {
		t.Errorf("unset again: %d, want 404", code)
	}
}
