package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/host"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/duometer/duometer/pkg/events"
)

// ScopeName is the instrumentation scope of every event instrument.
const ScopeName = "github.com/duometer/duometer"

// Options configure Start.
type Options struct {
	// Catalog is the source of the event instruments. Required.
	Catalog *events.Catalog
	// Disabled are the disabled-events patterns the provider is built for: events they match
	// get no instrument, and they drop the runtime and process instruments they match. Nil
	// means the catalog's patterns at Start. A provider built for a new configuration takes
	// the new patterns here before the catalog is switched to them.
	Disabled []events.Pattern
	// Resource describes this process (see NewResource). Nil means resource.Default().
	Resource *resource.Resource
	// Readers are the pull and push readers. Each must have been built with a Producer from
	// NewProducer for the same catalog, so that it also sees histogram events.
	Readers []sdkmetric.Reader
	// Runtime adds the Go runtime (go.*) and process (process.*) instruments.
	Runtime bool
	// Log receives the registration failures of events defined after Start, which are also
	// counted in duometer.telemetry.errors{source="register"}. Nil discards.
	Log *slog.Logger
	// Exemplars turns exemplar reservoirs on. They are off by default: they cost a quarter of
	// the SDK's synchronous Add and most of its memory per series, and events carry no trace
	// context for them to sample.
	Exemplars bool
}

// Telemetry is the running MeterProvider. Its methods are safe for concurrent use.
type Telemetry struct {
	mp    *sdkmetric.MeterProvider
	meter metric.Meter

	log       *slog.Logger
	regErrors *events.Series // duometer.telemetry.errors{source="register"}

	disabled []events.Pattern
	unwatch  func()

	mu   sync.Mutex
	seen map[*events.Event]bool
}

