package telemetry_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cat *events.Catalog, runtime bool) *sdkmetric.ManualReader {
	t.Helper()
	r := sdkmetric.NewManualReader(sdkmetric.WithProducer(telemetry.NewProducer(cat)))
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{r}, Runtime: runtime})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return r
}

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func TestEveryKindReachesTheReader(t *testing.T) {
	cat := events.NewCatalog()
	if err := cat.SetDisabled([]string{"duometer.http.*", "go.*"}); err != nil {
		t.Fatal(err)
	}
	r := start(t, cat, true)
	// Defined after Start: registered through the catalog's watch.
	c := cat.MustDefine(events.Def{Name: "delivery.completed", Kind: events.Counter, Labels: []string{"queue"}})
	ud := cat.MustDefine(events.Def{Name: "queue.size", Kind: events.UpDownCounter})
	g := cat.MustDefine(events.Def{Name: "queue.oldest-age", Kind: events.Gauge, Unit: "s"})
	h := cat.MustDefine(events.Def{Name: "delivery.time", Kind: events.Histogram, Unit: "s", Buckets: []float64{1, 10}})
	c.Emit(3, "local")
	c.Inc("remote")
	ud.Emit(-2)
	g.Emit(7.5)
	h.Emit(0.5)
	h.Emit(20)
	cat.Self().HTTPRequests.Inc("prometheus", "200") // disabled

	got := collect(t, r)
	sum, ok := got["delivery.completed"].(metricdata.Sum[float64])
	if !ok || !sum.IsMonotonic || sum.Temporality != metricdata.CumulativeTemporality {
		t.Fatalf("delivery.completed = %#v, want a cumulative monotonic sum", got["delivery.completed"])
	}
	vals := map[string]float64{}
	for _, dp := range sum.DataPoints {
		q, _ := dp.Attributes.Value(attribute.Key("queue"))
		vals[q.AsString()] = dp.Value
	}
	if vals["local"] != 3 || vals["remote"] != 1 || len(vals) != 2 {
		t.Errorf("delivery.completed points = %v", vals)
	}
	if s, ok := got["queue.size"].(metricdata.Sum[float64]); !ok || s.IsMonotonic || s.DataPoints[0].Value != -2 {
		t.Errorf("queue.size = %#v", got["queue.size"])
	}
	if g, ok := got["queue.oldest-age"].(metricdata.Gauge[float64]); !ok || g.DataPoints[0].Value != 7.5 {
		t.Errorf("queue.oldest-age = %#v", got["queue.oldest-age"])
	}
	hist, ok := got["delivery.time"].(metricdata.Histogram[float64])
	if !ok || len(hist.DataPoints) != 1 {
		t.Fatalf("delivery.time = %#v", got["delivery.time"])
	}
	dp := hist.DataPoints[0]
	if dp.Count != 2 || dp.Sum != 20.5 || len(dp.BucketCounts) != 3 || dp.BucketCounts[0] != 1 || dp.BucketCounts[2] != 1 {
		t.Errorf("delivery.time point = %+v", dp)
	}
	for name := range got {
		if events.MatchAny([]events.Pattern{"duometer.http.*", "go.*", "system.*"}, name) {
			t.Errorf("disabled or dropped instrument %q was collected", name)
		}
	}
	if _, ok := got["process.cpu.time"]; !ok {
		t.Error("process.cpu.time missing with Runtime on")
	}
	if _, ok := got["duometer.auth.failed"]; !ok {
		t.Error("duometer.auth.failed missing")
	}
}

// Two readers read the same cells: a collection through each at the same moment agrees.
func TestTwoReadersAgree(t *testing.T) {
	cat := events.NewCatalog()
	a, b := twoReaders(t, cat)
	cat.Self().AuthFailed.Emit(5)
	cat.Self().HTTPRequestTime.Emit(0.2, "prometheus")
	ga, gb := collect(t, a), collect(t, b)
	fa := ga["duometer.auth.failed"].(metricdata.Sum[float64]).DataPoints[0].Value
	fb := gb["duometer.auth.failed"].(metricdata.Sum[float64]).DataPoints[0].Value
	if fa != 5 || fb != 5 {
		t.Errorf("duometer.auth.failed: reader a %v, reader b %v, want 5 and 5", fa, fb)
	}
	ha := ga["duometer.http.request-time"].(metricdata.Histogram[float64]).DataPoints[0]
	hb := gb["duometer.http.request-time"].(metricdata.Histogram[float64]).DataPoints[0]
	if ha.Count != 1 || hb.Count != 1 || ha.Sum != hb.Sum {
		t.Errorf("histogram differs: %+v vs %+v", ha, hb)
	}
}

