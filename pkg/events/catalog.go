package events

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
)

// Def is the definition of an event: what it is called, how it aggregates and what it may carry.
type Def struct {
	// Name is dotted, lower case, at least two segments: "group.name". The part before the
	// first dot is the event's group. Prometheus names replace dots and dashes with underscores.
	Name string
	// Kind says how values aggregate.
	Kind Kind
	// Unit is a UCUM unit ("s", "By", "1") or empty; Prometheus names get a suffix from it.
	Unit string
	// Description is the help text.
	Description string
	// Labels are the label keys every emission gives values for, in this order.
	Labels []string
	// Buckets are the histogram's upper bounds, strictly increasing. Empty means the default
	// bounds: DefaultSecondsBuckets when Unit is "s", else DefaultBuckets.
	Buckets []float64
	// CardinalityLimit is the most label sets the event keeps; those past it are folded into
	// one series marked otel.metric.overflow="true". 0 means the catalog's limit
	// (DefaultCardinalityLimit unless SetCardinalityLimit says otherwise); negative, none.
	CardinalityLimit int
	// Aggregation says how a cluster merges the event's series from several nodes.
	Aggregation Aggregation
	// TTL, when positive, makes a series that was not updated for that long expire: it
	// leaves every reader and frees its place in the limits (see Catalog.Expire). A later
	// emission starts it again from zero. 0 means never.
	TTL time.Duration
}

// DefaultCardinalityLimit is the catalog's series limit per event unless set otherwise.
const DefaultCardinalityLimit = 2000

