package push_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	promconfig "github.com/prometheus/common/config"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/push"
	"github.com/duometer/duometer/pkg/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// httpCollector is an OTLP/HTTP receiver: it decodes every request and keeps the last
// value seen per metric name, and the headers of the last request.
type httpCollector struct {
	mu      sync.Mutex
	values  map[string]float64
	header  http.Header
	path    string
	fail    bool
	pushes  int
	gzipped bool
}

func (c *httpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, c.gzipped = zr, true
	}
	b, _ := io.ReadAll(body)
	var req colmetricpb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.header, c.path = r.Header.Clone(), r.URL.Path
	c.pushes++
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if s := m.GetSum(); s != nil && len(s.DataPoints) > 0 {
					c.values[m.Name] = s.DataPoints[0].GetAsDouble() + float64(s.DataPoints[0].GetAsInt())
				}
				if h := m.GetHistogram(); h != nil && len(h.DataPoints) > 0 {
					c.values[m.Name+".count"] = float64(h.DataPoints[0].Count)
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(nil)
}

func (c *httpCollector) get(name string) (float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.values[name]
	return v, ok
}

// startOTLP starts an OTLP push reader with o, its Producer and Self those of a new catalog,
// on a running MeterProvider, and returns the catalog's Self and the telemetry to shut down.
func startOTLP(t *testing.T, o push.OTLPOptions) (*events.Self, *telemetry.Telemetry) {
	t.Helper()
	cat := events.NewCatalog()
	o.Producer, o.Self = telemetry.NewProducer(cat), cat.Self()
	r, err := push.NewOTLPReader(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{r}})
	if err != nil {
		t.Fatal(err)
	}
	return o.Self, tel
}

func TestOTLPHTTPPushAndFinalFlush(t *testing.T) {
	col := &httpCollector{values: map[string]float64{}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	self, tel := startOTLP(t, push.OTLPOptions{
		Transport: "http", Endpoint: srv.URL, // no path: /v1/metrics is added
		Interval: time.Hour, Timeout: 5 * time.Second, // only the final flush pushes
		Headers: map[string]string{"Authorization": "Bearer t0ken"}, Gzip: true,
	})
	self.AuthFailed.Emit(7)
	self.HTTPRequestTime.Emit(0.1, "prometheus")
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if v, ok := col.get("duometer.auth.failed"); !ok || v != 7 {
		t.Errorf("final push: duometer.auth.failed = %v (seen %v), want 7", v, ok)
	}
	if v, _ := col.get("duometer.http.request-time.count"); v != 1 {
		t.Errorf("final push: histogram count = %v, want 1", v)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.path != "/v1/metrics" || col.header.Get("Authorization") != "Bearer t0ken" || !col.gzipped {
		t.Errorf("push went to %q with Authorization %q, gzip %v", col.path, col.header.Get("Authorization"), col.gzipped)
	}
	if self.PushExports.With("otlp").Value() != 1 {
		t.Errorf("duometer.push.exports = %v, want 1", self.PushExports.With("otlp").Value())
	}
}

// A failing collector is counted, and the next push that gets through is whole.
func TestOTLPFailuresCountedAndRecovered(t *testing.T) {
	col := &httpCollector{values: map[string]float64{}, fail: true}
	srv := httptest.NewServer(col)
	defer srv.Close()
	self, tel := startOTLP(t, push.OTLPOptions{
		Transport: "http", Endpoint: srv.URL + "/v1/metrics",
		Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond,
	})
	defer func() { _ = tel.Shutdown(context.Background()) }()
	self.AuthFailed.Emit(2)
	testutil.WaitFor(t, 10*time.Second, func() bool { return self.PushFailures.With("otlp").Value() >= 1 })
	self.AuthFailed.Inc()
	col.mu.Lock()
	col.fail = false
	col.mu.Unlock()
	testutil.WaitFor(t, 10*time.Second, func() bool { v, _ := col.get("duometer.auth.failed"); return v == 3 })
	testutil.WaitFor(t, 10*time.Second, func() bool { v, _ := col.get("duometer.push.failures"); return v >= 1 })
}

func TestNewOTLPReaderRejectsBadOptions(t *testing.T) {
	cat := events.NewCatalog()
	for _, tc := range []struct {
		o    push.OTLPOptions
		want string
	}{
		{push.OTLPOptions{Transport: "grpc", Endpoint: "127.0.0.1:4317"}, `otlp endpoint "127.0.0.1:4317": must be an http:// or https:// URL`},
		{push.OTLPOptions{Transport: "pigeon", Endpoint: "http://127.0.0.1:4317"}, `otlp transport "pigeon": must be grpc or http`},
		{push.OTLPOptions{Transport: "grpc", Endpoint: "https://127.0.0.1:4317", TLS: promconfig.TLSConfig{CAFile: "/does/not/exist"}},
			`otlp tls: unable to read CA cert: unable to read file /does/not/exist`},
	} {
		o := tc.o
		o.Interval, o.Timeout, o.Self = time.Second, time.Second, cat.Self()
		if _, err := push.NewOTLPReader(context.Background(), o); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("NewOTLPReader(%+v) = %v, want an error starting %q", tc.o, err, tc.want)
		}
	}
}
