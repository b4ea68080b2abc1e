// Package exporter sets up duometer inside another Go program in a few lines.
//
// New builds what cmd/server builds around its catalog, from a handful of options: the event
// catalog, the one MeterProvider with the Prometheus pull reader (always) and the OTLP push
// reader (when an endpoint is given), both wired to the catalog's histogram producer, and
// the http.Handler of the scrape endpoint. The program defines its events on Catalog, emits
// them, serves Handler at pull.Path, and calls Shutdown at exit, which pushes once more:
//
//	exp, err := exporter.New(exporter.Options{ServiceName: "shop", OTLPEndpoint: "http://127.0.0.1:4317"})
//	orders := exp.Catalog().MustDefine(events.Def{Name: "shop.orders", Kind: events.Counter, Labels: []string{"status"}})
//	http.Handle(pull.Path, exp.Handler())
//	defer exp.Shutdown(context.Background())
//	orders.Inc("paid")
//
// It is built on packages events, telemetry, pull and push, and adds no logic of its own to
// theirs: a scrape and a push read the same cells, as in the server.
package exporter
