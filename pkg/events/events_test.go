package events_test

import (
	"errors"
	"flag"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
)

var update = flag.Bool("update", false, "rewrite golden files and generated docs")

func TestDefValidate(t *testing.T) {
	cases := []struct {
		name string
		def  events.Def
		want []string // substrings of the error; none means valid
	}{
		{"counter", events.Def{Name: "backup.completed", Kind: events.Counter}, nil},
		{"dashes", events.Def{Name: "duometer.http.request-time", Kind: events.Histogram, Unit: "s"}, nil},
		{"one segment", events.Def{Name: "backup", Kind: events.Counter}, []string{"name:"}},
		{"upper case", events.Def{Name: "Backup.done", Kind: events.Counter}, []string{"name:"}},
		{"no kind", events.Def{Name: "a.b"}, []string{"kind:"}},
		{"bad label", events.Def{Name: "a.b", Kind: events.Counter, Labels: []string{"ok", "not-ok"}}, []string{"labels[1]"}},
		{"reserved label", events.Def{Name: "a.b", Kind: events.Histogram, Labels: []string{"le"}}, []string{"reserved"}},
		{"duplicate label", events.Def{Name: "a.b", Kind: events.Counter, Labels: []string{"x", "x"}}, []string{"twice"}},
		{"buckets on counter", events.Def{Name: "a.b", Kind: events.Counter, Buckets: []float64{1}}, []string{"buckets:"}},
		{"decreasing buckets", events.Def{Name: "a.b", Kind: events.Histogram, Buckets: []float64{1, 5, 2}}, []string{"increasing"}},
		{"all at once", events.Def{Name: "x", Labels: []string{"-"}}, []string{"name:", "kind:", "labels[0]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.def.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got nil", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDefineRejectsDuplicatesAndBuiltins(t *testing.T) {
	cat := events.NewCatalog()
	_, err := cat.Define(events.Def{Name: "duometer.auth.failed", Kind: events.Counter})
	if !errors.Is(err, events.ErrDefined) {
		t.Fatalf("redefining a built-in event: %v, want ErrDefined", err)
	}
	cat.MustDefine(events.Def{Name: "a.b", Kind: events.Counter})
	if _, err := cat.Define(events.Def{Name: "a.b", Kind: events.Gauge}); !errors.Is(err, events.ErrDefined) {
		t.Fatalf("defining a name twice: %v, want ErrDefined", err)
	}
	cat.MustDefine(events.Def{Name: "a-b.c", Kind: events.Gauge})
	_, err = cat.Define(events.Def{Name: "a.b.c", Kind: events.Counter})
	var clash *events.NameClashError
	if !errors.As(err, &clash) || clash.Other != "a-b.c" || clash.PrometheusName != "a_b_c" {
		t.Fatalf("a.b.c beside a-b.c: %v, want a NameClashError naming a-b.c and a_b_c", err)
	}
	if want := `event "a.b.c" has the same Prometheus name, a_b_c, as "a-b.c"`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	_, err = cat.Define(events.Def{Name: "x", Labels: []string{"ok", "le"}})
	var de *events.DefError
	if !errors.As(err, &de) {
		t.Fatalf("invalid def: %v, want a DefError", err)
	}
	var fields []string
	for _, p := range de.Problems {
		fields = append(fields, p.Field)
	}
	if want := []string{"name", "kind", "labels[1]"}; !slices.Equal(fields, want) {
		t.Errorf("DefError fields %q, want %q", fields, want)
	}
}

// Reserved: duometer's own prefixes, and any spelling that reaches its Prometheus
// namespaces or the exporter's own names; nothing else.
func TestReserved(t *testing.T) {
	for name, want := range map[string]string{
		"duometer.x":            `names starting with "duometer."`,
		"go.memory.used":        `names starting with "go."`,
		"process.cpu.time":      `names starting with "process."`,
		"duometer-http.fake":    `names whose Prometheus name starts with "duometer_"`,
		"duometer_auth.success": `names whose Prometheus name starts with "duometer_"`,
		"go-memory.allocations": `names whose Prometheus name starts with "go_"`,
		"go_gc.x":               `names whose Prometheus name starts with "go_"`,
		"process-cpu.time":      `names whose Prometheus name starts with "process_"`,
		"target.info":           `names whose Prometheus name is target_info`,
		"otel.scope.info":       `names whose Prometheus name is otel_scope_info`,
		"backup.done":           "",
		"godot.x":               "",
		"goods.sold":            "",
		"processor.load":        "",
		"target.hits":           "",
		"duometers.sold":        "",
	} {
		rule, ok := events.Reserved(name)
		if rule != want || ok != (want != "") {
			t.Errorf("Reserved(%q) = %q, %v; want %q", name, rule, ok, want)
		}
	}
}

func TestCounterSums(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "delivery.completed", Kind: events.Counter, Labels: []string{"queue"}})
	s := ev.With("local")
	s.Inc()
	s.Emit(2)
	s.Emit(0.5)
	s.Emit(-3)          // dropped: counters never go down
	s.Emit(math.NaN())  // dropped
	s.Emit(math.Inf(1)) // dropped
	ev.Inc("local")
	ev.Emit(10, "remote")
	ev.Inc("too", "many") // dropped: wrong number of values
	if got := s.Value(); got != 4.5 {
		t.Errorf("local = %v, want 4.5", got)
	}
	if got := ev.With("remote").Value(); got != 10 {
		t.Errorf("remote = %v, want 10", got)
	}
	if n := len(ev.Series()); n != 2 {
		t.Errorf("%d series, want 2", n)
	}
	if _, err := ev.Resolve(); err == nil {
		t.Error("Resolve with missing values must fail")
	}
}

func TestUpDownAndGauge(t *testing.T) {
	cat := events.NewCatalog()
	ud := cat.MustDefine(events.Def{Name: "queue.size", Kind: events.UpDownCounter}).With()
	ud.Emit(5)
	ud.Emit(-2)
	ud.Inc()
	if got := ud.Value(); got != 4 {
		t.Errorf("updown = %v, want 4", got)
	}
	g := cat.MustDefine(events.Def{Name: "queue.oldest-age", Kind: events.Gauge, Unit: "s"}).With()
	g.Emit(3.25)
	g.Emit(1.5)
	if got := g.Value(); got != 1.5 {
		t.Errorf("gauge = %v, want 1.5 (the last value set)", got)
	}
}

func TestHistogramBuckets(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "queue.message-size", Kind: events.Histogram, Unit: "By", Buckets: []float64{10, 100, 1000}})
	s := ev.With()
	for _, v := range []float64{1, 10, 11, 100, 5000, math.NaN()} {
		s.Emit(v)
	}
	counts := make([]uint64, 4)
	count, sum := s.HistogramInto(counts)
	// Upper bounds are inclusive, as Prometheus's le and OpenTelemetry's explicit buckets.
	if want := []uint64{2, 2, 0, 1}; !slices.Equal(counts, want) {
		t.Errorf("buckets = %v, want %v", counts, want)
	}
	if count != 5 || sum != 5122 {
		t.Errorf("count, sum = %d, %v; want 5, 5122", count, sum)
	}
	// Many bounds take the binary search.
	bounds := make([]float64, 40)
	for i := range bounds {
		bounds[i] = float64(i + 1)
	}
	big := cat.MustDefine(events.Def{Name: "queue.many", Kind: events.Histogram, Buckets: bounds}).With()
	big.Emit(0.5)
	big.Emit(40)
	big.Emit(40.5)
	c := make([]uint64, 41)
	big.HistogramInto(c)
	if c[0] != 1 || c[39] != 1 || c[40] != 1 {
		t.Errorf("binary search buckets wrong: first %d, le=40 %d, +Inf %d", c[0], c[39], c[40])
	}
}

