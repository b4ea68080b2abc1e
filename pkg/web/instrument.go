package web

import (
	"net/http"
	"strconv"
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
		self.HTTPRequests.Inc(handler, CodeLabel(sw.code))
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

// codeLabels holds the label of every status code from 100 to 599, made once.
var codeLabels = func() (labels [600]string) {
	for code := 100; code < len(labels); code++ {
		labels[code] = strconv.Itoa(code)
	}
	return labels
}()

// CodeLabel is the value of a code label for an HTTP status code: its decimal digits. It
// does not allocate for the codes from 100 to 599.
func CodeLabel(code int) string {
	if code >= 100 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
}
