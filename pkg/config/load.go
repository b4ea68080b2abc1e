package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
)

// envPrefix starts the name of every environment variable Load reads.
const envPrefix = "DUOMETER_"

// Load layers [DefaultConfig], then the TOML file at path (skipped when path
// is ""), then the DUOMETER_ environment variables found in environ (in
// [os.Environ] format, "NAME=value"), and validates the result with
// [Config.Validate].
//
// It reports every problem at once, joined with [errors.Join] and sorted by
// key path: unknown keys, values of the wrong type, unparsable durations and
// Validate's findings. Each problem starts with its key path; see the package
// documentation for the format. A file that cannot be read or parsed is
// reported first, as "path: reason" or "path:line:column: reason"; it is not
// validated further, but problems in the environment are still reported.
//
// On error Load returns the zero Config.
func Load(path string, environ []string) (Config, error) {
	cfg := DefaultConfig()
	d := &decoder{cfg: reflect.ValueOf(&cfg).Elem(), root: schema, badValues: map[string]bool{}, fromEnv: map[string]string{}}

	var fileErr error
	if path != "" {
		fileErr = d.loadFile(path)
	}
	d.loadEnv(environ)

	if fileErr == nil {
		var found problems
		cfg.validate(&found)
		for _, e := range found {
			if d.hasBadValueNear(e.key) {
				continue
			}
			e.env = d.fromEnv[e.key]
			if base, _, ok := strings.Cut(e.key, "["); ok && e.env == "" {
				e.env = d.fromEnv[base]
			}
			d.problems = append(d.problems, e)
		}
	}

	var errs []error
	if fileErr != nil {
		errs = append(errs, fileErr)
	}
	errs = append(errs, d.problems.errs()...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// loadFile reads and decodes the TOML file at path. It returns an error only
// when the file cannot be read or parsed; problems with its content are
// recorded in d.
func (d *decoder) loadFile(path string) error {
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), toml.Parser()); err != nil {
		var decodeErr *gotoml.DecodeError
		if errors.As(err, &decodeErr) {
			row, col := decodeErr.Position()
			return fmt.Errorf("%s:%d:%d: %s", path, row, col, decodeErr.Error())
		}
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return fmt.Errorf("%s: %w", path, pathErr.Err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	d.walkTOML(schema, k.Raw())
	return nil
}

// loadEnv decodes the DUOMETER_ variables of environ.
func (d *decoder) loadEnv(environ []string) {
	vars, err := env.Provider("", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
	}).Read()
	if err != nil { // The provider never fails when reading a slice.
		d.problems = append(d.problems, &fieldError{key: "environment", msg: err.Error()})
		return
	}

	type setting struct {
		name, value string
		path        []string
	}
	byKey := map[string][]setting{}
	for name, value := range vars {
		path, ok := envPath(name)
		if !ok {
			d.problems = append(d.problems, &fieldError{
				key: name,
				msg: `not a valid setting name: use letters, digits and "_", with "__" between levels`,
			})
			continue
		}
		s, _ := value.(string)
		key := strings.Join(path, ".")
		byKey[key] = append(byKey[key], setting{name: name, value: s, path: path})
	}
	// Sorted by key path, so that a whole headers list is applied before
	// single headers.
	for _, key := range sortedKeys(byKey) {
		settings := byKey[key]
		if len(settings) > 1 {
			names := make([]string, len(settings))
			for i, s := range settings {
				names[i] = s.name
			}
			slices.Sort(names)
			d.problems = append(d.problems, &fieldError{
				key: key,
				msg: "set by more than one environment variable: " + strings.Join(names, ", "),
			})
			d.badValues[key] = true
			continue
		}
		d.envSetting(settings[0].name, settings[0].path, settings[0].value)
		if !belowTableArray(settings[0].path) { // those are rejected, not applied
			d.fromEnv[joinKey("", settings[0].path...)] = settings[0].name
		}
	}
}

// envPath maps an environment variable name to a key path: the prefix is
// removed, "__" separates levels, "_" becomes "-" and letters are lowercased.
func envPath(name string) ([]string, bool) {
	rest, ok := strings.CutPrefix(name, envPrefix)
	if !ok || rest == "" {
		return nil, false
	}
	for _, c := range rest {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return nil, false
		}
	}
	path := strings.Split(rest, "__")
	for i, seg := range path {
		if seg == "" {
			return nil, false
		}
		path[i] = strings.ReplaceAll(strings.ToLower(seg), "_", "-")
	}
	return path, true
}

