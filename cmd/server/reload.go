package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/logging"
	"github.com/duometer/duometer/pkg/web"
)

// reloadPath is where POST or PUT reloads the configuration, with server.enable-lifecycle.
const reloadPath = "/-/reload"

// reloadRequest asks run's loop to reload; the result comes back on done.
type reloadRequest struct{ done chan error }

// lifecycleHandler serves reloadPath for cfg: nil (404) unless server.enable-lifecycle; POST
// or PUT only; behind the scrape endpoint's basic auth when it is set, for loopback clients
// only otherwise. The reload runs on run's loop; the answer is 200, or 400 with the
// problems, one per line.
func (s *server) lifecycleHandler(cfg config.Config) http.Handler {
	if !cfg.Server.EnableLifecycle {
		return nil
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "method not allowed: POST or PUT reloads the configuration", http.StatusMethodNotAllowed)
			return
		}
		req := reloadRequest{done: make(chan error, 1)}
		select {
		case s.reloads <- req:
		case <-r.Context().Done():
			return
		}
		if err := <-req.done; err != nil {
			http.Error(w, "reload failed; the configuration in use is unchanged:\n"+err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("configuration reloaded\n"))
	})
	if a := cfg.Metrics.Prometheus.Auth; a.Enabled() {
		return web.BasicAuth(a.Username, a.Secret.Reveal(), s.self, h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !ap.Addr().Unmap().IsLoopback() {
			http.Error(w, "forbidden: without [metrics.prometheus.auth], only loopback clients may reload", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// reload loads the configuration again and applies it while serving, or changes nothing. It
// logs and counts the result (duometer.config.*) and returns the problems.
//
// Everything is built from the new configuration before anything changes: the components
// (a new MeterProvider with its readers, the pull endpoints, the Pushgateway pusher, the
// ingestion handler) and, when server.listen changed, a server bound to the new address. If
// any of that fails, the old configuration goes on serving. Otherwise the catalog takes the
// new disabled events, cardinality limit and [[events]], the routes switch to the new
// components, and what they replace shuts down in the background, each making its final
// push. The catalog's cells are never touched, so no count changes.
func (s *server) reload(origin string) error {
	start := time.Now()
	old := s.cfg
	cfg, err := s.source.load()
	if err == nil {
		err = checkEvents(s.cat, cfg)
	}
	var parts *components
	if err == nil {
		parts, err = newComponents(cfg, s.instance(cfg), s.cat, s.log)
	}
	var srv *web.Server
	rebind := err == nil && cfg.Server.Listen != old.Server.Listen
	if rebind {
		srv = web.NewServer(serverOptions(cfg, s.self, s.log), s.handler)
		if err = srv.Start(); err != nil {
			err = errors.Join(fmt.Errorf("server.listen: %w", err), parts.shutdown(time.Now().Add(cfg.Server.ShutdownTimeout)))
		}
	}
	if err != nil {
		s.self.ConfigLoads.Inc("failure")
		s.self.ConfigLastReloadSuccessful.Emit(0)
		s.log.Error("configuration reload failed; the configuration in use is unchanged", "origin", origin,
			"problems", strings.Count(err.Error(), "\n")+1)
		for _, line := range strings.Split(err.Error(), "\n") {
			s.log.Error("  " + line)
		}
		return err
	}

	// Commit: nothing below fails.
	if !rebind {
		cfg.Server = keepServer(old.Server, cfg.Server, s)
	}
	_ = s.cat.SetDisabled(cfg.Metrics.DisabledEvents) // validated
	s.cat.SetCardinalityLimit(cfg.Metrics.CardinalityLimit)
	if err := cfg.DefineEvents(s.cat); err != nil && !onlyDefined(err) {
		s.log.Warn("reload: defining [[events]]", "err", err) // unreachable: checkEvents ran
	}
	retired, retiredSrv := s.parts, s.http
	s.cfg, s.parts = cfg, parts
	s.current.Store(&cfg)
	s.route(parts)
	parts.start()
	if l, err := logging.ParseLevel(cfg.Server.LogLevel); err == nil {
		s.level.Set(l)
	}
	s.reloadStore(old, cfg)
	if every := housekeepingEvery(cfg); every != housekeepingEvery(old) {
		s.housekeeping.Shutdown()
		s.housekeeping = startHousekeeping(s.cat, every)
	}
	if rebind {
		s.http = srv
	}
	deadline := time.Now().Add(old.Server.ShutdownTimeout)
	s.retiring.Go(func() {
		if rebind {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			_ = retiredSrv.Shutdown(ctx)
			cancel()
		}
		if err := retired.shutdown(deadline); err != nil {
			s.log.Warn("reload: the replaced components' final pushes failed", "err", err)
		}
	})

	s.self.ConfigLoads.Inc("success")
	s.self.ConfigLastReloadSuccessful.Emit(1)
	s.self.ConfigLastReloadSuccessTime.Emit(float64(time.Now().Unix()))
	changed := changedKeys(old, cfg)
	s.log.Info("configuration reloaded", "origin", origin, "changed", len(changed), "took", time.Since(start).Round(time.Millisecond).String())
	s.log.Debug("reload: keys changed", "keys", changed)
	if rebind {
		s.log.Info("listening on the new address", "listen", s.http.Addr().String())
	}
	return nil
}

// keepServer returns the new [server] settings, but for those that need a new listener,
// which stay as they were, each logged: a reload rebinds only when server.listen changes.
func keepServer(old, next config.Server, s *server) config.Server {
	kept := next
	kept.ReadHeaderTimeout, kept.ReadTimeout, kept.WriteTimeout = old.ReadHeaderTimeout, old.ReadTimeout, old.WriteTimeout
	kept.IdleTimeout, kept.MaxHeaderBytes, kept.TLS, kept.LogFormat = old.IdleTimeout, old.MaxHeaderBytes, old.TLS, old.LogFormat
	if kept != next {
		s.log.Warn("reload: some [server] settings take effect only with a new listener; change server.listen or restart to apply them",
			"keys", changedKeys(config.Config{Server: kept}, config.Config{Server: next}))
	}
	return kept
}

// reloadStore applies a change of [storage]: the old store writes its last snapshot and a
// new one takes over (nothing is restored from a new path while running).
func (s *server) reloadStore(old, cfg config.Config) {
	if old.Storage == cfg.Storage {
		return
	}
	if s.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.store.Shutdown(ctx); err != nil {
			s.log.Error("reload: the last snapshot to the old storage.path failed", "path", old.Storage.Path, "err", err)
		}
		cancel()
		s.store = nil
	}
	if cfg.Storage.Path == "" {
		return
	}
	st, err := newStore(cfg, s.instanceID, s.cat, s.log)
	if err != nil {
		s.log.Error("reload: storage", "err", err) // unreachable: validated
		return
	}
	s.store = st
	st.Start()
}

// checkEvents refuses [[events]] entries that change an event the catalog holds in a way
// that would break its series (kind, labels, unit, buckets): that needs a restart. Other
// changes of an existing event (description, aggregation, cardinality limit) are not
// applied until a restart either; they are left for the caller to report.
func checkEvents(cat *events.Catalog, cfg config.Config) error {
	var errs []error
	for i, e := range cfg.Events {
		ev := cat.Lookup(e.Name)
		if ev == nil {
			continue
		}
		want, err := e.Def()
		if err != nil {
			continue // validated
		}
		have := ev.Def()
		if want.Kind == events.Histogram && len(want.Buckets) == 0 {
			want.Buckets = have.Buckets // the defaults, filled in at Define
		}
		var what []string
		if want.Kind != have.Kind {
			what = append(what, fmt.Sprintf("kind (%s to %s)", have.Kind, want.Kind))
		}
		if !slices.Equal(want.Labels, have.Labels) {
			what = append(what, fmt.Sprintf("labels ([%s] to [%s])", strings.Join(have.Labels, ", "), strings.Join(want.Labels, ", ")))
		}
		if want.Unit != have.Unit {
			what = append(what, fmt.Sprintf("unit (%q to %q)", have.Unit, want.Unit))
		}
		if want.Kind == have.Kind && !slices.Equal(want.Buckets, have.Buckets) {
			what = append(what, fmt.Sprintf("buckets (%v to %v)", have.Buckets, want.Buckets))
		}
		if len(what) > 0 {
			errs = append(errs, fmt.Errorf("events[%d]: event %q changes its %s, which would break its series: restart duometer to change it",
				i, e.Name, strings.Join(what, ", ")))
		}
	}
	return errors.Join(errs...)
}

// onlyDefined reports whether every problem of DefineEvents is an event already defined.
func onlyDefined(err error) bool {
	var multi interface{ Unwrap() []error }
	if !errors.As(err, &multi) {
		return errors.Is(err, events.ErrDefined)
	}
	for _, e := range multi.Unwrap() {
		if !onlyDefined(e) {
			return false
		}
	}
	return true
}

// changedKeys lists the key paths whose values differ between a and b (the values are not
// shown: some are secrets).
func changedKeys(a, b config.Config) []string {
	var out []string
	var walk func(prefix string, x, y reflect.Value)
	walk = func(prefix string, x, y reflect.Value) {
		if x.Kind() != reflect.Struct {
			if !reflect.DeepEqual(x.Interface(), y.Interface()) {
				out = append(out, prefix)
			}
			return
		}
		for i := range x.NumField() {
			key := x.Type().Field(i).Tag.Get("koanf")
			if prefix != "" {
				key = prefix + "." + key
			}
			walk(key, x.Field(i), y.Field(i))
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}
