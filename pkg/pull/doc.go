// Package pull serves duometer's metrics for scraping: the OpenTelemetry Prometheus reader on
// its own registry, and the HTTP handlers around it (basic auth, health, request metrics).
package pull
