package main

// setupCatalog applies the configuration to the event catalog: metrics.cardinality-limit,
// metrics.disabled-events and the [[events]] entries. Each problem is prefixed by its key
// ("events[2].labels[0]: ...").
func (a *app) setupCatalog() error {
	return a.cfg.DefineEvents(a.cat)
}
