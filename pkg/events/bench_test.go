package events_test

// Emit-path benchmarks: duometer's cells beside a raw atomic add, client_golang's pre-bound
// metrics and the OpenTelemetry SDK's synchronous instruments, all in one process so that the
// ratios are fair. Run them all with
//
//	go test -run '^$' -bench . -benchmem ./pkg/events/
//
// and see docs/performance.md for the targets and the ratios measured.

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"

	"github.com/duometer/duometer/pkg/events"
)

// benchObservations are the values the histogram benchmarks observe, cycled through: spread over
// client_golang's DefBuckets (= events.DefaultSecondsBuckets), so that every bucket and +Inf
// are hit and the bucket search does not always stop at the same place.
var benchObservations = func() [64]float64 {
	var t [64]float64
	for i := range t {
		// 0.0007 .. ~14.6, geometric: from below the first bound to above the last.
		t[i] = 0.0007
		for j := 0; j < i; j++ {
			t[i] *= 1.17
		}
	}
	// Shuffle deterministically so that consecutive values land in different buckets.
	for i := range t {
		j := (i * 37) % len(t)
		t[i], t[j] = t[j], t[i]
	}
	return t
}()

// benchFixture holds one of each kind of instrument under test.
type benchFixture struct {
	cat      *events.Catalog
	counter  *events.Series // pre-resolved, 2 labels
	labeled  *events.Event  // same event, values given per call
	hist     *events.Series // pre-resolved histogram, unit "s" (DefaultSecondsBuckets)
	disabled *events.Series // a disabled event's series

	promCounter    prometheus.Counter
	promCounterVec *prometheus.CounterVec
	promHist       prometheus.Histogram

	otelCounter     metric.Int64Counter
	otelCounterNoEx metric.Int64Counter // exemplars off
	otelHist        metric.Float64Histogram
	otelHistNoEx    metric.Float64Histogram
	// The attribute options, built once, as slices: passing them with ... spares the SDK's
	// caller the variadic slice that would escape to the heap on every call.
	otelAttrs    []metric.AddOption
	otelRecAttrs []metric.RecordOption
	otelShutdown func()
}

func newBenchFixture(tb testing.TB) *benchFixture {
	f := &benchFixture{cat: events.NewCatalog()}
	if err := f.cat.SetDisabled([]string{"bench.disabled"}); err != nil {
		tb.Fatal(err)
	}
	f.labeled = f.cat.MustDefine(events.Def{Name: "bench.requests", Kind: events.Counter, Labels: []string{"handler", "code"}})
	f.counter = f.labeled.With("a", "b")
	f.hist = f.cat.MustDefine(events.Def{Name: "bench.latency", Kind: events.Histogram, Unit: "s", Labels: []string{"handler"}}).With("a")
	f.disabled = f.cat.MustDefine(events.Def{Name: "bench.disabled", Kind: events.Counter}).With()

	reg := prometheus.NewRegistry()
	f.promCounter = prometheus.NewCounter(prometheus.CounterOpts{Name: "bench_plain_total", Help: "h"})
	f.promCounterVec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bench_requests_total", Help: "h"}, []string{"handler", "code"})
	f.promHist = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bench_latency_seconds", Help: "h", Buckets: prometheus.DefBuckets})
	reg.MustRegister(f.promCounter, f.promCounterVec, f.promHist)
	f.promCounterVec.WithLabelValues("a", "b").Inc() // the values are already seen

	// The SDK as an application would set it up: two readers (a manual one standing for the
	// OTLP push reader, and the Prometheus exporter), default exemplar filter (trace based).
	mp := func(opts ...sdkmetric.Option) *sdkmetric.MeterProvider {
		exp, err := otelprom.New(otelprom.WithRegisterer(prometheus.NewRegistry()))
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewManualReader()), sdkmetric.WithReader(exp))
		return sdkmetric.NewMeterProvider(opts...)
	}
	mpDefault := mp()
	mpNoEx := mp(sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
	f.otelShutdown = func() {
		_ = mpDefault.Shutdown(context.Background())
		_ = mpNoEx.Shutdown(context.Background())
	}
	var err error
	m := mpDefault.Meter("bench")
	if f.otelCounter, err = m.Int64Counter("bench.requests"); err != nil {
		tb.Fatal(err)
	}
	if f.otelHist, err = m.Float64Histogram("bench.latency", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(prometheus.DefBuckets...)); err != nil {
		tb.Fatal(err)
	}
	m = mpNoEx.Meter("bench")
	if f.otelCounterNoEx, err = m.Int64Counter("bench.requests"); err != nil {
		tb.Fatal(err)
	}
	if f.otelHistNoEx, err = m.Float64Histogram("bench.latency", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(prometheus.DefBuckets...)); err != nil {
		tb.Fatal(err)
	}
	set := attribute.NewSet(attribute.String("handler", "a"), attribute.String("code", "b"))
	f.otelAttrs = []metric.AddOption{metric.WithAttributeSet(set)}
	f.otelRecAttrs = []metric.RecordOption{metric.WithAttributeSet(set)}
	tb.Cleanup(f.otelShutdown)
	return f
}

