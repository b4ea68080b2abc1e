package pull

// Scrape benchmarks: 10,000 counter series served through duometer's real pull path (event
// catalog → telemetry.Start → the OpenTelemetry Prometheus exporter → Reader.Handler) beside
// the same series in a client_golang CounterVec served by promhttp. Run them with
//
//	go test -run '^$' -bench Scrape -benchmem ./pkg/pull/
//
// and see docs/performance.md for the ratios measured.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/telemetry"
)

const benchSeries = 10000

// benchLabels returns the label values of series i: 100 handlers × 100 codes.
func benchLabels(i int) (handler, code string) {
	return fmt.Sprintf("handler-%02d", i/100), fmt.Sprintf("c%02d", i%100)
}

// benchCatalog returns a catalog whose event bench.requests{handler,code} has n series.
func benchCatalog(n int) *events.Catalog {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "bench.requests", Kind: events.Counter,
		Labels: []string{"handler", "code"}, Description: "Requests served.", CardinalityLimit: n})
	for i := range n {
		h, c := benchLabels(i)
		ev.Emit(float64(i%7+1), h, c)
	}
	return cat
}

// benchDuometer starts the real pull path over a catalog of n series. scopeInfo turns the
// otel_scope_* labels back on, as the OpenTelemetry exporter has them by default.
func benchDuometer(tb testing.TB, n int, scopeInfo bool) (*Reader, http.Handler) {
	cat := benchCatalog(n)
	var r *Reader
	if scopeInfo {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithProducer(telemetry.NewProducer(cat)))
		if err != nil {
			tb.Fatal(err)
		}
		r = &Reader{Exporter: exp, registry: reg}
	} else {
		var err error
		if r, err = NewReader(telemetry.NewProducer(cat)); err != nil {
			tb.Fatal(err)
		}
	}
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{r}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return r, r.Handler(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// benchOTelSDK holds the same n series in an OpenTelemetry SDK synchronous counter, as a
// program instrumented with the SDK alone would, served by the same exporter and handler.
// defaults keeps the SDK's and the exporter's defaults (trace-based exemplar filter, hence a
// reservoir per series; otel_scope_* labels); without, both are off as in duometer.
func benchOTelSDK(tb testing.TB, n int, defaults bool) http.Handler {
	reg := prometheus.NewRegistry()
	expOpts := []otelprom.Option{otelprom.WithRegisterer(reg)}
	mpOpts := []sdkmetric.Option{sdkmetric.WithCardinalityLimit(0)}
	if !defaults {
		expOpts = append(expOpts, otelprom.WithoutScopeInfo())
		mpOpts = append(mpOpts, sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
	}
	exp, err := otelprom.New(expOpts...)
	if err != nil {
		tb.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(append(mpOpts, sdkmetric.WithReader(exp))...)
	tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	c, err := mp.Meter(telemetry.ScopeName).Float64Counter("bench.requests", metric.WithDescription("Requests served."))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		h, code := benchLabels(i)
		c.Add(ctx, float64(i%7+1), metric.WithAttributes(attribute.String("handler", h), attribute.String("code", code)))
	}
	r := &Reader{Exporter: exp, registry: reg}
	return r.Handler(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// benchClientGolang holds the same n series in a client_golang CounterVec.
func benchClientGolang(n int) (*prometheus.Registry, http.Handler) {
	reg := prometheus.NewRegistry()
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bench_requests_total", Help: "Requests served."},
		[]string{"handler", "code"})
	reg.MustRegister(v)
	for i := range n {
		v.WithLabelValues(benchLabels(i)).Add(float64(i%7 + 1))
	}
	return reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// benchScrape serves one scrape in the text format, without gzip, and returns the body.
func benchScrape(tb testing.TB, h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, Path, nil)
	req.Header.Set("Accept", "text/plain")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
	}
	return rec
}

func runScrape(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	size := benchScrape(b, h).Body.Len() // the first collection sets up the SDK's state
	for b.Loop() {
		benchScrape(b, h)
	}
	b.ReportMetric(float64(size), "body-B")
}

// BenchmarkScrape serves 10,000 counter series. duometer is the configuration shipped (no
// otel_scope_* labels); duometer_scope_labels turns them back on to show what the exporter's
// default costs. otel_sdk and otel_sdk_defaults hold the series in the SDK's own synchronous
// counter instead of duometer's cells, without and with the SDK's defaults (exemplar
// reservoirs, scope labels).
func BenchmarkScrape(b *testing.B) {
	b.Run("client_golang", func(b *testing.B) {
		_, h := benchClientGolang(benchSeries)
		runScrape(b, h)
	})
	b.Run("duometer", func(b *testing.B) {
		_, h := benchDuometer(b, benchSeries, false)
		runScrape(b, h)
	})
	b.Run("duometer_scope_labels", func(b *testing.B) {
		_, h := benchDuometer(b, benchSeries, true)
		runScrape(b, h)
	})
	b.Run("otel_sdk", func(b *testing.B) {
		runScrape(b, benchOTelSDK(b, benchSeries, false))
	})
	b.Run("otel_sdk_defaults", func(b *testing.B) {
		runScrape(b, benchOTelSDK(b, benchSeries, true))
	})
}

// BenchmarkScrapeStages splits a scrape of 10,000 series into what each layer costs:
// duometer_sdk_collect is the MeterProvider's collection alone (the observable callbacks
// reading the cells, the SDK aggregating what they observe); duometer_gather adds the exporter's conversion to prometheus.Metric
// and the registry's Gather (consistency checks, sorting); the rest of BenchmarkScrape is text
// encoding and HTTP.
func BenchmarkScrapeStages(b *testing.B) {
	b.Run("client_golang_gather", func(b *testing.B) {
		b.ReportAllocs()
		reg, _ := benchClientGolang(benchSeries)
		for b.Loop() {
			if _, err := reg.Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duometer_sdk_collect", func(b *testing.B) {
		b.ReportAllocs()
		cat := benchCatalog(benchSeries)
		mr := sdkmetric.NewManualReader(sdkmetric.WithProducer(telemetry.NewProducer(cat)))
		tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{mr}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		var rm metricdata.ResourceMetrics
		ctx := context.Background()
		for b.Loop() {
			if err := mr.Collect(ctx, &rm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duometer_gather", func(b *testing.B) {
		b.ReportAllocs()
		r, _ := benchDuometer(b, benchSeries, false)
		for b.Loop() {
			if _, err := r.Registry().Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestScrapeBenchSetup checks that the two sides of BenchmarkScrape serve the same series
// with the same values, so that the benchmark compares like with like.
func TestScrapeBenchSetup(t *testing.T) {
	const n = 300
	_, cg := benchClientGolang(n)
	_, dm := benchDuometer(t, n, false)
	sdk := benchOTelSDK(t, n, false)
	samples := func(body string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "bench_requests_total{") {
				m[l] = true
			}
		}
		return m
	}
	want := samples(benchScrape(t, cg).Body.String())
	for name, h := range map[string]http.Handler{"duometer": dm, "otel_sdk": sdk} {
		got := samples(benchScrape(t, h).Body.String())
		if len(want) != n || len(got) != n {
			t.Fatalf("client_golang serves %d series, %s %d, want %d each", len(want), name, len(got), n)
		}
		for l := range want {
			if !got[l] {
				t.Errorf("%s lacks %q", name, l)
			}
		}
	}
}
