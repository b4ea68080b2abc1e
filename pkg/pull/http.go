package pull

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/duometer/duometer/pkg/events"
)

// Instrument counts the requests next serves as duometer.http.requests{handler,code} and
// observes their duration as duometer.http.request-time{handler}.
func Instrument(self *events.Self, handler string, next http.Handler) http.Handler {
	timing := self.HTTPRequestTime.With(handler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		self.HTTPRequests.Inc(handler, statusText(sw.code))
		timing.Emit(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush and deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 401:
		return "401"
	case 404:
		return "404"
	}
	return strconv.Itoa(code)
}

// Health serves /-/healthy (200 while the process runs) and /-/ready (200 once ready is set,
// 503 before and after, so a load balancer stops sending during shutdown).
type Health struct{ ready atomic.Bool }

// SetReady marks the server ready or not.
func (h *Health) SetReady(ok bool) { h.ready.Store(ok) }

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
