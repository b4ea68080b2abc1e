// Package pull serves duometer's metrics for scraping: the OpenTelemetry Prometheus reader on
// its own registry, the main, per-group and cluster-mode endpoints over it, and the merge of
// the cluster's nodes.
//
// The exporter's collector is registered on the registry, but scrapes gather it through a
// Gatherer, which gives the registry's families at less cost (it checks and orders each
// series once, not at every scrape, and shares a collection among the scrapes that arrive
// during it), and answer as promhttp does, writing the samples of counters and gauges from
// what each series keeps from one scrape to the next. See docs/performance.md.
package pull
