// Package decode decodes the bodies of the ingestion API's requests (pkg/ingest): one event
// object, an array of them, or one per line (NDJSON).
//
// It is a JSON parser for exactly that shape. encoding/json decodes the same body at about
// 2.5 µs and 11 allocations per event (a map and strings per event, and two passes over every
// byte, see BenchmarkDecode); this one makes one pass, takes names and label values as
// substrings of the body (only strings with escapes are copied) and allocates nothing per
// event: about 170 ns. Its reference is encoding/json: FuzzDecode checks that both accept the
// same bodies and read the same events from them. The module in ../decodebench measures it
// beside other JSON libraries (docs/performance.md).
//
// A Decoder is reused from one body to the next (pooled with its request): its slices keep
// their capacity, so that decoding allocates nothing once they are large enough.
package decode

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Format is the shape of a request body.
type Format uint8

const (
	JSON   Format = iota // one event object or an array of them
	NDJSON               // one event object per line
)

const (
	// maxDepth bounds the nesting of the values the Decoder skips (unknown fields, values of
	// the wrong type), so that a body of a million '[' costs no more than any other.
	maxDepth = 64
	// maxLabels bounds the labels of one event, so that checking them for duplicates stays
	// cheap whatever a client sends.
	maxLabels = 64
)

// Label is one label key and value of a decoded event.
type Label struct{ Key, Value string }

// Event is an event as decoded, before it is checked against the catalog. Its strings are
// substrings of the body, except those with escapes; its labels are Decoder.Labels(e).
type Event struct {
	Name     string  // valid when HasName
	Problem  string  // the first problem met while decoding the event (a wrong type), or ""
	Value    float64 // valid when HasValue
	labels   int32   // index of the event's first label in Decoder.labels
	nlabels  int32
	Line     int32 // NDJSON: the 1-based line the event is on; 0 for JSON
	HasName  bool  // "event" was given as a string
	HasValue bool  // "value" was given as a number (not null)
}

func (e *Event) fail(msg string) {
	if e.Problem == "" {
		e.Problem = msg
	}
}

// Decoder decodes request bodies. Its slices are reused from one body to the next. The zero
// value is ready to use.
type Decoder struct {
	// MaxEvents is the most events a body may hold; Decode returns ErrTooManyEvents past it.
	// 0 or less means no limit.
	MaxEvents int

	src   string // the text being parsed: the body (JSON) or one line of it (NDJSON)
	pos   int    // the next byte of src to read
	base  int    // offset of src in the body
	line  int    // NDJSON: the 1-based number of the line in src; 0 for JSON
	limit int    // MaxEvents, or the largest int

	events []Event
	labels []Label
}

// Events returns the events of the last body decoded, in order. The slice and its strings
// are valid until the next Decode or Reset.
func (d *Decoder) Events() []Event { return d.events }

// Labels returns the labels of e, an event of d.Events(), in the order given.
func (d *Decoder) Labels(e *Event) []Label { return d.labels[e.labels : e.labels+e.nlabels] }

// Reset empties Events and drops the reference to the last body. The slices keep their
// capacity, and with it the strings of the last body until they are overwritten (clearing
// them costs more than it saves: see pkg/ingest's putRequest).
func (d *Decoder) Reset() {
	d.events, d.labels, d.src = d.events[:0], d.labels[:0], ""
}

// SyntaxError is a body that is not well-formed: nothing in it is applied.
type SyntaxError struct {
	Offset int // byte offset in the body
	Line   int // NDJSON: 1-based line; 0 for JSON
	Column int // NDJSON: 1-based byte column in the line
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg)
}

// ErrTooManyEvents is returned when a body holds more than Decoder.MaxEvents events.
var ErrTooManyEvents = errors.New("too many events")

// Decode parses body, replacing the events and labels of the previous body. Its error is a
// *SyntaxError (nothing of the body is usable) or ErrTooManyEvents. A body that is
// well-formed but holds events of the wrong shape (a value given as a string, an unknown
// field) is no error: those events have a Problem.
func (d *Decoder) Decode(body string, f Format) error {
	d.events, d.labels = d.events[:0], d.labels[:0]
	d.limit = d.MaxEvents
	if d.limit <= 0 {
		d.limit = math.MaxInt
	}
	if f == NDJSON {
		return d.decodeNDJSON(body)
	}
	d.src, d.pos, d.base, d.line = body, 0, 0, 0
	d.skipSpace()
	switch d.peek() {
	case '{':
		if err := d.event(); err != nil {
			return err
		}
	case '[':
		if err := d.array(); err != nil {
			return err
		}
	default:
		if d.pos == len(d.src) {
			return d.errorf("empty body: want an event object or an array of event objects")
		}
		return d.errorf("%s: want an event object or an array of event objects", d.found())
	}
	d.skipSpace()
	if d.pos < len(d.src) {
		return d.errorf("%s after the top-level value", d.found())
	}
	return nil
}

