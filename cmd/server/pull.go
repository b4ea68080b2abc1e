package main

import (
	"net/http"

	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

// setupPull adds the Prometheus reader and serves it at /metrics/prometheus (everything) and
// /metrics/prometheus/{group} (one group), both with ?mode=node (default),
// all_nodes_aggregated or all_nodes_unaggregated over the [cluster] peers. Peers are fetched
// with the credentials of [metrics.prometheus.auth], which every node shares. The reader is
// also made, unserved, when only the Pushgateway needs it: it pushes what the reader gathers.
func (a *app) setupPull() error {
	if !a.cfg.Metrics.Prometheus.Enable && !a.cfg.Metrics.Pushgateway.Enable {
		return nil
	}
	r, err := pull.NewReader(a.producer)
	if err != nil {
		return err
	}
	a.pull = r
	a.readers = append(a.readers, r)
	if !a.cfg.Metrics.Prometheus.Enable {
		return nil
	}

	auth := a.cfg.Metrics.Prometheus.Auth
	cc := a.cfg.Cluster
	cluster, err := pull.NewCluster(pull.ClusterOptions{
		NodeName: cc.NodeName, Peers: cc.Peers, Timeout: cc.Timeout,
		Username: auth.Username, Secret: auth.Secret.Reveal(),
		Self: a.self, Log: a.log, Instance: telemetry.NewInstanceID(),
	})
	if err != nil {
		return err
	}
	ep := pull.NewEndpoints(r, pull.NewIndex(a.cat), cluster, a.log)
	protect := func(h http.Handler) http.Handler {
		if auth.Enabled() {
			return web.BasicAuth(auth.Username, auth.Secret.Reveal(), a.self, h)
		}
		return h
	}
	a.mux.Handle("GET "+pull.Path, web.Instrument(a.self, "prometheus", protect(ep.Main())))
	a.mux.Handle("GET "+pull.GroupPattern, web.Instrument(a.self, "prometheus_group", protect(ep.Group())))
	if len(cc.Peers) > 0 {
		a.log.Info("cluster", "node", cluster.NodeName(), "peers", cc.Peers, "timeout", cc.Timeout)
	}
	return nil
}
