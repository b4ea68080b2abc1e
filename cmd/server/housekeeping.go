package main

import (
	"sync"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
)

// housekeeping runs the catalog's periodic work in a goroutine of its own: it expires the
// series of events with a TTL ([[events]] ttl, ingest.auto-ttl) and publishes how many
// series each event holds (duometer.catalog.series) and the bytes of their label values
// (duometer.catalog.label-values).
type housekeeping struct {
	cat  *events.Catalog
	stop chan struct{}
	done sync.WaitGroup
}

// housekeepingEvery is how often housekeeping runs for cfg: a quarter of the shortest TTL,
// from 1 s to 10 s, so that a series expires at most a quarter late.
func housekeepingEvery(cfg config.Config) time.Duration {
	every := 10 * time.Second
	ttls := []time.Duration{cfg.Ingest.AutoTTL}
	for _, e := range cfg.Events {
		ttls = append(ttls, e.TTL)
	}
	for _, ttl := range ttls {
		if ttl > 0 {
			every = min(every, ttl/4)
		}
	}
	return max(every, time.Second)
}

func startHousekeeping(cat *events.Catalog, every time.Duration) *housekeeping {
	h := &housekeeping{cat: cat, stop: make(chan struct{})}
	h.run(time.Now())
	h.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case now := <-t.C:
				h.run(now)
			}
		}
	})
	return h
}

func (h *housekeeping) run(now time.Time) {
	h.cat.Expire(now)
	h.cat.Self().CatalogLabelValues.Emit(float64(h.cat.LabelBytes()))
	series := h.cat.Self().CatalogSeries
	for _, e := range h.cat.Events() {
		n := len(e.Series())
		if _, had := series.Value(e.Name()); n > 0 || had {
			series.Emit(float64(n), e.Name())
		}
	}
}

// Shutdown stops the goroutine.
func (h *housekeeping) Shutdown() {
	close(h.stop)
	h.done.Wait()
}
