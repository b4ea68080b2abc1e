package config

import (
	"bytes"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// allKeys returns the key path of every value in Config: every key that is not a table.
func allKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for key, typ := range schema {
		if typ.Kind() != reflect.Struct {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	if len(keys) < 20 {
		t.Fatalf("schema has only %d keys: %q", len(keys), keys)
	}
	return keys
}

func TestSchema(t *testing.T) {
	for path, want := range map[string]bool{
		"server.listen":                                   true,
		"server.read-header-timeout":                      true,
		"metrics.disabled-events":                         true,
		"metrics.prometheus.auth.secret":                  true,
		"metrics.open-telemetry.headers":                  true,
		"metrics.open-telemetry.tls.insecure-skip-verify": true,
		"metrics.pushgateway.tls.server-name":             true,
		"cluster.tls.ca-file":                             true,
		"metrics.pushgateway.headers":                     true,
		"metrics.pushgateway":                             true,
		"server.enable-lifecycle":                         true,
		"storage.path":                                    true,
		"storage.interval":                                true,
		"metrics.pushgateway.auth.secret":                 true,
		"server.tls.cert-file":                            true,
		"ingest.max-body":                                 true,
		"cluster.peers":                                   true,
		"events":                                          true,
		"events.name":                                     false,
		"metrics.prometheus.enabled":                      false,
		"metrics.open-telemetry.headers.x.y":              false,
		"server.listen.x":                                 false,
	} {
		if _, got := schema[path]; got != want {
			t.Errorf("schema[%s] = %v, want %v", path, got, want)
		}
	}
}

func TestEnvNames(t *testing.T) {
	for name, want := range map[string]string{
		"DUOMETER_SERVER__LISTEN":                    "server.listen",
		"DUOMETER_SERVER__READ_HEADER_TIMEOUT":       "server.read-header-timeout",
		"DUOMETER_METRICS__OPEN_TELEMETRY__ENDPOINT": "metrics.open-telemetry.endpoint",
		"DUOMETER_METRICS__PROMETHEUS__AUTH__SECRET": "metrics.prometheus.auth.secret",
		"DUOMETER_INGEST__MAX_BODY":                  "ingest.max-body",
		"DUOMETER_SERVER__TLS__CERT_FILE":            "server.tls.cert-file",
		"DUOMETER_METRICS__PUSHGATEWAY__JOB_NAME":    "metrics.pushgateway.job-name",
		"DUOMETER_CLUSTER__NODE_NAME":                "cluster.node-name",
	} {
		path, ok := envPath(name)
		if got := strings.Join(path, "."); !ok || got != want {
			t.Errorf("envPath(%s) = %q, %v; want %q", name, got, ok, want)
		}
		if back := envName(strings.Join(path, ".")); back != name {
			t.Errorf("envName(%q) = %s, want %s", path, back, name)
		}
	}
	for _, name := range []string{"DUOMETER_", "DUOMETER_A__", "DUOMETER___A", "DUOMETER_A____B", "DUOMETER_A-B", "OTHER_A"} {
		if path, ok := envPath(name); ok {
			t.Errorf("envPath(%s) = %q, want invalid", name, path)
		}
	}
}

// TestEveryFieldHasAKey guards against a field without a koanf tag: it would be neither
// decoded nor known to the environment.
func TestEveryFieldHasAKey(t *testing.T) {
	for _, keys := range []map[string]reflect.Type{schema, eventSchema} {
		for key := range keys {
			if slices.Contains(strings.Split(key, "."), "") {
				t.Errorf("a field at %q has no koanf tag", key)
			}
		}
	}
}

// TestEveryKeyHasAType guards against a key whose type keyTypes lacks: every value would be
// refused with "expected , got ...".
func TestEveryKeyHasAType(t *testing.T) {
	for _, keys := range []map[string]reflect.Type{schema, eventSchema} {
		for key, typ := range keys {
			if typeOf(typ).words == "" || typ.Kind() == reflect.Slice && typeOf(typ.Elem()).words == "" {
				t.Errorf("keyTypes has no entry for %s, the type of %s", typ, key)
			}
		}
	}
}

// hostDependent are the keys whose default depends on the machine.
var hostDependent = map[string]bool{"cluster.node-name": true}

// TestDocumentationCoversEveryKey checks that docs/configuration.md and
// configs/pull-only.toml mention every key.
func TestDocumentationCoversEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	k := koanf.New(".")
	if err := k.Load(file.Provider("../../configs/pull-only.toml"), toml.Parser()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../configs/pull-only.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range allKeys(t) {
		if !bytes.Contains(doc, []byte("`"+key+"`")) {
			t.Errorf("docs/configuration.md does not document `%s`", key)
		}
		if hostDependent[key] {
			// Its default depends on the machine: the file shows it in a comment.
			name := key[strings.LastIndex(key, ".")+1:]
			if k.Exists(key) || !bytes.Contains(raw, []byte("\n# "+name+" = ")) {
				t.Errorf("configs/pull-only.toml should show %s in a comment only", key)
			}
		} else if !k.Exists(key) {
			t.Errorf("configs/pull-only.toml does not spell out %s", key)
		}
		if env := envName(key); !bytes.Contains(doc, []byte(env)) {
			t.Errorf("docs/configuration.md does not name %s", env)
		}
	}
}

// TestDocumentationCoversEventFields checks that docs/configuration.md and
// configs/user-events.toml show every field of an [[events]] entry.
func TestDocumentationCoversEventFields(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../configs/user-events.toml")
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(maps.Keys(eventSchema))
	if len(names) != 9 {
		t.Errorf("an [[events]] entry has %d keys, want 9", len(names))
	}
	for _, name := range names {
		if !bytes.Contains(doc, []byte("| `"+name+"` |")) {
			t.Errorf("docs/configuration.md does not document the [[events]] field `%s`", name)
		}
		if !bytes.Contains(example, []byte("\n"+name+" = ")) {
			t.Errorf("configs/user-events.toml does not show the [[events]] field %s", name)
		}
	}
}
