package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/push"
	"github.com/duometer/duometer/pkg/storage"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

// server is duometer assembled from its components. The event catalog outlives them all: it
// holds the counts. The others are built from the configuration by their constructors (see
// components) and stopped by their Shutdown:
//
//   - metrics (metrics.go): the one MeterProvider with its Prometheus and OTLP readers;
//   - pull endpoints (pull.go): /metrics/prometheus and its group and cluster modes, over
//     the Prometheus reader;
//   - the Pushgateway pusher (pushgateway.go): pushes what the Prometheus reader gathers;
//   - the ingestion API (ingest.go);
//   - the snapshot store (pkg/storage), with storage.path;
//   - the HTTP server (pkg/web), whose routes reach the components through web.Swappable
//     handlers, so that components rebuilt from a new configuration (reload.go) take over
//     their paths while the server goes on serving.
//
// Every method but the handlers runs on the goroutine of run.
type server struct {
	cfg     config.Config
	current atomic.Pointer[config.Config] // cfg, for the handlers
	source  source
	log     *slog.Logger
	level   *slog.LevelVar
	cat     *events.Catalog
	self    *events.Self
	health  *web.Health
	build   build

	// instanceID is service.instance.id when server.instance-id is empty: the storage
	// snapshot's, else made at start; it stays for the life of the process, reloads included.
	instanceID string

	parts        *components
	store        *storage.Store // nil without storage.path
	housekeeping *housekeeping  // expiry and duometer.catalog.series, while running

	// Routes: the mux is built once; what serves each path can be swapped.
	mainRoute, groupRoute, ingestRoute, lifecycleRoute web.Swappable
	handler                                            http.Handler // every route
	http                                               *web.Server

	reloads  chan reloadRequest // from POST /-/reload to run's loop
	retiring sync.WaitGroup     // components and servers replaced by a reload, shutting down
}

// components are what is built from one configuration around the catalog.
type components struct {
	metrics     *metrics
	pull        *pullEndpoints    // nil when metrics.prometheus.enable is false
	pushgateway *push.Pushgateway // nil when metrics.pushgateway.enable is false
	ingest      *ingest.Handler   // nil when ingest.enable is false
}

