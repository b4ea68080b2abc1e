package main

import "fmt"

// setupCatalog applies the configuration to the event catalog: disabled events.
func (a *app) setupCatalog() error {
	if err := a.cat.SetDisabled(a.cfg.Metrics.DisabledEvents); err != nil {
		return fmt.Errorf("metrics.disabled-events: %w", err)
	}
	return nil
}
