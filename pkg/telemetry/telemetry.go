package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/contrib/instrumentation/host"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/duometer/duometer/pkg/events"
)

// ScopeName is the instrumentation scope of every event.
const ScopeName = "github.com/duometer/duometer"

// Options configure Start.
type Options struct {
	// Catalog is the source of the events, which the readers' Producer reads. Required. Its
	// disabled-events patterns must be set before Start: the Producer leaves disabled events
	// out, and the same patterns drop the runtime and process instruments they match.
	Catalog *events.Catalog
	// Resource describes this process (see NewResource). Nil means resource.Default().
	Resource *resource.Resource
	// Readers are the pull and push readers. Each must have been built with a Producer from
	// NewProducer for the same catalog: the events reach the readers through it.
	Readers []sdkmetric.Reader
	// Runtime adds the Go runtime (go.*) and process (process.*) instruments.
	Runtime bool
	// Exemplars turns exemplar reservoirs on. They are off by default: they cost a quarter of
	// the SDK's synchronous Add and most of its memory per series, and events carry no trace
	// context for them to sample.
	Exemplars bool
}

// Telemetry is the running MeterProvider. Its methods are safe for concurrent use.
type Telemetry struct {
	mp *sdkmetric.MeterProvider
}

// Start builds the MeterProvider over the readers. The catalog's events, those defined now
// and later, reach every reader through the Producer it was built with (see Producer: they
// take no SDK instrument, which would cost a collection ten times as much); the provider
// adds the runtime and process instruments, and applies the resource and the views.
func Start(opts Options) (*Telemetry, error) {
	if opts.Catalog == nil {
		return nil, errors.New("telemetry: Options.Catalog is nil")
	}
	mpOpts := []sdkmetric.Option{
		// Our own cells bound cardinality; the SDK's default of 2000 series per instrument
		// would fold a large event into an overflow series of its own.
		sdkmetric.WithCardinalityLimit(0),
	}
	if !opts.Exemplars {
		mpOpts = append(mpOpts, sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
	}
	if opts.Resource != nil {
		mpOpts = append(mpOpts, sdkmetric.WithResource(opts.Resource))
	}
	for _, r := range opts.Readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	disabled := opts.Catalog.Disabled()
	for _, p := range disabled {
		mpOpts = append(mpOpts, sdkmetric.WithView(dropView(string(p))))
	}
	if opts.Runtime {
		// The host instrumentation also reports the whole machine's CPU, memory and network:
		// not this process's business, and often reported by node_exporter already.
		mpOpts = append(mpOpts, sdkmetric.WithView(dropView("system.*")))
		// "go_goroutine_count" trips promtool's lint (a _count suffix outside histograms);
		// client_golang calls it go_goroutines, as does every Go exporter.
		if !events.MatchAny(disabled, "go.goroutine.count") {
			mpOpts = append(mpOpts, sdkmetric.WithView(sdkmetric.NewView(
				sdkmetric.Instrument{Name: "go.goroutine.count"}, sdkmetric.Stream{Name: "go.goroutines"})))
		}
	}
	t := &Telemetry{mp: sdkmetric.NewMeterProvider(mpOpts...)}
	var errs []error
	if opts.Runtime {
		if err := runtime.Start(runtime.WithMeterProvider(t.mp)); err != nil {
			errs = append(errs, fmt.Errorf("runtime instruments: %w", err))
		}
		if err := host.Start(host.WithMeterProvider(t.mp)); err != nil {
			errs = append(errs, fmt.Errorf("process instruments: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = t.mp.Shutdown(context.Background())
		return nil, err
	}
	return t, nil
}

// MeterProvider returns the provider, for instrumentation that takes one.
func (t *Telemetry) MeterProvider() *sdkmetric.MeterProvider { return t.mp }

// Shutdown shuts the provider down, which makes every periodic reader collect and export
// once more, so the last push carries the latest values. It returns every error met and
// gives up when ctx is done.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return t.mp.Shutdown(ctx)
}

// NewResource describes this process: service.name "duometer", service.version,
// service.instance.id and host.name, then what OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME say.
func NewResource(ctx context.Context, version, instanceID string) (*resource.Resource, error) {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	return resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", "duometer"),
			attribute.String("service.version", version),
			attribute.String("service.instance.id", instanceID),
			attribute.String("host.name", hostname),
		),
		resource.WithFromEnv(),
	)
}

func dropView(pattern string) sdkmetric.View {
	return sdkmetric.NewView(sdkmetric.Instrument{Name: pattern}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
}
