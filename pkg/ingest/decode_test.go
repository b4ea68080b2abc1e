package ingest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// decoded is an event as the tests write it.
type decoded struct {
	name    string // "" for none
	labels  string // "k=v,k=v" in the order given
	value   string // "" for none, else %g
	problem string // substring of the problem; "" for none
	line    int
}

func describe(d *decoder) []decoded {
	var out []decoded
	for _, e := range d.events {
		var ls []string
		for _, l := range d.labels[e.labels : e.labels+e.nlabels] {
			ls = append(ls, l.key+"="+l.value)
		}
		x := decoded{name: e.name, labels: strings.Join(ls, ","), problem: e.problem, line: int(e.line)}
		if e.hasValue {
			x.value = fmt.Sprintf("%g", e.value)
		}
		out = append(out, x)
	}
	return out
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name   string
		f      format
		body   string
		want   []decoded
		errSub string // a syntax error containing this
	}{
		{"object", formatJSON, `{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 1}`,
			[]decoded{{name: "backup.completed", labels: "host=db1,kind=full", value: "1"}}, ""},
		{"fields in any order", formatJSON, `{"value":2.5,"labels":{"a":"b"},"event":"x.y"}`,
			[]decoded{{name: "x.y", labels: "a=b", value: "2.5"}}, ""},
		{"no value", formatJSON, `{"event":"x.y"}`, []decoded{{name: "x.y"}}, ""},
		{"null value and labels", formatJSON, `{"event":"x.y","labels":null,"value":null}`, []decoded{{name: "x.y"}}, ""},
		{"array", formatJSON, " [ {\"event\":\"a.b\"} ,\n{\"event\":\"c.d\",\"value\":-3e2} ] \n",
			[]decoded{{name: "a.b"}, {name: "c.d", value: "-300"}}, ""},
		{"empty array", formatJSON, `[]`, nil, ""},
		{"empty object", formatJSON, `{}`, []decoded{{}}, ""},
		{"escapes", formatJSON, `{"ev\u0065nt":"a.b","labels":{"k":"\"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}}`,
			[]decoded{{name: "a.b", labels: "k=\"q\"\\/\b\f\n\r\té😀"}}, ""},
		{"lone surrogate", formatJSON, `{"event":"a.b","labels":{"k":"\ud800x"}}`, []decoded{{name: "a.b", labels: "k=\uFFFDx"}}, ""},
		{"non-ASCII", formatJSON, `{"event":"a.b","labels":{"ville":"Zürich"}}`, []decoded{{name: "a.b", labels: "ville=Zürich"}}, ""},
		{"numbers", formatJSON, `[{"value":0},{"value":-0.5},{"value":1E3},{"value":123456789012345678},{"value":1e-5}]`,
			[]decoded{{value: "0"}, {value: "-0.5"}, {value: "1000"}, {value: "1.2345678901234568e+17"}, {value: "1e-05"}}, ""},

		// Problems of one event: the body is well-formed, the event is not.
		{"value as string", formatJSON, `{"event":"a.b","value":"NaN"}`, []decoded{{name: "a.b", problem: `"value" must be a number, not a string`}}, ""},
		{"value as bool", formatJSON, `{"event":"a.b","value":true}`, []decoded{{name: "a.b", problem: `"value" must be a number`}}, ""},
		{"value out of range", formatJSON, `{"event":"a.b","value":1e400}`, []decoded{{name: "a.b", problem: "out of range"}}, ""},
		{"event not a string", formatJSON, `{"event":7}`, []decoded{{problem: `"event" must be a string`}}, ""},
		{"labels not an object", formatJSON, `{"event":"a.b","labels":["x"]}`, []decoded{{name: "a.b", problem: `"labels" must be an object`}}, ""},
		{"label value not a string", formatJSON, `{"event":"a.b","labels":{"n":1}}`, []decoded{{name: "a.b", problem: `label "n": value must be a string`}}, ""},
		{"unknown field", formatJSON, `{"event":"a.b","lables":{"x":{"deep":[1,2,{"z":null}]}}}`, []decoded{{name: "a.b", problem: `unknown field "lables"`}}, ""},
		{"duplicate field", formatJSON, `{"event":"a.b","event":"c.d"}`, []decoded{{name: "c.d", problem: `field "event" given twice`}}, ""},
		{"duplicate label", formatJSON, `{"event":"a.b","labels":{"k":"1","k":"2"}}`, []decoded{{name: "a.b", labels: "k=1", problem: `label "k" given twice`}}, ""},
		{"not an object", formatJSON, `[{"event":"a.b"}, 3, "x", [1]]`, []decoded{{name: "a.b"}, {problem: "not an event object"}, {problem: "not an event object"}, {problem: "not an event object"}}, ""},

		// Syntax errors: the whole body is refused.
		{"empty", formatJSON, "  \n", nil, "offset 3: empty body"},
		{"scalar", formatJSON, `42`, nil, "want an event object or an array"},
		{"truncated", formatJSON, `{"event":"a.b"`, nil, "offset 14: unexpected end of input after a field"},
		{"trailing comma", formatJSON, `{"event":"a.b",}`, nil, "offset 15: unexpected character '}': want a field name"},
		{"trailing data", formatJSON, `{"event":"a.b"} x`, nil, "offset 16: unexpected character 'x' after the top-level value"},
		{"two objects", formatJSON, `{"event":"a.b"}{"event":"a.b"}`, nil, "after the top-level value"},
		{"bad literal", formatJSON, `{"event":"a.b","value":nul}`, nil, "want a value"},
		{"NaN literal", formatJSON, `{"event":"a.b","value":NaN}`, nil, "unexpected character 'N'"},
		{"leading zero", formatJSON, `{"value":01}`, nil, "unexpected character '1'"},
		{"bare minus", formatJSON, `{"value":-}`, nil, "in a number: want a digit"},
		{"bad fraction", formatJSON, `{"value":1.}`, nil, "after the decimal point"},
		{"bad exponent", formatJSON, `{"value":1e+}`, nil, "exponent"},
		{"control character", formatJSON, "{\"event\":\"a\tb\"}", nil, "control character '\\t' in a string"},
		{"bad escape", formatJSON, `{"event":"a\qb"}`, nil, `invalid escape "\\q"`},
		{"bad unicode escape", formatJSON, `{"event":"a\u12x4"}`, nil, `invalid \u escape`},
		{"invalid UTF-8", formatJSON, "{\"event\":\"a\xffb\"}", nil, "invalid UTF-8"},
		{"unterminated string", formatJSON, `{"event":"a.b`, nil, "unexpected end of input in a string"},
		{"missing colon", formatJSON, `{"event" "a.b"}`, nil, "want ':'"},
		{"array without comma", formatJSON, `[{"event":"a.b"} {"event":"a.b"}]`, nil, "want ',' or ']'"},
		{"too deep", formatJSON, `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, nil, "nested more than 64 deep"},
		{"single quotes", formatJSON, `{'event':'a.b'}`, nil, "want a field name in double quotes"},

		// NDJSON.
		{"ndjson", formatNDJSON, "{\"event\":\"a.b\"}\n\n  {\"event\":\"c.d\",\"value\":2}\r\n{\"event\":\"e.f\"}",
			[]decoded{{name: "a.b", line: 1}, {name: "c.d", value: "2", line: 3}, {name: "e.f", line: 4}}, ""},
		{"ndjson problem", formatNDJSON, "{\"event\":\"a.b\"}\n{\"event\":\"a.b\",\"value\":\"1\"}\n",
			[]decoded{{name: "a.b", line: 1}, {name: "a.b", line: 2, problem: "not a string"}}, ""},
		{"ndjson syntax error", formatNDJSON, "{\"event\":\"a.b\"}\n{\"event\":\"a.b\",}\n", nil, "line 2, column 16: unexpected character '}'"},
		{"ndjson two per line", formatNDJSON, `{"event":"a.b"} {"event":"a.b"}`, nil, "line 1, column 17: unexpected character '{' after the event object"},
		{"ndjson object across lines", formatNDJSON, "{\"event\":\n\"a.b\"}", nil, "line 1, column 10: unexpected end of line"},
		{"ndjson array", formatNDJSON, `[{"event":"a.b"}]`, nil, "line 1, column 1: unexpected character '[': want an event object"},
		{"ndjson empty", formatNDJSON, "\n \n", nil, "empty body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decoder{maxEvents: 10}
			err := d.decode(c.body, c.f)
			if c.errSub != "" {
				var se *syntaxError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), c.errSub) {
					t.Fatalf("error %v, want a syntax error containing %q", err, c.errSub)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			got := describe(&d)
			if len(got) != len(c.want) {
				t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(c.want), c.want)
			}
			for i := range got {
				g, w := got[i], c.want[i]
				if w.problem != "" && strings.Contains(g.problem, w.problem) {
					g.problem = w.problem
				}
				if g != w {
					t.Errorf("[%d] = %+v, want %+v", i, g, w)
				}
			}
			if msg := compareWithReference([]byte(c.body), c.f); msg != "" {
				t.Errorf("disagrees with encoding/json: %s", msg)
			}
		})
	}
}

func TestDecodeNegativeZero(t *testing.T) {
	d := decoder{maxEvents: 1}
	if err := d.decode(`{"value":-0}`, formatJSON); err != nil {
		t.Fatal(err)
	}
	if v := d.events[0].value; v != 0 || !math.Signbit(v) {
		t.Errorf("-0 decoded as %v (sign bit %v)", v, math.Signbit(v))
	}
}

func TestDecodeLimits(t *testing.T) {
	d := decoder{maxEvents: 3}
	if err := d.decode(`[{},{},{}]`, formatJSON); err != nil {
		t.Fatalf("3 events with a limit of 3: %v", err)
	}
	if err := d.decode(`[{},{},{},{}]`, formatJSON); !errors.Is(err, errTooManyEvents) {
		t.Errorf("4 events with a limit of 3: %v, want errTooManyEvents", err)
	}
	if err := d.decode(`[{},{},{},1]`, formatJSON); !errors.Is(err, errTooManyEvents) {
		t.Errorf("4 elements with a limit of 3: %v, want errTooManyEvents", err)
	}
	if err := d.decode("{}\n{}\n{}\n{}", formatNDJSON); !errors.Is(err, errTooManyEvents) {
		t.Errorf("4 lines with a limit of 3: %v, want errTooManyEvents", err)
	}
	var b strings.Builder
	b.WriteString(`{"event":"a.b","labels":{`)
	for i := 0; i <= maxLabels; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":"v"`, i)
	}
	b.WriteString(`}}`)
	if err := d.decode(b.String(), formatJSON); err != nil {
		t.Fatal(err)
	}
	if p := d.events[0].problem; !strings.Contains(p, "more than 64 labels") || d.events[0].nlabels != maxLabels {
		t.Errorf("%d labels: problem %q, %d kept", maxLabels+1, p, d.events[0].nlabels)
	}
}

// The decoder reuses its slices and allocates nothing per event for a body without escapes.
func TestDecodeAllocs(t *testing.T) {
	body := batchBody(100, 10)
	d := decoder{maxEvents: DefaultMaxEvents}
	if err := d.decode(body, formatJSON); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { _ = d.decode(body, formatJSON) }); n != 0 {
		t.Errorf("%v allocations per body of 100 events, want 0", n)
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	c := clip(long)
	if len(c) > clipLen+len("…") || !strings.HasSuffix(c, "…") || !strings.HasPrefix(long, strings.TrimSuffix(c, "…")) {
		t.Errorf("clip = %q", c)
	}
	if clip("short") != "short" {
		t.Error("clip changed a short string")
	}
}
