package decodebench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/ast"

	"github.com/duometer/duometer/pkg/ingest/internal/decode"
)

// wireEvent is an event as sonic and encoding/json unmarshal it. The value is a json.Number
// so that a missing or null value ("") is told from 0 without a pointer (an allocation).
type wireEvent struct {
	Event  string            `json:"event"`
	Labels map[string]string `json:"labels"`
	Value  json.Number       `json:"value"`
}

// wireEvents holds the events of a body for the decoders that unmarshal into structs.
type wireEvents struct{ evs []wireEvent }

// reset empties evs but keeps its array. Its elements are cleared first: unmarshalling into
// a slice reuses the elements up to its capacity, maps of labels included, which would merge
// the labels of two requests.
func (w *wireEvents) reset() {
	clear(w.evs[:cap(w.evs)])
	w.evs = w.evs[:0]
}

// whole decodes a JSON body, one event object or an array of them, with unmarshal, the
// library's Unmarshal of body into a value.
func (w *wireEvents) whole(body []byte, unmarshal func(v any) error) error {
	switch firstByte(body) {
	case '[':
		if err := unmarshal(&w.evs); err != nil {
			return err
		}
	case '{':
		w.evs = append(w.evs, wireEvent{})
		if err := unmarshal(&w.evs[0]); err != nil {
			return err
		}
	case 0:
		return errEmpty
	default:
		return errNotEvents
	}
	return w.check()
}

// stream decodes a stream of event objects (NDJSON) with a Decoder of the library.
func (w *wireEvents) stream(dec interface{ Decode(any) error }) error {
	for {
		w.evs = append(w.evs, wireEvent{})
		if err := dec.Decode(&w.evs[len(w.evs)-1]); err != nil {
			w.evs = w.evs[:len(w.evs)-1]
			if !errors.Is(err, io.EOF) {
				return err
			}
			if len(w.evs) == 0 {
				return errEmpty
			}
			return w.check()
		}
	}
}

