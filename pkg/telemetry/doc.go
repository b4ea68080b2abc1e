// Package telemetry owns duometer's one OpenTelemetry MeterProvider: it feeds the event
// catalog's cells to every reader at collection time, adds the Go runtime and process
// instruments, and shuts the provider down.
package telemetry
