// Package pull serves duometer's metrics for scraping: the OpenTelemetry Prometheus reader on
// its own registry, the main, per-group and cluster-mode endpoints over it, and the merge of
// the cluster's nodes.
package pull
