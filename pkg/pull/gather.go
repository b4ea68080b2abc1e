package pull

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
)

// Gatherer gathers the OpenTelemetry Prometheus exporter's collector as the registry it is
// registered on would, without the work the registry does again at every scrape:
//
//   - The registry checks every metric's consistency (label names, UTF-8 values, a hash of
//     the labels against duplicates) and sorts every family's metrics by their label
//     values. The Gatherer keeps what it learnt of each family and each series from one
//     collection to the next: a series seen before was checked when it was first seen, and
//     has its place in its family's order, which is only worked out again when a series
//     appears or goes. A scrape of a catalog that did not change sorts nothing.
//   - Of a counter's or a gauge's metric it keeps its series and its value: the exporter's
//     label pairs go at once, where the registry holds them all until the answer is
//     written. The dto objects are made again from the series' labels for the callers that
//     want them (Gather, the formats and families that promhttp writes).
//   - What a collection holds is reused by the next once the scrapes it served are done.
//   - Collections are shared: a scrape (or a push, or a group or cluster endpoint) that
//     arrives while a collection is under way waits for it and serves its result, as
//     promhttp's CoalesceGather does, instead of starting one of its own.
//
// Whatever the registry would have complained about (a metric the exporter reports as
// invalid, a duplicate series, an inconsistent family, a name that collides with a
// histogram's) makes the Gatherer hand the collection's metrics to a registry after all, so
// that such a scrape serves and reports exactly what the registry serves and reports.
// TestGathererAgrees checks that both give the same families, and the same answers.
type Gatherer struct {
	collector prometheus.Collector

	mu       sync.Mutex
	inflight *cycle // the collection under way, which new arrivals join

	// The state of the collections, which run one at a time (inflight).
	gen      uint64
	families map[string]*family
	last     *family                   // the family of the previous metric: they come in runs
	created  map[string]dto.MetricType // families created in this collection, as the registry's map
	hasher   maphash.Hash
	scratch  dto.Metric // what the metric being taken in writes
	text     []byte     // the labels of the metric being taken in, rendered

	free []*snapshot // released snapshots, for the next collections; under mu
}

var (
	_ prometheus.Gatherer              = (*Gatherer)(nil)
	_ prometheus.TransactionalGatherer = txGatherer{}
)

// newGatherer returns a Gatherer of c, or nil when the Desc of this version of client_golang
// cannot be read (see descName): the registry then serves as it always did.
func newGatherer(c prometheus.Collector) *Gatherer {
	if !descReadable {
		return nil
	}
	return &Gatherer{collector: c, families: map[string]*family{}, created: map[string]dto.MetricType{},
		free: make([]*snapshot, 0, 1)}
}

// Gather implements prometheus.Gatherer: the families of a collection, sorted by name, each
// with its metrics sorted by their labels, as prometheus.Registry.Gather returns them. The
// caller may keep them.
func (g *Gatherer) Gather() ([]*dto.MetricFamily, error) {
	s := g.acquire()
	s.keep()
	mfs, err := s.families(), s.err
	s.release()
	return mfs, err
}

// txGatherer is a collection's snapshot as a prometheus.TransactionalGatherer: it hands out
// the snapshot's families whose name keep accepts (all when keep is nil) and releases the
// snapshot when promhttp is done with them.
type txGatherer struct {
	s    *snapshot
	keep func(string) bool
}

func (t txGatherer) Gather() ([]*dto.MetricFamily, func(), error) {
	mfs := t.s.families()
	if t.keep != nil {
		kept := make([]*dto.MetricFamily, 0, len(mfs))
		for _, mf := range mfs {
			if t.keep(mf.GetName()) {
				kept = append(kept, mf)
			}
		}
		mfs = kept
	}
	return mfs, t.s.release, t.s.err
}

// cycle is a collection under way and the scrapes that wait for it.
type cycle struct {
	ready chan struct{}
	snap  *snapshot
	refs  int32 // scrapes sharing the snapshot; under Gatherer.mu until ready
}

