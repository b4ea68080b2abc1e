package events_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
)

// Whole increments never wrap the integer cell: past it they go on in float arithmetic.
func TestCounterArithmeticCannotWrap(t *testing.T) {
	cat := events.NewCatalog()
	c := cat.MustDefine(events.Def{Name: "a.counter", Kind: events.Counter}).With()
	for range 3 {
		c.Emit(4e18)
	}
	if got := c.Value(); got != 1.2e19 {
		t.Errorf("counter after 3 × 4e18 = %v, want 1.2e19", got)
	}
	c.Inc()
	if got := c.Value(); got < 1.2e19 {
		t.Errorf("counter after one more Inc = %v, went back", got)
	}
	ud := cat.MustDefine(events.Def{Name: "a.updown", Kind: events.UpDownCounter}).With()
	for range 3 {
		ud.Emit(-4e18)
	}
	ud.Emit(4e9)
	if got := ud.Value(); got != -1.2e19+4e9 {
		t.Errorf("up-down counter = %v, want %v", got, -1.2e19+4e9)
	}
	// Small whole increments near the integer cell's limit.
	big := cat.MustDefine(events.Def{Name: "a.big", Kind: events.Counter}).With()
	big.Emit(float64(1 << 62))
	for range 1000 {
		big.Inc()
	}
	if got, want := big.Value(), float64(1<<62)+1000; got != want {
		t.Errorf("counter at 2^62 + 1000 Inc = %v, want %v", got, want)
	}
}

// A value that would become infinite is not applied, and the refusal is counted.
func TestNonFiniteResultsRefused(t *testing.T) {
	cat := events.NewCatalog()
	refused := func() float64 { return cat.Self().LimitsReached.With("finite-values").Value() }
	c := cat.MustDefine(events.Def{Name: "a.counter", Kind: events.Counter}).With()
	c.Emit(1.7e308)
	c.Emit(1.7e308)
	if got := c.Value(); got != 1.7e308 || refused() != 1 {
		t.Errorf("counter = %v, refusals %v; want 1.7e308 and 1", got, refused())
	}
	ud := cat.MustDefine(events.Def{Name: "a.updown", Kind: events.UpDownCounter}).With()
	ud.Emit(-1.7e308)
	ud.Emit(-1.7e308)
	if got := ud.Value(); got != -1.7e308 || refused() != 2 {
		t.Errorf("up-down = %v, refusals %v; want -1.7e308 and 2", got, refused())
	}
	h := cat.MustDefine(events.Def{Name: "a.hist", Kind: events.Histogram, Buckets: []float64{1}}).With()
	h.Emit(1.7e308)
	h.Emit(1.7e308)
	counts := make([]uint64, 2)
	if n, sum := h.HistogramInto(counts); n != 1 || sum != 1.7e308 || refused() != 3 {
		t.Errorf("histogram count %d, sum %v, refusals %v; want 1, 1.7e308, 3", n, sum, refused())
	}
}

// metrics.max-series bounds every event together; past it new label sets fold into each
// event's overflow series, counted; duometer's own events still get their series.
func TestMaxSeries(t *testing.T) {
	cat := events.NewCatalog()
	base := cat.SeriesCount()
	cat.SetMaxSeries(base + 10)
	a := cat.MustDefine(events.Def{Name: "a.a", Kind: events.Counter, Labels: []string{"k"}})
	b := cat.MustDefine(events.Def{Name: "b.b", Kind: events.Counter, Labels: []string{"k"}})
	// Each took a place for its overflow series: 8 are left for label sets.
	for i := range 8 {
		a.Inc(strings.Repeat("x", i+1))
		b.Inc(strings.Repeat("y", i+1))
	}
	// + duometer's own series that counted the overflows, which it never refuses.
	if got := cat.SeriesCount(); got > base+10+3 {
		t.Errorf("%d series, want at most %d", got, base+13)
	}
	if n := len(a.Series()) + len(b.Series()); n != 10 {
		t.Errorf("a and b have %d series, want 8 and 2 overflow", n)
	}
	if got := cat.Self().LimitsReached.With("metrics.max-series").Value(); got != 8 {
		t.Errorf(`duometer.limits.reached{limit="metrics.max-series"} = %v, want 8`, got)
	}
	if got := cat.Self().CatalogMaxSeries.Value(); got != float64(base+10) {
		t.Errorf("duometer.catalog.max-series = %v, want %d", got, base+10)
	}
	cat.Self().HTTPRequests.Inc("h", "200")
	if v, ok := cat.Self().HTTPRequests.Value("h", "200"); !ok || v != 1 {
		t.Errorf("duometer's own event refused past the budget: %v, %v", v, ok)
	}
}

