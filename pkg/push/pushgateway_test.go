package push_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/push"
	"github.com/duometer/duometer/pkg/telemetry"
)

// fakeGateway stands in for a Pushgateway: it decodes every push, refuses (400) metrics that
// carry a job label or a grouping label as the real one does, and can fail or hang on demand.
type fakeGateway struct {
	mu       sync.Mutex
	status   int  // answer this status instead of accepting; 0 accepts
	hang     bool // block until the client gives up
	inFlight chan struct{}
	pushes   []gatewayPush
}

type gatewayPush struct {
	method, path string
	header       http.Header
	families     map[string]*dto.MetricFamily
}

func newFakeGateway(t *testing.T) (*fakeGateway, *httptest.Server) {
	g := &fakeGateway{inFlight: make(chan struct{}, 100)}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	status, hang := g.status, g.hang
	g.mu.Unlock()
	if hang {
		// Reading the body to its end starts the server's background read, which is what
		// cancels the request's context when the client hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		g.inFlight <- struct{}{}
		<-r.Context().Done()
		return
	}
	if status != 0 {
		http.Error(w, "pushgateway says no", status)
		return
	}
	p := gatewayPush{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), families: map[string]*dto.MetricFamily{}}
	grouping := groupingOf(r.URL.EscapedPath())
	dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "job" || grouping[l.GetName()] {
					http.Error(w, fmt.Sprintf("pushed metrics are invalid or inconsistent with existing metrics: %s has label %s", mf.GetName(), l.GetName()), http.StatusBadRequest)
					return
				}
			}
		}
		p.families[mf.GetName()] = mf
	}
	g.mu.Lock()
	g.pushes = append(g.pushes, p)
	g.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// groupingOf returns the grouping label names of a push path /metrics/job/J/k1/v1/...
func groupingOf(path string) map[string]bool {
	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	out := map[string]bool{}
	for i := 2; i+1 < len(parts); i += 2 {
		out[strings.TrimSuffix(parts[i], "@base64")] = true
	}
	return out
}

func (g *fakeGateway) set(status int, hang bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status, g.hang = status, hang
}

func (g *fakeGateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pushes)
}

func (g *fakeGateway) last() gatewayPush {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pushes[len(g.pushes)-1]
}

