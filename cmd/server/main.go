// Command server is duometer's binary: it loads the configuration, builds the one
// MeterProvider with its pull and push readers, serves HTTP, and shuts down in order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/push"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from
// the module's build information.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // start-up or shutdown failed
	exitConfig = 2 // the configuration is invalid
)

func run(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("duometer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to a TOML configuration file (default: built-in defaults)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit: 0 if valid, 2 if not")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *showVersion {
		fmt.Fprintln(stdout, "duometer", buildVersion())
		return exitOK
	}
	cfg, err := config.Load(*configPath, environ)
	if err != nil {
		fmt.Fprintln(stderr, "duometer: invalid configuration:")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "  "+line)
		}
		return exitConfig
	}
	if *checkConfig {
		fmt.Fprintln(stdout, "configuration OK")
		return exitOK
	}
	log := newLogger(cfg.Server, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("duometer stopped with errors", "err", err)
		return exitFailed
	}
	log.Info("duometer stopped")
	return exitOK
}

func newLogger(s config.Server, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is the server being assembled: each feature adds its part in its own file
// (catalog.go, pull.go, ingest.go, pushgateway.go, listen.go) and main.go runs them in order.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	cat      *events.Catalog
	self     *events.Self
	producer *telemetry.Producer
	mux      *http.ServeMux
	health   *web.Health
	pull     *pull.Reader       // nil when Prometheus pull is off
	readers  []sdkmetric.Reader // of the one MeterProvider
	// stops run after HTTP has stopped and before the MeterProvider shuts down, in order
	// (a last Pushgateway push, for instance).
	stops []func(context.Context) error
}

// serve runs the server until ctx is done or serving fails, then shuts down: HTTP first
// (no new scrapes, requests in flight drained), then what was added to stops, then the
// MeterProvider, which makes the push reader export the latest values once more. Every
// error is kept.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a := &app{cfg: cfg, log: log, cat: events.NewCatalog(), mux: http.NewServeMux(), health: &web.Health{}}
	a.self = a.cat.Self()
	telemetry.HandleOTelErrors(log, time.Minute, a.self)
	a.producer = telemetry.NewProducer(a.cat)
	if err := a.setupCatalog(); err != nil {
		return err
	}
	a.self.ConfigLoads.Inc("success")

	res, err := telemetry.NewResource(ctx, buildVersion(), cfg.Server.InstanceID)
	if err != nil {
		log.Warn("resource detection incomplete", "err", err)
	}

	a.health.Register(a.mux)
	if err := a.setupPull(); err != nil {
		return err
	}
	if err := a.setupOTLP(ctx); err != nil {
		return err
	}
	if err := a.setupIngest(); err != nil {
		return err
	}
	a.mux.HandleFunc("GET /{$}", a.index)
	tel, err := telemetry.Start(telemetry.Options{Catalog: a.cat, Resource: res, Readers: a.readers, Runtime: true, Log: log})
	if err != nil {
		return err
	}
	if err := a.startPushgateway(ctx); err != nil {
		return errors.Join(err, tel.Shutdown(ctx))
	}

	srv := &http.Server{
		Handler:           a.mux,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := a.listen(srv)
	if err != nil {
		return errors.Join(fmt.Errorf("server.listen: %w", err), a.stop(ctx), tel.Shutdown(ctx))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.health.SetReady(true)
	log.Info("duometer started", "version", buildVersion(), "listen", ln.Addr().String(),
		"prometheus", cfg.Metrics.Prometheus.Enable, "prometheus_auth", cfg.Metrics.Prometheus.Auth.Enabled(),
		"otlp", cfg.Metrics.OpenTelemetry.Transport, "otlp_endpoint", cfg.Metrics.OpenTelemetry.Endpoint,
		"disabled_events", cfg.Metrics.DisabledEvents)

	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil && cfg.Metrics.Prometheus.Enable &&
		!cfg.Metrics.Prometheus.Auth.Enabled() && !net.ParseIP(host).IsLoopback() {
		log.Warn("serving metrics beyond loopback without authentication; set [metrics.prometheus.auth]", "listen", ln.Addr().String())
	}

	var errs []error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "deadline", cfg.Server.ShutdownTimeout)
	case err := <-served:
		errs = append(errs, fmt.Errorf("http server: %w", err))
	}
	a.health.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := a.stop(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := tel.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("meter provider shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// index lists the endpoints this configuration serves.
func (a *app) index(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "duometer %s (node %s)\n\n", buildVersion(), a.cfg.Cluster.NodeName)
	line := func(method, path, what string) { fmt.Fprintf(w, "%-5s%-30s%s\n", method, path, what) }
	if a.cfg.Metrics.Prometheus.Enable {
		line("GET", pull.Path, "Prometheus exposition, ?mode=node|all_nodes_aggregated|all_nodes_unaggregated")
		line("GET", pull.Path+"/{group}", "one group of events (404 lists the groups)")
	}
	if a.cfg.Ingest.Enable {
		line("POST", "/api/v1/events", "ingestion API (JSON or NDJSON)")
	}
	line("GET", "/-/healthy", "liveness")
	line("GET", "/-/ready", "readiness")
}

// stop runs the stops in order and keeps every error.
func (a *app) stop(ctx context.Context) error {
	var errs []error
	for _, f := range a.stops {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// setupOTLP adds the OTLP push reader when a transport is configured.
func (a *app) setupOTLP(ctx context.Context) error {
	o := a.cfg.Metrics.OpenTelemetry
	if o.Transport == "disable" {
		return nil
	}
	r, err := push.NewOTLPReader(ctx, push.OTLPOptions{
		Transport: o.Transport, Endpoint: o.Endpoint,
		Interval: o.Interval, Timeout: o.Timeout,
		Headers: o.Headers, Gzip: o.Compression == "gzip",
		CAFile: o.TLS.CAFile, CertFile: o.TLS.CertFile, KeyFile: o.TLS.KeyFile,
		InsecureSkipVerify: o.TLS.InsecureSkipVerify,
		Producer:           a.producer, Self: a.self,
	})
	if err != nil {
		return err
	}
	a.readers = append(a.readers, r)
	return nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
