package pull

// Scrape benchmarks: 10,000 and 100,000 counter series served through duometer's real pull
// path (event catalog → telemetry.Start → the OpenTelemetry Prometheus exporter →
// Reader.Handler) beside the same series in a client_golang CounterVec served by promhttp.
// Run them with
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
	"slices"
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

// benchLabels returns the label values of series i: i/100 handlers × 100 codes.
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
		var err error
		if r, err = newReader(otelprom.WithProducer(telemetry.NewProducer(cat))); err != nil {
			tb.Fatal(err)
		}
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
	var expOpts []otelprom.Option
	mpOpts := []sdkmetric.Option{sdkmetric.WithCardinalityLimit(0)}
	if !defaults {
		expOpts = append(expOpts, otelprom.WithoutScopeInfo())
		mpOpts = append(mpOpts, sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
	}
	r, err := newReader(expOpts...)
	if err != nil {
		tb.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(append(mpOpts, sdkmetric.WithReader(r))...)
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
	return benchGet(tb, h, Path, "text/plain")
}

// benchGet serves one GET of target with the given Accept header.
func benchGet(tb testing.TB, h http.Handler, target, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
	}
	return rec
}

func runScrape(b *testing.B, h http.Handler) {
	runGet(b, h, Path, "text/plain")
}

func runGet(b *testing.B, h http.Handler, target, accept string) {
	b.ReportAllocs()
	size := benchGet(b, h, target, accept).Body.Len() // the first collection sets up the SDK's state
	for b.Loop() {
		benchGet(b, h, target, accept)
	}
	b.ReportMetric(float64(size), "body-B")
}

// registryHandler serves r's registry as Reader.Handler did before the Gatherer: promhttp
// over prometheus.Registry.Gather.
func registryHandler(r *Reader) http.Handler {
	opts := handlerOpts(slog.New(slog.DiscardHandler))
	opts.MaxRequestsInFlight = DefaultMaxScrapesInFlight
	return promhttp.HandlerFor(r.Registry(), opts)
}

// BenchmarkScrape serves 10,000 and 100,000 counter series (100 or 1,000 handlers × 100
// codes). duometer is the configuration shipped (no otel_scope_* labels);
// duometer_registry serves the same reader with promhttp over its prometheus.Registry, as
// before the Gatherer; duometer_scope_labels turns the otel_scope_* labels back on to show
// what the exporter's default costs. otel_sdk and otel_sdk_defaults hold the series in the
// SDK's own synchronous counter instead of duometer's cells, without and with the SDK's
// defaults (exemplar reservoirs, scope labels); they are measured at 10,000 series only.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{benchSeries, 10 * benchSeries} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.Run("client_golang", func(b *testing.B) {
				_, h := benchClientGolang(n)
				runScrape(b, h)
			})
			b.Run("duometer", func(b *testing.B) {
				_, h := benchDuometer(b, n, false)
				runScrape(b, h)
			})
			b.Run("duometer_registry", func(b *testing.B) {
				r, _ := benchDuometer(b, n, false)
				runScrape(b, registryHandler(r))
			})
			if n > benchSeries {
				return
			}
			b.Run("duometer_scope_labels", func(b *testing.B) {
				_, h := benchDuometer(b, n, true)
				runScrape(b, h)
			})
			b.Run("otel_sdk", func(b *testing.B) {
				runScrape(b, benchOTelSDK(b, n, false))
			})
			b.Run("otel_sdk_defaults", func(b *testing.B) {
				runScrape(b, benchOTelSDK(b, n, true))
			})
		})
	}
}

