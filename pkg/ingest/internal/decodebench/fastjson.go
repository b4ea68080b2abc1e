package decodebench

import (
	"errors"
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/duometer/duometer/pkg/ingest/internal/decode"
)

// FastJSON decodes with a reused fastjson.Parser (a fastjson.Scanner for NDJSON, which
// fastjson recommends for a stream of values). Names and label values are views of the
// parser's copy of the body, valid until its next Parse.
type FastJSON struct {
	p  fastjson.Parser
	sc fastjson.Scanner
	result
}

func (x *FastJSON) Decode(body []byte, _ string, f decode.Format) error {
	x.reset()
	if f == decode.NDJSON {
		x.sc.InitBytes(body)
		for x.sc.Next() {
			if err := x.event(x.sc.Value()); err != nil {
				return err
			}
		}
		if err := x.sc.Error(); err != nil {
			return err
		}
		if len(x.events) == 0 {
			return errEmpty
		}
		return nil
	}
	v, err := x.p.ParseBytes(body)
	if err != nil {
		return err
	}
	switch v.Type() {
	case fastjson.TypeObject:
		return x.event(v)
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, e := range a {
			if err := x.event(e); err != nil {
				return err
			}
		}
		return nil
	}
	return errNotEvents
}

func (x *FastJSON) event(v *fastjson.Value) error {
	o, err := v.Object()
	if err != nil {
		return errors.New("not an event object")
	}
	ev := event{labels: int32(len(x.labels))}
	var seen field
	o.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(key) {
		case "event":
			if err = seen.see(fieldEvent, "event"); err != nil {
				return
			}
			var b []byte
			if b, err = v.StringBytes(); err != nil {
				return
			}
			ev.name, ev.hasName = view(b), true
		case "labels":
			if err = seen.see(fieldLabels, "labels"); err != nil {
				return
			}
			switch v.Type() {
			case fastjson.TypeNull:
			case fastjson.TypeObject:
				lo, _ := v.Object()
				lo.Visit(func(k []byte, lv *fastjson.Value) {
					if err != nil {
						return
					}
					var b []byte
					if b, err = lv.StringBytes(); err != nil {
						return
					}
					err = x.addLabel(&ev, view(k), view(b))
				})
			default:
				err = errors.New(`"labels" must be an object of strings`)
			}
		case "value":
			if err = seen.see(fieldValue, "value"); err != nil {
				return
			}
			switch v.Type() {
			case fastjson.TypeNull:
			case fastjson.TypeNumber:
				ev.value, err = v.Float64()
				ev.hasValue = true
			default:
				err = errors.New(`"value" must be a number`)
			}
		default:
			err = fmt.Errorf("unknown field %q", key)
		}
	})
	if err != nil {
		return err
	}
	x.endEvent(&ev)
	return nil
}