// acquire returns a snapshot of the collector's metrics: the one under way if there is one,
// else a new one. Release it when done.
func (g *Gatherer) acquire() *snapshot {
	g.mu.Lock()
	if c := g.inflight; c != nil {
		c.refs++
		g.mu.Unlock()
		<-c.ready
		return c.snap
	}
	c := &cycle{ready: make(chan struct{}), refs: 1}
	g.inflight = c
	g.mu.Unlock()

	defer func() {
		g.mu.Lock()
		g.inflight = nil
		if c.snap == nil { // collect panicked: the scrapes that joined get an error
			c.snap = &snapshot{g: g, err: errors.New("gathering metrics panicked"), slow: true, built: true}
			c.snap.keep()
		}
		c.snap.refs.Store(c.refs)
		g.mu.Unlock()
		close(c.ready)
	}()
	c.snap = g.collect()
	return c.snap
}

// snapshot is the result of one collection, shared by the scrapes that joined it. Its
// families and metrics are not to be modified.
type snapshot struct {
	g      *Gatherer
	refs   atomic.Int32
	leaked atomic.Bool // its families were handed to a caller who may keep them: never reused

	n       int                 // metrics taken in by the fast path
	metrics []*dto.Metric       // what they wrote, in the order they came; nil when light
	descs   []*prometheus.Desc  // their Desc, or one with the same name and help: for replay
	rest    []prometheus.Metric // the metrics from the first one the fast path refused on
	// The collector's metrics themselves are not kept: each has a Desc of its own (the
	// exporter makes one per point), and holding them all until the answer is written
	// would hold as much again as their samples.
	vals   []float64     // the values of the counters, gauges and untyped among them
	fams   []famSnap     // fast path: sorted by name
	sorted []*dto.Metric // fast path: the metrics of fams, each family's sorted
	svals  []float64     // fast path: their values, in the same order
	err    error
	slow   bool // a registry gathered the metrics: mfs are its families, err its error

	mu     sync.Mutex          // guards what follows, built by the first call of families
	built  bool                // mfs are built
	mfs    []*dto.MetricFamily // the families as Gather returns them
	mfsBuf []dto.MetricFamily  // fast path: reused for mfs
}

// famSnap is one family of a snapshot, with what it takes to encode it.
type famSnap struct {
	name, help, unit string
	typ              dto.MetricType
	head             *heads  // the family's encoded header lines, nil when it has none
	text             []byte  // its series' labels as the text formats write them, in order
	ends             []int32 // where each series' labels end in text
	from, to         int     // its metrics: snapshot.sorted[from:to]
	fast             bool    // its samples can be written by scrapeServer.encode
	exemplars        bool    // one of its counters has an exemplar (which only OpenMetrics writes)
}

func (s *snapshot) keep() { s.leaked.Store(true) }

// release gives the snapshot back when its last user is done.
func (s *snapshot) release() {
	if s.refs.Add(-1) > 0 || s.leaked.Load() {
		return
	}
	s.n = 0
	clear(s.descs)
	s.descs = s.descs[:0]
	clear(s.rest)
	s.rest = s.rest[:0]
	clear(s.metrics)
	s.metrics = s.metrics[:0]
	s.vals = s.vals[:0]
	clear(s.sorted)
	s.sorted = s.sorted[:0]
	s.svals = s.svals[:0]
	clear(s.fams)
	s.fams = s.fams[:0]
	clear(s.mfs)
	s.mfs = s.mfs[:0]
	for k := range s.mfsBuf {
		mf := &s.mfsBuf[k]
		mf.Name, mf.Help, mf.Type, mf.Unit, mf.Metric = nil, nil, nil, nil, nil
	}
	s.err, s.slow, s.built = nil, false, false
	s.g.put(s)
}