// BenchmarkScrapeEndpoints serves the benchmark's 10,000 series through the other ways out
// of the pull reader, beside client_golang's: OpenMetrics (what Prometheus asks for
// first) and gzip; the per-group endpoint (/metrics/prometheus/bench); the cluster's
// aggregated mode with one peer that serves the same series over loopback HTTP (the
// answering node gathers itself, fetches and parses the peer's protobuf answer, merges,
// encodes); and the Gather the Pushgateway pusher calls (the Gatherer, and the registry it
// was given before).
func BenchmarkScrapeEndpoints(b *testing.B) {
	const n = benchSeries
	newEndpoints := func(b *testing.B, cluster *Cluster) (*Reader, http.Handler) {
		cat := benchCatalog(n)
		r, err := NewReader(telemetry.NewProducer(cat))
		if err != nil {
			b.Fatal(err)
		}
		tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{r}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		log := slog.New(slog.DiscardHandler)
		index := NewIndex(cat)
		b.Cleanup(index.Close)
		ep := NewEndpoints(r, index, cluster, nil, log)
		mux := http.NewServeMux()
		mux.Handle("GET "+Path, ep.Main())
		mux.Handle("GET "+GroupPattern, ep.Group())
		return r, mux
	}
	_, cg := benchClientGolang(n)
	b.Run("client_golang", func(b *testing.B) { runScrape(b, cg) })
	b.Run("client_golang_openmetrics", func(b *testing.B) { runGet(b, cg, Path, openMetrics) })
	b.Run("duometer_openmetrics", func(b *testing.B) {
		_, h := newEndpoints(b, nil)
		runGet(b, h, Path, openMetrics)
	})
	b.Run("client_golang_gzip", func(b *testing.B) { runGzip(b, cg) })
	b.Run("duometer_gzip", func(b *testing.B) {
		_, h := newEndpoints(b, nil)
		runGzip(b, h)
	})
	b.Run("duometer_group", func(b *testing.B) {
		_, h := newEndpoints(b, nil)
		runGet(b, h, Path+"/bench", "text/plain")
	})
	b.Run("duometer_cluster_aggregated", func(b *testing.B) {
		_, peer := newEndpoints(b, nil)
		srv := httptest.NewServer(peer)
		b.Cleanup(srv.Close)
		cluster, err := NewCluster(ClusterOptions{NodeName: "a", Peers: []string{srv.URL},
			Instance: telemetry.NewInstanceID(), Self: events.NewCatalog().Self()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cluster.Close)
		_, h := newEndpoints(b, cluster)
		runGet(b, h, Path+"?mode="+string(ModeAggregated), "text/plain")
	})
	b.Run("duometer_pushgateway_gather", func(b *testing.B) {
		r, _ := newEndpoints(b, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Gatherer().Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duometer_pushgateway_registry", func(b *testing.B) {
		r, _ := newEndpoints(b, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Registry().Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const openMetrics = "application/openmetrics-text;version=1.0.0"

// runGzip serves scrapes in the text format, gzipped.
func runGzip(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, Path, nil)
		req.Header.Set("Accept", "text/plain")
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Encoding") != "gzip" {
			b.Fatal("not gzipped")
		}
	}
}

// BenchmarkScrapeStages splits a scrape of 10,000 and of 100,000 series into what each layer
// costs: duometer_sdk_collect is the MeterProvider's collection alone (the observable
// callbacks reading the cells, the SDK aggregating what they observe);
// duometer_exporter_collect adds the exporter's conversion of every point to a
// prometheus.Metric, received as the Gatherer receives them but not looked at: the floor of
// a scrape through the exporter; duometer_gather is the Gatherer (the whole collection, the
// checks and the order), duometer_registry_gather the registry's Gather it replaces. The rest
// of BenchmarkScrape is encoding and HTTP.
func BenchmarkScrapeStages(b *testing.B) {
	for _, n := range []int{benchSeries, 10 * benchSeries} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.Run("client_golang_gather", func(b *testing.B) {
				b.ReportAllocs()
				reg, _ := benchClientGolang(n)
				_, _ = reg.Gather()
				for b.Loop() {
					if _, err := reg.Gather(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("duometer_sdk_collect", func(b *testing.B) {
				b.ReportAllocs()
				cat := benchCatalog(n)
				mr := sdkmetric.NewManualReader(sdkmetric.WithProducer(telemetry.NewProducer(cat)))
				tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{mr}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
				ctx := context.Background()
				_ = mr.Collect(ctx, &metricdata.ResourceMetrics{}) // the first collection sets up the SDK's state
				for b.Loop() {
					// A new ResourceMetrics each time, as the exporter's collection has.
					var rm metricdata.ResourceMetrics
					if err := mr.Collect(ctx, &rm); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("duometer_exporter_collect", func(b *testing.B) {
				b.ReportAllocs()
				r, _ := benchDuometer(b, n, false)
				c := r.gatherer.collector
				r.gatherer.acquire().release()
				for b.Loop() {
					ch, done := make(chan prometheus.Metric, capMetricChan), make(chan struct{})
					go func() { c.Collect(ch); close(ch); close(done) }()
					for range receive(ch, done) {
					}
				}
			})
			b.Run("duometer_gather", func(b *testing.B) {
				b.ReportAllocs()
				r, _ := benchDuometer(b, n, false)
				r.gatherer.acquire().release() // the first collection meets every series
				for b.Loop() {
					r.gatherer.acquire().release()
				}
			})
			b.Run("duometer_registry_gather", func(b *testing.B) {
				b.ReportAllocs()
				r, _ := benchDuometer(b, n, false)
				_, _ = r.Registry().Gather()
				for b.Loop() {
					if _, err := r.Registry().Gather(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestScrapeBenchSetup checks that the two sides of BenchmarkScrape serve the same series
// with the same values, so that the benchmark compares like with like: at the benchmark's
// 10,000 series, the family of client_golang's answer, its HELP and TYPE lines and every
// sample in order, is in duometer's byte for byte, in the text format and in OpenMetrics;
// the rest of duometer's answer is target_info and duometer's own families. The SDK's
// counter of the otel_sdk variant serves the same samples too.
func TestScrapeBenchSetup(t *testing.T) {
	n := benchSeries
	if testing.Short() {
		n = 300
	}
	_, cg := benchClientGolang(n)
	_, dm := benchDuometer(t, n, false)
	for _, accept := range []string{"text/plain", openMetrics} {
		want := benchGet(t, cg, Path, accept).Body.String()
		got := benchGet(t, dm, Path, accept).Body.String()
		family := strings.TrimSuffix(want, "# EOF\n")
		if strings.Count(family, "\n") != n+2 {
			t.Fatalf("%s: client_golang serves %d lines, want %d", accept, strings.Count(family, "\n"), n+2)
		}
		at := strings.Index(got, family[:30])
		if at < 0 {
			t.Fatalf("%s: duometer serves no %s", accept, family[:30])
		}
		rest, found := strings.CutPrefix(got[at:], family)
		if !found {
			t.Fatalf("%s: duometer's answer does not hold client_golang's family", accept)
		}
		rest = got[:at] + rest
		for _, l := range strings.Split(strings.TrimSuffix(rest, "\n"), "\n") {
			if name := strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE "); !strings.HasPrefix(name, "target_info") &&
				!strings.HasPrefix(name, "duometer_") && l != "# EOF" {
				t.Errorf("%s: duometer serves %q besides the benchmark's family", accept, l)
			}
		}
	}

	samples := func(body string) []string {
		var out []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "bench_requests_total{") {
				out = append(out, l)
			}
		}
		return out
	}
	want := samples(benchScrape(t, cg).Body.String())
	if got := samples(benchScrape(t, benchOTelSDK(t, n, false)).Body.String()); !slices.Equal(got, want) {
		t.Errorf("otel_sdk serves %d samples, not client_golang's %d", len(got), len(want))
	}
}
