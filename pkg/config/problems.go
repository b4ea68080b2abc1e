package config

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"github.com/duometer/duometer/pkg/events"
)

// fieldError is one problem with the value at a key path, the error type of every problem
// list. Validate methods return them joined, keyed relative to the struct they check.
type fieldError struct {
	key  string // key path; "" for the struct itself
	msg  string // what is wrong; never a secret
	env  string // the environment variable that supplied the value, if any
	hint string // a key or variable name the user may have meant, if any
}

func (e *fieldError) Error() string {
	s, notes := strings.TrimPrefix(e.key+": "+e.msg, ": "), []string{}
	if e.env != "" {
		notes = append(notes, "from environment variable "+e.env)
	}
	if e.hint != "" {
		notes = append(notes, "did you mean "+e.hint+"?")
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}

// problems flattens err into fieldErrors keyed below prefix: nil, errors joined with
// [errors.Join], a *fieldError, an [events.FieldError] or *[events.DefError] (keyed by
// field), a *[mapstructure.DecodeError] (keyed by its name) or its
// *[mapstructure.UnconvertibleTypeError]. Any other error is a problem at prefix.
func problems(prefix string, err error) []*fieldError {
	var out []*fieldError
	switch e := err.(type) { //nolint:errorlint // walks the tree of joined errors itself
	case nil:
	case interface{ Unwrap() []error }:
		for _, err := range e.Unwrap() {
			out = append(out, problems(prefix, err)...)
		}
	case *events.DefError:
		for _, fe := range e.Problems {
			out = append(out, problems(prefix, fe)...)
		}
	case events.FieldError:
		out = append(out, &fieldError{key: subKey(prefix, e.Field), msg: e.Msg})
	case *fieldError:
		c := *e
		c.key = subKey(prefix, e.key)
		out = append(out, &c)
	case *mapstructure.DecodeError:
		out = problems(subKey(prefix, e.Name()), e.Unwrap())
	case *mapstructure.UnconvertibleTypeError:
		out = append(out, &fieldError{key: prefix, msg: fmt.Sprintf("expected %s, got %s", typeOf(e.Expected.Type()).words, describe(e.Value))})
	default:
		out = append(out, &fieldError{key: prefix, msg: err.Error()})
	}
	return out
}

// report collects problems, keyed relative to the struct being checked.
type report []*fieldError

// add records a problem at key.
func (r *report) add(key, format string, args ...any) {
	*r = append(*r, &fieldError{key: key, msg: fmt.Sprintf(format, args...)})
}

// sub records the problems of err, as a Validate method returns them, below key.
func (r *report) sub(key string, err error) { *r = append(*r, problems(key, err)...) }

// index matches a list index in a key path.
var index = regexp.MustCompile(`\[\d+\]`)

// sorted returns the problems sorted by key path, list indexes in numeric order ("x[2]"
// before "x[10]"), then by message.
func (r report) sorted() []error {
	sortKey := func(k string) string {
		return index.ReplaceAllStringFunc(k, func(i string) string { return fmt.Sprintf("[%020s]", i[1:len(i)-1]) })
	}
	slices.SortFunc(r, func(a, b *fieldError) int {
		return cmp.Or(strings.Compare(sortKey(a.key), sortKey(b.key)), strings.Compare(a.Error(), b.Error()))
	})
	errs := make([]error, len(r))
	for i, p := range r {
		errs[i] = p
	}
	return errs
}

// err returns the problems, sorted and joined, or nil.
func (r report) err() error { return errors.Join(r.sorted()...) }

// subKey appends key, relative to base, to base: "a" and "b" give "a.b", "a" and "[1]" give
// "a[1]".
func subKey(base, key string) string {
	if base == "" || key == "" || key[0] == '[' {
		return base + key
	}
	return base + "." + key
}

// quoteKey quotes a key name that is not a bare TOML key.
func quoteKey(name string) string {
	if name == "" || strings.ContainsFunc(name, func(c rune) bool { return !isBare(c) }) {
		return strconv.Quote(name)
	}
	return name
}

// isBare reports whether c may appear in a bare TOML key: a letter, a digit, "-" or "_".
func isBare(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// below reports whether key is base or a key below it.
func below(key, base string) bool {
	rest, ok := strings.CutPrefix(key, base)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}