// newComponents builds the components of cfg around cat. The MeterProvider is built for
// cfg's disabled events, which the catalog may not have switched to yet. On error, what was
// built is shut down.
func newComponents(cfg config.Config, instance string, cat *events.Catalog, log *slog.Logger) (*components, error) {
	ctx := context.Background()
	c := &components{}
	var err error
	if c.metrics, err = newMetrics(ctx, cfg, instance, cat, log); err != nil {
		return nil, err
	}
	fail := func(err error) (*components, error) {
		return nil, errors.Join(err, c.shutdown(time.Now().Add(cfg.Server.ShutdownTimeout)))
	}
	if cfg.Metrics.Prometheus.Enable {
		if c.pull, err = newPullEndpoints(cfg, c.metrics.prometheus, cat, log); err != nil {
			return fail(err)
		}
	}
	if cfg.Metrics.Pushgateway.Enable {
		if c.pushgateway, err = newPushgateway(cfg, c.metrics.prometheus.Gatherer(), cat.Self(), log); err != nil {
			return fail(err)
		}
	}
	if cfg.Ingest.Enable {
		if c.ingest, err = newIngest(cfg, cat, log); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// start starts what runs on its own: the Pushgateway pusher.
func (c *components) start() {
	if c.pushgateway != nil {
		c.pushgateway.Start()
	}
}

// shutdown stops the components by deadline, each final push with a share of its own: the
// Pushgateway's last push gets at most half of the time left, then the MeterProvider's last
// OTLP export the rest. It keeps every error.
func (c *components) shutdown(deadline time.Time) error {
	var errs []error
	if c.pushgateway != nil {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Until(deadline)/2))
		errs = append(errs, c.pushgateway.Shutdown(ctx))
		cancel()
	}
	errs = append(errs, c.pull.Shutdown())
	if c.metrics != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		if err := c.metrics.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("meter provider shutdown (last OTLP export): %w", err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// route makes the server's paths reach c; a path whose component is off answers 404.
func (s *server) route(c *components) {
	var main, group, in http.Handler
	if c.pull != nil {
		main, group = c.pull.main, c.pull.group
	}
	if c.ingest != nil {
		in = c.ingest
	}
	s.mainRoute.Set(main)
	s.groupRoute.Set(group)
	s.ingestRoute.Set(in)
	s.lifecycleRoute.Set(s.lifecycleHandler(s.cfg))
}

// newServer builds every component from cfg, restores the snapshot of storage.path, and
// does not serve yet.
func newServer(cfg config.Config, src source, log *slog.Logger, level *slog.LevelVar) (*server, error) {
	s := &server{cfg: cfg, source: src, log: log, level: level, cat: events.NewCatalog(), health: &web.Health{},
		build: buildInfo(), reloads: make(chan reloadRequest), instanceID: telemetry.NewInstanceID()}
	s.self = s.cat.Self()
	s.self.ProcessStartTime.Emit(float64(time.Now().Unix()))
	s.cat.SetLogger(log)
	s.current.Store(&cfg)
	telemetry.HandleOTelErrors(log, time.Minute, s.self)
	if err := cfg.DefineEvents(s.cat); err != nil {
		return nil, err
	}
	if cfg.Storage.Path != "" {
		if err := s.restore(); err != nil {
			return nil, err
		}
	}
	s.self.ConfigLoads.Inc("success")
	s.self.ConfigLastReloadSuccessful.Emit(1)
	s.self.ConfigLastReloadSuccessTime.Emit(float64(time.Now().Unix()))
	s.self.BuildInfo.Emit(1, s.build.Version, s.build.Revision, s.build.GoVersion)

	var err error
	if s.parts, err = newComponents(cfg, s.instance(cfg), s.cat, log); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	s.health.Register(mux)
	mux.Handle("GET "+pull.Path, web.Instrument(s.self, "prometheus", &s.mainRoute))
	mux.Handle("GET "+pull.GroupPattern, web.Instrument(s.self, "prometheus_group", &s.groupRoute))
	// No method in the pattern: the ingest and reload handlers answer 405 with Allow
	// themselves, counted.
	mux.Handle(ingest.Path, web.Instrument(s.self, "ingest", &s.ingestRoute))
	mux.Handle(reloadPath, web.Instrument(s.self, "reload", &s.lifecycleRoute))
	mux.HandleFunc("GET /{$}", s.index)
	s.handler = mux
	s.route(s.parts)
	s.http = web.NewServer(serverOptions(cfg, s.self, log), mux)
	return s, nil
}

// instance returns the service.instance.id for cfg: server.instance-id, or else the one the
// process keeps (s.instanceID).
func (s *server) instance(cfg config.Config) string {
	if cfg.Server.InstanceID != "" {
		return cfg.Server.InstanceID
	}
	return s.instanceID
}

// restore opens the store of storage.path and restores its snapshot into the catalog before
// anything emits. Events the ingestion API declared on first use are declared again, and
// the snapshot's service.instance.id becomes the process's.
func (s *server) restore() error {
	st, err := newStore(s.cfg, s.instanceID, s.cat, s.log)
	if err != nil {
		return err
	}
	res, err := st.Restore()
	if err != nil {
		return err
	}
	s.store, s.instanceID = st, st.InstanceID()
	if !res.Taken.IsZero() {
		s.log.Info("restored the values of the storage snapshot", "path", s.cfg.Storage.Path,
			"taken", res.Taken.UTC().Format(time.RFC3339), "series", res.Restored, "skipped", res.Skipped)
	}
	return nil
}

func newStore(cfg config.Config, instanceID string, cat *events.Catalog, log *slog.Logger) (*storage.Store, error) {
	return storage.New(storage.Options{
		Path: cfg.Storage.Path, Interval: cfg.Storage.Interval, Catalog: cat, Log: log, InstanceID: instanceID,
		Define: func(d events.Def) (events.Def, bool) {
			d.TTL = cfg.Ingest.AutoTTL
			return d, ingest.IsAutoDeclared(d)
		},
	})
}

// serverOptions are the HTTP server's options from [server].
func serverOptions(cfg config.Config, self *events.Self, log *slog.Logger) web.ServerOptions {
	sc := cfg.Server
	return web.ServerOptions{
		Listen:            sc.Listen,
		ReadHeaderTimeout: sc.ReadHeaderTimeout, ReadTimeout: sc.ReadTimeout,
		WriteTimeout: sc.WriteTimeout, IdleTimeout: sc.IdleTimeout,
		MaxHeaderBytes: sc.MaxHeaderBytes,
		CertFile:       sc.TLS.CertFile, KeyFile: sc.TLS.KeyFile,
		Self: self, Log: log,
	}
}

// run starts pushing, snapshotting and serving, then serves until SIGINT or SIGTERM
// (reloading on SIGHUP and POST /-/reload) or until serving fails, and shuts down. It
// returns the exit code: 0 after an orderly shutdown, even when a final push failed (that is
// logged and counted), 1 when the start or serving failed or a second signal cut the
// shutdown short.
func (s *server) run(signals <-chan os.Signal) int {
	s.parts.start()
	if s.store != nil {
		s.store.Start()
	}
	s.housekeeping = startHousekeeping(s.cat, housekeepingEvery(s.cfg))
	if err := s.http.Start(); err != nil {
		s.log.Error("duometer did not start", "err", fmt.Errorf("server.listen: %w", err))
		s.shutdown()
		return exitFailed
	}
	s.health.SetReady(true)
	s.logStarted()

	code := exitOK
loop:
	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				_ = s.reload("SIGHUP")
				continue
			}
			s.log.Info("shutting down", "signal", sig.String(), "deadline", s.cfg.Server.ShutdownTimeout)
			break loop
		case req := <-s.reloads:
			req.done <- s.reload("POST " + reloadPath)
		case err := <-s.http.Done():
			s.log.Error("the HTTP server stopped; shutting down", "err", err)
			code = exitFailed
			break loop
		}
	}
	done := make(chan struct{})
	go func() {
		s.shutdown()
		close(done)
	}()
	for {
		select {
		case <-done:
			s.log.Info("duometer stopped")
			return code
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				s.log.Error("second signal: exiting at once, without finishing the shutdown", "signal", sig.String())
				return exitFailed
			}
		case req := <-s.reloads:
			req.done <- errors.New("shutting down")
		}
	}
}

