package e2e

// Self-tests of the harness: they check the OTLP receiver and the
// Prometheus driver against known-good peers, so that a failure in the
// end-to-end tests points at the server rather than at the harness.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

func TestHarnessOTLPReceiver(t *testing.T) {
	t.Parallel()
	// Start the receiver on a pre-chosen port, after the exporter exists,
	// as TestOTLPReceiverLate does with the server.
	port := freePort(t)
	exp, err := otlpmetricgrpc.New(context.Background(),
		otlpmetricgrpc.WithEndpointURL("http://"+localAddr(port)),
		otlpmetricgrpc.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rec := startReceiver(t, port)
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "selftest"))),
	)
	c, err := mp.Meter("selftest").Int64Counter("selftest.count")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.Add(ctx, 2)
	c.Add(ctx, 5, metric.WithAttributes(attribute.String("k", "v")))
	if err := mp.Shutdown(ctx); err != nil { // final push
		t.Fatalf("shutdown: %v", err)
	}
	if v, ok := rec.latest("selftest.count", map[string]string{}); !ok || v != 2 {
		t.Errorf("latest(selftest.count, {}) = %v, %v; want 2, true\n%s", v, ok, rec.summary())
	}
	if v, ok := rec.latest("selftest.count", map[string]string{"k": "v"}); !ok || v != 5 {
		t.Errorf("latest(selftest.count, {k=v}) = %v, %v; want 5, true", v, ok)
	}
	if got := rec.resourceAttrs()["service.name"]; got != "selftest" {
		t.Errorf("resource service.name = %q, want selftest", got)
	}
	if rec.seen("no.such.metric") {
		t.Errorf("seen(no.such.metric) = true")
	}
}

func TestHarnessPrometheus(t *testing.T) {
	t.Parallel()
	requireTool(t, "prometheus")
	auth := &basicAuth{"scraper", "pw"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if r.URL.Path != "/metrics/prometheus" || !ok || u != auth.user || p != auth.pass {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# HELP selftest_total A test.\n# TYPE selftest_total counter\nselftest_total{k=\"v\"} 3\n")
	}))
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)

	prom := startPrometheus(t, l.Addr().String(), auth)
	prom.waitScraped(t, 2)
	got := prom.waitQuery(t, 10*time.Second, "selftest_total", singleValue(3))
	if got[0].Metric["k"] != "v" {
		t.Errorf("labels %v, want k=v", got[0].Metric)
	}
	if res, err := prom.query("no_such_metric"); err != nil || len(res) != 0 {
		t.Errorf("query(no_such_metric) = %v, %v; want empty", res, err)
	}
}

func TestHarnessExpositionParser(t *testing.T) {
	t.Parallel()
	samples, err := parseExposition("# HELP x_total X.\nx_total{a=\"1\",b=\"q\\\"\"} 2\nx_total{a=\"2\"} 3.5\ny 1e3\n")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := sumSamples(samples, "x_total", nil); !ok || v != 5.5 {
		t.Errorf("sumSamples(x_total) = %v, %v", v, ok)
	}
	if v, ok := sumSamples(samples, "x_total", map[string]string{"b": `q"`}); !ok || v != 2 {
		t.Errorf("sumSamples(x_total{b}) = %v, %v", v, ok)
	}
	if v, ok := sumSamples(samples, "y", nil); !ok || v != 1000 {
		t.Errorf("sumSamples(y) = %v, %v", v, ok)
	}
}
