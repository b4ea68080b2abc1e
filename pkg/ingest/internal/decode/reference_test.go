package decode

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The reference decoder: the same request shapes decoded with encoding/json. FuzzDecode
// checks that the Decoder agrees with it.

// refEvent is an event as the reference reads it.
type refEvent struct {
	name     string
	hasName  bool
	labels   map[string]string
	value    float64
	hasValue bool
	problem  bool // the event is not a valid event object
}

// refDecode decodes body with encoding/json. ok is false when the body is not well-formed
// or not of the request's shape.
func refDecode(body []byte, f Format) (evs []refEvent, ok bool) {
	if f == NDJSON {
		for _, line := range bytes.Split(body, []byte("\n")) {
			if len(bytes.Trim(line, " \t\r")) == 0 {
				continue
			}
			v, ok := refValue(line)
			if !ok {
				return nil, false
			}
			if _, isObj := v.(map[string]any); !isObj {
				return nil, false
			}
			evs = append(evs, refEventOf(v))
		}
		return evs, len(evs) > 0
	}
	v, ok := refValue(body)
	if !ok {
		return nil, false
	}
	switch v := v.(type) {
	case map[string]any:
		return []refEvent{refEventOf(v)}, true
	case []any:
		evs = []refEvent{}
		for _, x := range v {
			evs = append(evs, refEventOf(x))
		}
		return evs, true
	}
	return nil, false
}

func refValue(b []byte) (any, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

func refEventOf(v any) refEvent {
	m, ok := v.(map[string]any)
	if !ok {
		return refEvent{problem: true}
	}
	var e refEvent
	for k, x := range m {
		switch k {
		case "event":
			s, ok := x.(string)
			e.name, e.hasName = s, ok
			e.problem = e.problem || !ok
		case "labels":
			if x == nil {
				continue
			}
			lm, ok := x.(map[string]any)
			if !ok || len(lm) > maxLabels {
				e.problem = true
				continue
			}
			e.labels = map[string]string{}
			for lk, lv := range lm {
				s, ok := lv.(string)
				if !ok {
					e.problem = true
				}
				e.labels[lk] = s
			}
		case "value":
			if x == nil {
				continue
			}
			n, ok := x.(json.Number)
			if !ok {
				e.problem = true
				continue
			}
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				e.problem = true
				continue
			}
			e.value, e.hasValue = f, true
		default:
			e.problem = true
		}
	}
	return e
}

// hasDuplicateKeys reports whether an object in a well-formed body repeats a key, which the
// reference cannot see (encoding/json keeps the last) and the decoder reports.
func hasDuplicateKeys(body []byte) bool {
	type frame struct {
		obj       bool
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	valueDone := func() {
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].expectKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].expectKey {
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			k, _ := tok.(string)
			if stack[n-1].keys[k] {
				return true
			}
			stack[n-1].keys[k] = true
			stack[n-1].expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// sameEvents compares the decoder's events with the reference's; it returns "" when they agree.
func sameEvents(d *Decoder, ref []refEvent) string {
	evs := d.Events()
	if len(evs) != len(ref) {
		return "event count " + strconv.Itoa(len(evs)) + " vs " + strconv.Itoa(len(ref))
	}
	for i := range evs {
		e, r := &evs[i], ref[i]
		at := "[" + strconv.Itoa(i) + "] "
		if (e.Problem != "") != r.problem {
			return at + "problem " + strconv.Quote(e.Problem) + " vs reference problem " + strconv.FormatBool(r.problem)
		}
		if r.problem {
			continue
		}
		if e.HasName != r.hasName || e.Name != r.name {
			return at + "name " + strconv.Quote(e.Name) + " vs " + strconv.Quote(r.name)
		}
		if e.HasValue != r.hasValue || math.Float64bits(e.Value) != math.Float64bits(r.value) {
			return at + "value " + strconv.FormatFloat(e.Value, 'g', -1, 64) + " vs " + strconv.FormatFloat(r.value, 'g', -1, 64)
		}
		labels := d.Labels(e)
		if len(labels) != len(r.labels) {
			return at + "label count " + strconv.Itoa(len(labels)) + " vs " + strconv.Itoa(len(r.labels))
		}
		for _, l := range labels {
			if v, ok := r.labels[l.Key]; !ok || v != l.Value {
				return at + "label " + strconv.Quote(l.Key) + "=" + strconv.Quote(l.Value) + " vs " + strconv.Quote(v)
			}
		}
	}
	return ""
}

// compareWithReference decodes body with both decoders and returns "" when they agree.
func compareWithReference(body []byte, f Format) string {
	d := Decoder{}
	err := d.Decode(string(body), f)
	ref, refOK := refDecode(body, f)
	if err != nil {
		msg := err.Error()
		// Refusals of the decoder that encoding/json does not make.
		if strings.Contains(msg, "invalid UTF-8") || strings.Contains(msg, "nested more than") {
			return ""
		}
		if refOK {
			return "decoder refused what encoding/json accepts: " + msg
		}
		return ""
	}
	if !utf8.Valid(body) {
		return "decoder accepted invalid UTF-8"
	}
	if !refOK {
		return "decoder accepted what encoding/json refuses"
	}
	if hasDuplicateKeys(body) {
		return ""
	}
	return sameEvents(&d, ref)
}
