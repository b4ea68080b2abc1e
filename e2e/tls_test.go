package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
)

// The server listens with TLS: it serves HTTPS only (TLS 1.2 at least), and
// duometer_tls_cert_expiry_seconds{file=<cert-file>} is the certificate's notAfter.
func TestTLSServerAndCertExpiry(t *testing.T) {
	t.Parallel()
	requireServer(t)
	// x509 keeps whole seconds: the gauge must equal this exactly.
	notAfter := time.Now().Add(397 * 24 * time.Hour).Truncate(time.Second)
	certFile, keyFile, cert := testutil.SelfSigned(t, notAfter)
	auth := &basicAuth{"prometheus", "s3cret-e2e-T1s"}
	listen := localAddr(freePort(t))
	cfg := serverConfig{Listen: listen, Username: auth.user, Secret: auth.pass}
	toml := cfg.TOML() + fmt.Sprintf("\n[server.tls]\ncert-file = %q\nkey-file = %q\n", certFile, keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	srv := launchServer(t, listen, toml, "https", client)

	get := func(c *http.Client, url string) (int, string, error) {
		r, err := httpGetWith(c, url, auth, map[string]string{"Accept": "text/plain"})
		if err != nil {
			return 0, "", err
		}
		return r.status, string(r.body), nil
	}
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
	srv.shutdown(t, auth.pass)
}
