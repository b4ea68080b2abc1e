package web

import (
	"net/http"
	"sync/atomic"
)

// Health serves /-/healthy (200 while the process runs) and /-/ready (200 once ready is set,
// 503 before and after, so a load balancer stops sending during shutdown). Its methods are
// safe for concurrent use.
type Health struct{ ready atomic.Bool }

// SetReady marks the server ready or not.
func (h *Health) SetReady(ok bool) { h.ready.Store(ok) }

// Ready reports what SetReady set last.
func (h *Health) Ready() bool { return h.ready.Load() }

// Register adds /-/healthy and /-/ready to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("OK\n"))
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("OK\n"))
	})
}