func TestDefaultBuckets(t *testing.T) {
	cat := events.NewCatalog()
	d := cat.MustDefine(events.Def{Name: "job.duration", Kind: events.Histogram, Unit: "s"}).Def()
	if !slices.Equal(d.Buckets, events.DefaultSecondsBuckets) {
		t.Errorf("seconds histogram buckets = %v", d.Buckets)
	}
	d = cat.MustDefine(events.Def{Name: "job.size", Kind: events.Histogram}).Def()
	if !slices.Equal(d.Buckets, events.DefaultBuckets) {
		t.Errorf("histogram buckets = %v", d.Buckets)
	}
}

func TestDisabledEvents(t *testing.T) {
	cat := events.NewCatalog()
	a := cat.MustDefine(events.Def{Name: "backup.completed", Kind: events.Counter}).With()
	if err := cat.SetDisabled([]string{"backup.*", "*.failed", "exact.name"}); err != nil {
		t.Fatal(err)
	}
	b := cat.MustDefine(events.Def{Name: "backup.started", Kind: events.Counter}) // defined after: disabled too
	c := cat.MustDefine(events.Def{Name: "restore.completed", Kind: events.Counter})
	a.Inc()
	b.Inc()
	c.Inc()
	cat.Self().AuthFailed.Inc()
	if a.Value() != 0 || b.With().Value() != 0 || cat.Self().AuthFailed.Value() != 0 {
		t.Error("a disabled event recorded a value")
	}
	if b.Enabled() || cat.Lookup("duometer.auth.failed").Enabled() {
		t.Error("Enabled() = true for a disabled event")
	}
	if c.With().Value() != 1 || !c.Enabled() {
		t.Error("an enabled event lost its value")
	}
	for _, bad := range [][]string{{""}, {"a*b"}, {"*a*"}} {
		if err := cat.SetDisabled(bad); err == nil {
			t.Errorf("SetDisabled(%q) accepted a bad pattern", bad)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		p, name string
		want    bool
	}{
		{"*", "anything.at.all", true},
		{"duometer.http.*", "duometer.http.requests", true},
		{"duometer.http.*", "duometer.auth.failed", false},
		{"*.failed", "duometer.auth.failed", true},
		{"duometer.auth.success", "duometer.auth.success", true},
		{"duometer.auth.success", "duometer.auth.successes", false},
	}
	for _, c := range cases {
		if got := events.Pattern(c.p).Match(c.name); got != c.want {
			t.Errorf("%q.Match(%q) = %v, want %v", c.p, c.name, got, c.want)
		}
	}
}

// Many goroutines creating and emitting the same and new series concurrently lose nothing.
func TestConcurrentEmit(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "load.hits", Kind: events.Counter, Labels: []string{"k"}})
	h := cat.MustDefine(events.Def{Name: "load.sizes", Kind: events.Histogram, Buckets: []float64{1, 2}}).With()
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	const workers, perWorker = 8, 2000
	testutil.Concurrently(workers, func(int) {
		for i := range perWorker {
			ev.Inc(keys[i%len(keys)])
			h.Emit(1.5)
			if i%100 == 0 {
				_ = ev.Series()
			}
		}
	})
	var total float64
	for _, s := range ev.Series() {
		total += s.Value()
	}
	if total != workers*perWorker || len(ev.Series()) != len(keys) {
		t.Errorf("total %v over %d series, want %d over %d", total, len(ev.Series()), workers*perWorker, len(keys))
	}
	c := make([]uint64, 3)
	if n, sum := h.HistogramInto(c); n != workers*perWorker || sum != 1.5*workers*perWorker {
		t.Errorf("histogram count %d sum %v", n, sum)
	}
}