// put keeps s for the next collection: the last snapshot released, so that the scrapes of a
// steady catalog reuse its dto objects instead of making new ones (a sync.Pool would lose
// them at nearly every scrape: a scrape allocates enough to start a garbage collection).
func (g *Gatherer) put(s *snapshot) {
	g.mu.Lock()
	if len(g.free) < cap(g.free) {
		g.free = append(g.free, s)
	}
	g.mu.Unlock()
}

// get returns a snapshot to fill: one released before, or a new one.
func (g *Gatherer) get() *snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(g.free); n > 0 {
		s := g.free[n-1]
		g.free[n-1] = nil
		g.free = g.free[:n-1]
		return s
	}
	return &snapshot{g: g}
}

// families returns the snapshot's families as Gather returns them. The fast path builds
// them on first call only: the scrapes it answers itself do not need them.
func (s *snapshot) families() []*dto.MetricFamily {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.built {
		return s.mfs
	}
	for k := range s.fams {
		s.mfs = append(s.mfs, s.buildFamily(k))
	}
	s.built = true
	return s.mfs
}

// has reports whether a family of s that has metrics has a name that match accepts.
func (s *snapshot) has(match func(name string) bool) bool {
	if s.slow {
		for _, mf := range s.mfs {
			if len(mf.GetMetric()) > 0 && match(mf.GetName()) {
				return true
			}
		}
		return false
	}
	for _, fs := range s.fams {
		if fs.to > fs.from && match(fs.name) {
			return true
		}
	}
	return false
}

// family returns the k'th family of s (a fast-path snapshot) as Gather returns it, built
// alone if families was not called.
func (s *snapshot) family(k int) *dto.MetricFamily {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.built {
		return s.mfs[k]
	}
	return s.buildFamily(k)
}

// buildFamily builds the k'th family, once; s.mu is held.
func (s *snapshot) buildFamily(k int) *dto.MetricFamily {
	if cap(s.mfsBuf) < len(s.fams) {
		s.mfsBuf = make([]dto.MetricFamily, len(s.fams))
	}
	s.mfsBuf = s.mfsBuf[:len(s.fams)]
	mf := &s.mfsBuf[k]
	if mf.Name != nil {
		return mf
	}
	fs := &s.fams[k]
	metrics := s.sorted[fs.from:fs.to:fs.to]
	start := int32(0)
	for i, m := range metrics {
		if m == nil {
			metrics[i] = fill(fs.text[start:fs.ends[i]], s.svals[fs.from+i], fs.typ)
		}
		start = fs.ends[i]
	}
	mf.Name, mf.Help, mf.Type, mf.Unit, mf.Metric = &fs.name, &fs.help, &fs.typ, nil, metrics
	if fs.unit != "" {
		mf.Unit = &fs.unit
	}
	return mf
}

// fill returns the metric of a light arrival (see add): the labels that text renders and
// the value v of type typ.
func fill(text []byte, v float64, typ dto.MetricType) *dto.Metric {
	names, values := parseLabels(string(text))
	pairs := make([]dto.LabelPair, len(names))
	m := &dto.Metric{Label: make([]*dto.LabelPair, len(names))}
	for i := range names {
		pairs[i].Name, pairs[i].Value = &names[i], &values[i]
		m.Label[i] = &pairs[i]
	}
	setValue(m, typ, &v)
	return m
}

// parseLabels reads labels rendered by render with legacy names: {a="x",b="y"}, or nothing.
func parseLabels(text string) (names, values []string) {
	for len(text) > 1 { // text[0] is '{' or ','
		eq := strings.IndexByte(text, '=')
		names = append(names, text[1:eq])
		text = text[eq+2:] // past `="`
		end, escaped := 0, false
		for ; text[end] != '"'; end++ {
			if text[end] == '\\' {
				end++
				escaped = true
			}
		}
		v := text[:end]
		if escaped {
			v = unescaper.Replace(v)
		}
		values = append(values, v)
		text = text[end+1:] // at ',' or '}'
	}
	return names, values
}

var unescaper = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n")

