package pull_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.uber.org/goleak"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer builds the real pull path (catalog → MeterProvider → Prometheus reader →
// handler) with a fixed resource, so that its exposition is reproducible.
func newServer(t *testing.T, cat *events.Catalog, username, secret string) http.Handler {
	t.Helper()
	r, err := pull.NewReader(telemetry.NewProducer(cat))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "duometer"), attribute.String("service.instance.id", "golden"))
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Resource: res, Readers: []sdkmetric.Reader{r}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	var h http.Handler = r.Handler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if username != "" {
		h = web.BasicAuth(username, secret, cat.Self(), h)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+pull.Path, h)
	return mux
}

func scrape(t *testing.T, h http.Handler, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, pull.Path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestExpositionGolden pins the text exposition of every kind of event. Regenerate with
// go test ./pkg/pull -run TestExpositionGolden -update; CI checks the file with promtool.
func TestExpositionGolden(t *testing.T) {
	cat := events.NewCatalog()
	if err := cat.SetDisabled([]string{"duometer.config.*"}); err != nil {
		t.Fatal(err)
	}
	h := newServer(t, cat, "", "")
	self := cat.Self()
	self.AuthFailed.Emit(3)
	self.HTTPRequests.Emit(2, "prometheus", "200")
	self.HTTPRequests.Inc("prometheus", "401")
	for _, v := range []float64{0.003, 0.04, 0.3, 12} {
		self.HTTPRequestTime.Emit(v, "prometheus")
	}
	self.PushExports.Emit(4, "otlp")
	self.ConfigLoads.Inc("success") // disabled: must not appear
	cat.MustDefine(events.Def{Name: "queue.size", Kind: events.UpDownCounter, Description: "Messages queued."}).Emit(-1)
	cat.MustDefine(events.Def{Name: "queue.oldest-age", Kind: events.Gauge, Unit: "s", Description: "Age of the oldest message."}).Emit(42.5)
	cat.MustDefine(events.Def{Name: "backup.size", Kind: events.Histogram, Unit: "By", Labels: []string{"kind"},
		Buckets: []float64{1e6, 1e9}, Description: "Size of backups."}).Emit(5e8, "full")
	cat.MustDefine(events.Def{Name: "label.escapes", Kind: events.Counter, Labels: []string{"v"}, Description: "Odd label values."}).
		Inc("quote\" backslash\\ newline\n utf8 é")

	rec := scrape(t, h, http.Header{"Accept": {"text/plain"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	got := rec.Body.Bytes()
	const golden = "testdata/exposition.prom"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s (rerun with -update if intended):\n--- got\n%s", golden, got)
	}
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

	gz := scrape(t, h, http.Header{"Accept": {"text/plain"}, "Accept-Encoding": {"gzip"}})
	if gz.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", gz.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("duometer_auth_failed_total 1")) {
		t.Errorf("gzipped body lacks duometer_auth_failed_total 1:\n%s", body)
	}
}

func TestBasicAuth(t *testing.T) {
	cat := events.NewCatalog()
	const secret = "correct horse battery staple"
	h := newServer(t, cat, "prometheus", secret)
	self := cat.Self()

	cases := []struct {
		name       string
		user, pass string
		set        bool
	}{
		{"missing", "", "", false},
		{"wrong secret", "prometheus", "wrong", true},
		{"wrong user", "grafana", secret, true},
		{"secret prefix", "prometheus", secret[:5], true},
	}
	for i, c := range cases {
		req := httptest.NewRequest(http.MethodGet, pull.Path, nil)
		if c.set {
			req.SetBasicAuth(c.user, c.pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
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

	req := httptest.NewRequest(http.MethodGet, pull.Path, nil)
	req.SetBasicAuth("prometheus", secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
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
