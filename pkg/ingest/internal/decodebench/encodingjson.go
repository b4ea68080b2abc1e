package decodebench

import (
	"bytes"
	"encoding/json"

	"github.com/duometer/duometer/pkg/ingest/internal/decode"
)

// EncodingJSON is the baseline: json.Unmarshal into the same reused []struct as Sonic (each
// string and each map of labels allocated), a json.Decoder for NDJSON.
type EncodingJSON struct {
	wireEvents
	rd bytes.Reader
}

func (x *EncodingJSON) Decode(body []byte, _ string, f decode.Format) error {
	x.reset()
	if f == decode.NDJSON {
		x.rd.Reset(body)
		return x.stream(json.NewDecoder(&x.rd))
	}
	return x.whole(body, func(v any) error { return json.Unmarshal(body, v) })
}
