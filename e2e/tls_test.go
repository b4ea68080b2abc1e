package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed ECDSA P-256 certificate for 127.0.0.1 that expires at
// notAfter, and its key, and returns their paths and the certificate.
func writeSelfSigned(t *testing.T, notAfter time.Time) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "duometer e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
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

// The server listens with TLS: it serves HTTPS only (TLS 1.2 at least), and
// duometer_tls_cert_expiry_seconds{file=<cert-file>} is the certificate's notAfter.
func TestTLSServerAndCertExpiry(t *testing.T) {
	t.Parallel()
	requireServer(t)
	// x509 keeps whole seconds: the gauge must equal this exactly.
	notAfter := time.Now().Add(397 * 24 * time.Hour).Truncate(time.Second)
	certFile, keyFile, cert := writeSelfSigned(t, notAfter)
	auth := &basicAuth{"prometheus", "s3cret-e2e-T1s"}
	listen := localAddr(freePort(t))
	cfg := serverConfig{Listen: listen, Username: auth.user, Secret: auth.pass}
	toml := cfg.TOML() + fmt.Sprintf("\n[server.tls]\ncert-file = %q\nkey-file = %q\n", certFile, keyFile)
	path := writeFile(t, "duometer.toml", toml)
	t.Logf("duometer config %s:\n%s", path, toml)
	srv := &duometer{
		process: startProcess(t, "duometer", serverEnv(), serverBin, "-config", path),
		addr:    listen,
		base:    "https://" + listen,
	}

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(c *http.Client, url string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Accept", "text/plain")
		req.SetBasicAuth(auth.user, auth.pass)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	waitUntil(t, 20*time.Second, "duometer https /-/ready", func() (bool, string) {
		if srv.exited() {
			t.Fatalf("duometer exited during start-up: %v", srv.err)
		}
		code, _, err := get(client, srv.base+"/-/ready")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, fmt.Sprintf("status %d", code)
	})

	code, body, err := get(client, srv.base+"/metrics/prometheus")
	if err != nil || code != http.StatusOK {
		t.Fatalf("HTTPS scrape: %v, status %d:\n%s", err, code, body)
	}
	samples, err := parseExposition(body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	v, ok := sumSamples(samples, "duometer_tls_cert_expiry_seconds", map[string]string{"file": certFile})
	if !ok || v != float64(notAfter.Unix()) {
		t.Errorf("duometer_tls_cert_expiry_seconds{file=%q} = %v (present %v), want %d (%s)",
			certFile, v, ok, notAfter.Unix(), notAfter.UTC().Format(time.RFC3339))
	}
	if !strings.Contains(body, "# TYPE duometer_tls_cert_expiry_seconds gauge") {
		t.Errorf("duometer_tls_cert_expiry_seconds is not a gauge:\n%s", body)
	}

	// Plain HTTP is answered 400, TLS 1.1 is refused, an untrusting client fails.
	if code, _, err := get(httpClient, "http://"+listen+"/-/ready"); err == nil && code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: status %d, want 400 or an error", code)
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if _, _, err := get(old, srv.base+"/-/ready"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	if _, _, err := get(httpClient, srv.base+"/-/ready"); err == nil {
		t.Error("a client that does not trust the self-signed certificate was served")
	}
	if out := srv.out.String(); !strings.Contains(out, "serving HTTPS") {
		t.Errorf("no start-up line about HTTPS in the output:\n%s", out)
	}
	srv.stop(t, 15*time.Second)
	assertNoSecret(t, "the server output", srv.out.String(), auth.pass)
}
