// Package web serves duometer's HTTP endpoints: the server with its timeouts and TLS, basic
// auth, request metrics and the health endpoints that the pull, ingest and lifecycle
// handlers share.
package web