// check does what the struct cannot: parse the values.
func (w *wireEvents) check() error {
	for i := range w.evs {
		if v := w.evs[i].Value; v != "" {
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *wireEvents) Events() []Event {
	var out []Event
	for _, e := range w.evs {
		x := Event{Name: e.Event}
		for k, v := range e.Labels {
			x.Labels = append(x.Labels, decode.Label{Key: k, Value: v})
		}
		x.Labels = sortLabels(x.Labels)
		if e.Value != "" {
			x.Value, _ = strconv.ParseFloat(string(e.Value), 64)
			x.HasValue = true
		}
		out = append(out, x)
	}
	return out
}

// Sonic unmarshals with sonic.UnmarshalString and its default configuration: strings without
// escapes refer to the body's text (sonic.Unmarshal would copy the []byte first), a new map
// of labels per event. NDJSON is read by sonic's stream Decoder (faster than an
// UnmarshalString per line: 0.4 against 0.7 ms for 1,000 events, in one run).
type Sonic struct {
	wireEvents
	rd bytes.Reader
}

// NewSonic returns a Sonic whose types sonic has compiled already (sonic.Pretouch, as its
// README advises), so that no request pays for the compilation.
func NewSonic() *Sonic {
	for _, t := range []reflect.Type{reflect.TypeFor[[]wireEvent](), reflect.TypeFor[wireEvent]()} {
		if err := sonic.Pretouch(t); err != nil {
			panic(err)
		}
	}
	return new(Sonic)
}

func (x *Sonic) Decode(body []byte, s string, f decode.Format) error {
	x.reset()
	if f == decode.NDJSON {
		x.rd.Reset(body)
		return x.stream(sonic.ConfigDefault.NewDecoder(&x.rd))
	}
	return x.whole(body, func(v any) error { return sonic.UnmarshalString(s, v) })
}

// SonicVisitor decodes with sonic's ast.Preorder, a SAX-like traversal that calls an
// ast.Visitor for every value, and fills the events as duometer's decoder does. Strings
// without escapes are substrings of the body's text.
type SonicVisitor struct {
	result
	ndjson  bool
	inArray bool // the events are in a top-level array
	state   visitState
	key     visitKey // the field or label whose value comes next
	label   string   // the key of the label whose value comes next
	seen    field
	ev      event
}

type visitState uint8

const (
	visitTop    visitState = iota // before the body's value
	visitArray                    // in the top-level array, between events
	visitEvent                    // in an event object
	visitLabels                   // in an event's labels
	visitDone                     // after the top-level value
)

type visitKey uint8

const (
	keyEvent visitKey = iota + 1
	keyLabels
	keyValue
)

var errVisit = errors.New("not an event of the request's shape")

func (x *SonicVisitor) Decode(_ []byte, s string, f decode.Format) error {
	x.reset()
	x.ndjson = f == decode.NDJSON
	if x.ndjson {
		return lines(s, func(start, end int) error {
			x.state = visitTop
			return ast.Preorder(s[start:end], x, nil)
		})
	}
	x.state, x.inArray = visitTop, false
	if err := ast.Preorder(s, x, nil); err != nil {
		return err
	}
	if x.state != visitDone {
		return errNotEvents
	}
	return nil
}

func (x *SonicVisitor) OnObjectBegin(int) error {
	switch {
	case x.state == visitTop || x.state == visitArray:
		x.state = visitEvent
		x.ev, x.seen, x.key = event{labels: int32(len(x.labels))}, 0, 0
		return nil
	case x.state == visitEvent && x.key == keyLabels:
		x.state = visitLabels
		return nil
	}
	return errVisit
}

func (x *SonicVisitor) OnObjectKey(key string) error {
	switch x.state {
	case visitLabels:
		x.label = key
		return nil
	case visitEvent:
		switch key {
		case "event":
			x.key = keyEvent
			return x.seen.see(fieldEvent, key)
		case "labels":
			x.key = keyLabels
			return x.seen.see(fieldLabels, key)
		case "value":
			x.key = keyValue
			return x.seen.see(fieldValue, key)
		}
		return fmt.Errorf("unknown field %q", key)
	}
	return errVisit
}

func (x *SonicVisitor) OnObjectEnd() error {
	switch x.state {
	case visitLabels:
		x.state = visitEvent
		return nil
	case visitEvent:
		x.endEvent(&x.ev)
		x.state = visitDone
		if x.inArray {
			x.state = visitArray
		}
		return nil
	}
	return errVisit
}

func (x *SonicVisitor) OnArrayBegin(int) error {
	if x.state == visitTop && !x.ndjson {
		x.state, x.inArray = visitArray, true
		return nil
	}
	return errVisit
}

func (x *SonicVisitor) OnArrayEnd() error {
	if x.state == visitArray {
		x.state, x.inArray = visitDone, false
		return nil
	}
	return errVisit
}

func (x *SonicVisitor) OnString(v string) error {
	switch {
	case x.state == visitEvent && x.key == keyEvent:
		x.ev.name, x.ev.hasName = v, true
		return nil
	case x.state == visitLabels:
		return x.addLabel(&x.ev, x.label, v)
	}
	return errVisit
}

func (x *SonicVisitor) OnInt64(v int64, _ json.Number) error {
	return x.OnFloat64(float64(v), "")
}

func (x *SonicVisitor) OnFloat64(v float64, _ json.Number) error {
	if x.state == visitEvent && x.key == keyValue {
		x.ev.value, x.ev.hasValue = v, true
		return nil
	}
	return errVisit
}

func (x *SonicVisitor) OnNull() error {
	if x.state == visitEvent && (x.key == keyValue || x.key == keyLabels) {
		return nil
	}
	return errVisit
}

func (x *SonicVisitor) OnBool(bool) error { return errVisit }
