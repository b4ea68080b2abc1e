package config_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
)

// TestLoadStrictTypes pins what the decode hooks refuse: a TOML string is not a boolean or a
// number (an environment string is), a float is not an integer, and an unknown key is
// reported next to the bad values of its own table.
func TestLoadStrictTypes(t *testing.T) {
	path := writeFile(t, `
[server]
colour = "red"
listen = 3
max-header-bytes = 1.5
idle-timeout = 30
[metrics.prometheus]
enable = "true"
[[events]]
name = "a.b"
kind = "gauge"
cardinality-limit = 2.0
`)
	_, err := config.Load(path, []string{"DUOMETER_METRICS__PROMETHEUS__AUTH__USERNAME=true", "DUOMETER_SERVER__SHUTDOWN_TIMEOUT=30"})
	want := []string{
		`events[0].cardinality-limit: expected an integer, got a float`,
		`metrics.prometheus.auth: username and secret must be set together`,
		`metrics.prometheus.enable: expected true or false, got a string`,
		`server.colour: unknown key`,
		`server.idle-timeout: expected a duration string such as "30s", got an integer`,
		`server.listen: expected a string, got an integer`,
		`server.max-header-bytes: expected an integer, got a float`,
		`server.shutdown-timeout: invalid duration "30" (from environment variable DUOMETER_SERVER__SHUTDOWN_TIMEOUT)`,
	}
	if got := problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	got, err := config.Load("", []string{
		"DUOMETER_METRICS__PROMETHEUS__ENABLE=False",
		"DUOMETER_SERVER__MAX_HEADER_BYTES=4096",
		"DUOMETER_METRICS__PUSHGATEWAY__JOB_NAME=true",
		"DUOMETER_INGEST__MAX_BODY=1024",
	})
	if err != nil || got.Metrics.Prometheus.Enable || got.Server.MaxHeaderBytes != 4096 ||
		got.Metrics.Pushgateway.JobName != "true" || got.Ingest.MaxBody != 1024 {
		t.Errorf("environment strings: %+v, %v", got, err)
	}
}

// TestLoadNamesTheVariable pins that a problem found by validation in a value from the
// environment names the variable, down to the items of a list.
func TestLoadNamesTheVariable(t *testing.T) {
	_, err := config.Load(writeFile(t, "[metrics.pushgateway.headers]\n\"bad name\" = \"x\"\n"), []string{
		"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS=bad name: x, ok: y",
		"DUOMETER_METRICS__PUSHGATEWAY__JOB_NAME=${nope}",
		"DUOMETER_METRICS__PUSHGATEWAY__HEADERS__X_A=1",
	})
	want := []string{
		`metrics.open-telemetry.headers."bad name": invalid header name (from environment variable DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS)`,
		`metrics.pushgateway.headers."bad name": invalid header name`,
		`metrics.pushgateway.job-name: unknown placeholder ${nope}: only ${cluster}, ${host} and ${name} are allowed (from environment variable DUOMETER_METRICS__PUSHGATEWAY__JOB_NAME)`,
	}
	if got := problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadHeaderListWithSingleHeaderFromEnvironment(t *testing.T) {
	got, err := config.Load(writeFile(t, "[metrics.open-telemetry]\nheaders = [\"Authorization: a\", \"X-B: b\"]\n"),
		[]string{"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__AUTHORIZATION=c"})
	if want := map[string]config.Secret{"authorization": "c", "X-B": "b"}; err != nil || !reflect.DeepEqual(got.Metrics.OpenTelemetry.Headers, want) {
		t.Errorf("headers = %v, %v; want %v", got.Metrics.OpenTelemetry.Headers, err, want)
	}
	_, err = config.Load(writeFile(t, "[metrics.open-telemetry]\nheaders = [\"Authorization: a\", \"b\"]\n"),
		[]string{"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__X=c"})
	if want := []string{`metrics.open-telemetry.headers[1]: must have the form "Name: Value"`}; !reflect.DeepEqual(problems(err), want) {
		t.Errorf("Load() = %q, want %q", problems(err), want)
	}
}

func TestLoadClientTLS(t *testing.T) {
	ca, cert, key := tlsFiles(t)
	got, err := config.Load(writeFile(t, `
[metrics.pushgateway]
url = "https://pg.example:9091"
[metrics.pushgateway.tls]
ca-file = "`+ca+`"
server-name = "pg.internal"
[cluster]
peers = ["http://10.0.0.2:9464", "https://10.0.0.3:9464"]
[cluster.tls]
cert-file = "`+cert+`"
key-file = "`+key+`"
`), []string{
		"DUOMETER_CLUSTER__TLS__INSECURE_SKIP_VERIFY=true",
		"DUOMETER_METRICS__OPEN_TELEMETRY__TLS__SERVER_NAME=otlp.internal",
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ got, want config.ClientTLS }{
		"open-telemetry": {got.Metrics.OpenTelemetry.TLS, config.ClientTLS{ServerName: "otlp.internal"}},
		"pushgateway":    {got.Metrics.Pushgateway.TLS, config.ClientTLS{CAFile: ca, ServerName: "pg.internal"}},
		"cluster":        {got.Cluster.TLS, config.ClientTLS{CertFile: cert, KeyFile: key, InsecureSkipVerify: true}},
	} {
		if tc.got != tc.want {
			t.Errorf("%s tls = %+v, want %+v", name, tc.got, tc.want)
		}
	}
	common := got.Metrics.Pushgateway.TLS.Common()
	if common.CAFile != ca || common.ServerName != "pg.internal" || common.MinVersion != tls.VersionTLS12 || common.InsecureSkipVerify {
		t.Errorf("Common() = %+v", common)
	}
	if c := got.Cluster.TLS.Common(); c.CertFile != cert || c.KeyFile != key || !c.InsecureSkipVerify || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("Common() = %+v", c)
	}
}

func TestClientTLSErrorsShowNoFileContent(t *testing.T) {
	const content = "hunter2-file-content"
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, cert, _ := tlsFiles(t)
	for _, tlsCfg := range []config.ClientTLS{{CAFile: bad}, {CertFile: cert, KeyFile: bad}, {CertFile: bad, KeyFile: bad}} {
		err := tlsCfg.Validate()
		if err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), content) {
			t.Errorf("%+v.Validate() = %v, want an error naming %s without its content", tlsCfg, err, bad)
		}
	}
}