// Thousands of distinct label sets: every series is found again by its values.
func TestManySeries(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "load.keys", Kind: events.Counter, Labels: []string{"a", "b"}, CardinalityLimit: -1})
	const n = 5000
	for i := 0; i < n; i++ {
		ev.Emit(float64(i), strconv.Itoa(i), "x")
	}
	for i := 0; i < n; i++ {
		if got := ev.With(strconv.Itoa(i), "x").Value(); got != float64(i) {
			t.Fatalf("series %d = %v", i, got)
		}
	}
	if len(ev.Series()) != n {
		t.Fatalf("%d series, want %d", len(ev.Series()), n)
	}
}

func TestInvalidUTF8LabelValue(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "odd.values", Kind: events.Counter, Labels: []string{"v"}})
	s := ev.With("bad\xffvalue")
	if got := s.LabelValues()[0]; got != "bad\uFFFDvalue" {
		t.Errorf("label value %q not made valid UTF-8", got)
	}
	for i := 0; i < 10; i++ {
		ev.Inc("bad\xffvalue")
	}
	if n := len(ev.Series()); n != 1 || s.Value() != 10 {
		t.Errorf("the same invalid value made %d series (value %v), want 1 series with 10", n, s.Value())
	}
}

// docs/metrics.md is generated from the catalog; this test fails when it is stale.
func TestMetricsDoc(t *testing.T) {
	const path = "../../docs/metrics.md"
	got := events.Markdown(events.NewCatalog().Events())
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./pkg/events -run TestMetricsDoc -update)", err)
	}
	if string(want) != got {
		t.Fatalf("docs/metrics.md is stale: run go test ./pkg/events -run TestMetricsDoc -update")
	}
}

func TestCardinalityLimit(t *testing.T) {
	cat := events.NewCatalog()
	cat.SetCardinalityLimit(100)
	ev := cat.MustDefine(events.Def{Name: "load.users", Kind: events.Counter, Labels: []string{"user"}})
	own := cat.MustDefine(events.Def{Name: "load.own", Kind: events.Counter, Labels: []string{"k"}, CardinalityLimit: 3})
	for i := 0; i < 20000; i++ {
		ev.Inc("u" + strconv.Itoa(i))
		own.Inc(strconv.Itoa(i % 10))
	}
	series := ev.Series()
	if len(series) != 101 {
		t.Fatalf("%d series, want 100 plus the overflow series", len(series))
	}
	var total, overflow float64
	for _, s := range series {
		total += s.Value()
		attrs := s.Attributes()
		if v, ok := attrs.Value(events.OverflowAttribute); ok && v.AsBool() {
			overflow = s.Value()
		}
	}
	if total != 20000 || overflow != 19900 {
		t.Errorf("total %v, overflow %v; want 20000 and 19900: nothing lost, the excess folded", total, overflow)
	}
	if got := ev.With("u5").Value(); got != 1 {
		t.Errorf("a label set within the limit = %v, want 1", got)
	}
	if n := len(own.Series()); n != 4 {
		t.Errorf("per-event limit 3: %d series, want 4", n)
	}
	if got := cat.Self().CardinalityOverflows.With("load.users").Value(); got != 19900 {
		t.Errorf("duometer.cardinality.overflows{event=load.users} = %v, want 19900", got)
	}
}

func TestAggregationParse(t *testing.T) {
	for _, s := range []string{"sum", "logical", "per-node", "consistent"} {
		a, err := events.ParseAggregation(s)
		if err != nil || a.String() != s {
			t.Errorf("ParseAggregation(%q) = %v, %v", s, a, err)
		}
	}
	if a, err := events.ParseAggregation(""); err != nil || a != events.Sum {
		t.Errorf("empty aggregation = %v, %v; want sum", a, err)
	}
	if _, err := events.ParseAggregation("average"); err == nil {
		t.Error("ParseAggregation accepted average")
	}
}
