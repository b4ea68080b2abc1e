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
	switch firstByte(body) {
	case '[':
		if err := json.Unmarshal(body, &x.evs); err != nil {
			return err
		}
	case '{':
		x.evs = append(x.evs, wireEvent{})
		if err := json.Unmarshal(body, &x.evs[0]); err != nil {
			return err
		}
	case 0:
		return errEmpty
	default:
		return errNotEvents
	}
	return x.check()
}
