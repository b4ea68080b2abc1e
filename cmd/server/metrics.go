package main

import (
	"context"
	"log/slog"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/push"
	"github.com/duometer/duometer/pkg/telemetry"
)

// metrics is the one MeterProvider with its readers: the Prometheus reader, made when the
// pull endpoint or the Pushgateway needs what it gathers, and the OTLP push reader when a
// transport is configured.
type metrics struct {
	tel        *telemetry.Telemetry
	prometheus *pull.Reader // nil when neither pull nor the Pushgateway is on
}

func newMetrics(ctx context.Context, cfg config.Config, instance string, cat *events.Catalog, log *slog.Logger) (*metrics, error) {
	m := &metrics{}
	producer := telemetry.NewProducer(cat)
	var readers []sdkmetric.Reader
	if cfg.Metrics.Prometheus.Enable || cfg.Metrics.Pushgateway.Enable {
		r, err := pull.NewReader(producer)
		if err != nil {
			return nil, err
		}
		m.prometheus = r
		readers = append(readers, r)
	}
	if o := cfg.Metrics.OpenTelemetry; o.Transport != "disable" {
		r, err := push.NewOTLPReader(ctx, push.OTLPOptions{
			Transport: o.Transport, Endpoint: o.Endpoint,
			Interval: o.Interval, Timeout: o.Timeout,
			Headers: revealHeaders(o.Headers), Gzip: o.Compression == "gzip",
			TLS:      o.TLS.Common(),
			Producer: producer, Self: cat.Self(), Log: log, Catalog: cat,
		})
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
	}
	res, err := telemetry.NewResource(ctx, telemetry.ResourceOptions{
		ServiceName: "duometer", ServiceVersion: buildVersion(), InstanceID: instance,
	})
	if err != nil {
		log.Warn("resource detection incomplete", "err", err)
	}
	disabled := make([]events.Pattern, len(cfg.Metrics.DisabledEvents))
	for i, p := range cfg.Metrics.DisabledEvents {
		disabled[i] = events.Pattern(p)
	}
	m.tel, err = telemetry.Start(telemetry.Options{Catalog: cat, Resource: res, Readers: readers, Runtime: true, Log: log,
		Disabled: disabled})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Shutdown shuts the MeterProvider down: the OTLP reader exports once more.
func (m *metrics) Shutdown(ctx context.Context) error { return m.tel.Shutdown(ctx) }

// revealHeaders returns the header values in clear, for a client that sends them.
func revealHeaders(h map[string]config.Secret) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v.Reveal()
	}
	return out
}
