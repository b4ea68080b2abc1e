package decode

// The Decoder beside encoding/json on the same body:
//
//	go test -run '^$' -bench . -benchmem ./pkg/ingest/internal/decode/
//
// Beside other JSON libraries, in a module of its own so that they are no dependency of
// duometer: ../decodebench (docs/performance.md).

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/duometer/duometer/pkg/ingest/internal/decode/decodetest"
)

func BenchmarkDecode(b *testing.B) {
	body := decodetest.BatchBody(1000, 10)
	b.Run("duometer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		d := Decoder{MaxEvents: 100_000}
		for b.Loop() {
			if err := d.Decode(body, JSON); err != nil {
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