// value returns the value of the sample of family name whose labels are exactly labels.
func (p gatewayPush) value(name string, labels map[string]string) (float64, bool) {
	mf := p.families[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// fixture is a catalog read by a pull reader on a running MeterProvider: what the server
// pushes.
type fixture struct {
	cat  *events.Catalog
	self *events.Self
	pull *pull.Reader
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat := events.NewCatalog()
	r, err := pull.NewReader(telemetry.NewProducer(cat))
	if err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{r}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return &fixture{cat: cat, self: cat.Self(), pull: r}
}

func (f *fixture) options(url string) push.PushgatewayOptions {
	return push.PushgatewayOptions{
		URL: url, Interval: time.Hour, Timeout: 5 * time.Second,
		Job: "duometer", Grouping: map[string]string{"instance": "duometer~h1"},
		Gatherer: f.pull.Registry(), Self: f.self,
	}
}

func (f *fixture) counts() (ok, failed, timed float64) {
	return f.self.PushExports.With("pushgateway").Value(), f.self.PushFailures.With("pushgateway").Value(),
		histCount(f.self.PushExportTime.With("pushgateway"))
}

func histCount(s *events.Series) float64 {
	n, _ := s.HistogramInto(make([]uint64, 64))
	return float64(n)
}

func TestNodeName(t *testing.T) {
	if name, host := push.NodeName("duometer@db-1@x", "fb"); name != "duometer" || host != "db-1@x" {
		t.Errorf("NodeName = %q, %q", name, host)
	}
	if name, host := push.NodeName("solo", "fb"); name != "solo" || host != "fb" {
		t.Errorf("NodeName without @ = %q, %q", name, host)
	}
}

// PUT to the rendered path, with the configured headers and basic auth, carrying what the
// pull reader serves; the first push one interval after Start; Shutdown pushes once more.
func TestPushgatewayPutHeadersAuth(t *testing.T) {
	f := newFixture(t)
	g, srv := newFakeGateway(t)
	f.self.AuthFailed.Emit(3)
	o := f.options(srv.URL + "/")
	o.Interval = 200 * time.Millisecond
	o.Method = "PUT"
	o.Headers = map[string]string{"x-scope-orgid": "tenant-1", "Authorization": "Bearer overridden"}
	o.HTTPClient.BasicAuth = &promconfig.BasicAuth{Username: "pusher", Password: "s3cret"}
	p, err := push.NewPushgateway(o)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.Start()
	p.Start() // a second Start does nothing
	// Counted by the pusher, not only received: the gateway holds a push before its answer
	// reaches the pusher, and Shutdown would cancel a push whose answer is still on its way.
	testutil.WaitFor(t, 10*time.Second, func() bool { ok, _, _ := f.counts(); return ok >= 1 })
	if took := time.Since(start); took < o.Interval {
		t.Errorf("first push %v after Start, want one interval (%v)", took, o.Interval)
	}
	got := g.last()
	if got.method != http.MethodPut || got.path != "/metrics/job/duometer/instance/duometer~h1" {
		t.Errorf("push = %s %s", got.method, got.path)
	}
	if u, pw, ok := (&http.Request{Header: got.header}).BasicAuth(); !ok || u != "pusher" || pw != "s3cret" {
		t.Errorf("basic auth = %q %q %v (Authorization %q)", u, pw, ok, got.header.Get("Authorization"))
	}
	if got.header.Get("X-Scope-Orgid") != "tenant-1" || !strings.Contains(got.header.Get("Content-Type"), "protobuf") {
		t.Errorf("headers = %v", got.header)
	}
	if v, ok := got.value("duometer_auth_failed_total", nil); !ok || v != 3 {
		t.Errorf("duometer_auth_failed_total = %v (present %v), want 3", v, ok)
	}
	if _, ok := got.families["target_info"]; !ok {
		t.Errorf("target_info was not pushed: the pull registry's families are %v", keys(got.families))
	}

	f.self.AuthFailed.Emit(2)
	n := g.count()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if g.count() != n+1 {
		t.Fatalf("%d pushes at Shutdown, want 1", g.count()-n)
	}
	if v, _ := g.last().value("duometer_auth_failed_total", nil); v != 5 {
		t.Errorf("final push: duometer_auth_failed_total = %v, want 5", v)
	}
	if err := p.Shutdown(context.Background()); err != nil || g.count() != n+1 {
		t.Errorf("second Shutdown: %v, %d pushes", err, g.count()-n)
	}
	ok, failed, timed := f.counts()
	if ok != float64(n+1) || failed != 0 || timed != ok {
		t.Errorf("exports %v, failures %v, timed %v; want %d, 0, %d", ok, failed, timed, n+1, n+1)
	}
}

// POST; a value with '/' is base64-encoded; labels clashing with the grouping key are
// renamed, not refused.
func TestPushgatewayPostAndClashingLabels(t *testing.T) {
	f := newFixture(t)
	g, srv := newFakeGateway(t)
	// The catalog reserves job and instance, but a template may group by any label, and a
	// gatherer beside the catalog's may carry job.
	ev := f.cat.MustDefine(events.Def{Name: "shop.orders", Kind: events.Counter, Labels: []string{"zone", "exported_zone"}})
	ev.Emit(4, "eu-2", "x")
	extra := prometheus.NewRegistry()
	batch := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "batch_last_success_seconds", Help: "h"}, []string{"job", "instance"})
	extra.MustRegister(batch)
	batch.WithLabelValues("nightly", "i-1").Set(1700000000)
	o := f.options(srv.URL)
	o.Gatherer = prometheus.Gatherers{f.pull.Registry(), extra}
	o.Method = "post"
	o.Grouping = map[string]string{"instance": "rack/7", "zone": "eu-1"}
	p, err := push.NewPushgateway(o)
	if err != nil {
		t.Fatal(err)
	}
	if job, grouping := p.Job(); job != "duometer" || grouping["instance"] != "rack/7" || grouping["zone"] != "eu-1" {
		t.Errorf("Job() = %q, %v", job, grouping)
	}
	if err := p.Push(context.Background()); err != nil {
		t.Fatalf("push: %v", err)
	}
	got := g.last()
	if got.method != http.MethodPost {
		t.Errorf("method %s, want POST", got.method)
	}
	// client_golang orders the grouping pairs as a map does: check both.
	b64 := "instance@base64/cmFjay83"
	if got.path != "/metrics/job/duometer/"+b64+"/zone/eu-1" && got.path != "/metrics/job/duometer/zone/eu-1/"+b64 {
		t.Errorf("path %s", got.path)
	}
	if got.header.Get("Authorization") != "" {
		t.Errorf("Authorization %q sent without auth configured", got.header.Get("Authorization"))
	}
	// As Prometheus renames scraped labels clashing with target labels: the clashing label
	// gets exported_ prefixes until its name is free.
	want := map[string]string{"exported_exported_zone": "eu-2", "exported_zone": "x"}
	if v, ok := got.value("shop_orders_total", want); !ok || v != 4 {
		t.Errorf("shop_orders_total%v = %v (present %v); pushed: %v", want, v, ok, got.families["shop_orders_total"])
	}
	want = map[string]string{"exported_job": "nightly", "exported_instance": "i-1"}
	if v, ok := got.value("batch_last_success_seconds", want); !ok || v != 1700000000 {
		t.Errorf("batch_last_success_seconds%v = %v (present %v); pushed: %v", want, v, ok, got.families["batch_last_success_seconds"])
	}
	// The renaming is the push's own: the scrape endpoint still serves the labels as they are.
	mfs, err := f.pull.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "shop_orders_total" {
			continue
		}
		if labels := mf.GetMetric()[0].GetLabel(); len(labels) != 2 || labels[0].GetName() != "exported_zone" || labels[1].GetName() != "zone" {
			t.Errorf("after a push the scrape has shop_orders_total labels %v", labels)
		}
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Failures are counted and logged at most once a minute; the loop keeps one attempt per
// interval; the first push that gets through is whole and is logged as a recovery.
func TestPushgatewayFailuresCountedAndRecovered(t *testing.T) {
	f := newFixture(t)
	g, srv := newFakeGateway(t)
	g.set(http.StatusServiceUnavailable, false)
	var logs testutil.SyncBuffer
	o := f.options(srv.URL)
	o.Interval, o.Timeout = 20*time.Millisecond, time.Second
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	p, err := push.NewPushgateway(o)
	if err != nil {
		t.Fatal(err)
	}
	f.self.AuthFailed.Emit(2)
	p.Start()
	testutil.WaitFor(t, 10*time.Second, func() bool { _, failed, _ := f.counts(); return failed >= 5 })
	if n := strings.Count(logs.String(), "Pushgateway push failed"); n != 1 {
		t.Errorf("%d warnings for 5 failures in under a minute, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "503") {
		t.Errorf("the warning does not say what failed:\n%s", logs.String())
	}
	f.self.AuthFailed.Inc()
	g.set(0, false)
	testutil.WaitFor(t, 10*time.Second, func() bool { ok, _, _ := f.counts(); return ok >= 1 }) // counted, as above
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := g.last()
	if v, _ := got.value("duometer_auth_failed_total", nil); v != 3 {
		t.Errorf("after recovery duometer_auth_failed_total = %v, want 3", v)
	}
	if v, _ := got.value("duometer_push_failures_total", map[string]string{"exporter": "pushgateway"}); v < 5 {
		t.Errorf("pushed duometer_push_failures_total{exporter=pushgateway} = %v, want >= 5", v)
	}
	ok, failed, timed := f.counts()
	if ok < 2 || timed != ok+failed {
		t.Errorf("exports %v, failures %v, timed %v", ok, failed, timed)
	}
	if !strings.Contains(logs.String(), "Pushgateway push succeeded again") {
		t.Errorf("no recovery line:\n%s", logs.String())
	}
}

// A Pushgateway that does not answer costs one timeout per push; Shutdown cancels the push
// in flight (not counted) and its own push is bounded by its context.
func TestPushgatewayTimeoutAndShutdownCancels(t *testing.T) {
	f := newFixture(t)
	g, srv := newFakeGateway(t)
	g.set(0, true)
	o := f.options(srv.URL)
	o.Interval, o.Timeout = 10*time.Millisecond, 150*time.Millisecond
	p, err := push.NewPushgateway(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Push(context.Background()); err == nil {
		t.Fatal("push to a hanging gateway succeeded")
	}
	if _, failed, _ := f.counts(); failed != 1 {
		t.Fatalf("failures = %v after one timed-out push, want 1", failed)
	}
	<-g.inFlight

	o.Timeout = time.Minute
	p, err = push.NewPushgateway(o)
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	<-g.inFlight // a loop push is in flight
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Shutdown(ctx)
	if took := time.Since(start); err == nil || took > 5*time.Second {
		t.Fatalf("Shutdown with a hanging gateway: %v after %v; want a deadline error within the shutdown context", err, took)
	}
	if _, failed, _ := f.counts(); failed != 2 {
		t.Errorf("failures = %v, want 2 (the canceled loop push is not one)", failed)
	}
}

func TestNewPushgatewayRejectsBadOptions(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		mod  func(*push.PushgatewayOptions)
		want string
	}{
		{"no scheme", func(o *push.PushgatewayOptions) { o.URL = "127.0.0.1:9091" }, `pushgateway url "127.0.0.1:9091": must be an http:// or https:// URL`},
		{"ftp", func(o *push.PushgatewayOptions) { o.URL = "ftp://127.0.0.1:9091" }, `pushgateway url "ftp://127.0.0.1:9091": must be an http:// or https:// URL`},
		{"query", func(o *push.PushgatewayOptions) { o.URL = "http://127.0.0.1:9091/?a=b" }, `pushgateway url "http://127.0.0.1:9091/?a=b": must have no user information, query or fragment`},
		{"user info", func(o *push.PushgatewayOptions) { o.URL = "http://user:hunter2@127.0.0.1:9091" }, `pushgateway url "http://user:xxxxx@127.0.0.1:9091": must have no user information, query or fragment`},
		{"user info, bad scheme", func(o *push.PushgatewayOptions) { o.URL = "ftp://user:hunter2@127.0.0.1:9091" }, `pushgateway url "ftp://user:xxxxx@127.0.0.1:9091": must be an http:// or https:// URL`},
		{"method", func(o *push.PushgatewayOptions) { o.Method = "patch" }, `pushgateway method "patch": must be put or post`},
		{"interval", func(o *push.PushgatewayOptions) { o.Interval = 0 }, `pushgateway interval 0s and timeout 5s: must be positive`},
		{"timeout", func(o *push.PushgatewayOptions) { o.Timeout = -1 }, `pushgateway interval 1h0m0s and timeout -1ns: must be positive`},
		{"no gatherer", func(o *push.PushgatewayOptions) { o.Gatherer = nil }, `pushgateway: Gatherer and Self are required`},
		{"no job", func(o *push.PushgatewayOptions) { o.Job = "" }, `pushgateway: the job name is empty`},
		{"missing CA", func(o *push.PushgatewayOptions) { o.HTTPClient.TLSConfig.CAFile = "/does/not/exist.pem" }, `pushgateway client: unable to read CA cert: unable to read file /does/not/exist.pem`},
	} {
		o := f.options("http://127.0.0.1:9091")
		tc.mod(&o)
		_, err := push.NewPushgateway(o)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: NewPushgateway = %v, want an error starting %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
