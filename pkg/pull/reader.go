package pull

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
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
	opts := handlerOpts(log)
	opts.MaxRequestsInFlight = maxScrapesInFlight
	if r.gatherer == nil {
		return promhttp.HandlerFor(r.registry, opts)
	}
	srv := newScrapeServer(log)
	inFlight := make(chan struct{}, maxScrapesInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !acquire(w, inFlight) {
			return
		}
		defer func() { <-inFlight }()
		srv.serve(w, req, r.gatherer.acquire(), nil)
	})
}

// maxScrapesInFlight caps the scrapes each pull handler serves at once (the main one through
// promhttp, the group and cluster ones themselves): more are answered 503, not piled up.
const maxScrapesInFlight = 16

// acquire takes a place in inFlight, or answers 503 as promhttp does when there is none.
func acquire(w http.ResponseWriter, inFlight chan struct{}) bool {
	select {
	case inFlight <- struct{}{}:
		return true
	default:
		http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", maxScrapesInFlight),
			http.StatusServiceUnavailable)
		return false
	}
}

type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("scrape error", "err", fmt.Sprint(v...)) }