// family is what the Gatherer knows of one metric family, from collection to collection.
type family struct {
	name, help, unit string
	typ              dto.MetricType
	head             *heads             // encoded HELP/TYPE/UNIT lines for help, unit and typ; nil until needed
	legacy           bool               // name is a legacy metric name, which no escaping scheme changes
	desc             *prometheus.Desc   // the Desc of its first metric in the last collection
	series           map[uint64]*series // by the hash of their labels
	collided         map[string]*series // by their labels, those whose hash another has
	changed          bool               // a series appeared (or the family is new) since the last sort
	exemplars        bool               // one of its counters had an exemplar in the last collection

	// What sort builds, and every snapshot until the next sort shares: never modified.
	sorted  int     // how many series the last sort gave ranks to
	text    []byte  // their labels as the text formats write them, one after the other, in order
	ends    []int32 // where each one's labels end in text
	legacy2 bool    // every label name of every series is legacy
	tied    bool    // two series have the same label values: sorted at every collection

	gen  uint64    // the last collection that saw the family
	seen int       // series seen in that collection
	at   []arrival // those series as they came
}

type arrival struct {
	s *series
	i int // index in snapshot.metrics
}

// series is one series of a family: its labels, checked once, and its place in the order.
// Its labels as the text formats write them are what tells it from the family's others:
// that rendering is the same for two sets of labels only if their names are not legacy
// (the fast path does not write those) and a 64-bit hash of both is the same too.
type series struct {
	text   []byte   // the labels as the text formats write them: {a="x",b="y"}, or nothing
	values []string // its label values, from its creation to the sort that gives it its place
	legacy bool     // every label name is legacy, so no escaping scheme changes them
	rank   int      // place in the family's order, given by its last sort
	gen    uint64   // the last collection that saw the series
}

// collect runs one collection. Collections run one at a time (Gatherer.inflight).
func (g *Gatherer) collect() *snapshot {
	s := g.get()
	g.gen++
	clear(g.created)
	g.last = nil

	ch, done := make(chan prometheus.Metric, capMetricChan), make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		defer func() {
			// As the registry's safeCollect: a panicking collector becomes an invalid
			// metric, and the scrape goes on with what it sent before.
			if r := recover(); r != nil {
				buf := make([]byte, 64<<10)
				n := runtime.Stack(buf, false)
				err := fmt.Errorf("prometheus collector panic recovered: type=%T: error=%v\nstack trace=%s", g.collector, r, buf[:n])
				ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(err), err)
			}
		}()
		g.collector.Collect(ch)
	}()
	for m := range receive(ch, done) {
		if len(s.rest) > 0 || !g.add(s, m) {
			s.rest = append(s.rest, m)
		}
	}
	if len(s.rest) == 0 {
		g.finish(s)
	} else {
		g.fallBack(s)
	}
	return s
}

// receive yields what ch carries until it is closed, which happens just before done is.
// When ch is empty it waits a little, or until done, rather than block on ch: a receiver
// blocked on a channel is woken by every send, and waking it costs the sender (the
// exporter's collection, on which the scrape waits) more than the receiver's own work on
// the metric.
func receive(ch <-chan prometheus.Metric, done <-chan struct{}) iter.Seq[prometheus.Metric] {
	return func(yield func(prometheus.Metric) bool) {
		t := time.NewTimer(receivePause)
		defer t.Stop()
		for {
			select {
			case m, ok := <-ch:
				if !ok || !yield(m) {
					return
				}
			default:
				t.Reset(receivePause)
				select {
				case <-done:
				case <-t.C:
				}
			}
		}
	}
}

const (
	// capMetricChan is the buffer between the collector and the gathering: enough for
	// the collector's sends of several receivePause.
	capMetricChan = 2048
	// receivePause is how long the gathering waits for the collector's next metrics.
	receivePause = 100 * time.Microsecond
)

