// Package decodetest holds request bodies for the tests and benchmarks of the decoder
// (../), of pkg/ingest's handler, and of the comparison module ../../decodebench.
package decodetest

import (
	"strconv"
	"strings"
)

// BatchBody is a JSON array of n backup.completed events with two labels over `distinct`
// hosts, 77 bytes an event:
//
//	{"event":"backup.completed","labels":{"host":"db3","kind":"full"},"value":1}
func BatchBody(n, distinct int) string { return body(n, distinct, "[", ",", "]") }

// NDJSONBody is the events of BatchBody, one per line.
func NDJSONBody(n, distinct int) string { return body(n, distinct, "", "\n", "\n") }

func body(n, distinct int, open, sep, end string) string {
	var b strings.Builder
	b.Grow(len(open) + 78*n + len(end))
	b.WriteString(open)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(`{"event":"backup.completed","labels":{"host":"db`)
		b.WriteString(strconv.Itoa(i % distinct))
		b.WriteString(`","kind":"full"},"value":1}`)
	}
	b.WriteString(end)
	return b.String()
}

// Seeds are bodies that reach every branch of the decoder: well-formed events, problems of
// one event and syntax errors. The fuzz tests start from them, as JSON and as NDJSON.
var Seeds = []string{
	`{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 1}`,
	`[{"event":"backup.completed","labels":{"kind":"full","host":"db1"}},{"event":"queue.depth","value":7}]`,
	"{\"event\":\"queue.depth\",\"value\":1}\n\n{\"event\":\"queue.inflight\",\"labels\":{\"queue\":\"q\"},\"value\":-2}\r\n",
	`{"event":"backup.duration","labels":{"host":"db1"},"value":0.3}`,
	`{"event":"debug.noise","labels":{"x":"1"}}`,
	`{"ev\u0065nt":"queue.depth","value":1e2,"labels":{}}`,
	`{"event":"backup.completed","labels":{"host":"\ud83d\ude00\ud800","kind":"\"\\\/\b\f\n\r\t"}}`,
	`{"event":"queue.depth","value":"NaN"}`,
	`{"event":"queue.depth","value":1e400}`,
	`{"event":"queue.depth","value":-0}`,
	`{"event":"backup.completed","labels":{"host":"a","kind":"b"},"value":-1}`,
	`{"event":"backup.completed","labels":{"host":"a","host":"b"}}`,
	`{"event":"backup.complete"}`,
	`{"event":"queue.depth","valeu":{"a":[1,{"b":null}]}}`,
	`[1, "x", null, true, [], {}]`,
	`[]`,
	`{}`,
	``,
	`{"event":"queue.depth",}`,
	`{"event":"queue.depth"} trailing`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	"{\"event\":\"a\xffb\"}",
	`{"event":"queue.depth","value":01}`,
	`{"event":"queue.depth","value":123456789012345678901234567890}`,
	`{"event":"queue.depth","value":1.5e-320}`,
}
