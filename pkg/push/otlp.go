package push

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	promconfig "github.com/prometheus/common/config"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/logging"
)

// OTLPOptions configure the OTLP push reader.
type OTLPOptions struct {
	// Transport is "grpc" or "http".
	Transport string
	// Endpoint is the collector's URL: http:// for plaintext, https:// for TLS. For the http
	// transport an endpoint without a path gets /v1/metrics.
	Endpoint string
	// Interval is the time between pushes; Timeout bounds each push, retries included.
	Interval, Timeout time.Duration
	// Headers are sent with every push (authorization, tenant ids).
	Headers map[string]string
	// Gzip compresses pushes.
	Gzip bool
	// TLS configures an https:// endpoint's connection (a custom CA, a client certificate
	// for mTLS, the server name), in the shape Prometheus's own clients use. It is ignored for
	// http:// endpoints.
	TLS promconfig.TLSConfig
	// Producer adds the catalog's histogram events (telemetry.NewProducer).
	Producer sdkmetric.Producer
	// Self counts exports in duometer.push.*.
	Self *events.Self
	// Catalog, when set, gives every cumulative sum of its events the start time of its
	// series, so that a restart with storage or a reload does not look like a reset.
	Catalog *events.Catalog
	// Log receives one line when exports succeed again after failing (the failures
	// themselves reach the OpenTelemetry error handler). Nil discards.
	Log *slog.Logger
}

// reconnectBackoff bounds how long the gRPC connection waits between two attempts to reach
// a collector that was down: gRPC's default grows to 120 s, so pushes resumed half a minute
// or more after the collector was back. A quarter of the interval, from 1 s to 5 s, makes
// the next export after a recovery find the connection up.
func reconnectBackoff(interval time.Duration) backoff.Config {
	b := backoff.DefaultConfig
	b.MaxDelay = min(max(interval/4, time.Second), 5*time.Second)
	return b
}

// NewOTLPReader returns a periodic reader that pushes to an OTLP collector. It does not
// connect: a collector that is down at start costs failed exports (counted, and reported to
// the OpenTelemetry error handler) and nothing else, and since temporality is cumulative the
// next export that gets through is whole. Shutting the reader down exports once more.
func NewOTLPReader(ctx context.Context, o OTLPOptions) (sdkmetric.Reader, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("otlp endpoint %q: must be an http:// or https:// URL", o.Endpoint)
	}
	var tlsCfg *tls.Config
	if u.Scheme == "https" {
		if tlsCfg, err = promconfig.NewTLSConfig(&o.TLS); err != nil {
			return nil, fmt.Errorf("otlp tls: %w", err)
		}
	}
	var exp sdkmetric.Exporter
	switch o.Transport {
	case "grpc":
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithEndpointURL(o.Endpoint),
			otlpmetricgrpc.WithTimeout(o.Timeout),
			otlpmetricgrpc.WithHeaders(o.Headers),
			otlpmetricgrpc.WithDialOption(grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: reconnectBackoff(o.Interval), MinConnectTimeout: 5 * time.Second,
			})),
		}
		if o.Gzip {
			opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
		}
		if tlsCfg != nil {
			opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	case "http":
		endpoint := o.Endpoint
		if u.Path == "" || u.Path == "/" {
			endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/metrics"
		}
		// The exporter's own client, with a transport that watches for 404s: the TLS
		// configuration goes on that transport (WithTLSClientConfig would be ignored).
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = tlsCfg
		opts := []otlpmetrichttp.Option{
			otlpmetrichttp.WithEndpointURL(endpoint),
			otlpmetrichttp.WithTimeout(o.Timeout),
			otlpmetrichttp.WithHeaders(o.Headers),
			otlpmetrichttp.WithHTTPClient(&http.Client{Timeout: o.Timeout, Transport: &notFoundHint{
				next: transport, endpoint: o.Endpoint, log: logging.NewRateLimited(o.Log, time.Minute),
			}}),
		}
		if o.Gzip {
			opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
		if err == nil {
			exp = &closeIdle{Exporter: exp, transport: transport}
		}
	default:
		return nil, fmt.Errorf("otlp transport %q: must be grpc or http", o.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	ropts := []sdkmetric.PeriodicReaderOption{
		sdkmetric.WithInterval(o.Interval),
		sdkmetric.WithTimeout(o.Timeout),
	}
	if o.Producer != nil {
		ropts = append(ropts, sdkmetric.WithProducer(o.Producer))
	}
	if o.Catalog != nil {
		exp = seriesStarts{Exporter: exp, cat: o.Catalog}
	}
	return sdkmetric.NewPeriodicReader(Counted("otlp", exp, o.Self, o.Log), ropts...), nil
}

// notFoundHint passes the OTLP/HTTP exporter's requests on and, when the receiver answers
// 404 Not Found, logs a hint about the endpoint's path, at most once a minute: the exporter's
// own error ("failed to send metrics to …: 404 Not Found") does not say that a path was
// appended, and a wrong path is the usual cause (a collector at http://host:4318 wants
// /v1/metrics, which is appended; Prometheus's receiver wants /api/v1/otlp/v1/metrics, which
// must be given).
type notFoundHint struct {
	next     http.RoundTripper
	endpoint string // as configured
	log      *logging.RateLimited
}

func (h *notFoundHint) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusNotFound {
		h.log.Warn("otlp-404", "the OTLP endpoint answered 404 Not Found: check the endpoint's path; "+
			"an endpoint without a path gets /v1/metrics appended, one with a path is used as given",
			"endpoint", h.endpoint, "url", r.URL.String())
	}
	return resp, err
}

// closeIdle closes the idle connections of the OTLP/HTTP exporter's own transport once the
// exporter is shut down (a reload replaces it), which the exporter does not do itself.
type closeIdle struct {
	sdkmetric.Exporter
	transport *http.Transport
}

func (e *closeIdle) Shutdown(ctx context.Context) error {
	err := e.Exporter.Shutdown(ctx)
	e.transport.CloseIdleConnections()
	return err
}

// Counted wraps an exporter so that every export is timed as duometer.push.export-time and
// counted as duometer.push.exports or duometer.push.failures, labelled exporter=name, and
// the first export that succeeds after failures is logged to log (nil discards). Errors
// pass through unchanged: the reader reports them to the OpenTelemetry error handler
// (rate-limited in duometer, see telemetry.HandleOTelErrors).
func Counted(name string, exp sdkmetric.Exporter, self *events.Self, log *slog.Logger) sdkmetric.Exporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &countedExporter{
		Exporter: exp,
		name:     name,
		log:      log,
		ok:       self.PushExports.With(name),
		failed:   self.PushFailures.With(name),
		took:     self.PushExportTime.With(name),
	}
}

type countedExporter struct {
	sdkmetric.Exporter
	name             string
	log              *slog.Logger
	ok, failed, took *events.Series
	failing          atomic.Int64 // exports failed since the last success
}

func (e *countedExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	start := time.Now()
	err := e.Exporter.Export(ctx, rm)
	e.took.Emit(time.Since(start).Seconds())
	if err != nil {
		e.failed.Inc()
		e.failing.Add(1)
		return fmt.Errorf("push export failed: %w", err)
	}
	e.ok.Inc()
	if n := e.failing.Swap(0); n > 0 {
		e.log.Info("push exports succeed again", "exporter", e.name, "failed_exports", n)
	}
	e.log.Debug("push export", "exporter", e.name, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}