func (s *server) logStarted() {
	addr := s.http.Addr().String()
	c := s.cfg
	s.log.Info("duometer started", "version", s.build.Version, "revision", s.build.Revision, "listen", addr,
		"prometheus", c.Metrics.Prometheus.Enable, "prometheus_auth", c.Metrics.Prometheus.Auth.Enabled(),
		"otlp", c.Metrics.OpenTelemetry.Transport, "otlp_endpoint", c.Metrics.OpenTelemetry.Endpoint,
		"pushgateway", c.Metrics.Pushgateway.Enable, "storage", c.Storage.Path,
		"lifecycle", c.Server.EnableLifecycle, "disabled_events", c.Metrics.DisabledEvents)
	if host, _, err := net.SplitHostPort(addr); err == nil && c.Metrics.Prometheus.Enable &&
		!c.Metrics.Prometheus.Auth.Enabled() && !net.ParseIP(host).IsLoopback() {
		s.log.Warn("serving metrics beyond loopback without authentication; set [metrics.prometheus.auth]", "listen", addr)
	}
}

// shutdown stops everything within server.shutdown-timeout, whatever the HTTP clients do:
// the HTTP server drains for at most a third of it and then closes the connections left, so
// that the final pushes get the rest (see components.shutdown); the last snapshot is
// written at the end, with the final pushes' counts. Every problem is logged.
func (s *server) shutdown() {
	s.health.SetReady(false)
	start := time.Now()
	deadline := start.Add(s.cfg.Server.ShutdownTimeout)
	drain, cancel := context.WithDeadline(context.Background(), start.Add(s.cfg.Server.ShutdownTimeout/3))
	if err := s.http.Shutdown(drain); err != nil {
		s.log.Warn("HTTP requests still in flight were cut off to leave time for the final pushes",
			"drained_for", time.Since(start).Round(time.Millisecond).String(), "err", err)
	}
	cancel()
	s.retiring.Wait() // what reloads replaced: bounded by their own deadlines
	if err := s.parts.shutdown(deadline); err != nil {
		s.log.Error("shutdown: a final push failed or was cut short", "err", err)
	}
	if s.housekeeping != nil {
		s.housekeeping.Shutdown()
	}
	if s.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.store.Shutdown(ctx); err != nil {
			s.log.Error("shutdown: the last storage snapshot failed", "path", s.cfg.Storage.Path, "err", err)
		}
		cancel()
	}
}
