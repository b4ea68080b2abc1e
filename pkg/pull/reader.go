package pull

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/duometer/duometer/pkg/events"
)

// Path is where the Prometheus exposition is served.
const Path = "/metrics/prometheus"

// Reader is the pull reader: an OpenTelemetry Prometheus exporter registered on a registry of
// its own, never the global one. Register it on the MeterProvider (it is an sdkmetric.Reader)
// and serve Handler.
type Reader struct {
	*otelprom.Exporter
	registry *prometheus.Registry
	gatherer *Gatherer // the exporter's collector gathered without the registry; nil: the registry
}

// NewReader returns a pull reader that also reads the given producer (histogram events).
// Scope labels (otel_scope_*) are left out: they are the same on every series, more than
// double the scrape body and cost a third of scrape time.
func NewReader(producer sdkmetric.Producer) (*Reader, error) {
	opts := []otelprom.Option{otelprom.WithoutScopeInfo()}
	if producer != nil {
		opts = append(opts, otelprom.WithProducer(producer))
	}
	return newReader(opts...)
}

// newReader returns a pull reader built with the exporter's options opts.
func newReader(opts ...otelprom.Option) (*Reader, error) {
	reg := prometheus.NewRegistry()
	c := &capture{Registerer: reg}
	exp, err := otelprom.New(append(opts, otelprom.WithRegisterer(c))...)
	if err != nil {
		return nil, fmt.Errorf("prometheus reader: %w", err)
	}
	r := &Reader{Exporter: exp, registry: reg}
	if c.collector != nil {
		r.gatherer = newGatherer(c.collector)
	}
	return r, nil
}

// capture registers the exporter's collector on a registry and keeps it.
type capture struct {
	prometheus.Registerer
	collector prometheus.Collector
}

func (c *capture) Register(col prometheus.Collector) error {
	if err := c.Registerer.Register(col); err != nil {
		return err
	}
	c.collector = col
	return nil
}

// Registry returns the registry the reader's collector is registered on. Its Gather is
// prometheus.Registry's; Gatherer gathers the same families at less cost.
func (r *Reader) Registry() *prometheus.Registry { return r.registry }

// Gatherer returns what Handler serves: the reader's families, as the registry gathers them,
// with a collection shared by the callers that arrive while it is under way (see Gatherer).
// Hand it to the Pushgateway pusher rather than Registry.
func (r *Reader) Gatherer() prometheus.Gatherer {
	if r.gatherer == nil {
		return r.registry
	}
	return r.gatherer
}

// Handler serves the reader's exposition as promhttp.HandlerFor serves its registry, byte
// for byte: text or OpenMetrics by content negotiation, gzip when accepted. One metric that
// fails to collect is logged and left out; the rest of the scrape is served. The families
// come from the Gatherer, and the samples of counters and gauges are written from what each
// series keeps from one scrape to the next (see scrapeServer).
func (r *Reader) Handler(log *slog.Logger) http.Handler {
	return r.handler(log, NewScrapeLimit(0, nil))
}

// handler is Handler with the cap on scrapes in flight it is given.
func (r *Reader) handler(log *slog.Logger, limit *ScrapeLimit) http.Handler {
	if r.gatherer == nil {
		return limit.wrap(promhttp.HandlerFor(r.registry, handlerOpts(log)))
	}
	srv := newScrapeServer(log)
	return limit.wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		srv.serve(w, req, r.gatherer.acquire(), nil)
	}))
}

// DefaultMaxScrapesInFlight is the default of metrics.prometheus.max-in-flight.
const DefaultMaxScrapesInFlight = 16

// LimitMaxScrapesInFlight is the limit label (duometer.limits.reached) of scrapes answered
// 503 because a ScrapeLimit was full.
const LimitMaxScrapesInFlight = "metrics.prometheus.max-in-flight"

// A ScrapeLimit caps the scrapes served at once (metrics.prometheus.max-in-flight): the one
// past it is answered 503 at once, as promhttp's MaxRequestsInFlight does, rather than
// piled up, each holding the memory of a whole exposition. It is safe for concurrent use;
// the handlers that share one share its places.
type ScrapeLimit struct {
	slots   chan struct{}
	reached *events.Series
}

// NewScrapeLimit returns a cap of max scrapes (DefaultMaxScrapesInFlight when max <= 0)
// that counts in reached (nil: not counted) every scrape it answers 503.
func NewScrapeLimit(max int, reached *events.Series) *ScrapeLimit {
	if max <= 0 {
		max = DefaultMaxScrapesInFlight
	}
	return &ScrapeLimit{slots: make(chan struct{}, max), reached: reached}
}

// acquire takes a place, or answers 503 and counts when there is none.
func (l *ScrapeLimit) acquire(w http.ResponseWriter) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		if l.reached != nil {
			l.reached.Inc()
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later: metrics.prometheus.max-in-flight.", cap(l.slots)),
			http.StatusServiceUnavailable)
		return false
	}
}

func (l *ScrapeLimit) release() { <-l.slots }

// wrap serves next within the limit.
func (l *ScrapeLimit) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.acquire(w) {
			return
		}
		defer l.release()
		next.ServeHTTP(w, r)
	})
}

type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("scrape error", "err", fmt.Sprint(v...)) }