// Start builds the MeterProvider over the readers and registers an observable instrument for
// every enabled counter, up-down counter and gauge event of the catalog, now and defined
// later. Histogram events reach the readers through their Producer instead: the metric API
// has no asynchronous histogram.
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
	disabled := opts.Disabled
	if disabled == nil {
		disabled = opts.Catalog.Disabled()
	}
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
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Telemetry{
		mp:        sdkmetric.NewMeterProvider(mpOpts...),
		seen:      map[*events.Event]bool{},
		disabled:  disabled,
		log:       log,
		regErrors: opts.Catalog.Self().TelemetryErrors.With("register"),
	}
	t.meter = t.mp.Meter(ScopeName)
	var errs []error
	var defined []*events.Event
	defined, t.unwatch = opts.Catalog.Watch(t.defined)
	for _, e := range defined {
		if err := t.register(e); err != nil {
			errs = append(errs, err)
		}
	}
	if opts.Runtime {
		if err := runtime.Start(runtime.WithMeterProvider(t.mp)); err != nil {
			errs = append(errs, fmt.Errorf("runtime instruments: %w", err))
		}
		if err := host.Start(host.WithMeterProvider(t.mp)); err != nil {
			errs = append(errs, fmt.Errorf("process instruments: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.unwatch()
		_ = t.mp.Shutdown(context.Background())
		return nil, err
	}
	return t, nil
}

// MeterProvider returns the provider, for instrumentation that takes one.
func (t *Telemetry) MeterProvider() *sdkmetric.MeterProvider { return t.mp }

// Shutdown shuts the provider down, which makes every periodic reader collect and export
// once more, so the last push carries the latest values. It gives up when ctx is done.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.unwatch()
	return t.mp.Shutdown(ctx)
}

// defined registers an event defined after Start. A failure is logged and counted when it
// happens: the event then reaches no reader, and nothing else is wrong.
func (t *Telemetry) defined(e *events.Event) {
	if err := t.register(e); err != nil {
		t.regErrors.Inc()
		t.log.Error("event not exported: its instrument could not be registered", "event", e.Name(), "err", err)
	}
}

// register creates the observable instrument of e. Histograms and disabled events get none.
func (t *Telemetry) register(e *events.Event) error {
	d := e.Def()
	if d.Kind == events.Histogram || events.MatchAny(t.disabled, d.Name) {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[e] {
		return nil
	}
	t.seen[e] = true
	// The callback is the instrument's own (metric.WithFloat64Callback), not one registered
	// with Meter.RegisterCallback: the SDK then hands it an observer bound to the instrument,
	// where a registered callback's observer looks the instrument up in two maps, by a key
	// that hashes its name, description and unit, for every observation (a fifth of the
	// collection of 10,000 series; see docs/performance.md).
	o := &observer{ev: e}
	desc, unit, cb := metric.WithDescription(d.Description), metric.WithUnit(d.Unit), metric.WithFloat64Callback(o.observe)
	var err error
	switch d.Kind {
	case events.Counter:
		_, err = t.meter.Float64ObservableCounter(d.Name, desc, unit, cb)
	case events.UpDownCounter:
		_, err = t.meter.Float64ObservableUpDownCounter(d.Name, desc, unit, cb)
	case events.Gauge:
		_, err = t.meter.Float64ObservableGauge(d.Name, desc, unit, cb)
	}
	if err != nil {
		return fmt.Errorf("event %q: %w", d.Name, err)
	}
	return nil
}

// observer reads one event's cells at collection time. It keeps the observe options of each
// series, built once, so that a collection allocates nothing of its own per series.
type observer struct {
	ev    *events.Event
	mu    sync.Mutex // collections by two readers may overlap
	cache []observed // in the order of the event's series
}

type observed struct {
	s    *events.Series
	opts []metric.ObserveOption
}

func (o *observer) observe(_ context.Context, obs metric.Float64Observer) error {
	if !o.ev.Enabled() {
		return nil
	}
	series := o.ev.Series()
	o.mu.Lock()
	cache := o.options(series)
	o.mu.Unlock()
	for i, s := range series {
		obs.Observe(s.Value(), cache[i].opts...)
	}
	return nil
}

// options returns the cache for series, which are the cached series minus those that
// expired, in the same order, plus new ones at the end: entries are reused when they match,
// and the cache is rebuilt when an expiry removed some. o.mu is held.
func (o *observer) options(series []*events.Series) []observed {
	j := 0
	for j < len(series) && j < len(o.cache) && o.cache[j].s == series[j] {
		j++
	}
	if j < len(o.cache) { // a series was removed: keep the entries still used
		next := make([]observed, 0, len(series))
		k := 0
		for _, s := range series {
			for k < len(o.cache) && o.cache[k].s != s {
				k++
			}
			if k < len(o.cache) {
				next = append(next, o.cache[k])
				k++
			} else {
				next = append(next, observed{s: s, opts: []metric.ObserveOption{metric.WithAttributeSet(s.Attributes())}})
			}
		}
		o.cache = next
		return next
	}
	for _, s := range series[len(o.cache):] {
		o.cache = append(o.cache, observed{s: s, opts: []metric.ObserveOption{metric.WithAttributeSet(s.Attributes())}})
	}
	return o.cache
}

// NewInstanceID returns a random identifier of 32 hexadecimal digits, for a process that is
// given none (service.instance.id) and wherever a process must tell itself from its peers.
func NewInstanceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ResourceOptions describe a process for NewResource.
type ResourceOptions struct {
	// ServiceName is service.name: "duometer" for the server, the embedding program's own
	// name otherwise. Empty means OpenTelemetry's default, "unknown_service:" followed by
	// the executable's name.
	ServiceName string
	// ServiceVersion is service.version. Empty leaves it out.
	ServiceVersion string
	// InstanceID is service.instance.id. Empty means a new one from NewInstanceID, different
	// at every start.
	InstanceID string
}

// NewResource describes this process: service.name, service.version and
// service.instance.id from o, host.name, the SDK's telemetry.sdk.*, then what
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME say, which override them. An error says
// what could not be detected; the resource returned with it is still usable.
func NewResource(ctx context.Context, o ResourceOptions) (*resource.Resource, error) {
	if o.InstanceID == "" {
		o.InstanceID = NewInstanceID()
	}
	if o.ServiceName == "" {
		o.ServiceName = defaultServiceName()
	}
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	attrs := []attribute.KeyValue{
		attribute.String("service.name", o.ServiceName),
		attribute.String("service.instance.id", o.InstanceID),
		attribute.String("host.name", hostname),
	}
	if o.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", o.ServiceVersion))
	}
	return resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
}

// defaultServiceName is OpenTelemetry's service.name for a process that names none.
func defaultServiceName() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown_service:go"
	}
	return "unknown_service:" + filepath.Base(exe)
}

func dropView(pattern string) sdkmetric.View {
	return sdkmetric.NewView(sdkmetric.Instrument{Name: pattern}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
}
