// Package push exports duometer's metrics to collectors on a schedule: the periodic OTLP
// reader over gRPC or HTTP, with every export counted and timed.
package push