// add takes in the s.n'th metric of the collection. It returns false when the registry
// would have reported an error for it, or would have gathered it otherwise than the fast
// path does.
func (g *Gatherer) add(s *snapshot, m prometheus.Metric) bool {
	desc := m.Desc()
	if desc.Err() != nil {
		return false
	}
	i := s.n
	dm := &g.scratch
	dm.Label, dm.Gauge, dm.Counter, dm.Summary, dm.Untyped, dm.Histogram, dm.TimestampMs = nil, nil, nil, nil, nil, nil, nil
	if err := m.Write(dm); err != nil || dm.TimestampMs != nil {
		return false
	}
	var v float64
	switch {
	case dm.Counter != nil:
		v = dm.Counter.GetValue()
	case dm.Gauge != nil:
		v = dm.Gauge.GetValue()
	case dm.Untyped != nil:
		v = dm.Untyped.GetValue()
	}
	s.vals = append(s.vals, v)
	name, help, unit := descName(desc)
	f := g.last
	if f == nil || f.name != name {
		if f = g.families[name]; f == nil {
			f = &family{name: name, legacy: model.LegacyValidation.IsValidMetricName(name), series: map[uint64]*series{}, changed: true}
			g.families[name] = f
		}
		g.last = f
	}
	typ, ok := metricType(dm)
	if f.gen != g.gen {
		// The family's first metric in this collection: the registry creates the family
		// with its help, unit and type, and checks its name against those created before.
		if !ok || suffixCollision(name, typ, g.created) {
			return false
		}
		g.created[name] = typ
		if f.help != help || f.unit != unit || f.typ != typ {
			f.help, f.unit, f.typ, f.head = help, unit, typ, nil
		}
		f.gen, f.seen, f.at, f.desc, f.exemplars = g.gen, 0, f.at[:0], desc, false
	} else if help != f.help || !ok || typ != f.typ {
		return false
	}
	g.text = render(g.text, dm.Label)
	se := f.lookup(g, dm.Label)
	if se == nil {
		if !validLabels(dm, typ) {
			return false
		}
		se = f.add(g, dm.Label)
	} else if se.gen == g.gen {
		return false // the same series twice
	}
	se.gen = g.gen
	f.seen++
	f.at = append(f.at, arrival{s: se, i: i})
	exemplar := dm.Counter != nil && dm.Counter.Exemplar != nil
	f.exemplars = f.exemplars || exemplar
	if !exemplar && se.legacy && f.legacy && (typ == dto.MetricType_COUNTER || typ == dto.MetricType_GAUGE || typ == dto.MetricType_UNTYPED) {
		// A light arrival: what the answer needs of it is the series' labels and the value,
		// so it keeps no dto.Metric, and the exporter's label pairs go now, not when the
		// answer is written (with thousands of series they are a good part of what a scrape
		// holds). families and fallBack make its dto.Metric if need be. A new series keeps
		// its label values until the sort that gives it its place (see family.add).
		s.metrics = append(s.metrics, nil)
	} else {
		kept := &dto.Metric{}
		kept.Label, kept.Gauge, kept.Counter, kept.Summary = dm.Label, dm.Gauge, dm.Counter, dm.Summary
		kept.Untyped, kept.Histogram = dm.Untyped, dm.Histogram
		s.metrics = append(s.metrics, kept)
	}
	dm.Label, dm.Gauge, dm.Counter, dm.Summary, dm.Untyped, dm.Histogram = nil, nil, nil, nil, nil, nil
	s.descs = append(s.descs, f.desc) // the same name and help: the registry sees no difference
	s.n++
	return true
}

// hash returns the hash of labels by which a family finds its series.
func (g *Gatherer) hash(labels []*dto.LabelPair) uint64 {
	h := &g.hasher
	h.Reset()
	for _, l := range labels {
		_, _ = h.WriteString(l.GetName())
		_ = h.WriteByte(model.SeparatorByte)
		_, _ = h.WriteString(l.GetValue())
		_ = h.WriteByte(model.SeparatorByte)
	}
	return h.Sum64()
}

