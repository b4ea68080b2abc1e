// Package decodebench measures duometer's request decoder (pkg/ingest/internal/decode) beside
// general JSON libraries decoding the same bodies into the same events. It is a module of
// its own so that none of those libraries becomes a dependency of duometer: `go test ./...`
// in duometer's module does not enter it, and CI does not run it. It is a measurement, whose
// results and command are in docs/performance.md:
//
//	cd pkg/ingest/internal/decodebench
//	go test ./...      # every decoder reads the same events (-v: what each one lets through)
//	for i in 1 2 3 4 5 6 7 8; do go test -run '^$' -bench . -benchmem; done | tee /tmp/decodebench.txt
//	awk -f ratios.awk /tmp/decodebench.txt | sort
//
// Every decoder is given the body in memory, as []byte and as a string (made once, outside
// the measurement, as the handler's req.body.String() is made before duometer's decoder
// runs), and uses the form its API takes. Where the library allows it, names and label
// values are substrings of the body or views of the library's own copy of it, not one
// allocation per string. Each library is used the way its documentation recommends for speed:
//
//   - jsontext (github.com/go-json-experiment/json/jsontext): a jsontext.Decoder reused with
//     Reset over a bytes.Buffer (which it parses in place, without copying), reading
//     ReadToken/ReadValue, names and label values taken as substrings of the body by
//     InputOffset; AllowDuplicateNames(true), as its documentation suggests for speed, with
//     duometer's own check of repeated fields and labels instead (NewJSONTextDefaults keeps
//     the default options: the library checks duplicate names of every object itself).
//   - fastjson (github.com/valyala/fastjson): a fastjson.Parser reused (a fastjson.Scanner for
//     NDJSON), Object.Visit over the fields; strings are views of the parser's copy of the
//     body (valid until its next Parse, as fastjson documents for its []byte results), made
//     strings with unsafe.String rather than copied.
//   - sonic (github.com/bytedance/sonic): sonic.UnmarshalString into a reused []struct with a
//     map of labels, its ConfigDefault (strings refer to the body, no copy), and for NDJSON
//     its stream Decoder; SonicVisitor is sonic's SAX-like ast.Preorder with an ast.Visitor
//     filling the events directly, which its README recommends over ast.Node for decoding
//     into one's own types (one Preorder per line of NDJSON).
//   - encoding/json, the baseline: json.Unmarshal into the same []struct as sonic, and for
//     NDJSON a json.Decoder.
//
// For NDJSON, jsontext, fastjson's Scanner and the stream Decoders of sonic and encoding/json
// read a sequence of values and do not check that each is on a line of its own.
package decodebench

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/duometer/duometer/pkg/ingest/internal/decode"
)

// A Decoder decodes request bodies, reused from one to the next.
type Decoder interface {
	// Decode decodes body, replacing the events of the previous body; text is the same body
	// as a string, for the decoders whose API takes one (their strings are substrings of it).
	// It fails on a body that is not well-formed or has an event of the wrong shape (a wrong
	// type, an unknown or repeated field, a repeated label).
	Decode(body []byte, text string, f decode.Format) error
	// Events returns the events of the last body in a form that all decoders share. For the
	// tests; it allocates.
	Events() []Event
}

// Event is an event as the tests compare them: labels sorted by key.
type Event struct {
	Name     string
	Labels   []decode.Label
	Value    float64
	HasValue bool
}

func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q {", e.Name)
	for i, l := range e.Labels {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", l.Key, l.Value)
	}
	b.WriteString("}")
	if e.HasValue {
		fmt.Fprintf(&b, " %v", e.Value)
	}
	return b.String()
}

func sortLabels(ls []decode.Label) []decode.Label {
	ls = slices.Clone(ls)
	slices.SortFunc(ls, func(a, b decode.Label) int { return strings.Compare(a.Key, b.Key) })
	return ls
}

