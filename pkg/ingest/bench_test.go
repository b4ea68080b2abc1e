package ingest

// In-process benchmarks of the whole handler. The decoder's, beside encoding/json, are in
// internal/decode (beside other JSON libraries in the module internal/decodebench); the
// throughput over HTTP, with the load generator in a second process, is measured by
// internal/loadgen (see docs/performance.md):
//
//	go test -run '^$' -bench . -benchmem ./pkg/ingest/...

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest/internal/decode/decodetest"
)

// batchBody is a JSON array of n backup.completed events over `distinct` hosts.
func batchBody(n, distinct int) string { return decodetest.BatchBody(n, distinct) }

func benchCatalog(tb testing.TB) *events.Catalog {
	cat := events.NewCatalog()
	cat.MustDefine(events.Def{Name: "backup.completed", Kind: events.Counter, Labels: []string{"host", "kind"}})
	return cat
}

// BenchmarkHandler serves whole requests in process: body read, decode, validation, apply,
// answer. The HTTP server and client are left out (see internal/loadgen for them).
func BenchmarkHandler(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			h, err := NewHandler(Options{Catalog: benchCatalog(b)})
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(batchBody(n, 10))
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				rd := bytes.NewReader(body)
				req := httptest.NewRequest(http.MethodPost, Path, rd)
				req.RemoteAddr = "127.0.0.1:5000"
				req.Header.Set("Content-Type", "application/json")
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					rd.Reset(body)
					req.Body = nopCloser{rd}
					req.ContentLength = int64(len(body))
					w.code = 0
					h.ServeHTTP(w, req)
					if w.code != http.StatusAccepted {
						b.Fatalf("status %d", w.code)
					}
				}
			})
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// discardWriter is the writer of a real server without its costs: it takes the read
// deadline as net/http's does (without one, http.ResponseController would make an error
// per request).
type discardWriter struct {
	h         http.Header
	code      int
	deadlines int
}

func (w *discardWriter) Header() http.Header             { return w.h }
func (w *discardWriter) WriteHeader(code int)            { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error)     { return len(b), nil }
func (w *discardWriter) SetReadDeadline(time.Time) error { w.deadlines++; return nil }
