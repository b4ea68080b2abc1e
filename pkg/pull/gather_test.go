package pull

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/protobuf/proto"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/telemetry"
)

// TestDescReadable fails when a client_golang release renames the fields of prometheus.Desc
// that the Gatherer reads: every scrape would then go through the registry (the same
// answers, at the old cost).
func TestDescReadable(t *testing.T) {
	if !descReadable {
		t.Fatal("prometheus.Desc has no string fields fqName, help and unit: the Gatherer is off, scrapes go through the registry")
	}
	d := prometheus.V2.NewDesc("a_name", "a help", prometheus.UnconstrainedLabels(nil), nil, prometheus.WithUnit("seconds"))
	if name, help, unit := descName(d); name != "a_name" || help != "a help" || unit != "seconds" {
		t.Errorf("descName = %q, %q, %q", name, help, unit)
	}
}

// fake returns a metric of family name whose Write gives labels (name, value, name, value…)
// and a counter of value v.
func fake(name, help string, v float64, labels ...string) prometheus.Metric {
	m := &dto.Metric{Counter: &dto.Counter{Value: proto.Float64(v)}}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
	}
	return replayed{desc: prometheus.NewDesc(name, help, nil, nil), m: m}
}

// stateCollector sends the metrics its make function returns, shuffled, as the exporter
// sends the SDK's points in no particular order. Collections 2k and 2k+1 have the same order:
// pair.compare collects by the registry, then by the Gatherer, and where the order matters
// (which of two duplicates the registry keeps) both see the same.
type stateCollector struct {
	mu    sync.Mutex
	make  func() []prometheus.Metric
	seed  uint64
	calls uint64
}

func (*stateCollector) Describe(chan<- *prometheus.Desc) {}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ms := c.make()
	rand.New(rand.NewPCG(c.seed, c.calls/2)).Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	c.calls++
	c.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}

func (c *stateCollector) set(f func() []prometheus.Metric) {
	c.mu.Lock()
	c.make = f
	c.mu.Unlock()
}

// pair is a collector served both ways: by a registry and promhttp, as before the Gatherer,
// and by a Gatherer and its scrapeServer.
type pair struct {
	reg             *prometheus.Registry
	g               *Gatherer
	want, got       http.Handler
	wantLog, gotLog *testutil.SyncBuffer
}

func newPair(t *testing.T, c prometheus.Collector) *pair {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return newPairOf(reg, newGatherer(c))
}

// newPairOf serves a registry, and a Gatherer of the collector registered on it.
func newPairOf(reg *prometheus.Registry, g *Gatherer) *pair {
	p := &pair{reg: reg, g: g, wantLog: &testutil.SyncBuffer{}, gotLog: &testutil.SyncBuffer{}}
	plain := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	p.want = promhttp.HandlerFor(p.reg, handlerOpts(slog.New(slog.NewTextHandler(p.wantLog, plain))))
	srv := newScrapeServer(slog.New(slog.NewTextHandler(p.gotLog, plain)))
	p.got = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.serve(w, r, p.g.acquire(), nil) })
	return p
}

// requests are the scrapes compared: every format promhttp negotiates, with and without
// compression, and the name[] filter.
var requests = func() []*http.Request {
	accepts := []string{
		"",
		"text/plain",
		"text/plain;version=0.0.4",
		"text/plain;version=0.0.4;escaping=underscores",
		"text/plain;version=1.0.0;escaping=allow-utf-8",
		"text/plain;version=0.0.4;escaping=dots",
		"text/plain;version=0.0.4;escaping=values",
		"application/openmetrics-text;version=1.0.0",
		"application/openmetrics-text;version=0.0.1",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
		"application/openmetrics-text;version=2.0.0",
		// Prometheus 2 and 3 by default.
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
		"application/json",
	}
	encodings := []string{"", "gzip", "gzip;q=0", "identity;q=0, gzip;q=0", "br, *;q=0.5", "zstd"}
	var out []*http.Request
	for i, a := range accepts {
		for j, e := range encodings {
			if i%3 != 0 && j > 1 && j%2 != i%2 { // every encoding with some of the formats
				continue
			}
			r := httptest.NewRequest(http.MethodGet, Path, nil)
			if a != "" {
				r.Header.Set("Accept", a)
			}
			if e != "" {
				r.Header.Set("Accept-Encoding", e)
			}
			out = append(out, r)
		}
	}
	for _, q := range []string{"name[]=b_total", "name[]=b_total&name[]=target_info&name[]=nothing"} {
		r := httptest.NewRequest(http.MethodGet, Path+"?"+q, nil)
		r.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
		out = append(out, r)
	}
	return out
}()

