package decode

import (
	"testing"

	"github.com/duometer/duometer/pkg/ingest/internal/decode/decodetest"
)

// FuzzDecode feeds arbitrary bodies to the Decoder, which must agree with encoding/json: the
// same bodies accepted, the same events read from them (reference_test.go). pkg/ingest's
// FuzzHandler feeds them to the whole handler.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./pkg/ingest/internal/decode/
func FuzzDecode(f *testing.F) {
	for _, s := range decodetest.Seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		fm := JSON
		if ndjson {
			fm = NDJSON
		}
		if msg := compareWithReference(body, fm); msg != "" {
			t.Fatalf("%s\nbody %q", msg, body)
		}
	})
}
