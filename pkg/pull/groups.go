package pull

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/duometer/duometer/pkg/events"
)

// GroupPattern is the ServeMux pattern of the per-group endpoints: Path + "/{group}".
const GroupPattern = Path + "/{group}"

// TargetInfo is the family the exporter describes the process with (its OpenTelemetry
// resource). It belongs to no group and is served on every group endpoint, so that a scrape
// of one group can still be joined with the resource (host.name, service.instance.id).
const TargetInfo = "target_info"

// Runtime groups: the families of the Go runtime and process instrumentation, which are not
// catalog events, are told apart by their prefix.
const (
	GroupGo      = "go"
	GroupProcess = "process"
)

// Index maps the names of the metric families the pull reader exports back to the events of
// a catalog, so that a family can be given its event's group and cluster aggregation. It
// follows the catalog: events defined later are indexed as they are defined. It is safe for
// concurrent use.
type Index struct {
	mu      sync.RWMutex
	byName  map[string]events.Def
	unwatch func()
}

// NewIndex indexes the events of cat, now and defined later (until Close), by their
// Prometheus names.
func NewIndex(cat *events.Catalog) *Index {
	x := &Index{byName: map[string]events.Def{}}
	var defined []*events.Event
	defined, x.unwatch = cat.Watch(x.add)
	for _, e := range defined {
		x.add(e)
	}
	return x
}

// Close stops following the catalog: events defined from now on are not indexed.
func (x *Index) Close() { x.unwatch() }

func (x *Index) add(e *events.Event) {
	d := e.Def()
	names := []string{exportedName(d), events.PrometheusName(d)}
	x.mu.Lock()
	for _, n := range names {
		if _, dup := x.byName[n]; !dup && n != "" { // two events with one name: the first keeps it
			x.byName[n] = d
		}
	}
	x.mu.Unlock()
}

// exportedName is the name the exporter gives the family of d's instrument.
func exportedName(d events.Def) string { return events.PrometheusName(d) }

// Event returns the definition of the event exported as the family called name.
func (x *Index) Event(name string) (events.Def, bool) {
	x.mu.RLock()
	d, ok := x.byName[name]
	x.mu.RUnlock()
	return d, ok
}

// Group returns the group of the family called name: its event's group ("duometer",
// "backup", …), "go" or "process" for the runtime instrumentation, "" for target_info (which
// goes with every group). Any other family's group is its name up to the first underscore.
func (x *Index) Group(name string) string {
	if name == TargetInfo {
		return ""
	}
	if d, ok := x.Event(name); ok {
		return d.Group()
	}
	if i := strings.IndexByte(name, '_'); i > 0 {
		return name[:i]
	}
	return name
}

// Aggregation returns how a cluster merges the family called name: its event's aggregation;
// per-node for the runtime and process families (go_*, process_*), which are the resource
// usage of each process; consistent for target_info (the answering node's); sum for any
// other family.
func (x *Index) Aggregation(name string) events.Aggregation {
	if name == TargetInfo {
		return events.Consistent
	}
	if d, ok := x.Event(name); ok {
		return d.Aggregation
	}
	if strings.HasPrefix(name, GroupGo+"_") || strings.HasPrefix(name, GroupProcess+"_") {
		return events.PerNode
	}
	return events.Sum
}

// Groups returns the groups of families, sorted, each once. target_info counts for none.
func (x *Index) Groups(families []*dto.MetricFamily) []string {
	var gs []string
	for _, mf := range families {
		if g := x.Group(mf.GetName()); g != "" && len(mf.GetMetric()) > 0 && !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	slices.Sort(gs)
	return gs
}

// FilterGroup returns the families of group, and target_info, in the order given; has says
// whether any of them is of group (target_info aside). The families are shared, not copied.
func (x *Index) FilterGroup(families []*dto.MetricFamily, group string) (out []*dto.MetricFamily, has bool) {
	for _, mf := range families {
		switch x.Group(mf.GetName()) {
		case "":
			out = append(out, mf)
		case group:
			out = append(out, mf)
			has = has || len(mf.GetMetric()) > 0
		}
	}
	return out, has
}

// GroupGatherer wraps g so that it gathers only the families of group (and target_info).
func (x *Index) GroupGatherer(g prometheus.Gatherer, group string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		out, _ := x.FilterGroup(mfs, group)
		return out, err
	})
}

