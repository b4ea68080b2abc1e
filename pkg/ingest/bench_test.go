package ingest

// In-process benchmarks of the decoder, beside encoding/json, and of the whole handler. The
// throughput over HTTP, with the load generator in a second process, is measured by
// internal/loadgen (see docs/performance.md):
//
//	go test -run '^$' -bench . -benchmem ./pkg/ingest/

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/duometer/duometer/pkg/events"
)

// batchBody is a JSON array of n backup.completed events over `distinct` hosts.
func batchBody(n, distinct int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"event":"backup.completed","labels":{"host":"db`)
		b.WriteString(strconv.Itoa(i % distinct))
		b.WriteString(`","kind":"full"},"value":1}`)
	}
	b.WriteByte(']')
	return b.String()
}

func BenchmarkDecode(b *testing.B) {
	body := batchBody(1000, 10)
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		d := decoder{maxEvents: DefaultMaxEvents}
		for b.Loop() {
			if err := d.decode(body, formatJSON); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
	})
	// encoding/json as it would be used here: a Decoder over the array, one Decode per
	// element into a reused struct whose value keeps its raw text (to tell "NaN" from 1).
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		type event struct {
			Event  string            `json:"event"`
			Labels map[string]string `json:"labels"`
			Value  json.RawMessage   `json:"value"`
		}
		var e event
		for b.Loop() {
			dec := json.NewDecoder(strings.NewReader(body))
			if _, err := dec.Token(); err != nil {
				b.Fatal(err)
			}
			for dec.More() {
				e = event{}
				if err := dec.Decode(&e); err != nil {
					b.Fatal(err)
				}
				if _, err := strconv.ParseFloat(string(e.Value), 64); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
	})
}

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

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
