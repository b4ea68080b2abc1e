package main

import (
	"github.com/duometer/duometer/pkg/ingest"
	"github.com/duometer/duometer/pkg/web"
)

// setupIngest serves the HTTP ingestion API at /api/v1/events unless ingest.enable is false
// (then the path is not registered: 404).
func (a *app) setupIngest() error {
	c := a.cfg.Ingest
	if !c.Enable {
		return nil
	}
	tokens := make([]string, len(c.Tokens))
	for i, t := range c.Tokens {
		tokens[i] = t.Reveal()
	}
	h, err := ingest.NewHandler(ingest.Options{
		Catalog:       a.cat,
		Tokens:        tokens,
		MaxBody:       c.MaxBody,
		UnknownEvents: c.UnknownEvents,
		// As many events as an event may have series; with no limit (-1), the default.
		MaxAutoEvents: a.cfg.Metrics.CardinalityLimit,
	})
	if err != nil {
		return err
	}
	// No method in the pattern: the handler answers 405 with Allow itself, counted.
	a.mux.Handle(ingest.Path, web.Instrument(a.self, "ingest", h))
	if h.LoopbackOnly() {
		a.log.Warn("ingestion API accepts only loopback clients: no ingest.tokens configured",
			"path", ingest.Path, "max_body", c.MaxBody, "unknown_events", c.UnknownEvents)
	} else {
		a.log.Info("ingestion API enabled with bearer tokens",
			"path", ingest.Path, "tokens", len(tokens), "max_body", c.MaxBody, "unknown_events", c.UnknownEvents)
	}
	return nil
}
