package events

import (
	"math"
	"sort"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Series is one event with one set of label values: the cells its emissions add to.
// Its methods are safe for concurrent use and do not allocate.
type Series struct {
	// The fields every emission reads come first and the cells it writes last, over 64 bytes
	// apart, so that they never share a cache line: otherwise emitters on other cores, which
	// take the line to write a cell, would make every emission's read of ev and kind miss
	// (this cost a quarter more on the parallel counter benchmark, see docs/performance.md).
	ev      *Event
	kind    Kind
	expires bool            // the event has a TTL: emissions mark the series touched
	counts  []atomic.Uint64 // histogram: one per bound, then +Inf
	bounds  []float64

	values []string
	attrs  attribute.Set
	start  time.Time
	seen   time.Time // when Expire last found the series touched (Expire's own, under ev.mu)

	// ival holds the integer part of a counter or up-down counter: whole increments, the
	// common case, are one atomic add. Once its magnitude reaches intLimit, spilled is set
	// and every later increment goes to fbits, so that ival can never wrap.
	ival    atomic.Int64
	spilled atomic.Bool
	touched atomic.Bool
	// fbits holds float64 bits: the fractional increments of a sum (and all of them once
	// spilled), a gauge's value, or a histogram's sum.
	fbits atomic.Uint64
}

const (
	// intLimit is the magnitude of ival past which increments go to the float cell: far
	// enough from 2^63 that the increments in flight when it is crossed, each below
	// intStep, cannot wrap it.
	intLimit = 1 << 62
	// intStep bounds the whole increments added to ival; larger ones go to the float cell.
	intStep = 1 << 32
)

// Inc adds 1 to a counter or up-down counter (and is Emit(1) for the other kinds).
func (s *Series) Inc() {
	if s.ev.off.Load() {
		return
	}
	if s.kind <= UpDownCounter {
		// Even past intLimit, adding 1 would take 2^62 calls to wrap the cell.
		s.ival.Add(1)
		s.touch()
		return
	}
	s.emit(1)
}

// Emit records v: adds it to a counter (negative, NaN and infinite values are dropped) or
// up-down counter (NaN and infinite values are dropped), sets a gauge, observes it in a
// histogram (NaN is dropped). An increment that would make a sum or a histogram's sum
// infinite is dropped too, and counted in duometer.limits.reached{limit="finite-values"}:
// a counter is never poisoned.
func (s *Series) Emit(v float64) {
	if s.ev.off.Load() {
		return
	}
	s.emit(v)
}

func (s *Series) emit(v float64) {
	switch s.kind {
	case Counter:
		if !(v >= 0) || v > math.MaxFloat64 {
			return
		}
		s.add(v)
	case UpDownCounter:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		s.add(v)
	case Gauge:
		s.fbits.Store(math.Float64bits(v))
	case Histogram:
		if math.IsNaN(v) {
			return
		}
		s.observe(v)
	}
	s.touch()
}

// add adds a finite v to a sum: whole values below intStep to the integer cell unless it
// has spilled, the others to the float cell.
func (s *Series) add(v float64) {
	if v > -intStep && v < intStep && !s.spilled.Load() {
		if i := int64(v); float64(i) == v {
			if n := s.ival.Add(i); n >= intLimit || n <= -intLimit {
				s.spilled.Store(true)
			}
			return
		}
	}
	if !addFloat(&s.fbits, v) {
		s.refuse()
	}
}

// addFloat adds v to the float in bits unless the result would be infinite; it reports
// whether it did.
func addFloat(bits *atomic.Uint64, v float64) bool {
	for {
		old := bits.Load()
		n := math.Float64frombits(old) + v
		if math.IsInf(n, 0) {
			return false
		}
		if bits.CompareAndSwap(old, math.Float64bits(n)) {
			return true
		}
	}
}

// refuse counts an emission dropped because its result would not be finite.
func (s *Series) refuse() {
	if s.ev.cat != nil {
		s.ev.cat.self.LimitsReached.Inc(LimitFiniteValues)
	}
}

// LimitFiniteValues is the limit label (duometer.limits.reached) of emissions dropped
// because they would have made a sum infinite.
const LimitFiniteValues = "finite-values"

// observe adds v to the sum, then counts it in its bucket; an observation that would make
// the sum infinite is dropped whole.
func (s *Series) observe(v float64) {
	var i int
	if len(s.bounds) <= 16 {
		for i < len(s.bounds) && v > s.bounds[i] {
			i++
		}
	} else {
		i = sort.SearchFloat64s(s.bounds, v)
	}
	if !addFloat(&s.fbits, v) {
		s.refuse()
		return
	}
	s.counts[i].Add(1)
}

// touch marks the series updated, for the expiry of events with a TTL.
func (s *Series) touch() {
	if s.expires && !s.touched.Load() {
		s.touched.Store(true)
	}
}

// Event returns the event the series belongs to.
func (s *Series) Event() *Event { return s.ev }

// LabelValues returns the series' label values in the order of the event's label keys.
// The caller must not modify the slice.
func (s *Series) LabelValues() []string { return s.values }

// Attributes returns the label keys and values as an OpenTelemetry attribute set.
func (s *Series) Attributes() attribute.Set { return s.attrs }

// StartTime is when the series was created: the start of its cumulative values.
func (s *Series) StartTime() time.Time { return s.start }

// Value returns the current value of a counter, up-down counter or gauge.
func (s *Series) Value() float64 {
	if s.kind == Gauge {
		return math.Float64frombits(s.fbits.Load())
	}
	return float64(s.ival.Load()) + math.Float64frombits(s.fbits.Load())
}

// HistogramInto reads a histogram series: it writes the count of each bucket into counts
// (which needs len(Def().Buckets)+1 elements, the last for +Inf) and returns the total count
// and the sum. Buckets are read one by one while emitters may go on adding, so a reading may
// straddle an emission; the count is always the sum of the buckets read.
func (s *Series) HistogramInto(counts []uint64) (count uint64, sum float64) {
	for i := range s.counts {
		c := s.counts[i].Load()
		counts[i] = c
		count += c
	}
	return count, math.Float64frombits(s.fbits.Load())
}
