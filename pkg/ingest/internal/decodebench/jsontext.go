package decodebench

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/duometer/duometer/pkg/ingest/internal/decode"
)

// JSONText decodes with a jsontext.Decoder reading tokens, without copying the body:
// the Decoder reads a bytes.Buffer in place, and names and label values are substrings of
// the body's text, found by the Decoder's InputOffset. Strings with escapes are unquoted into a new string.
type JSONText struct {
	dec  jsontext.Decoder
	buf  bytes.Buffer
	opts []jsontext.Options
	s    string // the body being decoded
	result
}

// NewJSONText returns a JSONText without the library's check of duplicate names
// (jsontext.AllowDuplicateNames(true), which its documentation says "may provide performance
// benefits"): it checks repeated fields and labels itself, as duometer's decoder does.
func NewJSONText() *JSONText {
	return &JSONText{opts: []jsontext.Options{jsontext.AllowDuplicateNames(true)}}
}

// NewJSONTextDefaults returns a JSONText with jsontext's default options: the library
// refuses duplicate names in every object.
func NewJSONTextDefaults() *JSONText { return &JSONText{} }

func (x *JSONText) Decode(body []byte, text string, f decode.Format) error {
	x.reset()
	x.s = text
	x.buf = *bytes.NewBuffer(body)
	x.dec.Reset(&x.buf, x.opts...)
	if f == decode.NDJSON {
		// A stream of top-level values: jsontext reads them one after another (it does not
		// check that each is on a line of its own).
		for x.dec.PeekKind() == '{' {
			if err := x.event(); err != nil {
				return err
			}
		}
		if err := x.eof(); err != nil {
			return err
		}
		if len(x.events) == 0 {
			return errEmpty
		}
		return nil
	}
	switch x.dec.PeekKind() {
	case '{':
		if err := x.event(); err != nil {
			return err
		}
	case '[':
		if _, err := x.dec.ReadToken(); err != nil {
			return err
		}
		for x.dec.PeekKind() == '{' {
			if err := x.event(); err != nil {
				return err
			}
		}
		if tok, err := x.dec.ReadToken(); err != nil {
			return err
		} else if tok.Kind() != ']' {
			return errors.New("an array element is not an event object")
		}
	default:
		if _, err := x.dec.ReadToken(); err != nil {
			return err
		}
		return errNotEvents
	}
	return x.eof()
}

// eof checks that nothing but space follows.
func (x *JSONText) eof() error {
	if _, err := x.dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("data after the events")
		}
		return err
	}
	return nil
}

// event reads an event object.
func (x *JSONText) event() error {
	if _, err := x.dec.ReadToken(); err != nil { // '{'
		return err
	}
	ev := event{labels: int32(len(x.labels))}
	var seen field
	for x.dec.PeekKind() == '"' {
		key, err := x.dec.ReadToken()
		if err != nil {
			return err
		}
		switch key.String() { // no allocation: the string does not escape
		case "event":
			if err := seen.see(fieldEvent, "event"); err != nil {
				return err
			}
			if ev.name, err = x.str(`"event"`); err != nil {
				return err
			}
			ev.hasName = true
		case "labels":
			if err := seen.see(fieldLabels, "labels"); err != nil {
				return err
			}
			switch x.dec.PeekKind() {
			case 'n':
				if _, err := x.dec.ReadToken(); err != nil {
					return err
				}
			case '{':
				if err := x.labelObject(&ev); err != nil {
					return err
				}
			default:
				return errors.New(`"labels" must be an object of strings`)
			}
		case "value":
			if err := seen.see(fieldValue, "value"); err != nil {
				return err
			}
			switch x.dec.PeekKind() {
			case 'n':
				if _, err := x.dec.ReadToken(); err != nil {
					return err
				}
			case '0':
				tok, err := x.dec.ReadToken()
				if err != nil {
					return err
				}
				if ev.value, err = tok.Float(); err != nil {
					return err
				}
				ev.hasValue = true
			default:
				return errors.New(`"value" must be a number`)
			}
		default:
			return fmt.Errorf("unknown field %q", key.String())
		}
	}
	if tok, err := x.dec.ReadToken(); err != nil { // '}'
		return err
	} else if tok.Kind() != '}' {
		return errors.New("not an event object")
	}
	x.endEvent(&ev)
	return nil
}

func (x *JSONText) labelObject(ev *event) error {
	if _, err := x.dec.ReadToken(); err != nil { // '{'
		return err
	}
	for x.dec.PeekKind() == '"' {
		k, err := x.str("a label key")
		if err != nil {
			return err
		}
		v, err := x.str("a label value")
		if err != nil {
			return err
		}
		if err := x.addLabel(ev, k, v); err != nil {
			return err
		}
	}
	_, err := x.dec.ReadToken() // '}', or the error
	return err
}

// str reads a string: a substring of the body if it has no escapes.
func (x *JSONText) str(what string) (string, error) {
	if x.dec.PeekKind() != '"' {
		if _, err := x.dec.ReadValue(); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%s must be a string", what)
	}
	v, err := x.dec.ReadValue()
	if err != nil {
		return "", err
	}
	if bytes.IndexByte(v, '\\') < 0 {
		end := int(x.dec.InputOffset())
		return x.s[end-len(v)+1 : end-1], nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	return string(b), err
}