// DefaultSecondsBuckets are the bounds of a histogram of durations in seconds (client_golang's DefBuckets).
var DefaultSecondsBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// DefaultBuckets are the bounds of any other histogram (the OpenTelemetry SDK's defaults).
var DefaultBuckets = []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$`)

// Validate reports every problem of d as a *DefError, or returns nil.
func (d Def) Validate() error {
	var ps []FieldError
	add := func(field, format string, args ...any) {
		ps = append(ps, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(d.Name) || len(d.Name) > 200 {
		add("name", "%q is not a dotted lower-case name like \"group.event-name\"", d.Name)
	}
	if d.Kind < Counter || d.Kind > Histogram {
		add("kind", "must be counter, updown, gauge or histogram")
	}
	seen := map[string]bool{}
	for i, l := range d.Labels {
		field := "labels[" + strconv.Itoa(i) + "]"
		switch {
		case !model.LegacyValidation.IsValidLabelName(l) || len(l) > 100:
			add(field, "%q is not a label key (letters, digits, underscores)", l)
		case l == "le" || l == "quantile" || l == "job" || l == "instance" || strings.HasPrefix(l, "__"):
			add(field, "%q is reserved by Prometheus", l) // "__" starts its internal labels
		case l == overflowLabel:
			add(field, "%q is reserved: it marks overflow series", l)
		case seen[l]:
			add(field, "%q appears twice", l)
		}
		seen[l] = true
	}
	if d.TTL < 0 {
		add("ttl", "must not be negative")
	}
	if d.Aggregation > Consistent {
		add("aggregation", "must be sum, logical, per-node or consistent")
	}
	if len(d.Buckets) > 0 && d.Kind != Histogram {
		add("buckets", "only histograms have buckets")
	}
	for i, b := range d.Buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			add("buckets["+strconv.Itoa(i)+"]", "must be finite")
		} else if i > 0 && b <= d.Buckets[i-1] {
			add("buckets", "must be increasing")
			break
		}
	}
	if len(ps) > 0 {
		return &DefError{Name: d.Name, Problems: ps}
	}
	return nil
}

// Group is the part of the name before the first dot.
func (d Def) Group() string {
	for i := 0; i < len(d.Name); i++ {
		if d.Name[i] == '.' {
			return d.Name[:i]
		}
	}
	return d.Name
}

// Catalog holds every defined event. It is safe for concurrent use; defining events is
// expected at start-up and is slow next to emitting them.
type Catalog struct {
	mu       sync.Mutex
	limit    int
	byName   map[string]*Event
	byBase   map[string]string // Prometheus base name -> event name
	disabled []Pattern
	watchers map[int]func(*Event)
	nextID   int

	series    atomic.Int64 // series of every event, and one place per event with labels for its overflow series
	maxSeries atomic.Int64 // the budget of series; 0 means none
	bytes     atomic.Int64 // bytes of the label values of every series
	maxBytes  atomic.Int64 // the budget of those bytes; 0 means none
	log       atomic.Pointer[slog.Logger]
	self      *Self
}

// NewCatalog returns a catalog that holds duometer's own events (see Self).
func NewCatalog() *Catalog {
	c := &Catalog{byName: map[string]*Event{}, byBase: map[string]string{}, limit: DefaultCardinalityLimit}
	c.self = defineSelf(c)
	return c
}

// Define adds an event. It fails when the definition is invalid (*DefError), the name is
// taken (ErrDefined) or another event has the same Prometheus base name (*NameClashError).
// The returned Event is valid for the life of the catalog.
func (c *Catalog) Define(d Def) (*Event, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	d.Labels = slices.Clone(d.Labels)
	d.Buckets = slices.Clone(d.Buckets)
	if d.Kind == Histogram && len(d.Buckets) == 0 {
		if d.Unit == "s" {
			d.Buckets = slices.Clone(DefaultSecondsBuckets)
		} else {
			d.Buckets = slices.Clone(DefaultBuckets)
		}
	}
	c.mu.Lock()
	e := newEvent(c, d, c.limit)
	if _, dup := c.byName[d.Name]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("event %q: %w", d.Name, ErrDefined)
	}
	base := PrometheusBaseName(d.Name)
	if other, clash := c.byBase[base]; clash {
		c.mu.Unlock()
		return nil, &NameClashError{Name: d.Name, Other: other, PrometheusName: base}
	}
	e.off.Store(MatchAny(c.disabled, d.Name))
	c.byName[d.Name] = e
	c.byBase[base] = d.Name
	watchers := make([]func(*Event), 0, len(c.watchers))
	for _, w := range c.watchers {
		watchers = append(watchers, w)
	}
	c.mu.Unlock()
	for _, w := range watchers {
		w(e)
	}
	return e, nil
}

// MustDefine is Define for definitions known to be valid; it panics on error.
func (c *Catalog) MustDefine(d Def) *Event {
	e, err := c.Define(d)
	if err != nil {
		panic(err)
	}
	return e
}

// Lookup returns the event called name, or nil.
func (c *Catalog) Lookup(name string) *Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byName[name]
}

// Events returns every event, sorted by name.
func (c *Catalog) Events() []*Event {
	c.mu.Lock()
	out := make([]*Event, 0, len(c.byName))
	for _, e := range c.byName {
		out = append(out, e)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].def.Name < out[j].def.Name })
	return out
}

// SetDisabled replaces the disabled-events patterns. It applies to events already defined
// and to those defined later. A disabled event drops what is emitted for it and is neither
// collected nor exported. Call it before the exporters start: they leave disabled events out
// when they register them.
func (c *Catalog) SetDisabled(patterns []string) error {
	ps := make([]Pattern, len(patterns))
	var errs []error
	for i, p := range patterns {
		ps[i] = Pattern(p)
		if err := ps[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disabled = ps
	for name, e := range c.byName {
		e.off.Store(MatchAny(ps, name))
	}
	return nil
}

// SetCardinalityLimit sets the series limit of every event, defined and to come, whose
// definition does not set its own: at most n label sets each, the rest folded into an
// overflow series. n <= 0 means no limit. Series already created are kept.
func (c *Catalog) SetCardinalityLimit(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = n
	for _, e := range c.byName {
		if e.def.CardinalityLimit == 0 {
			e.limit.Store(int64(n))
		}
	}
}

// Disabled returns the disabled-events patterns.
func (c *Catalog) Disabled() []Pattern {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.disabled)
}

// Watch calls fn for every event defined from now on, until stop is called, and returns the
// events defined so far, sorted by name, so that a caller misses none. fn runs on the
// goroutine that calls Define and must not call Define. Events defined while Watch runs may
// be both returned and given to fn: callers deduplicate by *Event.
func (c *Catalog) Watch(fn func(*Event)) (defined []*Event, stop func()) {
	c.mu.Lock()
	if c.watchers == nil {
		c.watchers = map[int]func(*Event){}
	}
	id := c.nextID
	c.nextID++
	c.watchers[id] = fn
	c.mu.Unlock()
	return c.Events(), func() {
		c.mu.Lock()
		delete(c.watchers, id)
		c.mu.Unlock()
	}
}

// SetMaxSeries bounds the series of all events together (built-in, defined and declared by
// the ingestion API): past n, a new label set of an event goes to the event's overflow
// series, as past its own cardinality limit, and is counted in
// duometer.limits.reached{limit="metrics.max-series"}. duometer's own events count in the
// budget but are never refused by it. n <= 0 means no budget. Series already created are
// kept. duometer.catalog.max-series shows n (0 for none).
func (c *Catalog) SetMaxSeries(n int) {
	c.maxSeries.Store(int64(max(n, 0)))
	c.self.CatalogMaxSeries.Emit(float64(max(n, 0)))
}

// SeriesCount returns how many series the catalog holds or keeps a place for: every series,
// and one place per event with labels for its overflow series, made or not. With a budget,
// it stays within it (duometer's own events aside).
func (c *Catalog) SeriesCount() int { return int(c.series.Load()) }

// SetMaxLabelBytes bounds the bytes of the label values of all series together (the
// memory of a series, and the size of a scrape, grow with them): past n, a new label set
// goes to its event's overflow series, as past metrics.max-series, and is counted in
// duometer.limits.reached{limit="metrics.max-label-bytes"}. duometer's own events count
// but are never refused. n <= 0 means no budget. Series already created are kept.
// duometer.catalog.max-label-values shows n (0 for none).
func (c *Catalog) SetMaxLabelBytes(n int64) {
	c.maxBytes.Store(max(n, 0))
	c.self.CatalogMaxLabelValues.Emit(float64(max(n, 0)))
}

// LabelBytes returns the bytes of the label values of all series together.
func (c *Catalog) LabelBytes() int64 { return c.bytes.Load() }

// reserve takes a place in the budgets for a new series whose label values have n bytes,
// and returns "", or the limit that refused it: LimitMaxSeries or LimitMaxLabelBytes.
// Exempt events take their place past the budgets.
func (c *Catalog) reserve(n int64, exempt bool) string {
	if !take(&c.series, 1, c.maxSeries.Load(), exempt) {
		return LimitMaxSeries
	}
	if !take(&c.bytes, n, c.maxBytes.Load(), exempt) {
		c.series.Add(-1)
		return LimitMaxLabelBytes
	}
	return ""
}

// take adds n to used unless that would pass limit (0: none) and the taker is not exempt.
func take(used *atomic.Int64, n, limit int64, exempt bool) bool {
	for {
		u := used.Load()
		if limit > 0 && u+n > limit && !exempt {
			return false
		}
		if used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// SetLogger sets where the catalog logs what emitters get wrong (an emission with the
// wrong number of label values, once per event). The default discards.
func (c *Catalog) SetLogger(l *slog.Logger) { c.log.Store(l) }

func (c *Catalog) logger() *slog.Logger {
	if l := c.log.Load(); l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// Expire removes the series of events with a TTL that were not updated for their TTL
// before now, and returns how many it removed. Call it periodically, at least a few times
// per TTL: a series counts as updated if it was emitted to since the previous call. A
// removed series leaves every reader and frees its place in the cardinality limit and the
// series budget; its label values start a new series from zero when next emitted. A Series
// resolved before it expired and kept by Go code is no longer exported: resolve it again
// (TTLs are meant for label values given per emission, such as those of the ingestion API).
func (c *Catalog) Expire(now time.Time) int {
	removed := 0
	for _, e := range c.Events() {
		if e.def.TTL > 0 {
			removed += e.expire(now)
		}
	}
	return removed
}

// Self returns the handles of duometer's own events.
func (c *Catalog) Self() *Self { return c.self }
