package main

import (
	"log/slog"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest"
)

// newIngest builds the HTTP ingestion API (served at ingest.Path).
func newIngest(cfg config.Config, cat *events.Catalog, log *slog.Logger) (*ingest.Handler, error) {
	c := cfg.Ingest
	tokens := make([]string, len(c.Tokens))
	for i, t := range c.Tokens {
		tokens[i] = t.Reveal()
	}
	h, err := ingest.NewHandler(ingest.Options{
		Catalog:       cat,
		Tokens:        tokens,
		MaxBody:       int64(c.MaxBody),
		UnknownEvents: c.UnknownEvents,
		// As many events as an event may have series; with no limit (-1), the default.
		MaxAutoEvents: cfg.Metrics.CardinalityLimit,
	})
	if err != nil {
		return nil, err
	}
	if h.LoopbackOnly() {
		log.Warn("ingestion API accepts only loopback clients: no ingest.tokens configured",
			"path", ingest.Path, "max_body", int64(c.MaxBody), "unknown_events", c.UnknownEvents)
	} else {
		log.Info("ingestion API enabled with bearer tokens",
			"path", ingest.Path, "tokens", len(tokens), "max_body", int64(c.MaxBody), "unknown_events", c.UnknownEvents)
	}
	return h, nil
}