// lookup returns the series of labels, or nil. g.text holds labels as the text formats
// write them (see render).
func (f *family) lookup(g *Gatherer, labels []*dto.LabelPair) *series {
	if s := f.series[g.hash(labels)]; s != nil && bytes.Equal(s.text, g.text) {
		return s
	}
	if f.collided == nil {
		return nil
	}
	return f.collided[collisionKey(labels)]
}

// add adds the series of labels, which lookup did not find.
func (f *family) add(g *Gatherer, labels []*dto.LabelPair) *series {
	s := &series{text: bytes.Clone(g.text), legacy: true, values: make([]string, len(labels))}
	for i, l := range labels {
		s.legacy = s.legacy && model.LegacyValidation.IsValidMetricName(l.GetName())
		s.values[i] = l.GetValue() // the exporter's string: the catalog's label value
	}
	if h := g.hash(labels); f.series[h] == nil {
		f.series[h] = s
	} else { // two series, one hash
		if f.collided == nil {
			f.collided = map[string]*series{}
		}
		f.collided[collisionKey(labels)] = s
	}
	f.changed = true
	return s
}

func collisionKey(labels []*dto.LabelPair) string {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString(l.GetName())
		b.WriteByte(model.SeparatorByte)
		b.WriteString(l.GetValue())
		b.WriteByte(model.SeparatorByte)
	}
	return b.String()
}

// render returns labels as the text formats write them, {a="x",b="y"} (values escaped),
// or nothing for no labels, in b.
func render(b []byte, labels []*dto.LabelPair) []byte {
	b = b[:0]
	for i, l := range labels {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		b = append(b, sep)
		b = append(b, l.GetName()...)
		b = append(b, '=', '"')
		b = appendEscaped(b, l.GetValue())
		b = append(b, '"')
	}
	if len(labels) > 0 {
		b = append(b, '}')
	}
	return b
}

// metricType is the type the registry gives a family from its first metric.
func metricType(m *dto.Metric) (dto.MetricType, bool) {
	switch {
	case m.Gauge != nil:
		return dto.MetricType_GAUGE, true
	case m.Counter != nil:
		return dto.MetricType_COUNTER, true
	case m.Summary != nil:
		return dto.MetricType_SUMMARY, true
	case m.Untyped != nil:
		return dto.MetricType_UNTYPED, true
	case m.Histogram != nil:
		return dto.MetricType_HISTOGRAM, true
	}
	return 0, false
}

// suffixCollision reports what the registry's checkSuffixCollisions reports: a family whose
// name is that of a histogram or summary created before with _count, _sum or _bucket after
// it, or a histogram or summary whose _count or _sum was created before.
func suffixCollision(name string, typ dto.MetricType, created map[string]dto.MetricType) bool {
	var base string
	switch {
	case strings.HasSuffix(name, "_count"):
		base = name[:len(name)-6]
	case strings.HasSuffix(name, "_sum"):
		base = name[:len(name)-4]
	case strings.HasSuffix(name, "_bucket"):
		base = name[:len(name)-7]
	}
	if base != "" {
		if t, ok := created[base]; ok {
			switch t {
			case dto.MetricType_SUMMARY:
				if !strings.HasSuffix(name, "_bucket") {
					return true
				}
			case dto.MetricType_HISTOGRAM:
				return true
			}
		}
	}
	if typ == dto.MetricType_SUMMARY || typ == dto.MetricType_HISTOGRAM {
		if _, ok := created[name+"_count"]; ok {
			return true
		}
		if _, ok := created[name+"_sum"]; ok {
			return true
		}
	}
	return false
}

// validLabels checks the labels of a new series as the registry's checkMetricConsistency
// does, and that they are sorted by name, as the exporter writes them (the registry would
// sort a copy).
func validLabels(m *dto.Metric, typ dto.MetricType) bool {
	prev := ""
	for i, l := range m.Label {
		name := l.GetName()
		if i > 0 && name <= prev { // a repeated name, or out of order
			return false
		}
		if !model.UTF8Validation.IsValidLabelName(name) || strings.HasPrefix(name, model.ReservedLabelPrefix) ||
			typ == dto.MetricType_SUMMARY && name == model.QuantileLabel || !utf8.ValidString(l.GetValue()) {
			return false
		}
		prev = name
	}
	return true
}

