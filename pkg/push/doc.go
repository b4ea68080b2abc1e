// Package push exports duometer's metrics to receivers on a schedule: the periodic OTLP
// reader (gRPC or HTTP) and the Pushgateway pusher, with every export counted and timed.
package push