// TestValidateKeysAreRelative pins that each struct's Validate keys its problems relative to
// the struct, and that Config.Validate puts them below their keys.
func TestValidateKeysAreRelative(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want []string
	}{
		{config.ClientTLS{KeyFile: "k.pem"}.Validate(), []string{"cert-file and key-file must be set together"}},
		{config.ServerTLS{CertFile: "c.pem"}.Validate(), []string{"cert-file and key-file must be set together"}},
		{config.BasicAuth{Username: "a:b"}.Validate(), []string{"username and secret must be set together", `username: must not contain ":"`}},
		{config.OpenTelemetry{Transport: "grpc", Interval: time.Second, Timeout: time.Second, Compression: "gzip"}.Validate(),
			[]string{`endpoint: required when transport is "grpc"`}},
		{config.Ingest{Tokens: []config.Secret{""}, MaxBody: 1, MaxEvents: 1, MaxLabelValueLength: 1, MaxInFlight: 1,
			ReadTimeout: time.Second, UnknownEvents: "reject", MaxAutoEvents: 1, MaxAutoLabels: 1}.Validate(), []string{"tokens[0]: must not be empty"}},
		{config.Event{Name: "a.b", Kind: "counter", TTL: -time.Second}.Validate(), []string{"ttl: must not be negative"}},
		{config.Event{Name: "a.b", Kind: "gauge", Labels: []string{"le"}}.Validate(), []string{`labels[0]: "le" is reserved by Prometheus`}},
		{config.Event{Name: "go.mine", Kind: "gauge"}.Validate(), []string{`name: "go.mine" is reserved for duometer's own events`}},
		{config.Prometheus{MaxInFlight: 1, Auth: config.BasicAuth{Secret: "s"}}.Validate(), []string{"auth: username and secret must be set together"}},
		{config.Prometheus{}.Validate(), []string{"max-in-flight: must be positive, got 0"}},
	} {
		if got := problems(tc.err); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Validate() = %q, want %q", got, tc.want)
		}
	}
	c := config.DefaultConfig()
	c.Metrics.Prometheus.Auth.Secret = "s"
	c.Events = []config.Event{{Name: "process.mine", Kind: "counter"}}
	want := []string{
		`events[0].name: "process.mine" is reserved for duometer's own events`,
		"metrics.prometheus.auth: username and secret must be set together",
	}
	if got := problems(c.Validate()); !reflect.DeepEqual(got, want) {
		t.Errorf("Config.Validate() = %q, want %q", got, want)
	}
}

func TestDefineEventsWrapsTheCatalogsError(t *testing.T) {
	c := config.DefaultConfig()
	c.Events = []config.Event{{Name: "app.one", Kind: "counter"}}
	cat := events.NewCatalog()
	cat.MustDefine(events.Def{Name: "app.one", Kind: events.Gauge})
	if err := c.DefineEvents(cat); !errors.Is(err, events.ErrDefined) {
		t.Errorf("DefineEvents() = %v, want events.ErrDefined", err)
	}
}