// envName is the inverse of envPath.
func envName(path []string) string {
	segs := make([]string, len(path))
	for i, seg := range path {
		segs[i] = strings.ReplaceAll(strings.ToUpper(seg), "-", "_")
	}
	return envPrefix + strings.Join(segs, "__")
}

// schemaNode describes one key of Config: a table (struct) or a value.
//
// An array of tables ([[events]]) is a value node; each of its entries is
// decoded with a schema of its own, built by newEntrySchema, whose root has
// the entry's key ("events[0]") and whose paths and indexes are relative to
// the entry.
type schemaNode struct {
	name     string                 // last segment of the key path
	key      string                 // key path; "" for the root
	path     []string               // key path segments
	index    []int                  // field index from Config
	typ      reflect.Type           // Go type of the field
	children map[string]*schemaNode // sub-keys; non-nil only for tables
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
	secretsType  = reflect.TypeFor[[]Secret]()
	headersType  = reflect.TypeFor[map[string]string]()
	stringsType  = reflect.TypeFor[[]string]()
	floatsType   = reflect.TypeFor[[]float64]()
	sizeType     = reflect.TypeFor[int64]() // a size in bytes, with an optional unit

	// schema is the tree of known keys, computed from Config's koanf tags.
	schema = newSchema()
)

func newSchema() *schemaNode {
	root := &schemaNode{typ: reflect.TypeFor[Config](), children: map[string]*schemaNode{}}
	root.addFields()
	return root
}

// newEntrySchema returns the schema of one entry, of struct type typ, of an
// array of tables; key is the entry's key path, such as "events[0]".
func newEntrySchema(typ reflect.Type, key string) *schemaNode {
	root := &schemaNode{key: key, typ: typ, children: map[string]*schemaNode{}}
	root.addFields()
	return root
}

// isTableArray reports whether n is an array of tables, such as [[events]].
func (n *schemaNode) isTableArray() bool {
	return n.typ.Kind() == reflect.Slice && n.typ.Elem().Kind() == reflect.Struct
}

func (n *schemaNode) addFields() {
	for i := range n.typ.NumField() {
		f := n.typ.Field(i)
		name := f.Tag.Get("koanf")
		if name == "" || !f.IsExported() {
			panic(fmt.Sprintf("config: field %s.%s needs a koanf tag", n.typ, f.Name))
		}
		child := &schemaNode{
			name:  name,
			key:   joinKey(n.key, name),
			path:  append(slices.Clone(n.path), name),
			index: append(slices.Clone(n.index), i),
			typ:   f.Type,
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			child.children = map[string]*schemaNode{}
			child.addFields()
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			newEntrySchema(f.Type.Elem(), child.key+"[0]") // checks the entry's fields
		case f.Type == durationType, f.Type == headersType, f.Type == stringsType,
			f.Type == secretsType, f.Type == floatsType, f.Type == sizeType,
			f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Bool, f.Type.Kind() == reflect.Int:
		default:
			panic(fmt.Sprintf("config: key %s has unsupported type %s", child.key, f.Type))
		}
		n.children[name] = child
	}
}

// sensitive reports whether the node's values must never be printed.
func (n *schemaNode) sensitive() bool {
	return n.typ == secretType || n.typ == secretsType || n.typ == headersType
}

// lookup finds the node at path, if it is a known key. Keys below the
// headers map are known.
func (n *schemaNode) lookup(path []string) (*schemaNode, bool) {
	for i, seg := range path {
		if n.children == nil {
			return n, n.typ == headersType && i == len(path)-1
		}
		child, ok := n.children[seg]
		if !ok {
			return nil, false
		}
		n = child
	}
	return n, true
}

// leaves calls fn for every value (non-table) node below n.
func (n *schemaNode) leaves(fn func(*schemaNode)) {
	for _, name := range sortedKeys(n.children) {
		child := n.children[name]
		if child.children != nil {
			child.leaves(fn)
		} else {
			fn(child)
		}
	}
}

// decoder applies layers of settings to a Config, recording problems.
type decoder struct {
	cfg       reflect.Value // addressable Config, or entry of an array of tables
	root      *schemaNode   // schema of cfg
	problems  problems
	badValues map[string]bool   // keys whose value was rejected
	fromEnv   map[string]string // key -> environment variable that set it
}

// badValue records a rejected value at key. env names the environment
// variable that supplied it, if any.
func (d *decoder) badValue(key, env, format string, args ...any) {
	d.badValues[key] = true
	d.problems = append(d.problems, &fieldError{key: key, env: env, msg: fmt.Sprintf(format, args...)})
}

