package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
)

// envPrefix starts the name of every environment variable Load reads.
const envPrefix = "DUOMETER_"

// Load builds a Config from three layers, each overriding the one before it:
// [DefaultConfig], the TOML file at path (none when path is ""), and the DUOMETER_ variables
// of environ (in [os.Environ] format). It then validates the result with [Config.Validate].
//
// It reports every problem at once, joined with [errors.Join] and sorted by key path (see
// the package documentation): unknown keys, values of the wrong type, and Validate's
// findings except those at, above or below a key whose value was refused. A file that
// cannot be read or parsed comes first, as "path: reason" or "path:line:column: reason"; the
// configuration is then not validated, but the environment is still checked.
//
// On error Load returns the zero Config.
func Load(path string, environ []string) (Config, error) {
	k, cfg := koanf.New("."), DefaultConfig()
	var fileErr error
	if path != "" {
		fileErr = loadFile(k, path)
	}
	found, refused, fromEnv, single := loadEnv(k, environ)
	found = append(found, unknownKeys(k.Raw(), schema, "", "")...)
	err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.DecodeHookFuncType(decodeHook),
		MatchName:  func(key, field string) bool { return key == field },
	}})
	if _, one := err.(*mapstructure.DecodeError); !one && errors.Unwrap(err) != nil { //nolint:errorlint // the top of the tree only
		err = errors.Unwrap(err) // Decode's "decoding failed" wrapper of joined errors
	}
	for _, p := range problems("", err) {
		found, refused = append(found, p), append(refused, p.key)
	}
	headers := map[string]*map[string]Secret{"metrics.open-telemetry.headers": &cfg.Metrics.OpenTelemetry.Headers,
		"metrics.pushgateway.headers": &cfg.Metrics.Pushgateway.Headers}
	for key, v := range single { // one header, in place of any of its name in any case
		dot := strings.LastIndexByte(key, '.')
		h := headers[key[:dot]]
		maps.DeleteFunc(*h, func(name string, _ Secret) bool { return strings.EqualFold(name, key[dot+1:]) })
		if *h == nil {
			*h = map[string]Secret{}
		}
		(*h)[key[dot+1:]] = v
	}
	if fileErr == nil {
		for _, p := range problems("", cfg.Validate()) {
			if !slices.ContainsFunc(refused, func(r string) bool { return below(p.key, r) || below(r, p.key) }) {
				found = append(found, p)
			}
		}
	}
	keys := slices.Sorted(maps.Keys(fromEnv)) // each key before the keys below it
	for _, p := range found {                 // name the variable that set the key or the closest key above it
		for i := len(keys) - 1; i >= 0 && p.env == ""; i-- {
			if below(p.key, keys[i]) {
				p.env = fromEnv[keys[i]]
			}
		}
	}
	if fileErr != nil || len(found) > 0 {
		return Config{}, errors.Join(append([]error{fileErr}, found.sorted()...)...)
	}
	return cfg, nil
}