// metrics.max-label-bytes bounds the label values of every series together: a label set
// that would pass it folds into the overflow series (counted) and takes no place of the
// series budget; an expired series gives its bytes back; duometer's own events pass it.
func TestMaxLabelBytes(t *testing.T) {
	cat := events.NewCatalog()
	cat.Self().CardinalityOverflows.With("jobs.last-run") // the own series that counts the overflow
	base, baseBytes := cat.SeriesCount(), cat.LabelBytes()
	cat.SetMaxLabelBytes(baseBytes + 100)
	ev := cat.MustDefine(events.Def{Name: "jobs.last-run", Kind: events.Gauge, Labels: []string{"task", "host"}, TTL: time.Minute})
	ev.Emit(1, strings.Repeat("a", 40), "h1") // 42 bytes
	ev.Emit(2, strings.Repeat("b", 40), "h1") // 84
	ev.Emit(3, strings.Repeat("c", 40), "h1") // 126: past the budget, overflow
	ev.Emit(4, strings.Repeat("d", 14), "h1") // 100: fits exactly
	ev.Emit(5, "", "")                        // 100: no bytes, fits
	if got := cat.LabelBytes() - baseBytes; got != 100 {
		t.Errorf("label bytes %d, want 100", got)
	}
	if _, ok := ev.Value(strings.Repeat("c", 40), "h1"); ok {
		t.Error("the label set past the budget has a series of its own")
	}
	if n := len(ev.Series()); n != 5 { // four label sets and the overflow series
		t.Errorf("%d series, want 4 and the overflow series", n)
	}
	if got := cat.Self().CatalogMaxLabelValues.Value(); got != float64(baseBytes+100) {
		t.Errorf("duometer.catalog.max-label-values = %v, want %d", got, baseBytes+100)
	}
	if got := cat.Self().LimitsReached.With(events.LimitMaxLabelBytes).Value(); got != 1 {
		t.Errorf(`duometer.limits.reached{limit="metrics.max-label-bytes"} = %v, want 1`, got)
	}
	// The refused label set took no place in the series budget: 4 series and the
	// overflow's place.
	if got := cat.SeriesCount() - base; got != 4+1 {
		t.Errorf("%d more series, want 5", got)
	}
	cat.Self().HTTPRequests.Inc(strings.Repeat("h", 200), "200")
	if _, ok := cat.Self().HTTPRequests.Value(strings.Repeat("h", 200), "200"); !ok {
		t.Error("duometer's own event refused past the label-bytes budget")
	}
	// Expiry gives the bytes back: a new long label set fits again.
	t0 := time.Now()
	cat.Expire(t0)
	cat.Expire(t0.Add(2 * time.Minute))
	if got := cat.LabelBytes() - baseBytes; got != 203 { // duometer's own series stays
		t.Errorf("label bytes after expiry %d, want 203 (the own event's series)", got)
	}
	cat.SetMaxLabelBytes(cat.LabelBytes() + 42)
	ev.Emit(6, strings.Repeat("e", 40), "h1")
	if v, ok := ev.Value(strings.Repeat("e", 40), "h1"); !ok || v != 6 {
		t.Errorf("a label set after expiry freed the bytes: %v, %v", v, ok)
	}
}

