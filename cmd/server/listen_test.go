package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
)

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 valid until notAfter, and
// its key, and returns their paths and the certificate.
func selfSigned(t *testing.T, notAfter time.Time) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "duometer test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err = x509.ParseCertificate(der)
	must(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile, cert
}

func testApp(cfg config.Config) *app {
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler), cat: events.NewCatalog(), mux: http.NewServeMux()}
	a.self = a.cat.Self()
	return a
}

func TestListenTLS(t *testing.T) {
	notAfter := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	certFile, keyFile, cert := selfSigned(t, notAfter)
	cfg := config.DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.TLS = config.ServerTLS{CertFile: certFile, KeyFile: keyFile}
	a := testApp(cfg)
	a.mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	srv := &http.Server{Handler: a.mux}
	ln, err := a.listen(srv)
	must(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())

	if got := a.self.CertExpiry.With(certFile).Value(); got != float64(notAfter.Unix()) {
		t.Errorf("duometer.tls.cert-expiry{file=%s} = %v, want %d", certFile, got, notAfter.Unix())
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, tc := range []struct {
		h2   bool
		want string
	}{{false, "HTTP/1.1"}, {true, "HTTP/2.0"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tc.h2}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String() + "/")
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(body) != tc.want {
			t.Errorf("served %q, want %q", body, tc.want)
		}
	}
	// TLS 1.1 and plain HTTP are refused.
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	if _, err := (&http.Client{Transport: old, Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String() + "/"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/"); err == nil {
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS listener: status %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
}

func TestListenTLSBadFiles(t *testing.T) {
	certFile, _, _ := selfSigned(t, time.Now().Add(time.Hour))
	_, otherKey, _ := selfSigned(t, time.Now().Add(time.Hour))
	for name, tlsCfg := range map[string]config.ServerTLS{
		"missing key": {CertFile: certFile, KeyFile: filepath.Join(t.TempDir(), "nope.pem")},
		"wrong key":   {CertFile: certFile, KeyFile: otherKey},
	} {
		cfg := config.DefaultConfig()
		cfg.Server.Listen = "127.0.0.1:0"
		cfg.Server.TLS = tlsCfg
		ln, err := testApp(cfg).listen(&http.Server{})
		if err == nil {
			ln.Close()
			t.Errorf("%s: listen succeeded", name)
		} else if !strings.HasPrefix(err.Error(), "server.tls") {
			t.Errorf("%s: error %q does not name server.tls", name, err)
		}
	}
}

func TestListenPlain(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	a := testApp(cfg)
	srv := &http.Server{}
	ln, err := a.listen(srv)
	must(t, err)
	ln.Close()
	if srv.TLSConfig != nil {
		t.Error("TLSConfig set without server.tls")
	}
}

// With Prometheus pull off and the Pushgateway on, the pull reader is made (the Pushgateway
// pushes what it gathers) but not served.
func TestPushgatewayWithoutPrometheusEndpoint(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Metrics.Prometheus.Enable = false
	cfg.Metrics.Pushgateway.Enable = true
	a := testApp(cfg)
	must(t, a.setupPull())
	if a.pull == nil || len(a.readers) != 1 {
		t.Fatalf("pull reader %v, %d readers; want the reader made for the Pushgateway", a.pull, len(a.readers))
	}
	rec := httptest.NewRecorder()
	a.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/prometheus", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/metrics/prometheus answered %d with pull off, want 404", rec.Code)
	}
	cfg.Metrics.Pushgateway.Enable = false
	b := testApp(cfg)
	must(t, b.setupPull())
	if b.pull != nil {
		t.Error("pull reader made with neither Prometheus nor the Pushgateway on")
	}
	if err := b.startPushgateway(context.Background()); err != nil {
		t.Errorf("startPushgateway disabled: %v", err)
	}
}