// loadFile loads the TOML file at path into k. The error starts with the path, followed by
// the line and column of a syntax error.
func loadFile(k *koanf.Koanf, path string) error {
	err := k.Load(file.Provider(path), toml.Parser())
	var syntax *gotoml.DecodeError
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &syntax):
		row, col := syntax.Position()
		return fmt.Errorf("%s:%d:%d: %w", path, row, col, syntax)
	case errors.As(err, &pathErr):
		return fmt.Errorf("%s: %w", path, pathErr.Err)
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// loadEnv checks the names of the DUOMETER_ variables of environ against Config's keys, reads
// their values in the file's terms ([readEnv]) and merges them into k, except those of single
// headers (DUOMETER_..._HEADERS__<NAME>), which it returns by key. It also returns the
// problems, the keys of refused values, and the variable that set each key.
func loadEnv(k *koanf.Koanf, environ []string) (found report, refused []string, fromEnv map[string]string, single map[string]Secret) {
	byKey, single := map[string][]string{}, map[string]Secret{}
	transform := func(name, v string) (string, any) { // a key of "" is not merged
		path, ok := envPath(name)
		key := strings.Join(path, ".")
		t, known := schema[key]
		p := &fieldError{key: key, env: name}
		switch {
		case !ok:
			p.key, p.env, p.msg = name, "", `not a valid setting name: use letters, digits and "_", with "__" between levels`
		case path[0] == "events":
			p.key, p.msg = "events", "cannot be set from the environment: declare [[events]] in the configuration file"
		case known && t.Kind() == reflect.Struct:
			p.msg, refused = "is a table; set its keys one by one", append(refused, key)
		case known:
			value, err := readEnv(t, v)
			if err == nil {
				byKey[key] = append(byKey[key], name)
				return key, value
			}
			p.msg, refused = err.Error(), append(refused, key)
		case schema[strings.Join(path[:len(path)-1], ".")] == headersType:
			byKey[key], single[key] = append(byKey[key], name), Secret(v)
			return "", nil
		default:
			i := 0 // the first segment that names no key
			for schema[strings.Join(path[:i+1], ".")] != nil {
				i++
			}
			p.msg = "unknown key"
			if fix := suggest(schema, strings.Join(path[:i], "."), path[i], strings.Join(path[i+1:], ".")); fix != "" {
				p.hint = envName(fix)
			}
		}
		found = append(found, p)
		return "", nil
	}
	_ = k.Load(env.Provider(".", env.Opt{Prefix: envPrefix, EnvironFunc: func() []string { return environ }, TransformFunc: transform}), nil)
	fromEnv = map[string]string{}
	for key, names := range byKey {
		if len(names) == 1 {
			fromEnv[key] = names[0]
			continue
		}
		slices.Sort(names)
		found.add(key, "set by more than one environment variable: %s", strings.Join(names, ", "))
		refused = append(refused, key)
	}
	return found, refused, fromEnv, single
}

// envPath maps an environment variable name to a key path: the prefix is removed, "__"
// separates levels, "_" becomes "-" and letters are lowercased.
func envPath(name string) ([]string, bool) {
	rest, ok := strings.CutPrefix(name, envPrefix)
	path := strings.Split(rest, "__")
	for i, seg := range path {
		if seg == "" || strings.ContainsFunc(seg, func(c rune) bool { return !isBare(c) || c == '-' }) {
			return nil, false
		}
		path[i] = strings.ReplaceAll(strings.ToLower(seg), "_", "-")
	}
	return path, ok
}

// envName returns the name of the variable that sets key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "__", "-", "_").Replace(key))
}

// The types the decoding treats specially.
var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
	headersType  = reflect.TypeFor[map[string]Secret]()
	eventsType   = reflect.TypeFor[[]Event]()
)

// schema and eventSchema map the key paths of Config and of an [[events]] entry to their
// types. They hold tables, not the keys below [[events]] and headers.
var schema, eventSchema = keysOf(reflect.TypeFor[Config]()), keysOf(reflect.TypeFor[Event]())

// keysOf returns the key paths below the struct type t, from its fields' koanf tags, and
// their types.
func keysOf(t reflect.Type) map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	for f := range t.Fields() {
		name := f.Tag.Get("koanf")
		if keys[name] = f.Type; f.Type.Kind() == reflect.Struct {
			for key, t := range keysOf(f.Type) {
				keys[name+"."+key] = t
			}
		}
	}
	return keys
}

// unknownKeys returns a problem for every key of the file's table m, at path in keys (a
// schema), that keys does not have, in m and in the tables and [[events]] entries below.
// Problems are keyed below root.
func unknownKeys(m map[string]any, keys map[string]reflect.Type, root, path string) report {
	var out report
	for name, v := range m {
		key := subKey(path, name)
		sub, isTable := v.(map[string]any)
		switch t, ok := keys[key]; {
		case !ok || strings.Contains(name, "."):
			p := &fieldError{key: subKey(root, subKey(path, quoteKey(name))), msg: "unknown key"}
			if fix := suggest(keys, path, name, ""); fix != "" {
				p.hint = subKey(root, fix)
			}
			out = append(out, p)
		case t.Kind() == reflect.Struct && isTable:
			out = append(out, unknownKeys(sub, keys, root, key)...)
		case t == eventsType:
			list, _ := v.([]any)
			for i, entry := range list {
				if sub, ok := entry.(map[string]any); ok {
					out = append(out, unknownKeys(sub, eventSchema, fmt.Sprintf("events[%d]", i), "")...)
				}
			}
		}
	}
	return out
}

