package events

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
)

// Event is a defined event and the series emitted for it, one per distinct set of label
// values. Its methods are safe for concurrent use.
type Event struct {
	def Def
	off atomic.Bool

	single atomic.Pointer[Series] // the only series of an event without labels; replaced when it expires

	// Series lookup by label values: read is an immutable map swapped atomically, so the
	// common case (values seen before) takes no lock. New series go to dirty under mu and are
	// promoted into a new read map once lookups have missed read as often as dirty is long,
	// as sync.Map does, so inserting n series costs O(n) in all.
	read     atomic.Pointer[map[uint64]*Series]
	mu       sync.Mutex
	dirty    map[uint64]*Series
	collided map[string]*Series // series whose hash another series already holds
	misses   int
	all      []*Series // every series in creation order; replaced, never changed in place

	cat      *Catalog     // the catalog that defined the event, which counts overflows
	limit    atomic.Int64 // most label sets kept; 0 means no limit
	labelled int          // series created for label sets (the overflow series aside)
	overflow *Series      // where label sets past the limit go, once one has

	mismatchLogged atomic.Bool // an emission with the wrong number of label values was logged
}

// OverflowAttribute marks the series into which an event's label sets past its cardinality
// limit are folded, as the OpenTelemetry SDK marks its own: otel.metric.overflow="true"
// (otel_metric_overflow in Prometheus).
const OverflowAttribute = "otel.metric.overflow"

// overflowLabel is OverflowAttribute's Prometheus label, which no event may have as a label
// of its own.
const overflowLabel = "otel_metric_overflow"

var seed = maphash.MakeSeed()

func newEvent(c *Catalog, d Def, limit int) *Event {
	e := &Event{def: d, cat: c}
	if d.CardinalityLimit != 0 {
		limit = d.CardinalityLimit
	}
	e.limit.Store(int64(limit))
	empty := map[uint64]*Series{}
	e.read.Store(&empty)
	if len(d.Labels) == 0 {
		s := e.newSeries(nil)
		e.single.Store(s)
		e.all = []*Series{s}
	}
	// The single series of an event without labels, or the place of the overflow series of
	// one with labels: taken now, so that the budget also holds the overflow series.
	c.series.Add(1)
	return e
}

// Name returns the event's dotted name.
func (e *Event) Name() string { return e.def.Name }

// Def returns the event's definition. The caller must not modify its slices.
func (e *Event) Def() Def { return e.def }

// Enabled reports whether the event is collected (it is not disabled).
func (e *Event) Enabled() bool { return !e.off.Load() }

// With returns the series for the given label values, one per label key of the definition,
// creating it on first use. Resolve it once and keep it: emitting on a Series is the fastest
// path. With panics when the number of values is wrong; Resolve returns an error instead.
func (e *Event) With(labelValues ...string) *Series {
	s, err := e.Resolve(labelValues...)
	if err != nil {
		panic(err)
	}
	return s
}

// Resolve is With returning an error instead of panicking.
func (e *Event) Resolve(labelValues ...string) (*Series, error) {
	if len(labelValues) != len(e.def.Labels) {
		return nil, fmt.Errorf("event %q: got %d label values, want %d (%s)", e.def.Name,
			len(labelValues), len(e.def.Labels), strings.Join(e.def.Labels, ", "))
	}
	return e.lookup(labelValues), nil
}

// Emit records v for the series with the given label values: adds it to a counter (negative,
// NaN and infinite values are dropped) or up-down counter, sets a gauge, observes it in a
// histogram. Values already seen cost no allocation. Label values of the wrong number are
// dropped, counted in duometer.emit.label-mismatches{event} and logged once per event.
func (e *Event) Emit(v float64, labelValues ...string) {
	if len(labelValues) != len(e.def.Labels) {
		e.mismatch(len(labelValues))
		return
	}
	e.lookup(labelValues).Emit(v)
}

// Inc is Emit(1, labelValues...).
func (e *Event) Inc(labelValues ...string) {
	if len(labelValues) != len(e.def.Labels) {
		e.mismatch(len(labelValues))
		return
	}
	e.lookup(labelValues).Inc()
}

// mismatch counts an emission with n label values, the wrong number, and logs the first of
// the event.
func (e *Event) mismatch(n int) {
	if e.cat == nil {
		return
	}
	e.cat.self.LabelMismatches.Inc(e.def.Name)
	if !e.mismatchLogged.Swap(true) {
		e.cat.logger().Warn("an emission with the wrong number of label values was dropped (logged once per event; counted in duometer_emit_label_mismatches_total)",
			"event", e.def.Name, "got", n, "want", len(e.def.Labels), "labels", e.def.Labels)
	}
}

