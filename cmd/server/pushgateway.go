package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/push"
)

// clusterName is what the Pushgateway job-name's ${cluster} renders as: there is no
// cluster-name key, and every duometer node's service.name is "duometer".
const clusterName = "duometer"

// newPushgateway builds the pusher of what gatherer gathers (the Prometheus reader's
// registry, so that the Pushgateway holds what the scrape endpoint serves) to
// [metrics.pushgateway]: once started, it pushes one interval after Start, then one interval
// after each push, and once more at Shutdown.
func newPushgateway(cfg config.Config, gatherer prometheus.Gatherer, self *events.Self, log *slog.Logger) (*push.Pushgateway, error) {
	pg := cfg.Metrics.Pushgateway
	name, host := push.NodeName(cfg.Cluster.NodeName, "")
	job, grouping, err := config.RenderJobName(pg.JobName, map[string]string{"name": name, "host": host, "cluster": clusterName})
	if err != nil {
		return nil, err
	}
	client := promconfig.HTTPClientConfig{TLSConfig: pg.TLS.Common()}
	if pg.Auth.Enabled() {
		client.BasicAuth = &promconfig.BasicAuth{Username: pg.Auth.Username, Password: promconfig.Secret(pg.Auth.Secret.Reveal())}
	}
	p, err := push.NewPushgateway(push.PushgatewayOptions{
		URL: pg.URL, Interval: pg.Interval, Timeout: pg.Timeout, Method: pg.Method,
		Job: job, Grouping: grouping, Headers: revealHeaders(pg.Headers), HTTPClient: client,
		Gatherer: gatherer, Self: self, Log: log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("pushing to the Pushgateway", "url", p.URL(), "method", pg.Method, "job", job,
		"grouping", grouping, "interval", pg.Interval, "timeout", pg.Timeout,
		"headers", len(pg.Headers), "auth", pg.Auth.Enabled())
	return p, nil
}
