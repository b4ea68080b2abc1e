package pull_test

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.uber.org/goleak"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startReader starts the real pull path (catalog → MeterProvider → Prometheus reader) with a
// fixed resource whose service.instance.id is name, so that its exposition is reproducible.
// runtime adds the go_* and process_* instruments.
func startReader(t *testing.T, cat *events.Catalog, name string, runtime bool) *pull.Reader {
	t.Helper()
	r, err := pull.NewReader(telemetry.NewProducer(cat))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "duometer"), attribute.String("service.instance.id", name))
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Resource: res, Readers: []sdkmetric.Reader{r}, Runtime: runtime})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return r
}

// newServer serves the reader's own handler (startReader's, named golden) at pull.Path, behind
// basic auth when username is not empty.
func newServer(t *testing.T, cat *events.Catalog, username, secret string) http.Handler {
	t.Helper()
	h := startReader(t, cat, "golden", false).Handler(slog.New(slog.DiscardHandler))
	if username != "" {
		h = web.BasicAuth(username, secret, cat.Self(), h)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+pull.Path, h)
	return mux
}

// serve serves one GET of target (path and query) with the given request headers.
func serve(t *testing.T, h http.Handler, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// scrape serves one GET of pull.Path.
func scrape(t *testing.T, h http.Handler, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	return serve(t, h, pull.Path, header)
}

// withAuth returns header (which it does not modify) with the basic auth credentials user and
// pass added.
func withAuth(header http.Header, user, pass string) http.Header {
	req := &http.Request{Header: header.Clone()}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.SetBasicAuth(user, pass)
	return req.Header
}

// gunzipped requires a gzip-encoded answer and returns its body decompressed.
func gunzipped(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	if ce := rec.Header().Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", ce)
	}
	return testutil.Gunzip(t, rec.Body)
}

// checkGolden requires got to be the content of the golden file path, which -update
// rewrites first.
func checkGolden(t *testing.T, what, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (rerun with -update if intended):\n--- got\n%s", what, path, got)
	}
}

// emitSamples defines and emits what the golden expositions show of every kind of event:
// duometer's own events (duometer.config.loads too, which the golden tests disable) and one
// event of each kind, one with odd label values.
func emitSamples(cat *events.Catalog) {
	self := cat.Self()
	self.AuthFailed.Emit(3)
	self.HTTPRequests.Emit(2, "prometheus", "200")
	for _, v := range []float64{0.003, 0.04, 0.3, 12} {
		self.HTTPRequestTime.Emit(v, "prometheus")
	}
	self.ConfigLoads.Inc("success") // disabled: must not appear
	cat.MustDefine(events.Def{Name: "queue.size", Kind: events.UpDownCounter, Description: "Messages queued."}).Emit(-1)
	cat.MustDefine(events.Def{Name: "queue.oldest-age", Kind: events.Gauge, Unit: "s", Description: "Age of the oldest message."}).Emit(42.5)
	cat.MustDefine(events.Def{Name: "backup.size", Kind: events.Histogram, Unit: "By", Labels: []string{"kind"},
		Buckets: []float64{1e6, 1e9}, Description: "Size of backups."}).Emit(5e8, "full")
	cat.MustDefine(events.Def{Name: "label.escapes", Kind: events.Counter, Labels: []string{"v"}, Description: "Odd label values."}).
		Inc("quote\" backslash\\ newline\n utf8 é")
}

// TestExpositionGolden pins the text exposition of every kind of event. Regenerate with
// go test ./pkg/pull -run TestExpositionGolden -update; CI checks the file with promtool.
func TestExpositionGolden(t *testing.T) {
	cat := events.NewCatalog()
	if err := cat.SetDisabled([]string{"duometer.config.*"}); err != nil {
		t.Fatal(err)
	}
	h := newServer(t, cat, "", "")
	emitSamples(cat)
	cat.Self().HTTPRequests.Inc("prometheus", "401")
	cat.Self().PushExports.Emit(4, "otlp")

	rec := scrape(t, h, textPlain)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	got := rec.Body.Bytes()
	checkGolden(t, "exposition", filepath.Join("testdata", "exposition.prom"), got)
	if bytes.Contains(got, []byte("duometer_config_loads")) {
		t.Error("disabled event duometer.config.loads is in the scrape")
	}
	if bytes.Contains(got, []byte("otel_scope_")) {
		t.Error("otel_scope_* labels are in the scrape")
	}
}

func TestNegotiation(t *testing.T) {
	cat := events.NewCatalog()
	h := newServer(t, cat, "", "")
	cat.Self().AuthFailed.Inc()

	om := scrape(t, h, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
	if ct := om.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics content type = %q", ct)
	}
	if !strings.HasSuffix(om.Body.String(), "# EOF\n") {
		t.Error("OpenMetrics body does not end with # EOF")
	}

	body := gunzipped(t, scrape(t, h, http.Header{"Accept": {"text/plain"}, "Accept-Encoding": {"gzip"}}))
	if !bytes.Contains(body, []byte("duometer_auth_failed_total 1")) {
		t.Errorf("gzipped body lacks duometer_auth_failed_total 1:\n%s", body)
	}
}

func TestBasicAuth(t *testing.T) {
	cat := events.NewCatalog()
	const secret = "correct horse battery staple"
	h := newServer(t, cat, "prometheus", secret)
	self := cat.Self()

	for i, c := range []struct {
		name   string
		header http.Header
	}{
		{"missing", nil},
		{"wrong secret", withAuth(nil, "prometheus", "wrong")},
		{"wrong user", withAuth(nil, "grafana", secret)},
		{"secret prefix", withAuth(nil, "prometheus", secret[:5])},
	} {
		rec := scrape(t, h, c.header)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", c.name, rec.Code)
		}
		if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="duometer"`) {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, got)
		}
		if strings.Contains(rec.Body.String(), secret) || strings.Contains(rec.Body.String(), "duometer_") {
			t.Errorf("%s: 401 body leaks the secret or metrics: %q", c.name, rec.Body.String())
		}
		if got := self.AuthFailed.Value(); got != float64(i+1) {
			t.Errorf("%s: duometer.auth.failed = %v, want %d", c.name, got, i+1)
		}
	}
	if self.AuthSuccess.Value() != 0 {
		t.Error("a failed request counted as success")
	}

	rec := scrape(t, h, withAuth(nil, "prometheus", secret))
	if rec.Code != http.StatusOK {
		t.Fatalf("right credentials: status %d", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), "duometer_auth_failed_total 4") {
		t.Errorf("scrape does not show the 4 failures:\n%s", rec.Body.String())
	}
	if self.AuthSuccess.Value() != 1 {
		t.Errorf("duometer.auth.success = %v, want 1", self.AuthSuccess.Value())
	}
}