// compare requires the Gatherer to gather what the registry gathers, and the scrapeServer
// to answer every request as promhttp does; and the Gatherer to have taken the fast path
// unless slow.
func (p *pair) compare(t *testing.T, what string, slow bool) {
	t.Helper()
	_, _ = p.reg.Gather() // collections go by pairs, see stateCollector
	if s := p.g.acquire(); s.slow != slow {
		t.Errorf("%s: gathered by a registry: %v, want %v (%v)", what, s.slow, slow, s.err)
		s.release()
	} else {
		s.release()
	}
	want, wantErr := p.reg.Gather()
	got, gotErr := p.g.Gather()
	sameFamilies(t, what, got, want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Errorf("%s: Gather error\n%v\nwant\n%v", what, gotErr, wantErr)
	}
	for _, r := range requests {
		p.wantLog.Reset()
		p.gotLog.Reset()
		wr, gr := httptest.NewRecorder(), httptest.NewRecorder()
		p.want.ServeHTTP(wr, r)
		p.got.ServeHTTP(gr, r)
		desc := fmt.Sprintf("%s: %s Accept %q Accept-Encoding %q", what, r.URL, r.Header.Get("Accept"), r.Header.Get("Accept-Encoding"))
		if gr.Code != wr.Code {
			t.Errorf("%s: status %d, want %d", desc, gr.Code, wr.Code)
		}
		for _, h := range []string{"Content-Type", "Content-Encoding"} {
			if g, w := gr.Header().Get(h), wr.Header().Get(h); g != w {
				t.Errorf("%s: %s %q, want %q", desc, h, g, w)
			}
		}
		if g, w := body(t, gr), body(t, wr); !bytes.Equal(g, w) {
			t.Errorf("%s: body\n%s\nwant\n%s", desc, g, w)
		}
		if g, w := p.gotLog.String(), p.wantLog.String(); g != w {
			t.Errorf("%s: logged\n%s\nwant\n%s", desc, g, w)
		}
	}
}

// body returns the answer's body, decompressed.
func body(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.Bytes()
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameFamilies requires got and want to be equal family by family, metric by metric.
func sameFamilies(t *testing.T, what string, got, want []*dto.MetricFamily) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d families, want %d:\n%v\nwant\n%v", what, len(got), len(want), got, want)
		return
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("%s: family %d\n%v\nwant\n%v", what, i, got[i], want[i])
		}
	}
}

