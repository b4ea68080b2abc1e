package main

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	promconfig "github.com/prometheus/common/config"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

// pullEndpoints serve the Prometheus reader at /metrics/prometheus (everything) and
// /metrics/prometheus/{group} (one group), both with ?mode=node (default),
// all_nodes_aggregated or all_nodes_unaggregated over the [cluster] peers, behind
// [metrics.prometheus.auth] when it is set. Peers are fetched with the same credentials,
// which every node shares, and [cluster.tls].
type pullEndpoints struct {
	main, group http.Handler
	cluster     *pull.Cluster
	index       *pull.Index
}

// clusterToken is this process's pull.InstanceHeader token, drawn once: the cluster endpoints
// that a reload builds keep it, so that a node still recognises itself in a peer's answer
// served by the endpoints that replaced the ones asking.
var clusterToken = telemetry.NewInstanceID()

func newPullEndpoints(cfg config.Config, r *pull.Reader, cat *events.Catalog, log *slog.Logger) (*pullEndpoints, error) {
	auth := cfg.Metrics.Prometheus.Auth
	cc := cfg.Cluster
	client := promconfig.HTTPClientConfig{TLSConfig: cc.TLS.Common()}
	if auth.Enabled() {
		client.BasicAuth = &promconfig.BasicAuth{Username: auth.Username, Password: promconfig.Secret(auth.Secret.Reveal())}
	}
	cluster, err := pull.NewCluster(pull.ClusterOptions{
		NodeName: cc.NodeName, Peers: cc.Peers, Timeout: cc.Timeout, HTTPClient: client,
		Instance: clusterToken, Self: cat.Self(), Log: log,
	})
	if err != nil {
		return nil, err
	}
	index := pull.NewIndex(cat)
	limit := pull.NewScrapeLimit(cfg.Metrics.Prometheus.MaxInFlight, cat.Self().LimitsReached.With(pull.LimitMaxScrapesInFlight))
	ep := pull.NewEndpoints(r, index, cluster, limit, log)
	p := &pullEndpoints{main: ep.Main(), group: ep.Group(), cluster: cluster, index: index}
	if auth.Enabled() {
		p.main = web.BasicAuth(auth.Username, auth.Secret.Reveal(), cat.Self(), p.main)
		p.group = web.BasicAuth(auth.Username, auth.Secret.Reveal(), cat.Self(), p.group)
	}
	if len(cc.Peers) > 0 {
		log.Info("cluster", "node", cluster.NodeName(), "peers", cc.Peers, "timeout", cc.Timeout)
		if auth.Enabled() && hasPlainPeer(cc.Peers) {
			log.Warn("cluster peers reached over http:// get the scrape credentials in clear text; use https:// peers with [cluster.tls]")
		}
	}
	return p, nil
}

// Shutdown stops following the catalog and closes the idle connections to the peers. It may
// be called on nil.
func (p *pullEndpoints) Shutdown() error {
	if p != nil {
		p.index.Close()
		p.cluster.Close()
	}
	return nil
}

func hasPlainPeer(peers []string) bool {
	return slices.ContainsFunc(peers, func(p string) bool { return strings.HasPrefix(p, "http://") })
}