// Value returns the current value of the series with the given label values, without
// creating it: false when the event has no such series (or the number of values is wrong).
func (e *Event) Value(labelValues ...string) (float64, bool) {
	if s := e.find(labelValues); s != nil {
		return s.Value(), true
	}
	return 0, false
}

// Find returns the series whose attributes are attrs (as Series.Attributes gives them, the
// overflow series' included), without creating it, or nil.
func (e *Event) Find(attrs attribute.Set) *Series {
	if v, ok := attrs.Value(OverflowAttribute); ok && v.AsBool() && attrs.Len() == 1 {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.overflow
	}
	if attrs.Len() != len(e.def.Labels) {
		return nil
	}
	lv := make([]string, len(e.def.Labels))
	for i, k := range e.def.Labels {
		v, ok := attrs.Value(attribute.Key(k))
		if !ok {
			return nil
		}
		lv[i] = v.AsString()
	}
	return e.find(lv)
}

// find returns the series of the label values lv, without creating it, or nil.
func (e *Event) find(lv []string) *Series {
	if len(lv) != len(e.def.Labels) {
		return nil
	}
	if s := e.single.Load(); s != nil {
		return s
	}
	h := hashValues(lv)
	if s := (*e.read.Load())[h]; s != nil && sameValues(s.values, lv) {
		return s
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.dirty[h]; s != nil && sameValues(s.values, lv) {
		return s
	}
	return e.collided[collisionKey(lv)]
}

// Series returns every series of the event in creation order. The slice is a snapshot the
// caller may keep; the series in it go on changing.
func (e *Event) Series() []*Series {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.all[:len(e.all):len(e.all)]
}

func hashValues(lv []string) uint64 {
	h := uint64(14695981039346656037)
	for _, v := range lv {
		h ^= maphash.String(seed, v)
		h *= 1099511628211
	}
	return h
}

func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (e *Event) lookup(lv []string) *Series {
	if s := e.single.Load(); s != nil {
		return s
	}
	h := hashValues(lv)
	if s := (*e.read.Load())[h]; s != nil && sameValues(s.values, lv) {
		return s
	}
	return e.lookupSlow(h, lv)
}

func (e *Event) lookupSlow(h uint64, lv []string) *Series {
	for _, v := range lv {
		if !utf8.ValidString(v) {
			// Series hold valid UTF-8 (exporters need it): look up the cleaned values, so
			// that the same invalid values keep finding the same series.
			clean := make([]string, len(lv))
			for i, v := range lv {
				clean[i] = strings.ToValidUTF8(v, "\uFFFD")
			}
			lv, h = clean, hashValues(clean)
			break
		}
	}
	e.mu.Lock()
	s, overflowed := e.lookupLocked(h, lv)
	e.mu.Unlock()
	if overflowed != "" && e.cat != nil {
		e.cat.self.CardinalityOverflows.Inc(e.def.Name)
		if overflowed != limitEvent {
			e.cat.self.LimitsReached.Inc(overflowed)
		}
	}
	return s
}

// LimitMaxSeries is the limit label (duometer.limits.reached) of series folded into an
// overflow series because the catalog holds its most series (Catalog.SetMaxSeries).
const LimitMaxSeries = "metrics.max-series"

// LimitMaxLabelBytes is the limit label (duometer.limits.reached) of series folded into an
// overflow series because the label values of all series hold their most bytes
// (Catalog.SetMaxLabelBytes).
const LimitMaxLabelBytes = "metrics.max-label-bytes"

// limitEvent is what lookupLocked says when the event's own cardinality limit bit.
const limitEvent = "cardinality-limit"

// lookupLocked finds or creates the series of lv; past the event's cardinality limit or the
// catalog's budgets it returns the overflow series and which limit bit (limitEvent,
// LimitMaxSeries or LimitMaxLabelBytes), else "". e.mu is held.
func (e *Event) lookupLocked(h uint64, lv []string) (*Series, string) {
	read := *e.read.Load()
	if s := read[h]; s != nil && sameValues(s.values, lv) {
		return s, ""
	}
	if s := e.dirty[h]; s != nil && sameValues(s.values, lv) {
		e.missed()
		return s, ""
	}
	collides := read[h] != nil || e.dirty[h] != nil
	var key string
	if collides {
		key = collisionKey(lv)
		if s := e.collided[key]; s != nil {
			return s, ""
		}
	}
	limit := ""
	if n := int(e.limit.Load()); n > 0 && e.labelled >= n {
		limit = limitEvent
	} else if e.cat != nil {
		limit = e.cat.reserve(valueBytes(lv), e.exempt())
	}
	if limit != "" {
		if e.overflow == nil {
			e.overflow = e.newOverflow()
		}
		return e.overflow, limit
	}
	s := e.newSeries(lv)
	e.all = append(e.all, s)
	e.labelled++
	if !collides {
		if e.dirty == nil {
			e.dirty = map[uint64]*Series{}
		}
		e.dirty[h] = s
	} else {
		if e.collided == nil {
			e.collided = map[string]*Series{}
		}
		e.collided[key] = s
	}
	return s, ""
}

// expire removes the series not updated since the previous call for the event's TTL, and
// returns how many it removed.
func (e *Event) expire(now time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var keep []*Series
	removed := 0
	for _, s := range e.all {
		if s.touched.Swap(false) {
			s.seen = now
		}
		if now.Sub(s.seen) < e.def.TTL {
			keep = append(keep, s)
			continue
		}
		removed++
		if fresh := e.forget(s); fresh != nil {
			keep = append(keep, fresh)
		}
	}
	if removed == 0 {
		return 0
	}
	e.all = keep // a new array: snapshots taken by Series stay whole
	return removed
}

// forget takes s out of the lookup of the event and out of the limits. e.mu is held; the
// caller takes s out of e.all, and puts in the series it returns, if any: the fresh series
// of an event without labels, from zero.
func (e *Event) forget(s *Series) *Series {
	switch s { // the single and the overflow series keep their place in the budget
	case e.single.Load():
		fresh := e.newSeries(nil)
		e.single.Store(fresh)
		return fresh
	case e.overflow:
		e.overflow = nil
		return nil
	}
	if e.cat != nil {
		e.cat.series.Add(-1)
		e.cat.bytes.Add(-valueBytes(s.values))
	}
	e.labelled--
	h := hashValues(s.values)
	if read := *e.read.Load(); read[h] == s {
		m := make(map[uint64]*Series, len(read))
		for k, v := range read {
			if v != s {
				m[k] = v
			}
		}
		e.read.Store(&m)
	}
	if e.dirty[h] == s {
		delete(e.dirty, h)
	}
	if key := collisionKey(s.values); e.collided[key] == s {
		delete(e.collided, key)
	}
	return nil
}

// exempt reports whether the event's series are created past the catalog's series budget
// (they still count in it): duometer's own events, whose label sets are few and which
// operators need most when something floods the catalog.
func (e *Event) exempt() bool {
	_, own := ownPrefix(e.def.Name)
	return own
}

// missed counts a lookup that found its series in dirty and promotes dirty into read when
// such lookups have cost as much as a copy would. e.mu is held.
func (e *Event) missed() {
	e.misses++
	if e.misses < len(e.dirty) {
		return
	}
	read := *e.read.Load()
	m := make(map[uint64]*Series, len(read)+len(e.dirty))
	for h, s := range read {
		m[h] = s
	}
	for h, s := range e.dirty {
		m[h] = s
	}
	e.read.Store(&m)
	e.dirty, e.misses = nil, 0
}

// newOverflow creates the event's overflow series, in the place of the catalog's series
// budget that the event took when it was defined. e.mu is held.
func (e *Event) newOverflow() *Series {
	s := e.newSeries(nil)
	s.attrs = attribute.NewSet(attribute.Bool(OverflowAttribute, true))
	e.all = append(e.all, s)
	return s
}

// valueBytes returns the bytes of label values lv, what they take of the catalog's budget.
func valueBytes(lv []string) int64 {
	n := 0
	for _, v := range lv {
		n += len(v)
	}
	return int64(n)
}

func collisionKey(lv []string) string {
	return strings.Join(lv, "\xff")
}

func (e *Event) newSeries(lv []string) *Series {
	s := &Series{ev: e, kind: e.def.Kind, start: time.Now(), expires: e.def.TTL > 0}
	s.seen = s.start
	if len(lv) > 0 {
		s.values = make([]string, len(lv))
		kvs := make([]attribute.KeyValue, len(lv))
		for i, v := range lv {
			v = strings.Clone(v) // valid UTF-8: lookupSlow cleaned it
			s.values[i] = v
			kvs[i] = attribute.String(e.def.Labels[i], v)
		}
		s.attrs = attribute.NewSet(kvs...)
	}
	if e.def.Kind == Histogram {
		s.bounds = e.def.Buckets
		s.counts = make([]atomic.Uint64, len(e.def.Buckets)+1)
	}
	return s
}