func TestNewResource(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	res, err := telemetry.NewResource(context.Background(), telemetry.ResourceOptions{
		ServiceName: "duometer", ServiceVersion: "1.2.3", InstanceID: "abc",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"service.name": "duometer", "service.version": "1.2.3", "service.instance.id": "abc", "deployment.environment": "test"}
	for k, v := range want {
		if got, ok := res.Set().Value(attribute.Key(k)); !ok || got.AsString() != v {
			t.Errorf("%s = %q, want %q", k, got.AsString(), v)
		}
	}
	if h, ok := res.Set().Value("host.name"); !ok || h.AsString() == "" {
		t.Error("host.name missing")
	}
}

// A series that expires leaves the reader; the others keep their values and attributes, and
// a series created afterwards is observed.
func TestExpiredSeriesLeaveTheReader(t *testing.T) {
	cat := events.NewCatalog()
	r := start(t, cat, false)
	ev := cat.MustDefine(events.Def{Name: "jobs.last-run", Kind: events.Gauge, Labels: []string{"task"}, TTL: time.Minute})
	for i, task := range []string{"a", "b", "c"} {
		ev.Emit(float64(i+1), task)
	}
	values := func() map[string]float64 {
		out := map[string]float64{}
		g, _ := collect(t, r)["jobs.last-run"].(metricdata.Gauge[float64])
		for _, dp := range g.DataPoints {
			v, _ := dp.Attributes.Value("task")
			out[v.AsString()] = dp.Value
		}
		return out
	}

	if got := values(); len(got) != 3 {
		t.Fatalf("before expiry: %v", got)
	}
	now := time.Now()
	cat.Expire(now)
	ev.Emit(5, "b")
	cat.Expire(now.Add(2 * time.Minute))
	ev.Emit(7, "d")
	if got := values(); len(got) != 2 || got["b"] != 5 || got["d"] != 7 {
		t.Errorf("after a and c expired: %v, want b=5 and d=7", got)
	}
}

// An embedding program names its own service; what it leaves empty gets the defaults, and
// OTEL_SERVICE_NAME has the last word.
func TestNewResourceForAnEmbeddingProgram(t *testing.T) {
	get := func(t *testing.T, o telemetry.ResourceOptions, key string) (string, bool) {
		t.Helper()
		res, err := telemetry.NewResource(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := res.Set().Value(attribute.Key(key))
		return v.AsString(), ok
	}
	if name, _ := get(t, telemetry.ResourceOptions{ServiceName: "shop"}, "service.name"); name != "shop" {
		t.Errorf("service.name = %q, want shop", name)
	}
	if name, _ := get(t, telemetry.ResourceOptions{}, "service.name"); !strings.HasPrefix(name, "unknown_service:") {
		t.Errorf("service.name = %q without a name, want unknown_service:<executable>", name)
	}
	if _, ok := get(t, telemetry.ResourceOptions{ServiceName: "shop"}, "service.version"); ok {
		t.Error("service.version set without a version")
	}
	a, _ := get(t, telemetry.ResourceOptions{}, "service.instance.id")
	b, _ := get(t, telemetry.ResourceOptions{}, "service.instance.id")
	if len(a) != 32 || a == b {
		t.Errorf("generated service.instance.id %q then %q, want two different ids of 32 hex digits", a, b)
	}
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	if name, _ := get(t, telemetry.ResourceOptions{ServiceName: "shop"}, "service.name"); name != "from-env" {
		t.Errorf("service.name = %q with OTEL_SERVICE_NAME set, want from-env", name)
	}
}

// Two readers may collect at once while series are created and expire: each collection
// sees every series that lives through it, with its value.
func TestConcurrentCollections(t *testing.T) {
	cat := events.NewCatalog()
	a, b := twoReaders(t, cat)
	stable := cat.MustDefine(events.Def{Name: "jobs.done", Kind: events.Counter, Labels: []string{"k"}})
	churn := cat.MustDefine(events.Def{Name: "jobs.seen", Kind: events.Gauge, Labels: []string{"k"}, TTL: time.Minute})
	for i := range 50 {
		stable.Emit(float64(i), fmt.Sprint(i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		now := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			churn.Emit(1, fmt.Sprint(i))
			now = now.Add(time.Minute)
			cat.Expire(now)
		}
	})
	for _, r := range []*sdkmetric.ManualReader{a, b} {
		wg.Go(func() {
			for range 50 {
				sum, _ := collect(t, r)["jobs.done"].(metricdata.Sum[float64])
				if len(sum.DataPoints) != 50 {
					t.Errorf("jobs.done: %d points, want 50", len(sum.DataPoints))
					return
				}
				for _, dp := range sum.DataPoints {
					k, _ := dp.Attributes.Value("k")
					if k.AsString() != fmt.Sprint(dp.Value) {
						t.Errorf("jobs.done{k=%q} = %v", k.AsString(), dp.Value)
					}
				}
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
}

// twoReaders starts telemetry over cat with two manual readers, each with the catalog's
// producer, and shuts it down at the end of the test.
func twoReaders(t *testing.T, cat *events.Catalog) (a, b *sdkmetric.ManualReader) {
	t.Helper()
	a = sdkmetric.NewManualReader(sdkmetric.WithProducer(telemetry.NewProducer(cat)))
	b = sdkmetric.NewManualReader(sdkmetric.WithProducer(telemetry.NewProducer(cat)))
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Readers: []sdkmetric.Reader{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return a, b
}
