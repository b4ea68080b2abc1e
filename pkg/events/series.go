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
	ev     *Event
	kind   Kind
	counts []atomic.Uint64 // histogram: one per bound, then +Inf
	bounds []float64

	values []string
	attrs  attribute.Set
	start  time.Time

	// ival holds the integer part of a counter or up-down counter: whole increments, the
	// common case, are one atomic add.
	ival atomic.Int64
	// fbits holds float64 bits: the fractional increments of a sum, a gauge's value, or a
	// histogram's sum.
	fbits atomic.Uint64
}

// Inc adds 1 to a counter or up-down counter (and is Emit(1) for the other kinds).
func (s *Series) Inc() {
	if s.ev.off.Load() {
		return
	}
	if s.kind <= UpDownCounter {
		s.ival.Add(1)
		return
	}
	s.emit(1)
}

// Emit records v: adds it to a counter (negative, NaN and infinite values are dropped) or
// up-down counter (NaN and infinite values are dropped), sets a gauge, observes it in a
// histogram (NaN is dropped).
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
}

func (s *Series) add(v float64) {
	if i := int64(v); float64(i) == v {
		s.ival.Add(i)
		return
	}
	addFloat(&s.fbits, v)
}

func addFloat(bits *atomic.Uint64, v float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (s *Series) observe(v float64) {
	var i int
	if len(s.bounds) <= 16 {
		for i < len(s.bounds) && v > s.bounds[i] {
			i++
		}
	} else {
		i = sort.SearchFloat64s(s.bounds, v)
	}
	s.counts[i].Add(1)
	addFloat(&s.fbits, v)
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
