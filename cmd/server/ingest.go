package main

// setupIngest serves the HTTP ingestion API (issue 3); not built yet.
func (a *app) setupIngest() error { return nil }
