package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/push"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

// Defaults of Options.
const (
	DefaultTransport    = "grpc"
	DefaultPushInterval = time.Minute
	DefaultPushTimeout  = 10 * time.Second
)

// Options configure New. Every field is optional.
type Options struct {
	// ServiceName is the service.name of the exported metrics (target_info's service_name,
	// the OTLP resource's service.name). Empty means OpenTelemetry's default,
	// "unknown_service:" followed by the executable's name. OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override it.
	ServiceName string
	// ServiceVersion is service.version. Empty leaves it out.
	ServiceVersion string
	// InstanceID is service.instance.id, which tells this process from the other instances of
	// the service. Empty means a new random one at every start (telemetry.NewInstanceID), as
	// in the server: give a stable one (the host name, a pod name) when a store keys series
	// by it, as Prometheus's OTLP receiver does with its instance label.
	InstanceID string

	// OTLPEndpoint is the OTLP receiver's URL, http:// (no TLS) or https:// (verified
	// against the system's CAs), e.g. "http://127.0.0.1:4317" for a collector over gRPC.
	// Empty means no push: the metrics are only served by Handler.
	OTLPEndpoint string
	// OTLPTransport is "grpc" or "http". Empty means DefaultTransport. Over http an endpoint
	// without a path gets /v1/metrics appended and one with a path is used as given
	// (Prometheus's receiver: "http://host:9090/api/v1/otlp/v1/metrics").
	OTLPTransport string
	// OTLPHeaders are sent with every push (authorization, tenant).
	OTLPHeaders map[string]string
	// PushInterval is the time between two pushes. 0 means DefaultPushInterval.
	PushInterval time.Duration
	// PushTimeout bounds one push, retries included. 0 means DefaultPushTimeout.
	PushTimeout time.Duration

	// Catalog is the event catalog to export, for a program that has built one already (for
	// example with config.LoadCatalog). Nil means a new one, which Catalog returns.
	Catalog *events.Catalog
	// Runtime adds the Go runtime (go.*) and process (process.*) metrics, as the server has.
	Runtime bool
	// Log receives the scrape errors and the recovery of pushes that were failing. Nil
	// discards. The failed pushes themselves are counted in duometer.push.failures and
	// reported to the OpenTelemetry error handler (see otel.SetErrorHandler and
	// telemetry.HandleOTelErrors).
	Log *slog.Logger
}

// Exporter is duometer running inside a program: an event catalog exported by a scrape
// handler and, with an OTLP endpoint, by periodic pushes. Its methods are safe for
// concurrent use.
type Exporter struct {
	cat     *events.Catalog
	tel     *telemetry.Telemetry
	handler http.Handler

	shutdown    sync.Once
	shutdownErr error
}

// New builds the exporter: the catalog, the MeterProvider with the Prometheus reader and,
// with an OTLP endpoint, the push reader, both reading the catalog's histograms through its
// producer. Nothing is contacted: a receiver that is down costs failed pushes (counted in
// duometer.push.failures) and nothing else.
func New(o Options) (*Exporter, error) {
	if o.PushInterval < 0 || o.PushTimeout < 0 {
		return nil, fmt.Errorf("exporter: push interval %v and timeout %v must not be negative", o.PushInterval, o.PushTimeout)
	}
	if o.OTLPEndpoint == "" && o.OTLPTransport != "" {
		return nil, fmt.Errorf("exporter: OTLP transport %q without an OTLP endpoint", o.OTLPTransport)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat := o.Catalog
	if cat == nil {
		cat = events.NewCatalog()
	}
	ctx := context.Background()
	producer := telemetry.NewProducer(cat)
	prom, err := pull.NewReader(producer)
	if err != nil {
		return nil, fmt.Errorf("exporter: %w", err)
	}
	readers := []sdkmetric.Reader{prom}
	if o.OTLPEndpoint != "" {
		r, err := push.NewOTLPReader(ctx, push.OTLPOptions{
			Transport: or(o.OTLPTransport, DefaultTransport), Endpoint: o.OTLPEndpoint,
			Interval: or(o.PushInterval, DefaultPushInterval), Timeout: or(o.PushTimeout, DefaultPushTimeout),
			Headers: o.OTLPHeaders, Gzip: true,
			Producer: producer, Self: cat.Self(), Catalog: cat, Log: log,
		})
		if err != nil {
			return nil, fmt.Errorf("exporter: %w", err)
		}
		readers = append(readers, r)
	}
	res, err := telemetry.NewResource(ctx, telemetry.ResourceOptions{
		ServiceName: o.ServiceName, ServiceVersion: o.ServiceVersion, InstanceID: o.InstanceID,
	})
	if err != nil { // what could be detected is kept, as in the server
		log.Warn("resource detection incomplete", "err", err)
	}
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Resource: res, Readers: readers, Runtime: o.Runtime, Log: log})
	if err != nil {
		return nil, fmt.Errorf("exporter: %w", err)
	}
	return &Exporter{
		cat:     cat,
		tel:     tel,
		handler: web.Instrument(cat.Self(), "prometheus", prom.Handler(log)),
	}, nil
}

// Catalog returns the event catalog: define events on it, then emit them.
func (e *Exporter) Catalog() *events.Catalog { return e.cat }

// Handler serves the Prometheus exposition of every enabled event (text or OpenMetrics by
// content negotiation, gzip when accepted). Serve it at pull.Path, where duometer serves it.
// Its requests are counted in duometer.http.requests{handler="prometheus"}.
func (e *Exporter) Handler() http.Handler { return e.handler }

// MeterProvider returns the provider both readers are registered on, for OpenTelemetry
// instrumentation that takes one: its instruments are scraped and pushed with the events.
func (e *Exporter) MeterProvider() *sdkmetric.MeterProvider { return e.tel.MeterProvider() }

// Shutdown stops the exporter: with an OTLP endpoint it pushes once more, so the receiver
// gets the latest values, within ctx. Calls after the first return its result. The
// catalog stays usable, but nothing exports it any more.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.shutdown.Do(func() {
		if err := e.tel.Shutdown(ctx); err != nil {
			e.shutdownErr = fmt.Errorf("exporter shutdown (last OTLP push): %w", err)
		}
	})
	return e.shutdownErr
}

func or[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}