// Decoders returns one of each decoder, duometer's first.
func Decoders() []struct {
	Name string
	New  func() Decoder
} {
	return []struct {
		Name string
		New  func() Decoder
	}{
		{"duometer", func() Decoder { return new(Duometer) }},
		{"duometer_copy", func() Decoder { return &Duometer{makeString: true} }},
		{"jsontext", func() Decoder { return NewJSONText() }},
		{"jsontext_defaults", func() Decoder { return NewJSONTextDefaults() }},
		{"fastjson", func() Decoder { return new(FastJSON) }},
		{"sonic", func() Decoder { return NewSonic() }},
		{"sonic_visitor", func() Decoder { return new(SonicVisitor) }},
		{"encoding_json", func() Decoder { return new(EncodingJSON) }},
	}
}

// Duometer is duometer's decoder, as the handler uses it. With makeString, it makes the string of
// the body itself, as the handler does (string(body)), rather than use text.
type Duometer struct {
	d          decode.Decoder
	makeString bool
}

func (x *Duometer) Decode(body []byte, text string, f decode.Format) error {
	if x.makeString {
		text = string(body)
	}
	if err := x.d.Decode(text, f); err != nil {
		return err
	}
	evs := x.d.Events()
	for i := range evs {
		if evs[i].Problem != "" {
			return errors.New(evs[i].Problem)
		}
	}
	return nil
}

func (x *Duometer) Events() []Event {
	var out []Event
	evs := x.d.Events()
	for i := range evs {
		e := &evs[i]
		out = append(out, Event{Name: e.Name, Labels: sortLabels(x.d.Labels(e)), Value: e.Value, HasValue: e.HasValue})
	}
	return out
}

// result holds the events of a body for the decoders that fill them field by field, as
// duometer's does: no allocation per event once its slices are large enough.
type result struct {
	events []event
	labels []decode.Label
}

type event struct {
	name              string
	value             float64
	labels, nlabels   int32
	hasName, hasValue bool
}

func (r *result) reset() { r.events, r.labels = r.events[:0], r.labels[:0] }

// addLabel adds a label to the event being decoded (whose labels are the last of r.labels),
// refusing a repeated key as duometer does.
func (r *result) addLabel(ev *event, key, value string) error {
	for _, l := range r.labels[ev.labels:] {
		if l.Key == key {
			return fmt.Errorf("label %q given twice", key)
		}
	}
	r.labels = append(r.labels, decode.Label{Key: key, Value: value})
	return nil
}

func (r *result) endEvent(ev *event) {
	ev.nlabels = int32(len(r.labels)) - ev.labels
	r.events = append(r.events, *ev)
}

func (r *result) Events() []Event {
	var out []Event
	for _, e := range r.events {
		out = append(out, Event{Name: e.name, Labels: sortLabels(r.labels[e.labels : e.labels+e.nlabels]), Value: e.value, HasValue: e.hasValue})
	}
	return out
}

var (
	errEmpty     = errors.New("empty body")
	errNotEvents = errors.New("want an event object or an array of event objects")
)

// field is one field of an event, and the set of those already given.
type field uint8

const (
	fieldEvent field = 1 << iota
	fieldLabels
	fieldValue
)

func (f *field) see(g field, name string) error {
	if *f&g != 0 {
		return fmt.Errorf("field %q given twice", name)
	}
	*f |= g
	return nil
}

// lines calls fn with the bounds of each line of body that is not blank, as duometer reads
// NDJSON.
func lines(body string, fn func(start, end int) error) error {
	n := 0
	for start := 0; start < len(body); {
		end := strings.IndexByte(body[start:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += start
		}
		if strings.Trim(body[start:end], " \t\r") != "" {
			if err := fn(start, end); err != nil {
				return err
			}
			n++
		}
		start = end + 1
	}
	if n == 0 {
		return errEmpty
	}
	return nil
}

// firstByte is the first byte of body that is not JSON space, or 0.
func firstByte(body []byte) byte {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// view is b as a string without a copy: valid as long as b is not changed.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
