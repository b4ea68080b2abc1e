package decodebench

import (
	"github.com/duometer/duometer/pkg/ingest/internal/decode"
	"github.com/duometer/duometer/pkg/ingest/internal/decode/decodetest"
)

type body struct {
	name   string
	format decode.Format
	data   []byte
	events int
}

func (b body) text() string { return string(b.data) }

// benchBodies are the bodies measured: 1,000 events with two labels each (77 bytes an
// event), as a JSON array and as NDJSON, and one event alone.
var benchBodies = []body{
	{"batch", decode.JSON, []byte(decodetest.BatchBody(1000, 10)), 1000},
	{"ndjson", decode.NDJSON, []byte(decodetest.NDJSONBody(1000, 10)), 1000},
	{"single", decode.JSON, []byte(decodetest.BatchBody(1, 1)[1 : len(decodetest.BatchBody(1, 1))-1]), 1},
}

// moreBodies are well-formed bodies of other forms, on which the decoders must agree too.
var moreBodies = []body{
	{"order, space, nulls", decode.JSON, []byte(` [ {"value": 2.5e3, "labels": {"b": "2", "a": "1"}, "event": "x.y"} ,
		{"event":"x.z","labels":null,"value":null}, {"event":"x.w","labels":{}} ] `), 3},
	{"escapes", decode.JSON, []byte(`{"event":"a\u002eb","labels":{"host":"d\u00e9b \"1\"","path":"c:\\tmp\/x","emoji":"\ud83d\ude00","tab":"\t"},"value":-0.125}`), 1},
	{"non-ASCII", decode.JSON, []byte(`{"event":"a.b","labels":{"ville":"Zürich","小":"大"},"value":1e-3}`), 1},
	{"numbers", decode.JSON, []byte(`[{"event":"n","value":0},{"event":"n","value":-7},{"event":"n","value":123456789012345678},
		{"event":"n","value":0.1},{"event":"n","value":1.7976931348623157e308},{"event":"n","value":5e-324},{"event":"n","value":3.14159E+2}]`), 7},
	{"ndjson, CRLF and blank lines", decode.NDJSON, []byte("{\"event\":\"a.b\",\"value\":1}\r\n\r\n  {\"event\":\"c.d\",\"labels\":{\"k\":\"v\"}}\n\n"), 2},
	{"empty array", decode.JSON, []byte(`[]`), 0},
}

// badBodies are refused by duometer's decoder: a syntax error, or an event of the wrong
// shape. TestStrictness reports which of them each library accepts.
var badBodies = []body{
	{"data after the value", decode.JSON, []byte(`{"event":"a.b"} x`), 0},
	{"two values", decode.JSON, []byte(`{"event":"a.b"}{"event":"a.b"}`), 0},
	{"trailing comma", decode.JSON, []byte(`[{"event":"a.b"},]`), 0},
	{"NaN", decode.JSON, []byte(`{"event":"a.b","value":NaN}`), 0},
	{"leading zero", decode.JSON, []byte(`{"event":"a.b","value":01}`), 0},
	{"number 1.2.3", decode.JSON, []byte(`{"event":"a.b","value":1.2.3}`), 0},
	{"control character in a string", decode.JSON, []byte("{\"event\":\"a\tb\"}"), 0},
	{"invalid UTF-8", decode.JSON, []byte("{\"event\":\"a\xffb\"}"), 0},
	{"invalid escape", decode.JSON, []byte(`{"event":"a\qb"}`), 0},
	{"value as a string", decode.JSON, []byte(`{"event":"a.b","value":"1"}`), 0},
	{"label value not a string", decode.JSON, []byte(`{"event":"a.b","labels":{"k":1}}`), 0},
	{"unknown field", decode.JSON, []byte(`{"event":"a.b","lables":{}}`), 0},
	{"field twice", decode.JSON, []byte(`{"event":"a.b","event":"c.d"}`), 0},
	{"label twice", decode.JSON, []byte(`{"event":"a.b","labels":{"k":"1","k":"2"}}`), 0},
	{"array element not an object", decode.JSON, []byte(`[{"event":"a.b"},1]`), 0},
	{"NDJSON: two objects on a line", decode.NDJSON, []byte(`{"event":"a.b"} {"event":"a.b"}`), 0},
	{"NDJSON: an array", decode.NDJSON, []byte(`[{"event":"a.b"}]`), 0},
}