// A series not updated for its TTL leaves the event and frees its place; emitted again, it
// starts from zero.
func TestExpiry(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "jobs.last-run", Kind: events.Gauge, Labels: []string{"task"}, TTL: time.Minute, CardinalityLimit: 2})
	solo := cat.MustDefine(events.Def{Name: "jobs.total", Kind: events.Counter, TTL: time.Minute})
	never := cat.MustDefine(events.Def{Name: "jobs.kept", Kind: events.Counter, Labels: []string{"task"}})
	ev.Emit(1, "retired")
	ev.Emit(2, "active")
	solo.Emit(5)
	never.Inc("x")
	t0 := time.Now()
	before := cat.SeriesCount()
	if n := cat.Expire(t0); n != 0 {
		t.Fatalf("Expire right away removed %d", n)
	}
	ev.Emit(3, "active")
	if n := cat.Expire(t0.Add(61 * time.Second)); n != 2 { // retired and the solo counter
		t.Errorf("Expire after the TTL removed %d, want 2", n)
	}
	if _, ok := ev.Value("retired"); ok {
		t.Error("the retired series is still there")
	}
	if v, ok := ev.Value("active"); !ok || v != 3 {
		t.Errorf("the active series = %v, %v", v, ok)
	}
	if got := cat.SeriesCount(); got != before-1 { // the solo counter's series is replaced
		t.Errorf("%d series after expiry, want %d", got, before-1)
	}
	ev.Emit(9, "new") // the place the retired series freed
	if v, ok := ev.Value("new"); !ok || v != 9 {
		t.Errorf("a new label set after expiry: %v, %v (the freed place was not reused)", v, ok)
	}
	if v, _ := solo.Value(); v != 0 {
		t.Errorf("the expired counter without labels = %v, want to start again from 0", v)
	}
	solo.Inc()
	if v, _ := solo.Value(); v != 1 {
		t.Errorf("after Inc = %v, want 1", v)
	}
	// Two sweeps an hour apart without updates: every series of the events with a TTL goes
	// (the counter without labels is replaced by a fresh one), never the others.
	cat.Expire(t0.Add(time.Hour))
	cat.Expire(t0.Add(2 * time.Hour))
	if n := len(ev.Series()); n != 0 || len(never.Series()) != 1 {
		t.Errorf("after idle sweeps: %d series of jobs.last-run, %d of jobs.kept; want 0 and 1", n, len(never.Series()))
	}
}

// Value reads a series without creating it.
func TestValueDoesNotCreate(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "a.c", Kind: events.Counter, Labels: []string{"k"}})
	if _, ok := ev.Value("x"); ok || len(ev.Series()) != 0 {
		t.Fatal("Value found or made a series that was never emitted")
	}
	ev.Emit(2, "x")
	if v, ok := ev.Value("x"); !ok || v != 2 {
		t.Errorf("Value = %v, %v", v, ok)
	}
	if _, ok := ev.Value("x", "y"); ok {
		t.Error("Value with the wrong number of label values found a series")
	}
}

// An emission with the wrong number of label values is counted and logged once per event.
func TestLabelMismatchCountedAndLoggedOnce(t *testing.T) {
	cat := events.NewCatalog()
	var log testutil.SyncBuffer
	cat.SetLogger(slog.New(slog.NewTextHandler(&log, nil)))
	ev := cat.MustDefine(events.Def{Name: "a.c", Kind: events.Counter, Labels: []string{"k"}})
	ev.Inc()
	ev.Emit(1, "a", "b")
	ev.Inc("ok")
	if got := cat.Self().LabelMismatches.With("a.c").Value(); got != 2 {
		t.Errorf("duometer.emit.label-mismatches{event=a.c} = %v, want 2", got)
	}
	if n := strings.Count(log.String(), "wrong number of label values"); n != 1 || !strings.Contains(log.String(), "event=a.c") {
		t.Errorf("%d log lines, want 1 naming the event:\n%s", n, log.String())
	}
	if v, _ := ev.Value("ok"); v != 1 {
		t.Error("the right emission was lost")
	}
	defer func() {
		if recover() == nil {
			t.Error("With with the wrong number of values did not panic")
		}
	}()
	ev.With()
}

func TestDefValidateTTL(t *testing.T) {
	err := events.Def{Name: "a.b", Kind: events.Counter, TTL: -time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "ttl: must not be negative") {
		t.Errorf("negative TTL: %v", err)
	}
}

// Find reads a series by its attributes, the overflow series' included, without creating.
func TestFind(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "a.c", Kind: events.Counter, Labels: []string{"k"}, CardinalityLimit: 1})
	ev.Inc("x")
	ev.Inc("y") // past the limit: the overflow series
	for _, s := range ev.Series() {
		if got := ev.Find(s.Attributes()); got != s {
			t.Errorf("Find(%v) = %p, want %p", s.Attributes(), got, s)
		}
	}
	other := cat.MustDefine(events.Def{Name: "a.d", Kind: events.Counter, Labels: []string{"k"}})
	if got := other.Find(ev.With("x").Attributes()); got != nil || len(other.Series()) != 0 {
		t.Error("Find made or found a series that was never emitted")
	}
}
