package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/credentials"

	"github.com/duometer/duometer/pkg/events"
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
	// CAFile, CertFile and KeyFile configure TLS (a custom CA; a client certificate for
	// mTLS); InsecureSkipVerify skips verifying the collector's certificate.
	CAFile, CertFile, KeyFile string
	InsecureSkipVerify        bool
	// Producer adds the catalog's histogram events (telemetry.NewProducer).
	Producer sdkmetric.Producer
	// Self counts exports in duometer.push.*.
	Self *events.Self
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
		if tlsCfg, err = o.tlsConfig(); err != nil {
			return nil, err
		}
	}
	var exp sdkmetric.Exporter
	switch o.Transport {
	case "grpc":
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithEndpointURL(o.Endpoint),
			otlpmetricgrpc.WithTimeout(o.Timeout),
			otlpmetricgrpc.WithHeaders(o.Headers),
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
		opts := []otlpmetrichttp.Option{
			otlpmetrichttp.WithEndpointURL(endpoint),
			otlpmetrichttp.WithTimeout(o.Timeout),
			otlpmetrichttp.WithHeaders(o.Headers),
		}
		if o.Gzip {
			opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		}
		if tlsCfg != nil {
			opts = append(opts, otlpmetrichttp.WithTLSClientConfig(tlsCfg))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
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
	return sdkmetric.NewPeriodicReader(Counted("otlp", exp, o.Self), ropts...), nil
}

func (o OTLPOptions) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("otlp tls ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("otlp tls ca-file %s: no PEM certificate found", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("otlp tls cert-file/key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Counted wraps an exporter so that every export is timed as duometer.push.export-time and
// counted as duometer.push.exports or duometer.push.failures, labelled exporter=name.
// Errors pass through unchanged: the reader reports them to the OpenTelemetry error handler
// (rate-limited in duometer, see telemetry.HandleOTelErrors).
func Counted(name string, exp sdkmetric.Exporter, self *events.Self) sdkmetric.Exporter {
	return &countedExporter{
		Exporter: exp,
		ok:       self.PushExports.With(name),
		failed:   self.PushFailures.With(name),
		took:     self.PushExportTime.With(name),
	}
}

type countedExporter struct {
	sdkmetric.Exporter
	ok, failed, took *events.Series
}

func (e *countedExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	start := time.Now()
	err := e.Exporter.Export(ctx, rm)
	e.took.Emit(time.Since(start).Seconds())
	if err != nil {
		e.failed.Inc()
		return fmt.Errorf("push export failed: %w", err)
	}
	e.ok.Inc()
	return nil
}