// suggest returns the key of keys that the unknown key parent.seg.rest ("" for no rest)
// may mean, or "": seg replaced by the closest name of a key of parent (fewer than 3 edits,
// and fewer than half the name's length), or else by the only key named seg (lowercased, "_"
// read as "-").
func suggest(keys map[string]reflect.Type, parent, seg, rest string) string {
	norm := strings.ReplaceAll(strings.ToLower(seg), "_", "-")
	best, bestDist, named := "", 3, []string{}
	for _, key := range slices.Sorted(maps.Keys(keys)) {
		dot := strings.LastIndexByte(key, '.')
		name, fix := key[dot+1:], subKey(key, rest)
		if _, ok := keys[fix]; !ok {
			continue
		}
		if d := levenshtein(norm, name); key[:max(dot, 0)] == parent && d < bestDist && d < len(name)/2+1 {
			best, bestDist = fix, d
		}
		if name == norm {
			named = append(named, fix)
		}
	}
	if best == "" && len(named) == 1 {
		return named[0]
	}
	return best
}

// levenshtein returns the edit distance between a and b.
func levenshtein(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := range len(a) {
		cur[0] = i + 1
		for j := range len(b) {
			cost := 1
			if a[i] == b[j] {
				cost = 0
			}
			cur[j+1] = min(prev[j+1]+1, cur[j]+1, prev[j]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeHook converts a value of the merged layers to its key's type, strictly: a value from
// the file has the key's TOML type (a string is not a boolean, a float not an integer),
// durations are strings, sizes integers or strings with a unit, headers a table or an array.
// A list of values decodes whole or not at all; an empty list leaves the key at its default,
// nil. A wrong type is reported as a *mapstructure.UnconvertibleTypeError, other problems as
// keyed relative to the key.
func decodeHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if !fits(to, data) {
		return nil, &mapstructure.UnconvertibleTypeError{Expected: reflect.New(to).Elem(), Value: data}
	}
	s, isString := data.(string)
	switch list, isList := data.([]any); {
	case to == durationType:
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
		return nil, fmt.Errorf("invalid duration %q", s)
	case to == sizeType && isString:
		return parseSize(s)
	case to == headersType:
		return decodeHeaders(data)
	case isList && len(list) == 0:
		return nil, nil
	case isList && to != eventsType: // a list of values decodes whole or not at all
		var r report
		for i, item := range list {
			if !fits(to.Elem(), item) {
				r.add(fmt.Sprintf("[%d]", i), "expected %s, got %s", typeOf(to.Elem()).words, describe(item))
			}
		}
		return data, r.err()
	}
	return data, nil
}

// readEnv returns the value s of an environment variable in the file's terms for a key of
// type to: a boolean ("true" or "false" in any case), an integer, an array of the
// comma-separated items (spaces around them removed; "" is an empty array), or a string.
func readEnv(to reflect.Type, s string) (any, error) {
	switch to.Kind() {
	case reflect.Bool:
		if b, ok := map[string]bool{"true": true, "false": false}[strings.ToLower(s)]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("expected true or false, got %q", s)
	case reflect.Int:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		return nil, fmt.Errorf("expected an integer, got %q", s)
	case reflect.Slice, reflect.Map:
		items := []any{}
		for item := range strings.SplitSeq(s, ",") {
			if strings.TrimSpace(s) != "" {
				items = append(items, strings.TrimSpace(item))
			}
		}
		return items, nil
	}
	return s, nil
}

// decodeHeaders decodes a table of header values or an array of "Name: Value" items (split at
// the first colon, spaces around name and value removed, each name once in any case). Empty
// headers are nil. Problems are keyed by header name or item index and never show a value.
func decodeHeaders(data any) (map[string]Secret, error) {
	h, r := map[string]Secret{}, report{}
	table, _ := data.(map[string]any)
	for name, v := range table {
		if s, ok := v.(string); ok {
			h[name] = Secret(s)
		} else {
			r.add(quoteKey(name), "expected a string, got %s", describe(v))
		}
	}
	list, _ := data.([]any)
	for i, item := range list {
		key := fmt.Sprintf("[%d]", i)
		s, isString := item.(string)
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		switch {
		case !isString:
			r.add(key, "expected a string, got %s", describe(item))
		case !ok || name == "":
			r.add(key, `must have the form "Name: Value"`)
		case slices.ContainsFunc(slices.Collect(maps.Keys(h)), func(k string) bool { return strings.EqualFold(k, name) }):
			r.add(key, "duplicate header %q (header names are case-insensitive)", name)
		default:
			h[name] = Secret(strings.TrimSpace(value))
		}
	}
	if len(h) == 0 || len(r) > 0 {
		return nil, r.err()
	}
	return h, nil
}

// sizeUnits are the accepted units of a size, lower case.
var sizeUnits = map[string]int64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}

// parseSize parses a size: a whole number followed by an optional unit, B, KB, MB, GB (powers
// of 1000) or KiB, MiB, GiB (powers of 1024), in any case and optionally after spaces.
func parseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "-1" { // "no limit", where a key allows it (from the environment)
		return -1, nil
	}
	i := len(t) - len(strings.TrimLeft(t, "0123456789"))
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if i == 0 || !ok {
		return 0, fmt.Errorf(`expected a size in bytes such as 1048576 or "1MiB" (units B, KB, MB, GB, KiB, MiB, GiB), got %q`, s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * mult), nil
}

// A keyType is what a key of one type takes: the kinds of the file's values, and in words.
type keyType struct {
	kinds []reflect.Kind
	words string
}

// keyTypes are the keyTypes by Go type, or else by kind.
var keyTypes = map[any]keyType{
	durationType:                 {[]reflect.Kind{reflect.String}, `a duration string such as "30s"`},
	sizeType:                     {[]reflect.Kind{reflect.String, reflect.Int64}, `a size in bytes such as 1048576 or "1MiB"`},
	headersType:                  {[]reflect.Kind{reflect.Map, reflect.Slice}, `a table or an array of "Name: Value" strings`},
	eventsType:                   {[]reflect.Kind{reflect.Slice}, "an array of tables ([[events]])"},
	reflect.TypeFor[[]string]():  {[]reflect.Kind{reflect.Slice}, "an array of strings"},
	reflect.TypeFor[[]Secret]():  {[]reflect.Kind{reflect.Slice}, "an array of strings"},
	reflect.TypeFor[[]float64](): {[]reflect.Kind{reflect.Slice}, "an array of numbers"},
	reflect.Bool:                 {[]reflect.Kind{reflect.Bool}, "true or false"},
	reflect.Int:                  {[]reflect.Kind{reflect.Int64}, "an integer"},
	reflect.Float64:              {[]reflect.Kind{reflect.Int64, reflect.Float64}, "a number"},
	reflect.String:               {[]reflect.Kind{reflect.String}, "a string"},
	reflect.Struct:               {[]reflect.Kind{reflect.Map}, "a table"},
}

// typeOf returns what a key of type t takes.
func typeOf(t reflect.Type) keyType {
	if kt, ok := keyTypes[t]; ok {
		return kt
	}
	return keyTypes[t.Kind()]
}

// fits reports whether data, a value in the file's terms, has the TOML type of a key of type
// to.
func fits(to reflect.Type, data any) bool {
	return slices.Contains(typeOf(to).kinds, reflect.TypeOf(data).Kind())
}

// describe names the TOML type of a value from the file, never showing the value.
func describe(v any) string {
	kinds := map[reflect.Kind]string{reflect.String: "a string", reflect.Bool: "a boolean", reflect.Int64: "an integer",
		reflect.Float64: "a float", reflect.Slice: "an array", reflect.Map: "a table"}
	if s, ok := kinds[reflect.TypeOf(v).Kind()]; ok {
		return s
	}
	return "a date or time" // the only other TOML values
}
