package main

import (
	"context"
	"errors"

	"github.com/duometer/duometer/pkg/push"
)

// clusterName is what the Pushgateway job-name's ${cluster} renders as: there is no
// cluster-name key, and every duometer node's service.name is "duometer".
const clusterName = "duometer"

// startPushgateway pushes what the Prometheus endpoint serves (the pull reader's registry)
// to a Pushgateway: the first push one interval after start, then one interval after each
// push, and once more at shutdown (a stop, so before the MeterProvider shuts down).
func (a *app) startPushgateway(context.Context) error {
	pg := a.cfg.Metrics.Pushgateway
	if !pg.Enable {
		return nil
	}
	if a.pull == nil {
		return errors.New("metrics.pushgateway: no pull reader to push from") // setupPull makes one when the Pushgateway is enabled
	}
	name, host := push.NodeName(a.cfg.Cluster.NodeName, "")
	p, err := push.NewPushgateway(push.PushgatewayOptions{
		URL: pg.URL, Interval: pg.Interval, Timeout: pg.Timeout, Method: pg.Method,
		JobName: pg.JobName,
		Vars:    map[string]string{"name": name, "host": host, "cluster": clusterName},
		Headers: pg.Headers,
		// Username and Password are both set or both empty (validated).
		Username: pg.Auth.Username, Password: pg.Auth.Secret.Reveal(),
		Gatherer: a.pull.Registry(), Self: a.self, Log: a.log,
	})
	if err != nil {
		return err
	}
	p.Start()
	a.stops = append(a.stops, p.Shutdown)
	job, grouping := p.Job()
	a.log.Info("pushing to the Pushgateway", "url", p.URL(), "method", pg.Method, "job", job,
		"grouping", grouping, "interval", pg.Interval, "timeout", pg.Timeout,
		"headers", len(pg.Headers), "auth", pg.Auth.Enabled())
	return nil
}