// TestGathererAgrees serves collections of every shape both ways, one after the other on
// one Gatherer (its caches follow the changes), and requires the same families, errors and
// answers.
func TestGathererAgrees(t *testing.T) {
	c := &stateCollector{seed: 1}
	p := newPair(t, c)
	info := func() prometheus.Metric {
		return prometheus.MustNewConstMetric(prometheus.NewDesc("target_info", "Target metadata", nil,
			prometheus.Labels{"service_name": "x"}), prometheus.GaugeValue, 1)
	}
	counter := func(name string, v float64, lv ...string) prometheus.Metric {
		var names []string
		for i := range lv {
			names = append(names, fmt.Sprintf("l%d", i))
		}
		return prometheus.MustNewConstMetric(prometheus.NewDesc(name, "Help of "+name+".", names, nil), prometheus.CounterValue, v, lv...)
	}
	gauge := func(name, help string, v float64, labels []string, lv ...string) prometheus.Metric {
		return prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue, v, lv...)
	}
	values := []float64{0, 1, -1, 0.5, 1e300, -1e-300, math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), 123456789, 1.5e21, 0.1}
	steps := []struct {
		name string
		make func() []prometheus.Metric
	}{
		{"nothing", func() []prometheus.Metric { return nil }},
		{"counters and gauges", func() []prometheus.Metric {
			ms := []prometheus.Metric{info(), counter("a_total", 3)}
			for i, v := range values {
				ms = append(ms, counter("b_total", math.Abs(v), fmt.Sprint(i%4), fmt.Sprintf("v%02d", i)))
				ms = append(ms, gauge("c", "C: a \\ backslash and a\nnewline \"quoted\".", v, []string{"k"}, fmt.Sprint(i)))
			}
			ms = append(ms, prometheus.MustNewConstMetric(prometheus.NewDesc("d", "", []string{"odd"}, nil), prometheus.UntypedValue, 2,
				"quote\" backslash\\ newline\n utf8 é"))
			return ms
		}},
		{"the same again", nil},
		{"a series gone, one new", func() []prometheus.Metric {
			ms := []prometheus.Metric{info(), counter("a_total", 4)}
			for i, v := range values[1:] {
				ms = append(ms, counter("b_total", math.Abs(v), fmt.Sprint(i%4), fmt.Sprintf("v%02d", i+1)))
			}
			ms = append(ms, counter("b_total", 9, "9", "new"))
			return ms
		}},
		{"a family gone, one new with a unit, a help changed", func() []prometheus.Metric {
			return []prometheus.Metric{info(), counter("b_total", 1, "a", "b"),
				prometheus.MustNewConstMetric(prometheus.V2.NewDesc("e_seconds", "E.", prometheus.UnconstrainedLabels(nil), nil, prometheus.WithUnit("seconds")), prometheus.GaugeValue, 2),
				prometheus.MustNewConstMetric(prometheus.NewDesc("a_total", "Another help.", nil, nil), prometheus.CounterValue, 5)}
		}},
		{"histograms, summaries, exemplars", func() []prometheus.Metric {
			h := prometheus.MustNewConstHistogram(prometheus.NewDesc("h_seconds", "H.", []string{"x"}, nil), 4, 2.5,
				map[float64]uint64{0.1: 1, 1: 3}, "a")
			ex, err := prometheus.NewMetricWithExemplars(counter("x_total", 2, "a"),
				prometheus.Exemplar{Value: 1, Labels: prometheus.Labels{"trace_id": "abc"}, Timestamp: time.Unix(1700000000, 0)})
			if err != nil {
				t.Fatal(err)
			}
			return []prometheus.Metric{info(), h, ex, counter("x_total", 3, "b"),
				prometheus.MustNewConstSummary(prometheus.NewDesc("s", "S.", nil, nil), 3, 4, map[float64]float64{0.5: 1})}
		}},
		{"a timestamp", func() []prometheus.Metric {
			return []prometheus.Metric{counter("x_total", 3, "b"), prometheus.NewMetricWithTimestamp(time.Unix(1700000000, 0), counter("t_total", 1))}
		}},
		{"label values equal, names not", func() []prometheus.Metric {
			return []prometheus.Metric{fake("q_total", "Q.", 1, "a", "x"), fake("q_total", "Q.", 2, "b", "x"),
				fake("q_total", "Q.", 3, "c", "x"), fake("q_total", "Q.", 4, "c", "w"), fake("q_total", "Q.", 5)}
		}},
		{"the same, in another order", nil},
		{"names an escaping scheme changes", func() []prometheus.Metric {
			return []prometheus.Metric{
				prometheus.MustNewConstMetric(prometheus.NewDesc("my.metric_total", "Dotted.", []string{"service.name"}, nil), prometheus.CounterValue, 1, "a"),
				counter("b_total", 1, "a"),
				fake("c_total", "C.", 1, "http.method", "GET"),
			}
		}},
		{"a duplicate series", func() []prometheus.Metric {
			return []prometheus.Metric{counter("b_total", 1, "a"), counter("b_total", 2, "a"), counter("c_total", 1)}
		}},
		{"back to normal", func() []prometheus.Metric {
			return []prometheus.Metric{counter("b_total", 1, "a"), counter("c_total", 1)}
		}},
		{"an invalid metric", func() []prometheus.Metric {
			return []prometheus.Metric{counter("b_total", 1, "a"), prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(fmt.Errorf("broken")), fmt.Errorf("broken"))}
		}},
		{"help differs within a family", func() []prometheus.Metric {
			return []prometheus.Metric{counter("b_total", 1, "a"), fake("b_total", "Other.", 2, "l0", "b")}
		}},
		{"type differs within a family", func() []prometheus.Metric {
			return []prometheus.Metric{counter("b_total", 1, "a"), gauge("b_total", "Help of b_total.", 2, []string{"l0"}, "b")}
		}},
		{"a histogram's _count", func() []prometheus.Metric {
			return []prometheus.Metric{
				prometheus.MustNewConstHistogram(prometheus.NewDesc("h", "H.", nil, nil), 1, 1, map[float64]uint64{1: 1}),
				gauge("h_count", "C.", 1, nil), gauge("h_sum", "S.", 1, nil), gauge("h_bucket", "B.", 1, nil)}
		}},
		{"labels out of order, repeated, invalid, not UTF-8, no value", func() []prometheus.Metric {
			return []prometheus.Metric{
				fake("u_total", "U.", 1, "b", "1", "a", "2"),
				fake("v_total", "V.", 1, "a", "1", "a", "2"),
				fake("w_total", "W.", 1, "__reserved", "1"),
				fake("x_total", "X.", 1, "a", "\xff"),
				replayed{desc: prometheus.NewDesc("y", "Y.", nil, nil), m: &dto.Metric{}},
				counter("b_total", 1, "a"),
			}
		}},
		{"back to normal again", func() []prometheus.Metric {
			return []prometheus.Metric{counter("b_total", 1, "a"), counter("b_total", 1, "b"), counter("c_total", 1)}
		}},
	}
	slow := map[string]bool{ // the registry reports an error
		"a duplicate series": true, "an invalid metric": true, "help differs within a family": true,
		"type differs within a family": true, "a histogram's _count": true,
		"labels out of order, repeated, invalid, not UTF-8, no value": true,
		"a timestamp": true, // the exporter writes none: the registry gathers what has one
	}
	for _, st := range steps {
		if st.make != nil {
			c.set(st.make)
		}
		p.compare(t, st.name, slow[st.name])
	}
}

