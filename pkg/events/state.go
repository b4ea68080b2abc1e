package events

import (
	"fmt"
	"math"
	"time"
)

// State is what one series holds: its label values, its start and its cells, exactly (a
// float cell as its bits), so that a snapshot taken by State and given back to Restore in
// another process continues every value where it was (see pkg/storage).
type State struct {
	// Labels are the label values, in the event's key order; empty for an event without
	// labels and for the overflow series.
	Labels []string `json:"l,omitempty"`
	// Overflow marks the series into which label sets past the cardinality limit are folded.
	Overflow bool `json:"o,omitempty"`
	// Start is when the series was created: the start of its cumulative values.
	Start time.Time `json:"s"`
	// Int is the integer part of a counter or up-down counter.
	Int int64 `json:"i,omitempty"`
	// Bits are the bits of the float cell: a sum's fractional increments, a gauge's value,
	// a histogram's sum.
	Bits uint64 `json:"f,omitempty"`
	// Counts are a histogram's bucket counts, one per bound and +Inf last.
	Counts []uint64 `json:"c,omitempty"`
}

// State returns the series' state. Emitters may go on adding while it is read: each cell is
// read atomically, not all of them at one instant.
func (s *Series) State() State {
	st := State{Labels: s.values, Start: s.start, Int: s.ival.Load(), Bits: s.fbits.Load()}
	st.Overflow = s.ev != nil && s == s.ev.overflowSeries()
	if s.counts != nil {
		st.Counts = make([]uint64, len(s.counts))
		for i := range s.counts {
			st.Counts[i] = s.counts[i].Load()
		}
	}
	return st
}

func (e *Event) overflowSeries() *Series {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.overflow
}

// Restore gives the series of st's label values the start and cells of st, creating the
// series if needed. It is meant for start-up, before anything emits: it overwrites the
// cells. A state that lands in the overflow series (st.Overflow, or label sets past the
// cardinality limit or the catalog's budgets) is added to it instead, so that nothing restored is lost. It fails
// when st does not fit the event: wrong number of label values, or of histogram buckets.
func (e *Event) Restore(st State) error {
	d := e.def
	switch {
	case !st.Overflow && len(st.Labels) != len(d.Labels):
		return fmt.Errorf("event %q: state has %d label values, the event %d", d.Name, len(st.Labels), len(d.Labels))
	case d.Kind == Histogram && len(st.Counts) != len(d.Buckets)+1:
		return fmt.Errorf("event %q: state has %d buckets, the event %d", d.Name, len(st.Counts), len(d.Buckets)+1)
	case d.Kind != Histogram && len(st.Counts) > 0:
		return fmt.Errorf("event %q: state has buckets, the event is a %s", d.Name, d.Kind)
	}
	var s *Series
	add := false // add to a series that already holds values, rather than set it
	switch {
	case st.Overflow:
		e.mu.Lock()
		if e.overflow == nil {
			e.overflow = e.newOverflow()
		} else {
			add = true
		}
		s = e.overflow
		e.mu.Unlock()
	case len(d.Labels) == 0:
		s = e.single.Load()
	default:
		lv := st.Labels
		var overflowed string
		e.mu.Lock()
		s, overflowed = e.lookupLocked(hashValues(lv), lv)
		e.mu.Unlock()
		add = overflowed != ""
	}
	if add {
		switch d.Kind {
		case Gauge:
			s.fbits.Store(st.Bits)
		case Histogram:
			addFloat(&s.fbits, math.Float64frombits(st.Bits))
		default:
			s.add(float64(st.Int))
			s.add(math.Float64frombits(st.Bits))
		}
		for i, c := range st.Counts {
			s.counts[i].Add(c)
		}
		return nil
	}
	if !st.Start.IsZero() {
		s.start = st.Start
	}
	s.ival.Store(st.Int)
	s.spilled.Store(st.Int >= intLimit || st.Int <= -intLimit)
	s.fbits.Store(st.Bits)
	for i, c := range st.Counts {
		s.counts[i].Store(c)
	}
	return nil
}
