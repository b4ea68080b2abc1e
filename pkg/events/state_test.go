package events_test

import (
	"math"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/events"
)

// Every kind's state, taken in one catalog and restored in another, continues where it was.
func TestStateRoundTrip(t *testing.T) {
	defs := []events.Def{
		{Name: "a.counter", Kind: events.Counter, Labels: []string{"k"}, CardinalityLimit: 2},
		{Name: "a.updown", Kind: events.UpDownCounter},
		{Name: "a.gauge", Kind: events.Gauge, Labels: []string{"k"}},
		{Name: "a.histogram", Kind: events.Histogram, Buckets: []float64{1, 10}},
	}
	src := events.NewCatalog()
	for _, d := range defs {
		src.MustDefine(d)
	}
	c := src.Lookup("a.counter")
	c.Emit(4e18, "x")
	c.Emit(0.25, "x")
	c.Inc("y")
	c.Emit(7, "z") // past the limit of 2: the overflow series
	src.Lookup("a.updown").Emit(-3.5)
	src.Lookup("a.gauge").Emit(math.NaN(), "nan")
	src.Lookup("a.gauge").Emit(math.Inf(-1), "inf")
	h := src.Lookup("a.histogram")
	for _, v := range []float64{0.5, 5, 50, 500} {
		h.Emit(v)
	}

	dst := events.NewCatalog()
	for _, d := range defs {
		dst.MustDefine(d)
	}
	for _, d := range defs {
		for _, s := range src.Lookup(d.Name).Series() {
			if err := dst.Lookup(d.Name).Restore(s.State()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range defs {
		got, want := dst.Lookup(d.Name).Series(), src.Lookup(d.Name).Series()
		if len(got) != len(want) {
			t.Fatalf("%s: %d series restored, want %d", d.Name, len(got), len(want))
		}
		for i := range want {
			g, w := got[i].State(), want[i].State()
			if !g.Start.Equal(w.Start) || g.Int != w.Int || g.Bits != w.Bits || g.Overflow != w.Overflow ||
				len(g.Labels) != len(w.Labels) || len(g.Counts) != len(w.Counts) {
				t.Errorf("%s series %d: restored %+v, want %+v", d.Name, i, g, w)
			}
			for j := range w.Counts {
				if g.Counts[j] != w.Counts[j] {
					t.Errorf("%s bucket %d: %d, want %d", d.Name, j, g.Counts[j], w.Counts[j])
				}
			}
		}
	}
	if v := dst.Lookup("a.counter").With("x").Value(); v != 4e18+0.25 {
		t.Errorf("restored counter = %v", v)
	}
	// A restored series keeps the start of its cumulative values.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := dst.Lookup("a.gauge").Restore(events.State{Labels: []string{"old"}, Start: old}); err != nil {
		t.Fatal(err)
	}
	if got := dst.Lookup("a.gauge").With("old").StartTime(); !got.Equal(old) {
		t.Errorf("restored start time %v, want %v", got, old)
	}
	// Restoring continues: the next emit adds to the restored value.
	dst.Lookup("a.updown").Inc()
	if v := dst.Lookup("a.updown").With().Value(); v != -2.5 {
		t.Errorf("updown after restore and Inc = %v, want -2.5", v)
	}
}

func TestRestoreRefusesWhatDoesNotFit(t *testing.T) {
	cat := events.NewCatalog()
	c := cat.MustDefine(events.Def{Name: "a.c", Kind: events.Counter, Labels: []string{"k"}})
	h := cat.MustDefine(events.Def{Name: "a.h", Kind: events.Histogram, Buckets: []float64{1}})
	for name, tc := range map[string]struct {
		ev   *events.Event
		st   events.State
		want string
	}{
		"labels":  {c, events.State{Labels: []string{"a", "b"}}, `event "a.c": state has 2 label values, the event 1`},
		"buckets": {h, events.State{Counts: []uint64{1, 2, 3}}, `event "a.h": state has 3 buckets, the event 2`},
		"kind":    {c, events.State{Labels: []string{"a"}, Counts: []uint64{1}}, `event "a.c": state has buckets, the event is a counter`},
	} {
		if err := tc.ev.Restore(tc.st); err == nil || err.Error() != tc.want {
			t.Errorf("%s: Restore = %v, want %q", name, err, tc.want)
		}
	}
	if n := len(c.Series()); n != 0 {
		t.Errorf("a refused restore made %d series", n)
	}
}

// States past the cardinality limit of the restoring catalog add up in its overflow series.
func TestRestorePastTheLimitAddsToOverflow(t *testing.T) {
	cat := events.NewCatalog()
	c := cat.MustDefine(events.Def{Name: "a.c", Kind: events.Counter, Labels: []string{"k"}, CardinalityLimit: 1})
	for i, k := range []string{"x", "y", "z"} {
		if err := c.Restore(events.State{Labels: []string{k}, Int: int64(10 * (i + 1))}); err != nil {
			t.Fatal(err)
		}
	}
	var overflow float64
	for _, s := range c.Series() {
		if s.State().Overflow {
			overflow = s.Value()
		}
	}
	if x := c.With("x").Value(); x != 10 || overflow != 50 {
		t.Errorf("x = %v, overflow = %v; want 10 and 50 (20 + 30)", x, overflow)
	}
}