// finish sorts the families of a collection that took the fast path all the way.
func (g *Gatherer) finish(s *snapshot) {
	n := 0
	for name, f := range g.families {
		if f.gen != g.gen { // gone: an event disabled, the last series of a family expired
			delete(g.families, name)
			continue
		}
		n += f.seen
		if f.changed || f.tied || f.seen != f.sorted {
			f.sort(s, g.gen)
		}
		s.fams = append(s.fams, famSnap{name: f.name, help: f.help, unit: f.unit, typ: f.typ,
			text: f.text, ends: f.ends, fast: f.legacy && f.legacy2})
	}
	slices.SortFunc(s.fams, func(a, b famSnap) int { return strings.Compare(a.name, b.name) })
	s.sorted = slices.Grow(s.sorted[:0], n)[:n]
	s.svals = slices.Grow(s.svals[:0], n)[:n]
	from := 0
	for k := range s.fams {
		fs := &s.fams[k]
		f := g.families[fs.name]
		fs.from, fs.to, fs.exemplars = from, from+f.seen, f.exemplars
		for _, a := range f.at {
			s.sorted[from+a.s.rank] = s.metrics[a.i]
			s.svals[from+a.s.rank] = s.vals[a.i]
		}
		switch f.typ {
		case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
			if f.head == nil && fs.fast {
				f.head = newHeads(f.name, f.help, f.unit, f.typ)
			}
			fs.head = f.head
			fs.fast = fs.fast && fs.head != nil
		default:
			fs.fast = false
		}
		from = fs.to
	}
}

// sort orders the series of the family seen in collection gen as the registry does,
// forgets the others, gives each its rank, and lays their labels out in that order.
//
// The registry sorts the metrics of a family as they arrive with sort.Sort and its
// MetricSorter, which compares label values only. Two series whose values are all equal
// (their label names differ) are in the order the algorithm leaves them in, which depends on
// the order of arrival: such a family is tied, and sorted again at every collection, as the
// registry does, with the same algorithm on the same sequence. Any other family's order is
// the same whatever the arrival, and lasts until a series appears or goes.
func (f *family) sort(s *snapshot, gen uint64) {
	order := make([]arrival, len(f.at))
	copy(order, f.at)
	values := make([][]string, len(order))
	size := 0
	for k, a := range order {
		size += len(a.s.text)
		if a.s.values != nil {
			values[k] = a.s.values
		} else if m := s.metrics[a.i]; m == nil {
			_, values[k] = parseLabels(string(a.s.text))
		} else {
			values[k] = make([]string, len(m.Label))
			for j, l := range m.Label {
				values[k][j] = l.GetValue()
			}
		}
	}
	if len(f.series)+len(f.collided) != len(order) {
		for k, se := range f.series {
			if se.gen != gen {
				delete(f.series, k)
			}
		}
		for k, se := range f.collided {
			if se.gen != gen {
				delete(f.collided, k)
			}
		}
	}
	sorter := metricSorter{order, values}
	sort.Sort(sorter)
	text, ends := make([]byte, 0, size), make([]int32, len(order))
	f.legacy2, f.tied = true, false
	for i, a := range order {
		a.s.rank, a.s.values = i, nil
		text = append(text, a.s.text...)
		ends[i] = int32(len(text))
		f.legacy2 = f.legacy2 && a.s.legacy
		f.tied = f.tied || i > 0 && !sorter.Less(i-1, i)
	}
	start := 0
	for i, a := range order { // one copy of the labels: the series' is now the family's
		a.s.text = text[start:ends[i]:ends[i]]
		start = int(ends[i])
	}
	f.sorted, f.text, f.ends, f.changed = len(order), text, ends, false
}

