package main

import (
	"log/slog"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest"
)

// newIngest builds the HTTP ingestion API (served at ingest.Path) with the limits of
// [ingest].
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
		MaxEvents:     c.MaxEvents,
		MaxLabelValue: c.MaxLabelValueLength,
		MaxInFlight:   c.MaxInFlight,
		ReadTimeout:   c.ReadTimeout,
		UnknownEvents: c.UnknownEvents,
		MaxAutoEvents: c.MaxAutoEvents,
		MaxAutoLabels: c.MaxAutoLabels,
		AutoTTL:       c.AutoTTL,
	})
	if err != nil {
		return nil, err
	}
	attrs := []any{"path", ingest.Path, "max_body", int64(c.MaxBody), "max_in_flight", c.MaxInFlight,
		"read_timeout", c.ReadTimeout.String(), "unknown_events", c.UnknownEvents}
	if h.LoopbackOnly() {
		log.Warn("ingestion API accepts only loopback clients: no ingest.tokens configured", attrs...)
	} else {
		log.Info("ingestion API enabled with bearer tokens", append(attrs, "tokens", len(tokens))...)
	}
	return h, nil
}
