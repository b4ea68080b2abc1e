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
}

// NewReader returns a pull reader that also reads the given producer (histogram events).
// Scope labels (otel_scope_*) are left out: they are the same on every series, more than
// double the scrape body and cost a third of scrape time.
func NewReader(producer sdkmetric.Producer) (*Reader, error) {
	reg := prometheus.NewRegistry()
	opts := []otelprom.Option{otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo()}
	if producer != nil {
		opts = append(opts, otelprom.WithProducer(producer))
	}
	exp, err := otelprom.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("prometheus reader: %w", err)
	}
	return &Reader{Exporter: exp, registry: reg}, nil
}

// Registry returns the registry the reader's collector is registered on.
func (r *Reader) Registry() *prometheus.Registry { return r.registry }

// Handler serves the registry's exposition: text or OpenMetrics by content negotiation,
// gzip when accepted. One metric that fails to collect is logged and left out; the rest of
// the scrape is served.
func (r *Reader) Handler(log *slog.Logger) http.Handler {
	opts := handlerOpts(log)
	opts.MaxRequestsInFlight = maxScrapesInFlight
	return promhttp.HandlerFor(r.registry, opts)
}

// maxScrapesInFlight caps the scrapes each pull handler serves at once (the main one through
// promhttp, the group and cluster ones themselves): more are answered 503, not piled up.
const maxScrapesInFlight = 16

type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("scrape error", "err", fmt.Sprint(v...)) }