// metricSorter is the registry's MetricSorter (client_golang's prometheus/internal) over the
// arrivals of a family, whose metrics have no timestamps, with their label values: by the
// number of labels, then by their values.
type metricSorter struct {
	at     []arrival
	values [][]string
}

func (s metricSorter) Len() int { return len(s.at) }
func (s metricSorter) Swap(i, j int) {
	s.at[i], s.at[j] = s.at[j], s.at[i]
	s.values[i], s.values[j] = s.values[j], s.values[i]
}
func (s metricSorter) Less(i, j int) bool {
	a, b := s.values[i], s.values[j]
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	for n, vi := range a {
		if vj := b[n]; vi != vj {
			return vi < vj
		}
	}
	return false
}

// fallBack gathers the collection's metrics with a registry: the collection had something
// the registry reports, or gathers in its own way.
func (g *Gatherer) fallBack(s *snapshot) {
	for _, f := range g.families {
		f.changed = true // what the collection left in f.at and the ranks is not to be trusted
		if f.gen != g.gen {
			continue
		}
		for _, a := range f.at {
			if a.i < s.n && s.metrics[a.i] == nil {
				s.metrics[a.i] = fill(a.s.text, s.vals[a.i], f.typ)
			}
		}
	}
	ms := make(replay, 0, s.n+len(s.rest))
	for i := range s.n {
		ms = append(ms, replayed{desc: s.descs[i], m: s.metrics[i]})
	}
	ms = append(ms, s.rest...)
	reg := prometheus.NewRegistry()
	reg.MustRegister(ms)
	s.mfs, s.err = reg.Gather()
	s.slow, s.built = true, true
	s.keep() // its families are the registry's, not the snapshot's reusable ones
}

// replay is an unchecked collector that sends the metrics of a past collection again.
type replay []prometheus.Metric

func (replay) Describe(chan<- *prometheus.Desc) {}

func (r replay) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r {
		ch <- m
	}
}

// replayed is a metric the fast path took in, as the registry gathers it: its Desc, or one
// with the same name, help and error, and what it wrote.
type replayed struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (r replayed) Desc() *prometheus.Desc { return r.desc }

func (r replayed) Write(out *dto.Metric) error {
	out.Label, out.Counter, out.Gauge, out.Untyped = r.m.Label, r.m.Counter, r.m.Gauge, r.m.Untyped
	out.Histogram, out.Summary, out.TimestampMs = r.m.Histogram, r.m.Summary, r.m.TimestampMs
	return nil
}

// descFields are the indexes of a prometheus.Desc's fqName, help and unit fields, which
// client_golang does not export: its registry reads them from inside the package. They are
// read with reflect, which reads unexported fields but cannot write them. descReadable is
// false if a client_golang release renames them, and the registry then gathers (slower,
// but the same families); TestDescReadable fails so that it does not go unnoticed.
var descFields, descReadable = func() (idx [3]int, ok bool) {
	t := reflect.TypeFor[prometheus.Desc]()
	for i, name := range []string{"fqName", "help", "unit"} {
		f, found := t.FieldByName(name)
		if !found || f.Type.Kind() != reflect.String || len(f.Index) != 1 {
			return idx, false
		}
		idx[i] = f.Index[0]
	}
	return idx, true
}()

// descName returns the name, help and unit of d.
func descName(d *prometheus.Desc) (name, help, unit string) {
	v := reflect.ValueOf(d).Elem()
	return v.Field(descFields[0]).String(), v.Field(descFields[1]).String(), v.Field(descFields[2]).String()
}

// setValue gives m the value v as a metric of type typ: a counter, a gauge, or else untyped.
func setValue(m *dto.Metric, typ dto.MetricType, v *float64) {
	switch typ {
	case dto.MetricType_COUNTER:
		m.Counter = &dto.Counter{Value: v}
	case dto.MetricType_GAUGE:
		m.Gauge = &dto.Gauge{Value: v}
	default:
		m.Untyped = &dto.Untyped{Value: v}
	}
}
