package main

import (
	"net/http"

	"github.com/duometer/duometer/pkg/pull"
)

// setupPull adds the Prometheus reader and serves it at /metrics/prometheus.
func (a *app) setupPull() error {
	if !a.cfg.Metrics.Prometheus.Enable {
		return nil
	}
	r, err := pull.NewReader(a.producer)
	if err != nil {
		return err
	}
	a.pull = r
	a.readers = append(a.readers, r)
	var h http.Handler = r.Handler(a.log)
	if auth := a.cfg.Metrics.Prometheus.Auth; auth.Enabled() {
		h = pull.BasicAuth(auth.Username, auth.Secret.Reveal(), a.self, h)
	}
	a.mux.Handle("GET "+pull.Path, pull.Instrument(a.self, "prometheus", h))
	return nil
}
