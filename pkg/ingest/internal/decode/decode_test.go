package decode

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/duometer/duometer/pkg/ingest/internal/decode/decodetest"
)

// decoded is an event as the tests write it.
type decoded struct {
	name    string // "" for none
	labels  string // "k=v,k=v" in the order given
	value   string // "" for none, else %g
	problem string // substring of the problem; "" for none
	line    int
}

func describe(d *Decoder) []decoded {
	var out []decoded
	for i := range d.Events() {
		e := &d.Events()[i]
		var ls []string
		for _, l := range d.Labels(e) {
			ls = append(ls, l.Key+"="+l.Value)
		}
		x := decoded{name: e.Name, labels: strings.Join(ls, ","), problem: e.Problem, line: int(e.Line)}
		if e.HasValue {
			x.value = fmt.Sprintf("%g", e.Value)
		}
		out = append(out, x)
	}
	return out
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name   string
		f      Format
		body   string
		want   []decoded
		errSub string // a syntax error containing this
	}{
		{"object", JSON, `{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 1}`,
			[]decoded{{name: "backup.completed", labels: "host=db1,kind=full", value: "1"}}, ""},
		{"fields in any order", JSON, `{"value":2.5,"labels":{"a":"b"},"event":"x.y"}`,
			[]decoded{{name: "x.y", labels: "a=b", value: "2.5"}}, ""},
		{"no value", JSON, `{"event":"x.y"}`, []decoded{{name: "x.y"}}, ""},
		{"null value and labels", JSON, `{"event":"x.y","labels":null,"value":null}`, []decoded{{name: "x.y"}}, ""},
		{"array", JSON, " [ {\"event\":\"a.b\"} ,\n{\"event\":\"c.d\",\"value\":-3e2} ] \n",
			[]decoded{{name: "a.b"}, {name: "c.d", value: "-300"}}, ""},
		{"empty array", JSON, `[]`, nil, ""},
		{"empty object", JSON, `{}`, []decoded{{}}, ""},
		{"escapes", JSON, `{"ev\u0065nt":"a.b","labels":{"k":"\"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}}`,
			[]decoded{{name: "a.b", labels: "k=\"q\"\\/\b\f\n\r\té😀"}}, ""},
		{"lone surrogate", JSON, `{"event":"a.b","labels":{"k":"\ud800x"}}`, []decoded{{name: "a.b", labels: "k=\uFFFDx"}}, ""},
		{"non-ASCII", JSON, `{"event":"a.b","labels":{"ville":"Zürich"}}`, []decoded{{name: "a.b", labels: "ville=Zürich"}}, ""},
		{"numbers", JSON, `[{"value":0},{"value":-0.5},{"value":1E3},{"value":123456789012345678},{"value":1e-5}]`,
			[]decoded{{value: "0"}, {value: "-0.5"}, {value: "1000"}, {value: "1.2345678901234568e+17"}, {value: "1e-05"}}, ""},

		// Problems of one event: the body is well-formed, the event is not.
		{"value as string", JSON, `{"event":"a.b","value":"NaN"}`, []decoded{{name: "a.b", problem: `"value" must be a number, not a string`}}, ""},
		{"value as bool", JSON, `{"event":"a.b","value":true}`, []decoded{{name: "a.b", problem: `"value" must be a number`}}, ""},
		{"value out of range", JSON, `{"event":"a.b","value":1e400}`, []decoded{{name: "a.b", problem: "out of range"}}, ""},
		{"event not a string", JSON, `{"event":7}`, []decoded{{problem: `"event" must be a string`}}, ""},
		{"labels not an object", JSON, `{"event":"a.b","labels":["x"]}`, []decoded{{name: "a.b", problem: `"labels" must be an object`}}, ""},
		{"label value not a string", JSON, `{"event":"a.b","labels":{"n":1}}`, []decoded{{name: "a.b", problem: `label "n": value must be a string`}}, ""},
		{"unknown field", JSON, `{"event":"a.b","lables":{"x":{"deep":[1,2,{"z":null}]}}}`, []decoded{{name: "a.b", problem: `unknown field "lables"`}}, ""},
		{"duplicate field", JSON, `{"event":"a.b","event":"c.d"}`, []decoded{{name: "c.d", problem: `field "event" given twice`}}, ""},
		{"duplicate label", JSON, `{"event":"a.b","labels":{"k":"1","k":"2"}}`, []decoded{{name: "a.b", labels: "k=1", problem: `label "k" given twice`}}, ""},
		{"not an object", JSON, `[{"event":"a.b"}, 3, "x", [1]]`, []decoded{{name: "a.b"}, {problem: "not an event object"}, {problem: "not an event object"}, {problem: "not an event object"}}, ""},

		// Syntax errors: the whole body is refused.
		{"empty", JSON, "  \n", nil, "offset 3: empty body"},
		{"scalar", JSON, `42`, nil, "want an event object or an array"},
		{"truncated", JSON, `{"event":"a.b"`, nil, "offset 14: unexpected end of input after a field"},
		{"trailing comma", JSON, `{"event":"a.b",}`, nil, "offset 15: unexpected character '}': want a field name"},
		{"trailing data", JSON, `{"event":"a.b"} x`, nil, "offset 16: unexpected character 'x' after the top-level value"},
		{"two objects", JSON, `{"event":"a.b"}{"event":"a.b"}`, nil, "after the top-level value"},
		{"bad literal", JSON, `{"event":"a.b","value":nul}`, nil, "want a value"},
		{"NaN literal", JSON, `{"event":"a.b","value":NaN}`, nil, "unexpected character 'N'"},
		{"leading zero", JSON, `{"value":01}`, nil, "unexpected character '1'"},
		{"bare minus", JSON, `{"value":-}`, nil, "in a number: want a digit"},
		{"bad fraction", JSON, `{"value":1.}`, nil, "after the decimal point"},
		{"bad exponent", JSON, `{"value":1e+}`, nil, "exponent"},
		{"control character", JSON, "{\"event\":\"a\tb\"}", nil, "control character '\\t' in a string"},
		{"bad escape", JSON, `{"event":"a\qb"}`, nil, `invalid escape "\\q"`},
		{"bad unicode escape", JSON, `{"event":"a\u12x4"}`, nil, `invalid \u escape`},
		{"invalid UTF-8", JSON, "{\"event\":\"a\xffb\"}", nil, "invalid UTF-8"},
		{"unterminated string", JSON, `{"event":"a.b`, nil, "unexpected end of input in a string"},
		{"missing colon", JSON, `{"event" "a.b"}`, nil, "want ':'"},
		{"array without comma", JSON, `[{"event":"a.b"} {"event":"a.b"}]`, nil, "want ',' or ']'"},
		{"too deep", JSON, `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, nil, "nested more than 64 deep"},
		{"single quotes", JSON, `{'event':'a.b'}`, nil, "want a field name in double quotes"},

		// NDJSON.
		{"ndjson", NDJSON, "{\"event\":\"a.b\"}\n\n  {\"event\":\"c.d\",\"value\":2}\r\n{\"event\":\"e.f\"}",
			[]decoded{{name: "a.b", line: 1}, {name: "c.d", value: "2", line: 3}, {name: "e.f", line: 4}}, ""},
		{"ndjson problem", NDJSON, "{\"event\":\"a.b\"}\n{\"event\":\"a.b\",\"value\":\"1\"}\n",
			[]decoded{{name: "a.b", line: 1}, {name: "a.b", line: 2, problem: "not a string"}}, ""},
		{"ndjson syntax error", NDJSON, "{\"event\":\"a.b\"}\n{\"event\":\"a.b\",}\n", nil, "line 2, column 16: unexpected character '}'"},
		{"ndjson two per line", NDJSON, `{"event":"a.b"} {"event":"a.b"}`, nil, "line 1, column 17: unexpected character '{' after the event object"},
		{"ndjson object across lines", NDJSON, "{\"event\":\n\"a.b\"}", nil, "line 1, column 10: unexpected end of line"},
		{"ndjson array", NDJSON, `[{"event":"a.b"}]`, nil, "line 1, column 1: unexpected character '[': want an event object"},
		{"ndjson empty", NDJSON, "\n \n", nil, "empty body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decoder{MaxEvents: 10}
			err := d.Decode(c.body, c.f)
			if c.errSub != "" {
				var se *SyntaxError
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
	d := Decoder{MaxEvents: 1}
	if err := d.Decode(`{"value":-0}`, JSON); err != nil {
		t.Fatal(err)
	}
	if v := d.Events()[0].Value; v != 0 || !math.Signbit(v) {
		t.Errorf("-0 decoded as %v (sign bit %v)", v, math.Signbit(v))
	}
}

func TestDecodeLimits(t *testing.T) {
	d := Decoder{MaxEvents: 3}
	if err := d.Decode(`[{},{},{}]`, JSON); err != nil {
		t.Fatalf("3 events with a limit of 3: %v", err)
	}
	if err := d.Decode(`[{},{},{},{}]`, JSON); !errors.Is(err, ErrTooManyEvents) {
		t.Errorf("4 events with a limit of 3: %v, want ErrTooManyEvents", err)
	}
	if err := d.Decode(`[{},{},{},1]`, JSON); !errors.Is(err, ErrTooManyEvents) {
		t.Errorf("4 elements with a limit of 3: %v, want ErrTooManyEvents", err)
	}
	if err := d.Decode("{}\n{}\n{}\n{}", NDJSON); !errors.Is(err, ErrTooManyEvents) {
		t.Errorf("4 lines with a limit of 3: %v, want ErrTooManyEvents", err)
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
	if err := d.Decode(b.String(), JSON); err != nil {
		t.Fatal(err)
	}
	e := &d.Events()[0]
	if p := e.Problem; !strings.Contains(p, "more than 64 labels") || len(d.Labels(e)) != maxLabels {
		t.Errorf("%d labels: problem %q, %d kept", maxLabels+1, p, len(d.Labels(e)))
	}
}

// The decoder reuses its slices and allocates nothing per event for a body without escapes.
func TestDecodeAllocs(t *testing.T) {
	body := decodetest.BatchBody(100, 10)
	d := Decoder{}
	if err := d.Decode(body, JSON); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { _ = d.Decode(body, JSON) }); n != 0 {
		t.Errorf("%v allocations per body of 100 events, want 0", n)
	}
}

// MaxEvents of 0 is no limit; Reset forgets the body.
func TestDecodeNoLimitAndReset(t *testing.T) {
	var d Decoder
	body := decodetest.BatchBody(1000, 10)
	if err := d.Decode(body, JSON); err != nil || len(d.Events()) != 1000 {
		t.Fatalf("1,000 events without a limit: %v, %d events", err, len(d.Events()))
	}
	d.Reset()
	if len(d.Events()) != 0 || d.src != "" {
		t.Errorf("after Reset: %d events, src of %d bytes", len(d.Events()), len(d.src))
	}
}

func TestSyntaxErrorFields(t *testing.T) {
	var d Decoder
	err := d.Decode("{\"event\":\"a.b\"}\n{\"event\":\"a.b\",}\n", NDJSON)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 31 || se.Line != 2 || se.Column != 16 || !strings.HasPrefix(se.Msg, "unexpected character '}'") {
		t.Errorf("NDJSON: %#v", err)
	}
	err = d.Decode(`[{"event":"a.b"} x]`, JSON)
	if !errors.As(err, &se) || se.Offset != 17 || se.Line != 0 || se.Column != 18 {
		t.Errorf("JSON: %#v", err)
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	c := Clip(long)
	if len(c) > clipLen+len("…") || !strings.HasSuffix(c, "…") || !strings.HasPrefix(long, strings.TrimSuffix(c, "…")) {
		t.Errorf("clip = %q", c)
	}
	if Clip("short") != "short" {
		t.Error("clip changed a short string")
	}
}