// hasBadValueNear reports whether a value was rejected at key, above it or
// below it; Validate's findings there would only repeat the problem.
func (d *decoder) hasBadValueNear(key string) bool {
	for bad := range d.badValues {
		if within(key, bad) || within(bad, key) {
			return true
		}
	}
	return false
}

// within reports whether key is base or below it.
func within(key, base string) bool {
	rest, ok := strings.CutPrefix(key, base)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// unknown records an unknown key: seg is not a child of table n. rest are
// the segments after seg, if any (environment variables only).
func (d *decoder) unknown(n *schemaNode, seg string, rest []string, env string) {
	e := &fieldError{key: joinKey(n.key, seg), env: env, msg: "unknown key"}
	if len(rest) > 0 {
		e.key = joinKey(e.key, rest...)
	}
	if fix := suggest(d.root, n, seg, rest); fix != nil {
		if env != "" {
			e.hint = envName(fix)
		} else {
			e.hint = joinKey(d.root.key, fix...)
		}
	}
	d.problems = append(d.problems, e)
}

// set stores v into the field of n. Empty lists and maps are stored as nil,
// like in DefaultConfig.
func (d *decoder) set(n *schemaNode, v any) {
	if list, ok := v.([]string); ok && n.typ == secretsType {
		secrets := make([]Secret, len(list))
		for i, s := range list {
			secrets[i] = Secret(s)
		}
		v = secrets
	}
	rv := reflect.ValueOf(v).Convert(n.typ)
	if (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0 {
		rv = reflect.Zero(n.typ)
	}
	d.cfg.FieldByIndex(n.index).Set(rv)
}

// walkTOML decodes the TOML table m, whose schema is n.
func (d *decoder) walkTOML(n *schemaNode, m map[string]any) {
	for _, name := range sortedKeys(m) {
		v := m[name]
		child, ok := n.children[name]
		switch {
		case !ok:
			d.unknown(n, name, nil, "")
		case child.children != nil:
			if sub, ok := v.(map[string]any); ok {
				d.walkTOML(child, sub)
			} else {
				d.badValue(child.key, "", "expected a table, got %s", describe(v))
			}
		default:
			d.tomlValue(child, v)
		}
	}
}

// tomlValue decodes the TOML value v of the value node n.
func (d *decoder) tomlValue(n *schemaNode, v any) {
	key := n.key
	switch {
	case n.typ == durationType:
		s, ok := v.(string)
		if !ok {
			d.badValue(key, "", "expected a duration string such as \"30s\", got %s", describe(v))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.badValue(key, "", "invalid duration %q", s)
			return
		}
		d.set(n, dur)
	case n.isTableArray():
		d.tomlTableArray(n, v)
	case n.typ == sizeType:
		switch v := v.(type) {
		case int64:
			d.set(n, v)
		case string:
			if size, err := parseSize(v); err == nil {
				d.set(n, size)
			} else {
				d.badValue(key, "", "%s", err)
			}
		default:
			d.badValue(key, "", "expected a size in bytes such as 1048576 or \"1MiB\", got %s", describe(v))
		}
	case n.typ == floatsType:
		list, ok := v.([]any)
		if !ok {
			d.badValue(key, "", "expected an array of numbers, got %s", describe(v))
			return
		}
		out, good := make([]float64, 0, len(list)), true
		for i, item := range list {
			switch item := item.(type) {
			case int64:
				out = append(out, float64(item))
			case float64:
				out = append(out, item)
			default:
				d.badValue(fmt.Sprintf("%s[%d]", key, i), "", "expected a number, got %s", describe(item))
				good = false
			}
		}
		if good {
			d.set(n, out)
		}
	case n.typ == stringsType, n.typ == secretsType:
		list, ok := v.([]any)
		if !ok {
			d.badValue(key, "", "expected an array of strings, got %s", describe(v))
			return
		}
		out, good := make([]string, 0, len(list)), true
		for i, item := range list {
			s, ok := item.(string)
			if !ok {
				d.badValue(fmt.Sprintf("%s[%d]", key, i), "", "expected a string, got %s", describe(item))
				good = false
			}
			out = append(out, s)
		}
		if good {
			d.set(n, out)
		}
	case n.typ == headersType:
		switch v := v.(type) {
		case map[string]any:
			out, good := make(map[string]string, len(v)), true
			for _, name := range sortedKeys(v) {
				s, ok := v[name].(string)
				if !ok {
					d.badValue(joinKey(key, name), "", "expected a string, got %s", describe(v[name]))
					good = false
				}
				out[name] = s
			}
			if good {
				d.set(n, out)
			}
		case []any:
			items := make([]string, len(v))
			good := true
			for i, item := range v {
				s, ok := item.(string)
				if !ok {
					d.badValue(fmt.Sprintf("%s[%d]", key, i), "", "expected a string, got %s", describe(item))
					good = false
				}
				items[i] = s
			}
			if out, ok := d.headerList(key, "", items); ok && good {
				d.set(n, out)
			}
		default:
			d.badValue(key, "", `expected a table or an array of "Name: Value" strings, got %s`, describe(v))
		}
	case n.typ.Kind() == reflect.String:
		if s, ok := v.(string); ok {
			d.set(n, s)
		} else {
			d.badValue(key, "", "expected a string, got %s", describe(v))
		}
	case n.typ.Kind() == reflect.Bool:
		if b, ok := v.(bool); ok {
			d.set(n, b)
		} else {
			d.badValue(key, "", "expected true or false, got %s", describe(v))
		}
	case n.typ.Kind() == reflect.Int:
		if i, ok := v.(int64); ok && int64(int(i)) == i {
			d.set(n, int(i))
		} else {
			d.badValue(key, "", "expected an integer, got %s", describe(v))
		}
	}
}

// tomlTableArray decodes v, which should be an array of tables such as
// [[events]], into the slice field of n.
func (d *decoder) tomlTableArray(n *schemaNode, v any) {
	list, ok := v.([]any)
	if !ok {
		// go-toml gives []map[string]any for some arrays of tables.
		if maps, isMaps := v.([]map[string]any); isMaps {
			list = make([]any, len(maps))
			for i, m := range maps {
				list[i] = m
			}
		} else {
			d.badValue(n.key, "", "expected an array of tables ([[%s]]), got %s", n.key, describe(v))
			return
		}
	}
	out := reflect.MakeSlice(n.typ, len(list), len(list))
	for i, item := range list {
		key := fmt.Sprintf("%s[%d]", n.key, i)
		m, ok := item.(map[string]any)
		if !ok {
			d.badValue(key, "", "expected a table, got %s", describe(item))
			continue
		}
		entry := &decoder{
			cfg:       out.Index(i),
			root:      newEntrySchema(n.typ.Elem(), key),
			badValues: d.badValues,
			fromEnv:   d.fromEnv,
		}
		entry.walkTOML(entry.root, m)
		d.problems = append(d.problems, entry.problems...)
	}
	d.set(n, out.Interface())
}

// headerList parses headers in list form, "Name: Value". Entries are never
// echoed: they hold secrets.
func (d *decoder) headerList(key, env string, items []string) (map[string]string, bool) {
	out, good := make(map[string]string, len(items)), true
	seen := map[string]bool{}
	for i, item := range items {
		itemKey := fmt.Sprintf("%s[%d]", key, i)
		name, value, ok := strings.Cut(item, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || name == "":
			d.badValue(itemKey, env, `must have the form "Name: Value"`)
			good = false
		case seen[strings.ToLower(name)]:
			d.badValue(itemKey, env, "duplicate header %q (header names are case-insensitive)", name)
			good = false
		default:
			seen[strings.ToLower(name)] = true
			out[name] = value
		}
	}
	return out, good
}

// envSetting decodes the environment variable name, which sets the key path
// to the string value.
func (d *decoder) envSetting(name string, path []string, value string) {
	n := schema
	for i, seg := range path {
		if n.isTableArray() {
			d.tableArrayFromEnv(n, name)
			return
		}
		if n.children == nil {
			if n.typ == headersType && i == len(path)-1 {
				d.envHeader(n, seg, value)
			} else {
				d.unknown(n.parent(), n.name, path[i:], name)
			}
			return
		}
		child, ok := n.children[seg]
		if !ok {
			d.unknown(n, seg, path[i+1:], name)
			return
		}
		n = child
	}
	key := n.key
	switch {
	case n.children != nil:
		d.badValue(key, name, "is a table; set its keys one by one")
	case n.isTableArray():
		d.tableArrayFromEnv(n, name)
	case n.typ == sizeType:
		if size, err := parseSize(value); err == nil {
			d.set(n, size)
		} else {
			d.badValue(key, name, "%s", err)
		}
	case n.typ == durationType:
		if dur, err := time.ParseDuration(value); err == nil {
			d.set(n, dur)
		} else {
			d.badValue(key, name, "invalid duration %q", value)
		}
	case n.typ == stringsType, n.typ == secretsType:
		d.set(n, splitList(value))
	case n.typ == headersType:
		if out, ok := d.headerList(key, name, splitList(value)); ok {
			d.set(n, out)
		}
	case n.typ.Kind() == reflect.String:
		d.set(n, value)
	case n.typ.Kind() == reflect.Bool:
		switch strings.ToLower(value) {
		case "true":
			d.set(n, true)
		case "false":
			d.set(n, false)
		default:
			d.badValue(key, name, "expected true or false, got %q", value)
		}
	case n.typ.Kind() == reflect.Int:
		if i, err := strconv.Atoi(value); err == nil {
			d.set(n, i)
		} else {
			d.badValue(key, name, "expected an integer, got %q", value)
		}
	}
}

// belowTableArray reports whether the key path is an array of tables or
// below one.
func belowTableArray(path []string) bool {
	n := schema
	for _, seg := range path {
		child, ok := n.children[seg]
		if !ok {
			return false
		}
		if child.isTableArray() {
			return true
		}
		n = child
	}
	return false
}

// tableArrayFromEnv reports the environment variable name, which tries to set
// the array of tables n or a key below it. The value from the file is kept
// and still checked.
func (d *decoder) tableArrayFromEnv(n *schemaNode, name string) {
	d.problems = append(d.problems, &fieldError{
		key: n.key,
		env: name,
		msg: fmt.Sprintf("cannot be set from the environment: declare [[%s]] in the configuration file", n.key),
	})
}

// envHeader sets the single header name of the headers node n, replacing any
// header whose name differs only in case.
func (d *decoder) envHeader(n *schemaNode, name, value string) {
	field := d.cfg.FieldByIndex(n.index)
	headers := make(map[string]string, field.Len()+1)
	for k, v := range field.Interface().(map[string]string) {
		if !strings.EqualFold(k, name) {
			headers[k] = v
		}
	}
	headers[name] = value
	field.Set(reflect.ValueOf(headers))
}

// parent returns the table holding n.
func (n *schemaNode) parent() *schemaNode {
	p := schema
	for _, seg := range n.path[:len(n.path)-1] {
		p = p.children[seg]
	}
	return p
}

// splitList splits a comma-separated list, trimming spaces around items. An
// empty or blank string is an empty list.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	items := strings.Split(s, ",")
	for i, item := range items {
		items[i] = strings.TrimSpace(item)
	}
	return items
}

// suggest proposes a known key path, relative to root, for the unknown
// segment seg of table n, followed by rest: first a sibling with a similar
// name, then the only key anywhere below root with the same name. It returns
// nil when nothing fits.
func suggest(root, n *schemaNode, seg string, rest []string) []string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	known := func(path []string) bool {
		_, ok := root.lookup(path)
		return ok
	}
	best, bestDist := "", 3
	for _, name := range sortedKeys(n.children) {
		if dist := levenshtein(norm(seg), name); dist < bestDist && dist < len(name)/2+1 {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		if fix := append(append(slices.Clone(n.path), best), rest...); known(fix) {
			return fix
		}
	}
	var found []string
	matches := 0
	var visit func(*schemaNode)
	visit = func(m *schemaNode) {
		for _, name := range sortedKeys(m.children) {
			child := m.children[name]
			if name == norm(seg) {
				if fix := append(slices.Clone(child.path), rest...); known(fix) {
					found, matches = fix, matches+1
				}
			}
			if child.children != nil {
				visit(child)
			}
		}
	}
	visit(root)
	if matches == 1 {
		return found
	}
	return nil
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// joinKey appends segments to a key path. Segments that are not bare TOML
// keys (letters, digits, "-" and "_") are quoted.
func joinKey(base string, segs ...string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, seg := range segs {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if isBareKey(seg) {
			b.WriteString(seg)
		} else {
			b.WriteString(strconv.Quote(seg))
		}
	}
	return b.String()
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// describe names the TOML type of a decoded value, for error messages. It
// never includes the value itself.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time, gotoml.LocalDate, gotoml.LocalDateTime, gotoml.LocalTime:
		return "a date or time"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// sizeUnits are the accepted units of a size, lower case.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
}

// parseSize parses a size in bytes: a non-negative integer followed by an
// optional unit, B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of
// 1024), in any case and optionally after spaces: "1048576", "512KiB",
// "2 MB".
func parseSize(s string) (int64, error) {
	bad := fmt.Errorf("expected a size in bytes such as 1048576 or \"1MiB\" (units B, KB, MB, GB, KiB, MiB, GiB), got %q", s)
	t := strings.TrimSpace(s)
	i := digits(t)
	if i == 0 {
		return 0, bad
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, bad
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}