func (d *Decoder) array() error {
	d.pos++ // '['
	d.skipSpace()
	if d.peek() == ']' {
		d.pos++
		return nil
	}
	for {
		d.skipSpace()
		if d.peek() == '{' {
			if err := d.event(); err != nil {
				return err
			}
		} else {
			if err := d.add(Event{Problem: "not an event object"}); err != nil {
				return err
			}
			if err := d.skipValue(); err != nil {
				return err
			}
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return nil
		default:
			return d.errorf("%s after an array element: want ',' or ']'", d.found())
		}
	}
}

func (d *Decoder) decodeNDJSON(body string) error {
	line := 0
	for start := 0; start < len(body); {
		end := strings.IndexByte(body[start:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += start
		}
		line++
		d.src, d.pos, d.base, d.line = body[start:end], 0, start, line
		d.skipSpace()
		if d.pos < len(d.src) {
			if d.src[d.pos] != '{' {
				return d.errorf("%s: want an event object (one per line)", d.found())
			}
			if err := d.event(); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos < len(d.src) {
				return d.errorf("%s after the event object: want one object per line", d.found())
			}
		}
		start = end + 1
	}
	if len(d.events) == 0 {
		d.src, d.pos, d.base, d.line = body, len(body), 0, 0
		return d.errorf("empty body: want one event object per line")
	}
	return nil
}

func (d *Decoder) add(e Event) error {
	if len(d.events) >= d.limit {
		return ErrTooManyEvents
	}
	d.events = append(d.events, e)
	return nil
}

// event parses an event object; d.src[d.pos] is '{'.
func (d *Decoder) event() error {
	if len(d.events) >= d.limit {
		return ErrTooManyEvents
	}
	ev := Event{labels: int32(len(d.labels)), Line: int32(d.line)}
	d.pos++
	d.skipSpace()
	if d.peek() == '}' {
		d.pos++
		d.events = append(d.events, ev)
		return nil
	}
	var hasLabels bool
	var nameSet, valueSet bool // the field was given, whatever its type
	for {
		key, err := d.fieldName()
		if err != nil {
			return err
		}
		switch key {
		case "event":
			if nameSet {
				ev.fail(`field "event" given twice`)
			}
			nameSet = true
			if d.peek() == '"' {
				if ev.Name, err = d.str(); err != nil {
					return err
				}
				ev.HasName = true
			} else {
				ev.fail(`"event" must be a string`)
				if err := d.skipValue(); err != nil {
					return err
				}
			}
		case "labels":
			if hasLabels {
				ev.fail(`field "labels" given twice`)
			}
			hasLabels = true
			switch d.peek() {
			case '{':
				if err := d.labelObject(&ev); err != nil {
					return err
				}
			case 'n':
				if err := d.literal("null"); err != nil {
					return err
				}
			default:
				ev.fail(`"labels" must be an object of strings`)
				if err := d.skipValue(); err != nil {
					return err
				}
			}
		case "value":
			if valueSet {
				ev.fail(`field "value" given twice`)
			}
			valueSet = true
			switch c := d.peek(); {
			case c == '-' || c >= '0' && c <= '9':
				v, problem, err := d.number()
				if err != nil {
					return err
				}
				if problem != "" {
					ev.fail(problem)
				} else {
					ev.Value, ev.HasValue = v, true
				}
			case c == 'n': // null: no value
				if err := d.literal("null"); err != nil {
					return err
				}
			default:
				if c == '"' {
					ev.fail(`"value" must be a number, not a string`)
				} else {
					ev.fail(`"value" must be a number`)
				}
				if err := d.skipValue(); err != nil {
					return err
				}
			}
		default:
			ev.fail(fmt.Sprintf("unknown field %s (want event, labels, value)", Quote(key)))
			if err := d.skipValue(); err != nil {
				return err
			}
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			ev.nlabels = int32(len(d.labels)) - ev.labels
			d.events = append(d.events, ev)
			return nil
		default:
			return d.errorf("%s after a field: want ',' or '}'", d.found())
		}
	}
}

// fieldName parses `"name" :` and the space after it.
func (d *Decoder) fieldName() (string, error) {
	if d.peek() != '"' {
		return "", d.errorf("%s: want a field name in double quotes", d.found())
	}
	key, err := d.str()
	if err != nil {
		return "", err
	}
	d.skipSpace()
	if d.peek() != ':' {
		return "", d.errorf("%s after a field name: want ':'", d.found())
	}
	d.pos++
	d.skipSpace()
	return key, nil
}

// labelObject parses the labels of ev; d.src[d.pos] is '{'.
func (d *Decoder) labelObject(ev *Event) error {
	d.pos++
	d.skipSpace()
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	for {
		key, err := d.fieldName()
		if err != nil {
			return err
		}
		if d.peek() == '"' {
			v, err := d.str()
			if err != nil {
				return err
			}
			d.addLabel(ev, key, v)
		} else {
			ev.fail(fmt.Sprintf("label %s: value must be a string", Quote(key)))
			if err := d.skipValue(); err != nil {
				return err
			}
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			return nil
		default:
			return d.errorf("%s after a label: want ',' or '}'", d.found())
		}
	}
}

func (d *Decoder) addLabel(ev *Event, key, value string) {
	mine := d.labels[ev.labels:]
	if len(mine) >= maxLabels {
		ev.fail(fmt.Sprintf("more than %d labels", maxLabels))
		return
	}
	for _, l := range mine {
		if l.Key == key {
			ev.fail(fmt.Sprintf("label %s given twice", Quote(key)))
			return
		}
	}
	d.labels = append(d.labels, Label{key, value})
}

// str parses a string; d.src[d.pos] is '"'. Strings without escapes are substrings of the
// body.
func (d *Decoder) str() (string, error) {
	start := d.pos + 1
	for i := start; i < len(d.src); i++ {
		c := d.src[i]
		if c == '"' {
			d.pos = i + 1
			return d.src[start:i], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return d.strSlow(start, i)
		}
	}
	d.pos = len(d.src)
	return "", d.errorf("unexpected end of input in a string")
}

// strSlow finishes a string that has escapes, control characters or non-ASCII bytes,
// from src[i] on.
func (d *Decoder) strSlow(start, i int) (string, error) {
	var b []byte // the unescaped string once an escape was met
	for i < len(d.src) {
		c := d.src[i]
		switch {
		case c == '"':
			d.pos = i + 1
			if b == nil {
				return d.src[start:i], nil
			}
			return string(b), nil
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character %s in a string: escape it", quoteByte(c))
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(d.src[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return "", d.errorf("invalid UTF-8 in a string")
			}
			if b != nil {
				b = append(b, d.src[i:i+size]...)
			}
			i += size
		case c == '\\':
			if b == nil {
				b = make([]byte, 0, i-start+16)
				b = append(b, d.src[start:i]...)
			}
			if i+1 >= len(d.src) {
				d.pos = len(d.src)
				return "", d.errorf("unexpected end of input in a string")
			}
			switch e := d.src[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(d.src[i+2:])
				if !ok {
					d.pos = i
					return "", d.errorf(`invalid \u escape in a string: want 4 hexadecimal digits`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair makes one rune; a lone half is U+FFFD, as encoding/json does.
					if len(d.src) >= i+6 && d.src[i] == '\\' && d.src[i+1] == 'u' {
						if r2, ok := hex4(d.src[i+2:]); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								r = dec
								i += 6
							} else {
								r = utf8.RuneError
							}
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				d.pos = i
				return "", d.errorf("invalid escape %s in a string", Quote(d.src[i:i+2]))
			}
			i += 2
		default:
			if b != nil {
				b = append(b, c)
			}
			i++
		}
	}
	d.pos = len(d.src)
	return "", d.errorf("unexpected end of input in a string")
}

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number parses a number; d.src[d.pos] is '-' or a digit. A number that is well-formed but
// does not fit a float64 (1e400) is a problem of the event, not a syntax error.
func (d *Decoder) number() (v float64, problem string, err error) {
	start := d.pos
	end, plain, err := d.scanNumber()
	if err != nil {
		return 0, "", err
	}
	s := d.src[start:end]
	if plain && len(s) <= 18 { // fits an int64, whose conversion rounds as ParseFloat does
		var n int64
		i := 0
		if s[0] == '-' {
			i = 1
		}
		for ; i < len(s); i++ {
			n = n*10 + int64(s[i]-'0')
		}
		if s[0] == '-' {
			if n == 0 {
				return math.Copysign(0, -1), "", nil
			}
			n = -n
		}
		return float64(n), "", nil
	}
	v, perr := strconv.ParseFloat(s, 64)
	if perr != nil {
		return 0, fmt.Sprintf(`"value" %s is out of range of a 64-bit float`, Clip(s)), nil
	}
	return v, "", nil
}

// scanNumber checks the JSON number grammar from d.pos and moves past it. plain reports a
// number without fraction or exponent.
func (d *Decoder) scanNumber() (end int, plain bool, err error) {
	s, i := d.src, d.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return 0, false, d.errorf("%s in a number: want a digit", d.found())
	}
	plain = true
	if i < len(s) && s[i] == '.' {
		plain = false
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.pos = i
			return 0, false, d.errorf("%s after the decimal point of a number: want a digit", d.found())
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		plain = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.pos = i
			return 0, false, d.errorf("%s in the exponent of a number: want a digit", d.found())
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return i, plain, nil
}

// literal parses true, false or null.
func (d *Decoder) literal(lit string) error {
	if !strings.HasPrefix(d.src[d.pos:], lit) {
		return d.errorf("%s: want a value", d.found())
	}
	d.pos += len(lit)
	return nil
}

// skipValue checks and skips any JSON value, nested at most maxDepth deep.
func (d *Decoder) skipValue() error {
	var stack [maxDepth]byte // the open containers: '{' or '['
	n := 0
	for {
		// A value starts at d.pos (after space).
		d.skipSpace()
		done := true
		switch c := d.peek(); {
		case c == '{' || c == '[':
			d.pos++
			d.skipSpace()
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if d.peek() == closer {
				d.pos++
				break
			}
			if n == maxDepth {
				return d.errorf("values nested more than %d deep", maxDepth)
			}
			stack[n] = c
			n++
			if c == '{' {
				if _, err := d.fieldName(); err != nil {
					return err
				}
			}
			done = false
		case c == '"':
			if _, err := d.str(); err != nil {
				return err
			}
		case c == '-' || c >= '0' && c <= '9':
			if _, _, err := d.scanNumber(); err != nil {
				return err
			}
		case c == 't':
			if err := d.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		default:
			return d.errorf("%s: want a value", d.found())
		}
		if !done {
			continue
		}
		// A value ended: close the containers it ends, up to one that goes on.
		for n > 0 {
			d.skipSpace()
			c := d.peek()
			if c == ',' {
				d.pos++
				d.skipSpace()
				if stack[n-1] == '{' {
					if _, err := d.fieldName(); err != nil {
						return err
					}
				}
				break
			}
			if c == '}' && stack[n-1] == '{' || c == ']' && stack[n-1] == '[' {
				d.pos++
				n--
				continue
			}
			if stack[n-1] == '{' {
				return d.errorf("%s after a field: want ',' or '}'", d.found())
			}
			return d.errorf("%s after an array element: want ',' or ']'", d.found())
		}
		if n == 0 {
			return nil
		}
	}
}

func (d *Decoder) skipSpace() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end of the input (0 is valid nowhere in JSON
// outside strings, which str reads).
func (d *Decoder) peek() byte {
	if d.pos < len(d.src) {
		return d.src[d.pos]
	}
	return 0
}

// found describes what is at d.pos, for an error message.
func (d *Decoder) found() string {
	if d.pos >= len(d.src) {
		if d.line > 0 {
			return "unexpected end of line"
		}
		return "unexpected end of input"
	}
	c := d.src[d.pos]
	if c >= utf8.RuneSelf {
		r, _ := utf8.DecodeRuneInString(d.src[d.pos:])
		if r != utf8.RuneError {
			return "unexpected character " + strconv.QuoteRune(r)
		}
		return fmt.Sprintf("unexpected byte 0x%02x", c)
	}
	return "unexpected character " + quoteByte(c)
}

func (d *Decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.base + d.pos, Line: d.line, Column: d.pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func quoteByte(c byte) string { return strconv.QuoteRune(rune(c)) }

// clipLen is the most bytes of a client's string quoted in a message.
const clipLen = 64

// Clip shortens s for a message: a client's name may be a megabyte long.
func Clip(s string) string {
	if len(s) <= clipLen {
		return s
	}
	i := clipLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Quote quotes a client's string for a message, shortened by Clip.
func Quote(s string) string { return strconv.Quote(Clip(s)) }