// TestGathererRandom follows random changes of a set of series (values, series and
// families appearing and going, label values with every character the formats escape),
// comparing with the registry after each.
func TestGathererRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	c := &stateCollector{seed: 5}
	p := newPair(t, c)
	chars := []string{"a", "b", "é", "\"", "\\", "\n", " ", ",", "=", "{", "}", "0"}
	word := func() string {
		var b strings.Builder
		for range rnd.IntN(4) {
			b.WriteString(chars[rnd.IntN(len(chars))])
		}
		return b.String()
	}
	type key struct{ fam, a, b string }
	live := map[key]float64{}
	for round := range 40 {
		for range rnd.IntN(30) {
			live[key{fmt.Sprintf("f%d_total", rnd.IntN(5)), word(), word()}] = float64(rnd.IntN(1000)) / float64(1+rnd.IntN(8))
		}
		for k := range live {
			if rnd.IntN(10) == 0 {
				delete(live, k)
			} else if rnd.IntN(3) == 0 {
				live[k] += float64(rnd.IntN(5))
			}
		}
		snapshot := maps(live)
		c.set(func() []prometheus.Metric {
			var ms []prometheus.Metric
			for k, v := range snapshot {
				ms = append(ms, prometheus.MustNewConstMetric(prometheus.NewDesc(k.fam, "F.", []string{"a", "b"}, nil),
					prometheus.CounterValue, v, k.a, k.b))
			}
			return ms
		})
		p.compare(t, fmt.Sprint("round ", round), false)
	}
}

func maps[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A collection that is under way is shared: scrapes that arrive meanwhile serve its
// result, and the next scrape collects again.
func TestGathererShares(t *testing.T) {
	release := make(chan struct{})
	var calls int
	var mu sync.Mutex
	c := collectorFunc(func(ch chan<- prometheus.Metric) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			<-release
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("calls_total", "Calls.", nil, nil), prometheus.CounterValue, float64(n))
	})
	g := newGatherer(c)
	var wg sync.WaitGroup
	results := make([][]*dto.MetricFamily, 5)
	for i := range results {
		wg.Go(func() {
			mfs, err := g.Gather()
			if err != nil {
				t.Error(err)
			}
			results[i] = mfs
		})
		if i == 0 {
			time.Sleep(10 * time.Millisecond) // the first is collecting, and waits
		}
	}
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, mfs := range results {
		if v := mfs[0].GetMetric()[0].GetCounter().GetValue(); v != 1 {
			t.Errorf("scrape %d got collection %v, want the first", i, v)
		}
	}
	mfs, _ := g.Gather()
	if v := mfs[0].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("a later scrape got collection %v, want a second one", v)
	}
}

type collectorFunc func(chan<- prometheus.Metric)