// handlerOpts are the promhttp options of every pull handler; a ScrapeLimit caps the scrapes
// in flight instead of promhttp's MaxRequestsInFlight, so that handlers can share it.
func handlerOpts(log *slog.Logger) promhttp.HandlerOpts {
	return promhttp.HandlerOpts{
		ErrorLog:          promLogger{log},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}
}

// Endpoints serves the pull exposition: everything at Path, one group at GroupPattern, each
// for this node alone or, with ?mode=all_nodes_aggregated or all_nodes_unaggregated, for the
// whole cluster. Every answer carries this node's name in the NodeHeader header.
type Endpoints struct {
	gatherer prometheus.Gatherer
	fast     *Gatherer // the reader's Gatherer; nil: gatherer is its registry
	srv      *scrapeServer
	index    *Index
	cluster  *Cluster
	log      *slog.Logger
	node     http.Handler // Reader.Handler: the main endpoint in node mode, as it always was
	limit    *ScrapeLimit
}

// NewEndpoints serves r's exposition. index maps its families back to the catalog's events;
// cluster may be nil, in which case every mode is node mode. limit caps the scrapes of every
// endpoint and mode together (nil: NewScrapeLimit(0, nil)).
func NewEndpoints(r *Reader, index *Index, cluster *Cluster, limit *ScrapeLimit, log *slog.Logger) *Endpoints {
	if limit == nil {
		limit = NewScrapeLimit(0, nil)
	}
	return &Endpoints{
		gatherer: r.Gatherer(),
		fast:     r.gatherer,
		srv:      newScrapeServer(log),
		index:    index,
		cluster:  cluster,
		log:      log,
		node:     r.handler(log, limit),
		limit:    limit,
	}
}

// Main serves every family, at Path.
func (e *Endpoints) Main() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.setHeaders(w)
		mode := ParseMode(r.URL.Query().Get("mode"))
		if mode == ModeNode || e.cluster == nil {
			e.node.ServeHTTP(w, r)
			return
		}
		if !e.limit.acquire(w) {
			return
		}
		defer e.limit.release()
		e.serveCluster(w, r, mode, "")
	})
}

// Group serves the families of the group named by the {group} wildcard of the request's
// pattern (see GroupPattern), and target_info. A group that no family belongs to is answered
// 404 with the list of the groups there are.
func (e *Endpoints) Group() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.setHeaders(w)
		group := r.PathValue("group")
		if !e.limit.acquire(w) {
			return
		}
		defer e.limit.release()
		if mode := ParseMode(r.URL.Query().Get("mode")); mode != ModeNode && e.cluster != nil {
			e.serveCluster(w, r, mode, group)
			return
		}
		if e.fast != nil {
			s := e.fast.acquire()
			if !s.has(func(name string) bool { return e.index.Group(name) == group }) {
				e.unknownGroup(w, group, s.families())
				s.release()
				return
			}
			e.srv.serve(w, r, s, func(name string) bool {
				g := e.index.Group(name)
				return g == "" || g == group
			})
			return
		}
		mfs, err := e.gatherer.Gather()
		out, has := e.index.FilterGroup(mfs, group)
		if !has {
			e.unknownGroup(w, group, mfs)
			return
		}
		serveFamilies(w, r, out, err, e.log)
	})
}

func (e *Endpoints) setHeaders(w http.ResponseWriter) {
	if e.cluster != nil {
		w.Header().Set(NodeHeader, e.cluster.nodeName)
		w.Header().Set(InstanceHeader, e.cluster.instance)
	}
}

// unknownGroup answers 404 with the groups of families.
func (e *Endpoints) unknownGroup(w http.ResponseWriter, group string, families []*dto.MetricFamily) {
	http.Error(w, fmt.Sprintf("404 unknown metrics group %q; known groups: %s", group,
		strings.Join(e.index.Groups(families), ", ")), http.StatusNotFound)
}

// serveFamilies serves families as promhttp serves a registry: text or OpenMetrics by
// content negotiation, gzip when accepted; err is a gathering error, logged.
func serveFamilies(w http.ResponseWriter, r *http.Request, families []*dto.MetricFamily, err error, log *slog.Logger) {
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, err })
	promhttp.HandlerFor(g, handlerOpts(log)).ServeHTTP(w, r)
}