func BenchmarkCounter(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	b.Run("atomic", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		for b.Loop() {
			n.Add(1)
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		b.ReportAllocs()
		c := f.promCounter
		for b.Loop() {
			c.Inc()
		}
	})
	b.Run("otel_sdk", func(b *testing.B) {
		b.ReportAllocs()
		c, o := f.otelCounter, f.otelAttrs
		for b.Loop() {
			c.Add(ctx, 1, o...)
		}
	})
	b.Run("otel_sdk_noexemplars", func(b *testing.B) {
		b.ReportAllocs()
		c, o := f.otelCounterNoEx, f.otelAttrs
		for b.Loop() {
			c.Add(ctx, 1, o...)
		}
	})
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		s := f.counter
		for b.Loop() {
			s.Inc()
		}
	})
	b.Run("duometer_disabled", func(b *testing.B) {
		b.ReportAllocs()
		s := f.disabled
		for b.Loop() {
			s.Inc()
		}
	})
}

func BenchmarkCounterParallel(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	b.Run("atomic", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
	b.Run("client_golang", func(b *testing.B) {
		b.ReportAllocs()
		c := f.promCounter
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Inc()
			}
		})
	})
	b.Run("otel_sdk", func(b *testing.B) {
		b.ReportAllocs()
		c, o := f.otelCounter, f.otelAttrs
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(ctx, 1, o...)
			}
		})
	})
	b.Run("otel_sdk_noexemplars", func(b *testing.B) {
		b.ReportAllocs()
		c, o := f.otelCounterNoEx, f.otelAttrs
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(ctx, 1, o...)
			}
		})
	})
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		s := f.counter
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Inc()
			}
		})
	})
}

// BenchmarkCounterLabels gives the label values on every call. The OpenTelemetry SDK has no
// such form without building attributes per call; otel_sdk_attrs shows what that costs.
func BenchmarkCounterLabels(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	b.Run("client_golang", func(b *testing.B) {
		b.ReportAllocs()
		v := f.promCounterVec
		for b.Loop() {
			v.WithLabelValues("a", "b").Inc()
		}
	})
	b.Run("otel_sdk_attrs", func(b *testing.B) {
		b.ReportAllocs()
		c := f.otelCounterNoEx
		for b.Loop() {
			c.Add(ctx, 1, metric.WithAttributes(attribute.String("handler", "a"), attribute.String("code", "b")))
		}
	})
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		e := f.labeled
		for b.Loop() {
			e.Inc("a", "b")
		}
	})
}

func BenchmarkCounterLabelsParallel(b *testing.B) {
	f := newBenchFixture(b)
	b.Run("client_golang", func(b *testing.B) {
		b.ReportAllocs()
		v := f.promCounterVec
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				v.WithLabelValues("a", "b").Inc()
			}
		})
	})
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		e := f.labeled
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.Inc("a", "b")
			}
		})
	})
}

func BenchmarkHistogram(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	b.Run("client_golang", func(b *testing.B) {
		b.ReportAllocs()
		h := f.promHist
		i := 0
		for b.Loop() {
			h.Observe(benchObservations[i&63])
			i++
		}
	})
	b.Run("otel_sdk", func(b *testing.B) {
		b.ReportAllocs()
		h, o := f.otelHist, f.otelRecAttrs
		i := 0
		for b.Loop() {
			h.Record(ctx, benchObservations[i&63], o...)
			i++
		}
	})
	b.Run("otel_sdk_noexemplars", func(b *testing.B) {
		b.ReportAllocs()
		h, o := f.otelHistNoEx, f.otelRecAttrs
		i := 0
		for b.Loop() {
			h.Record(ctx, benchObservations[i&63], o...)
			i++
		}
	})
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		s := f.hist
		i := 0
		for b.Loop() {
			s.Emit(benchObservations[i&63])
			i++
		}
	})
}

func BenchmarkHistogramParallel(b *testing.B) {
	f := newBenchFixture(b)
	b.Run("client_golang", func(b *testing.B) {
		b.ReportAllocs()
		h := f.promHist
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				h.Observe(benchObservations[i&63])
				i++
			}
		})
	})
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		s := f.hist
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				s.Emit(benchObservations[i&63])
				i++
			}
		})
	})
}

// TestEmitAllocs keeps the emit path allocation-free: a pre-resolved series, label values
// given per call (values seen before), a histogram observation and a disabled event's emit.
func TestEmitAllocs(t *testing.T) {
	cat := events.NewCatalog()
	if err := cat.SetDisabled([]string{"bench.disabled"}); err != nil {
		t.Fatal(err)
	}
	ev := cat.MustDefine(events.Def{Name: "bench.requests", Kind: events.Counter, Labels: []string{"handler", "code"}})
	s := ev.With("a", "b")
	hist := cat.MustDefine(events.Def{Name: "bench.latency", Kind: events.Histogram, Unit: "s", Labels: []string{"handler"}})
	h := hist.With("a")
	dis := cat.MustDefine(events.Def{Name: "bench.disabled", Kind: events.Counter, Labels: []string{"x"}})
	dis.Inc("y")
	handler, code := "a", "b" // not constants: the compiler must not fold the call away
	i := 0
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Series.Inc", func() { s.Inc() }},
		{"Series.Emit", func() { s.Emit(2) }},
		{"Event.Inc", func() { ev.Inc(handler, code) }},
		{"Event.Emit", func() { ev.Emit(0.5, handler, code) }},
		{"histogram Series.Emit", func() { h.Emit(benchObservations[i&63]); i++ }},
		{"histogram Event.Emit", func() { hist.Emit(benchObservations[i&63], handler); i++ }},
		{"disabled Event.Inc", func() { dis.Inc("y") }},
	} {
		if n := testing.AllocsPerRun(1000, tc.fn); n != 0 {
			t.Errorf("%s: %v allocs per call, want 0", tc.name, n)
		}
	}
	if got := s.Value(); got < 2000 {
		t.Errorf("counter = %v after the runs, want at least 2000", got)
	}
}