func (collectorFunc) Describe(chan<- *prometheus.Desc)      {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// A collector that panics fails the scrape as it fails the registry's, and the scrapes that
// joined it; the next scrape collects again.
func TestGathererPanic(t *testing.T) {
	n := 0
	g := newGatherer(collectorFunc(func(ch chan<- prometheus.Metric) {
		n++
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("a_total", "A.", nil, nil), prometheus.CounterValue, 1)
		if n == 1 {
			panic("boom")
		}
	}))
	mfs, err := g.Gather()
	if err == nil || !strings.Contains(err.Error(), "boom") || len(mfs) != 1 {
		t.Errorf("panicking collector: %v, %v", mfs, err)
	}
	if mfs, err := g.Gather(); err != nil || len(mfs) != 1 {
		t.Errorf("next collection: %v, %v", mfs, err)
	}
}

// Snapshots released are reused by later collections; families handed out by Gather never
// are, and stay as they were. A steady scrape keeps none of the exporter's label pairs.
func TestGathererReuse(t *testing.T) {
	v := 1.0
	g := newGatherer(collectorFunc(func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("a_total", "A.", []string{"x"}, nil), prometheus.CounterValue, v, "1")
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("a_total", "A.", []string{"x"}, nil), prometheus.CounterValue, v+1, "2")
	}))
	kept, _ := g.Gather()
	s := g.acquire()
	first := s
	for i, m := range s.metrics {
		if m != nil {
			t.Errorf("metric %d of a steady collection keeps the exporter's dto.Metric %v", i, m)
		}
	}
	s.release()
	v = 5
	s = g.acquire()
	if s != first {
		t.Error("a released snapshot was not reused")
	}
	if got := s.families()[0].Metric[1].GetCounter().GetValue(); got != 6 {
		t.Errorf("reused snapshot: %v, want 6", got)
	}
	if got := s.families()[0].Metric[1].GetLabel()[0].GetValue(); got != "2" {
		t.Errorf("reused snapshot: label %q, want 2", got)
	}
	s.release()
	if got := kept[0].Metric[1].GetCounter().GetValue(); got != 2 {
		t.Errorf("families kept from Gather changed: %v, want 2", got)
	}
}

func TestParseLabels(t *testing.T) {
	labels := []*dto.LabelPair{
		{Name: proto.String("a"), Value: proto.String("")},
		{Name: proto.String("b_c"), Value: proto.String(`q" b\ n` + "\n" + ` é {},=`)},
		{Name: proto.String("d"), Value: proto.String(`\n`)},
	}
	for _, ls := range [][]*dto.LabelPair{nil, labels[:1], labels} {
		names, values := parseLabels(string(render(nil, ls)))
		if len(names) != len(ls) {
			t.Fatalf("%s: %d labels, want %d", render(nil, ls), len(names), len(ls))
		}
		for i, l := range ls {
			if names[i] != l.GetName() || values[i] != l.GetValue() {
				t.Errorf("%s: label %d is %q=%q, want %q=%q", render(nil, ls), i, names[i], values[i], l.GetName(), l.GetValue())
			}
		}
	}
}

