// Command server is duometer's binary: it loads the configuration, builds the one
// MeterProvider with its pull and push readers, serves HTTP, and shuts down in order.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// serve runs the server until ctx is done or serving fails, then shuts down: HTTP first
// (no new scrapes, requests in flight drained), then the MeterProvider, which makes the
// push reader export the latest values once more. Every error is kept.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	telemetry.HandleOTelErrors(log, time.Minute)
	cat := events.NewCatalog()
	self := cat.Self()
	if err := cat.SetDisabled(cfg.Metrics.DisabledEvents); err != nil {
		return fmt.Errorf("metrics.disabled-events: %w", err)
	}
	self.ConfigLoads.Inc("success")

	instanceID := cfg.Server.InstanceID
	if instanceID == "" {
		instanceID = newInstanceID()
	}
	res, err := telemetry.NewResource(ctx, buildVersion(), instanceID)
	if err != nil {
		log.Warn("resource detection incomplete", "err", err)
	}
	producer := telemetry.NewProducer(cat)

	mux := http.NewServeMux()
	health := &pull.Health{}
	health.Register(mux)
	var readers []sdkmetric.Reader
	if cfg.Metrics.Prometheus.Enable {
		r, err := pull.NewReader(producer)
		if err != nil {
			return err
		}
		readers = append(readers, r)
		var h http.Handler = r.Handler(log)
		if a := cfg.Metrics.Prometheus.Auth; a.Enabled() {
			h = pull.BasicAuth(a.Username, a.Secret.Reveal(), self, h)
		}
		mux.Handle("GET "+pull.Path, pull.Instrument(self, "prometheus", h))
	}
	if o := cfg.Metrics.OpenTelemetry; o.Transport != "disable" {
		r, err := push.NewOTLPReader(ctx, push.OTLPOptions{
			Transport: o.Transport, Endpoint: o.Endpoint,
			Interval: o.Interval, Timeout: o.Timeout,
			Headers: o.Headers, Gzip: o.Compression == "gzip",
			CAFile: o.TLS.CAFile, CertFile: o.TLS.CertFile, KeyFile: o.TLS.KeyFile,
			InsecureSkipVerify: o.TLS.InsecureSkipVerify,
			Producer:           producer, Self: self,
		})
		if err != nil {
			return err
		}
		readers = append(readers, r)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "duometer %s\n\n%s  Prometheus exposition (enabled: %v)\n/-/healthy          liveness\n/-/ready            readiness\n",
			buildVersion(), pull.Path, cfg.Metrics.Prometheus.Enable)
	})
	tel, err := telemetry.Start(telemetry.Options{Catalog: cat, Resource: res, Readers: readers, Runtime: true})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("server.listen: %w", err), tel.Shutdown(ctx))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	health.SetReady(true)
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
	health.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := tel.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("meter provider shutdown: %w", err))
	}
	return errors.Join(errs...)
}

func newInstanceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
