// Package events is duometer's event catalog: it defines events, records their emission in
// lock-free per-series cells, and applies the disabled-events patterns.
//
// An event has a dotted name ("backup.completed", "duometer.http.request-time"), a Kind, a
// unit, a description, the label keys it accepts and, for histograms, its bucket bounds.
// The Catalog is the one source of truth for every event: the exporters read the cells it
// holds at collection time (see package telemetry) and docs/metrics.md is generated from it.
//
// The emit path is allocation-free. Resolve a Series once and call its methods:
//
//	delivered := cat.MustDefine(events.Def{Name: "delivery.completed", Kind: events.Counter})
//	s := delivered.With()    // resolve once
//	s.Inc()                  // one atomic add per call
//
// or give label values per call, which costs one hash and one map lookup more:
//
//	requests.Inc("metrics", "200")
package events