// TestScrapeAgrees serves catalogs of every kind of event through the real pull path
// (catalog → MeterProvider → exporter), by Reader.Handler and by promhttp over the reader's
// registry as before the Gatherer, and requires the same answers to every request, as the
// catalog changes: series and events added, series expired, events disabled, instruments
// of the MeterProvider that are not events (attribute keys the exporter renames or merges).
func TestScrapeAgrees(t *testing.T) {
	cat := events.NewCatalog()
	r, err := NewReader(telemetry.NewProducer(cat))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "duometer"), attribute.String("service.instance.id", "x"))
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Resource: res, Readers: []sdkmetric.Reader{r}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	p := newPairOf(r.Registry(), r.gatherer)

	p.compare(t, "duometer's own events", false)
	self := cat.Self()
	self.AuthFailed.Emit(3)
	self.HTTPRequests.Emit(2, "prometheus", "200")
	self.HTTPRequestTime.Emit(0.3, "prometheus")
	odd := cat.MustDefine(events.Def{Name: "label.escapes", Kind: events.Counter, Labels: []string{"v", "w"}, Description: "Odd \\ label \"values\".\nTwo lines."})
	for i, v := range []string{"quote\" backslash\\ newline\n utf8 é", "", " ", "a,b=c{d}", "\\n"} {
		odd.Emit(float64(i)+0.25, v, fmt.Sprint(i))
	}
	gauge := cat.MustDefine(events.Def{Name: "queue.oldest-age", Kind: events.Gauge, Unit: "s", Labels: []string{"q"}, Description: "Age."})
	for i, v := range []float64{0, 1, -1, 0.1, 1e300, -1e-300, math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), 1.5e21} {
		gauge.Emit(v, fmt.Sprint("q", i))
	}
	cat.MustDefine(events.Def{Name: "queue.size", Kind: events.UpDownCounter, Unit: "1", Description: "Queued."}).Emit(-7)
	cat.MustDefine(events.Def{Name: "backup.size", Kind: events.Histogram, Unit: "By", Labels: []string{"kind"},
		Buckets: []float64{1e6, 1e9}, Description: "Size of backups."}).Emit(5e8, "full")
	p.compare(t, "every kind", false)
	p.compare(t, "every kind, again", false)

	capped := cat.MustDefine(events.Def{Name: "capped.things", Kind: events.Counter, Labels: []string{"k"}, CardinalityLimit: 2, Description: "Capped."})
	for _, k := range []string{"a", "b", "c", "true"} {
		capped.Inc(k)
	}
	expiring := cat.MustDefine(events.Def{Name: "jobs.last-run", Kind: events.Gauge, Labels: []string{"task"}, TTL: time.Minute, Description: "Last run."})
	for i, task := range []string{"a", "b", "c"} {
		expiring.Emit(float64(i+1), task)
	}
	p.compare(t, "an overflow series, expiring series", false)

	now := time.Now()
	cat.Expire(now)
	expiring.Emit(5, "b")
	cat.Expire(now.Add(2 * time.Minute))
	expiring.Emit(7, "d")
	odd.Emit(1, "new", "series")
	p.compare(t, "after expiry", false)

	m := tel.MeterProvider().Meter("other")
	c, err := m.Int64Counter("http.server.requests", metric.WithUnit("{request}"), metric.WithDescription("Requests."))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3, metric.WithAttributes(attribute.String("http.method", "GET"), attribute.String("http_method", "POST"), attribute.Int("code", 200)))
	g, err := m.Float64Gauge("ratio.used", metric.WithUnit("1"))
	if err != nil {
		t.Fatal(err)
	}
	g.Record(context.Background(), 0.5, metric.WithAttributes(attribute.String("0start", "x")))
	p.compare(t, "instruments that are not events", false)

	if err := cat.SetDisabled([]string{"label.*"}); err != nil {
		t.Fatal(err)
	}
	p.compare(t, "an event disabled", false)
}

// The group endpoint answers as it did when it filtered the registry's families.
func TestGroupAgrees(t *testing.T) {
	cat := benchCatalog(50)
	cat.MustDefine(events.Def{Name: "queue.size", Kind: events.UpDownCounter, Description: "Queued."}).Emit(-7)
	cat.Self().HTTPRequestTime.Emit(0.3, "prometheus") // a histogram among the fast families
	r, err := NewReader(telemetry.NewProducer(cat))
	if err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{r}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	index := NewIndex(cat)
	t.Cleanup(index.Close)
	log := slog.New(slog.DiscardHandler)
	fast := NewEndpoints(r, index, nil, nil, log)
	before := NewEndpoints(r, index, nil, nil, log)
	before.gatherer, before.fast = r.Registry(), nil
	mux := func(e *Endpoints) http.Handler {
		m := http.NewServeMux()
		m.Handle("GET "+GroupPattern, e.Group())
		return m
	}
	got, want := mux(fast), mux(before)
	for _, group := range []string{"bench", "queue", "duometer", "nothing"} {
		for _, r := range requests {
			req := r.Clone(context.Background())
			req.URL.Path = Path + "/" + group
			req.RequestURI = req.URL.RequestURI()
			gr, wr := httptest.NewRecorder(), httptest.NewRecorder()
			got.ServeHTTP(gr, req)
			want.ServeHTTP(wr, req)
			desc := fmt.Sprintf("%s Accept %q Accept-Encoding %q", req.URL, req.Header.Get("Accept"), req.Header.Get("Accept-Encoding"))
			if gr.Code != wr.Code || gr.Header().Get("Content-Type") != wr.Header().Get("Content-Type") ||
				gr.Header().Get("Content-Encoding") != wr.Header().Get("Content-Encoding") || !bytes.Equal(body(t, gr), body(t, wr)) {
				t.Errorf("%s: %d %v\n%s\nwant %d %v\n%s", desc, gr.Code, gr.Header(), body(t, gr), wr.Code, wr.Header(), body(t, wr))
			}
		}
	}
}
