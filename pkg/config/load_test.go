package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
)

// writeFile writes content to a fresh TOML file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "duometer.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problems splits a joined error into its lines.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestDefaultConfig(t *testing.T) {
	want := config.Config{
		Server: config.Server{
			Listen:            "127.0.0.1:9464",
			LogFormat:         "text",
			LogLevel:          "info",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    16384,
			ShutdownTimeout:   15 * time.Second,
			InstanceID:        "",
			EnableLifecycle:   false,
		},
		Metrics: config.Metrics{
			CardinalityLimit: 2000,
			MaxSeries:        50000,
			MaxLabelBytes:    16 << 20,
			Prometheus:       config.Prometheus{Enable: true, MaxInFlight: 16},
			OpenTelemetry: config.OpenTelemetry{
				Transport:   "disable",
				Endpoint:    "",
				Interval:    time.Minute,
				Timeout:     10 * time.Second,
				Compression: "gzip",
			},
			Pushgateway: config.Pushgateway{
				URL:      "http://127.0.0.1:9091",
				Interval: 15 * time.Second,
				Method:   "put",
				JobName:  "${name}/instance/${name}~${host}",
				Timeout:  10 * time.Second,
			},
		},
		Ingest: config.Ingest{
			Enable:              true,
			MaxBody:             1 << 20,
			MaxEvents:           100000,
			MaxLabelValueLength: 256,
			MaxInFlight:         64,
			ReadTimeout:         10 * time.Second,
			UnknownEvents:       "reject",
			MaxAutoEvents:       100,
			MaxAutoLabels:       8,
			AutoTTL:             24 * time.Hour,
		},
		Cluster: config.Cluster{
			NodeName: "duometer@" + hostname(t),
			Timeout:  5 * time.Second,
		},
		Storage: config.Storage{Path: "", Interval: 30 * time.Second},
	}
	got := config.DefaultConfig()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultConfig() =\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	if got.Metrics.Prometheus.Auth.Enabled() {
		t.Error("basic auth enabled by default")
	}
	if got.Server.TLS.Enabled() {
		t.Error("server TLS enabled by default")
	}
}

// hostname is os.Hostname, which DefaultConfig's cluster.node-name uses.
func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

func TestLoadWithoutFileOrEnvironment(t *testing.T) {
	got, err := config.Load("", []string{"HOME=/root", "PATH=/bin", "DUOMETERX=1", "duometer_server__listen=x"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, config.DefaultConfig()) {
		t.Errorf("Load(\"\", unrelated env) = %+v, want the defaults", got)
	}
}

func TestLoadLayers(t *testing.T) {
	path := writeFile(t, `
[server]
listen = "0.0.0.0:1111"
log-level = "debug"
read-header-timeout = "7s"
max-header-bytes = 4096

[metrics]
disabled-events = ["a.b", "c.*"]

[metrics.prometheus.auth]
username = "prom"
secret = "from-file"

[metrics.open-telemetry]
transport = "grpc"
endpoint = "https://collector.example:4317"
interval = "15s"
`)

	t.Run("file over defaults", func(t *testing.T) {
		got, err := config.Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := config.DefaultConfig()
		want.Server.Listen = "0.0.0.0:1111"
		want.Server.LogLevel = "debug"
		want.Server.ReadHeaderTimeout = 7 * time.Second
		want.Server.MaxHeaderBytes = 4096
		want.Metrics.DisabledEvents = []string{"a.b", "c.*"}
		want.Metrics.Prometheus.Auth = config.BasicAuth{Username: "prom", Secret: "from-file"}
		want.Metrics.OpenTelemetry.Transport = "grpc"
		want.Metrics.OpenTelemetry.Endpoint = "https://collector.example:4317"
		want.Metrics.OpenTelemetry.Interval = 15 * time.Second
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got\n%+v\nwant\n%+v", got, want)
		}
		if !got.Metrics.Prometheus.Auth.Enabled() {
			t.Error("Auth.Enabled() = false")
		}
	})

	t.Run("environment over file", func(t *testing.T) {
		got, err := config.Load(path, []string{
			"DUOMETER_SERVER__LISTEN=127.0.0.1:2222",
			"DUOMETER_SERVER__READ_HEADER_TIMEOUT=9s",
			"DUOMETER_SERVER__MAX_HEADER_BYTES=8192",
			"DUOMETER_SERVER__INSTANCE_ID=node-1",
			"DUOMETER_METRICS__DISABLED_EVENTS=x.*, *.y ,z",
			"DUOMETER_METRICS__PROMETHEUS__ENABLE=false",
			"DUOMETER_METRICS__PROMETHEUS__AUTH__SECRET=from-env",
			"DUOMETER_METRICS__OPEN_TELEMETRY__TRANSPORT=http",
			"DUOMETER_METRICS__OPEN_TELEMETRY__ENDPOINT=https://127.0.0.1:4318",
			"DUOMETER_METRICS__OPEN_TELEMETRY__TLS__INSECURE_SKIP_VERIFY=TRUE",
		})
		if err != nil {
			t.Fatal(err)
		}
		s := got.Server
		if s.Listen != "127.0.0.1:2222" || s.ReadHeaderTimeout != 9*time.Second || s.MaxHeaderBytes != 8192 || s.InstanceID != "node-1" {
			t.Errorf("server = %+v", s)
		}
		if s.LogLevel != "debug" {
			t.Errorf("log-level from the file lost: %q", s.LogLevel)
		}
		if want := []string{"x.*", "*.y", "z"}; !reflect.DeepEqual(got.Metrics.DisabledEvents, want) {
			t.Errorf("disabled-events = %q, want %q", got.Metrics.DisabledEvents, want)
		}
		p := got.Metrics.Prometheus
		if p.Enable || p.Auth.Username != "prom" || p.Auth.Secret.Reveal() != "from-env" {
			t.Errorf("prometheus = enable %v, username %q, secret %q", p.Enable, p.Auth.Username, p.Auth.Secret.Reveal())
		}
		o := got.Metrics.OpenTelemetry
		if o.Transport != "http" || o.Endpoint != "https://127.0.0.1:4318" || o.Interval != 15*time.Second || !o.TLS.InsecureSkipVerify {
			t.Errorf("open-telemetry = %+v", o)
		}
	})

	t.Run("empty list in environment", func(t *testing.T) {
		got, err := config.Load(path, []string{"DUOMETER_METRICS__DISABLED_EVENTS="})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Metrics.DisabledEvents) != 0 {
			t.Errorf("disabled-events = %q, want none", got.Metrics.DisabledEvents)
		}
	})
}

func TestLoadHeaders(t *testing.T) {
	want := map[string]config.Secret{"Authorization": "Bearer abc:def", "X-Scope-OrgID": "tenant"}
	tests := []struct {
		name    string
		file    string
		environ []string
		want    map[string]config.Secret
	}{{
		name: "table",
		file: `
[metrics.open-telemetry.headers]
Authorization = "Bearer abc:def"
X-Scope-OrgID = "tenant"
`,
		want: want,
	}, {
		name: "inline table",
		file: `
[metrics.open-telemetry]
headers = { "Authorization" = "Bearer abc:def", "X-Scope-OrgID" = "tenant" }
`,
		want: want,
	}, {
		name: "list",
		file: `
[metrics.open-telemetry]
headers = ["Authorization: Bearer abc:def", "  X-Scope-OrgID:tenant  "]
`,
		want: want,
	}, {
		name: "empty list",
		file: `
[metrics.open-telemetry]
headers = []
`,
		want: nil,
	}, {
		name: "dotted name",
		file: `
[metrics.open-telemetry.headers]
"x.y" = "z"
`,
		want: map[string]config.Secret{"x.y": "z"},
	}, {
		name:    "environment list",
		environ: []string{"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS=Authorization: Bearer abc:def, X-Scope-OrgID: tenant"},
		want:    want,
	}, {
		name: "environment list replaces file",
		file: `
[metrics.open-telemetry.headers]
x-old = "1"
`,
		environ: []string{"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS=Authorization: Bearer abc:def,X-Scope-OrgID: tenant"},
		want:    want,
	}, {
		name: "environment single header overrides",
		file: `
[metrics.open-telemetry.headers]
Authorization = "Bearer old"
X-Scope-OrgID = "tenant"
`,
		environ: []string{"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__AUTHORIZATION=Bearer a,b"},
		want:    map[string]config.Secret{"authorization": "Bearer a,b", "X-Scope-OrgID": "tenant"},
	}, {
		name: "environment list then single header",
		environ: []string{
			"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__X_API_KEY=k",
			"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS=Authorization: t",
		},
		want: map[string]config.Secret{"Authorization": "t", "x-api-key": "k"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			got, err := config.Load(path, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Metrics.OpenTelemetry.Headers, tt.want) {
				t.Errorf("headers = %q, want %q", got.Metrics.OpenTelemetry.Headers, tt.want)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	path := writeFile(t, `
[server]
listen = "nowhere"

[metrics.prometheus]
enabled = true

[metrics.open-telemetry]
transport = "carrier-pigeon"
interval = "abc"
timeout = "0s"
`)
	_, err := config.Load(path, nil)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	want := []string{
		`metrics.open-telemetry.interval: invalid duration "abc"`,
		`metrics.open-telemetry.timeout: must be positive, got "0s"`,
		`metrics.open-telemetry.transport: must be one of "grpc", "http", "disable", got "carrier-pigeon"`,
		`metrics.prometheus.enabled: unknown key (did you mean metrics.prometheus.enable?)`,
		`server.listen: must be host:port, got "nowhere"`,
	}
	if got := problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, key := range []string{"metrics.prometheus.enabled", "metrics.open-telemetry.interval", "metrics.open-telemetry.transport"} {
		if !strings.Contains(err.Error(), key+": ") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(want) {
		t.Errorf("Load() joined %d errors, want %d", n, len(want))
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // TOML; "" means no file
		environ []string
		want    []string // exact lines of the error
	}{{
		name: "wrong types",
		file: `
server = { listen = 9464, log-format = true, max-header-bytes = "16k", read-timeout = 30 }
[metrics]
disabled-events = "a.b"
[metrics.prometheus]
enable = "yes"
`,
		want: []string{
			`metrics.disabled-events: expected an array of strings, got a string`,
			`metrics.prometheus.enable: expected true or false, got a string`,
			`server.listen: expected a string, got an integer`,
			`server.log-format: expected a string, got a boolean`,
			`server.max-header-bytes: expected an integer, got a string`,
			`server.read-timeout: expected a duration string such as "30s", got an integer`,
		},
	}, {
		name: "list items of the wrong type",
		file: `
[metrics]
disabled-events = ["a", 2, "c*d"]
`,
		want: []string{`metrics.disabled-events[1]: expected a string, got an integer`},
	}, {
		name: "table expected",
		file: `
metrics = 3
[server.listen]
host = "x"
`,
		want: []string{
			`metrics: expected a table, got an integer`,
			`server.listen: expected a string, got a table`,
		},
	}, {
		name: "unknown keys with and without hints",
		file: `
listen = ":1"
[server]
log_format = "json"
colour = "red"
[metrics.open_telemetry]
transport = "grpc"
`,
		want: []string{
			`listen: unknown key (did you mean server.listen?)`,
			`metrics.open_telemetry: unknown key (did you mean metrics.open-telemetry?)`,
			`server.colour: unknown key`,
			`server.log_format: unknown key (did you mean server.log-format?)`,
		},
	}, {
		name: "malformed header entries",
		file: `
[metrics.open-telemetry]
headers = ["Authorization: Bearer x", "Bearer y", ": z", "authorization: w"]
`,
		want: []string{
			`metrics.open-telemetry.headers[1]: must have the form "Name: Value"`,
			`metrics.open-telemetry.headers[2]: must have the form "Name: Value"`,
			`metrics.open-telemetry.headers[3]: duplicate header "authorization" (header names are case-insensitive)`,
		},
	}, {
		name: "header value of the wrong type",
		file: `
[metrics.open-telemetry.headers]
x-count = 3
`,
		want: []string{`metrics.open-telemetry.headers.x-count: expected a string, got an integer`},
	}, {
		name: "headers of the wrong type",
		file: `
[metrics.open-telemetry]
headers = "Authorization: x"
`,
		want: []string{`metrics.open-telemetry.headers: expected a table or an array of "Name: Value" strings, got a string`},
	}, {
		name: "bad value suppresses the matching validation problem",
		file: `
[metrics.open-telemetry]
transport = "grpc"
endpoint = 4317
[metrics.prometheus.auth]
username = "u"
secret = 1
`,
		want: []string{
			`metrics.open-telemetry.endpoint: expected a string, got an integer`,
			`metrics.prometheus.auth.secret: expected a string, got an integer`,
		},
	}, {
		name: "environment",
		environ: []string{
			"DUOMETER_METRICS__PROMETHEUS__ENABLED=true",
			"DUOMETER_METRICS__PROMETHEUS__ENABLE=yes",
			"DUOMETER_SERVER__IDLE_TIMEOUT=forever",
			"DUOMETER_SERVER__MAX_HEADER_BYTES=lots",
			"DUOMETER_SERVER__LISTEN__PORT=1",
			"DUOMETER_SERVER=x",
			"DUOMETER_SERVER__=x",
			"DUOMETER_SERVER.LISTEN=x",
			"DUOMETER_METRIC__PROMETHEUS__ENABLE=true",
			"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS=Authorization Bearer x",
			"DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__A__B=x",
			"DUOMETER_METRICS__DISABLED_EVENTS=a,,b",
		},
		want: []string{
			`DUOMETER_SERVER.LISTEN: not a valid setting name: use letters, digits and "_", with "__" between levels`,
			`DUOMETER_SERVER__: not a valid setting name: use letters, digits and "_", with "__" between levels`,
			`metric.prometheus.enable: unknown key (from environment variable DUOMETER_METRIC__PROMETHEUS__ENABLE; did you mean DUOMETER_METRICS__PROMETHEUS__ENABLE?)`,
			`metrics.disabled-events[1]: must not be empty (from environment variable DUOMETER_METRICS__DISABLED_EVENTS)`,
			`metrics.open-telemetry.headers.a.b: unknown key (from environment variable DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__A__B)`,
			`metrics.open-telemetry.headers[0]: must have the form "Name: Value" (from environment variable DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS)`,
			`metrics.prometheus.enable: expected true or false, got "yes" (from environment variable DUOMETER_METRICS__PROMETHEUS__ENABLE)`,
			`metrics.prometheus.enabled: unknown key (from environment variable DUOMETER_METRICS__PROMETHEUS__ENABLED; did you mean DUOMETER_METRICS__PROMETHEUS__ENABLE?)`,
			`server: is a table; set its keys one by one (from environment variable DUOMETER_SERVER)`,
			`server.idle-timeout: invalid duration "forever" (from environment variable DUOMETER_SERVER__IDLE_TIMEOUT)`,
			`server.listen.port: unknown key (from environment variable DUOMETER_SERVER__LISTEN__PORT)`,
			`server.max-header-bytes: expected an integer, got "lots" (from environment variable DUOMETER_SERVER__MAX_HEADER_BYTES)`,
		},
	}, {
		name: "two variables for one key",
		environ: []string{
			"DUOMETER_SERVER__LISTEN=:1",
			"DUOMETER_server__listen=:2",
		},
		want: []string{`server.listen: set by more than one environment variable: DUOMETER_SERVER__LISTEN, DUOMETER_server__listen`},
	}, {
		name: "file and environment problems together",
		file: `
[server]
log-format = "xml"
`,
		environ: []string{"DUOMETER_SERVER__LOG_LEVEL=loud"},
		want: []string{
			`server.log-format: must be "text" or "json", got "xml"`,
			`server.log-level: must be one of "debug", "info", "warn", "error", got "loud" (from environment variable DUOMETER_SERVER__LOG_LEVEL)`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			cfg, err := config.Load(path, tt.environ)
			if got := problems(err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if err != nil && !reflect.DeepEqual(cfg, config.Config{}) {
				t.Errorf("Load() returned a non-zero Config with an error: %+v", cfg)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.toml")
		_, err := config.Load(path, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Load(missing) = %v, want fs.ErrNotExist", err)
		}
		if !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("error %q does not start with the path", err)
		}
	})
	t.Run("syntax", func(t *testing.T) {
		path := writeFile(t, "[server]\nlisten = \"127.0.0.1:1\"\nlog-level = \n")
		_, err := config.Load(path, []string{"DUOMETER_SERVER__NOPE=1"})
		if err == nil {
			t.Fatal("Load succeeded")
		}
		lines := problems(err)
		if len(lines) != 2 {
			t.Fatalf("want a parse error and an environment error, got:\n%v", err)
		}
		if !strings.HasPrefix(lines[0], path+":3:") || !strings.Contains(lines[0], "toml: ") {
			t.Errorf("parse error %q lacks file name, line 3 or parser message", lines[0])
		}
		if want := "server.nope: unknown key (from environment variable DUOMETER_SERVER__NOPE)"; lines[1] != want {
			t.Errorf("second problem = %q, want %q", lines[1], want)
		}
	})
	t.Run("duplicate key", func(t *testing.T) {
		path := writeFile(t, "[server]\nlisten = \":1\"\nlisten = \":2\"\n")
		_, err := config.Load(path, nil)
		// go-toml reports no position for this one.
		if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "listen") {
			t.Errorf("Load() = %v, want an error naming %s and the key", err, path)
		}
	})
}

// TestExampleConfigs loads every example configuration shipped in configs/.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no ../../configs/*.toml files found")
	}
	checks := map[string]func(t *testing.T, c config.Config){
		"pull-only.toml": func(t *testing.T, c config.Config) {
			if !reflect.DeepEqual(c, config.DefaultConfig()) {
				t.Errorf("pull-only.toml does not spell out the defaults:\n%+v", c)
			}
		},
		"push-only.toml": func(t *testing.T, c config.Config) {
			o := c.Metrics.OpenTelemetry
			if c.Metrics.Prometheus.Enable || o.Transport != "grpc" || o.Endpoint != "http://127.0.0.1:4317" || o.Interval != 15*time.Second {
				t.Errorf("push-only.toml: %+v", c)
			}
		},
		"both.toml": func(t *testing.T, c config.Config) {
			o := c.Metrics.OpenTelemetry
			if !c.Metrics.Prometheus.Enable || o.Transport != "http" || o.Endpoint != "http://127.0.0.1:4318" ||
				o.Compression != "gzip" || len(o.Headers) == 0 {
				t.Errorf("both.toml: %+v", c)
			}
			if want := []string{"duometer.auth.success", "duometer.http.*"}; !reflect.DeepEqual(c.Metrics.DisabledEvents, want) {
				t.Errorf("both.toml: disabled-events = %q, want %q", c.Metrics.DisabledEvents, want)
			}
		},
		"user-events.toml": func(t *testing.T, c config.Config) {
			if len(c.Events) != 3 || c.Events[0].Name != "backup.completed" || c.Events[1].Kind != "histogram" {
				t.Errorf("user-events.toml: events = %+v", c.Events)
			}
			if want := []float64{1, 5, 30, 120, 600, 3600}; !reflect.DeepEqual(c.Events[1].Buckets, want) {
				t.Errorf("user-events.toml: buckets = %v, want %v", c.Events[1].Buckets, want)
			}
			if !c.Ingest.Enable || c.Ingest.MaxBody != 256<<10 {
				t.Errorf("user-events.toml: ingest = %+v", c.Ingest)
			}
			if err := c.DefineEvents(events.NewCatalog()); err != nil {
				t.Errorf("user-events.toml: DefineEvents: %v", err)
			}
		},
		"cluster.toml": func(t *testing.T, c config.Config) {
			want := config.Cluster{
				NodeName: "duometer@10.0.0.1",
				Peers:    []string{"http://10.0.0.2:9464", "http://10.0.0.3:9464"},
				Timeout:  3 * time.Second,
			}
			if !reflect.DeepEqual(c.Cluster, want) {
				t.Errorf("cluster.toml: cluster = %+v, want %+v", c.Cluster, want)
			}
		},
		"pushgateway.toml": func(t *testing.T, c config.Config) {
			want := config.DefaultConfig().Metrics.Pushgateway
			want.Enable = true
			if !reflect.DeepEqual(c.Metrics.Pushgateway, want) {
				t.Errorf("pushgateway.toml: pushgateway = %+v, want the defaults, enabled", c.Metrics.Pushgateway)
			}
		},
		"lifecycle.toml": func(t *testing.T, c config.Config) {
			want := config.DefaultConfig()
			want.Server.EnableLifecycle = true
			want.Storage = config.Storage{Path: "/var/tmp/duometer.snapshot", Interval: 15 * time.Second}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("lifecycle.toml:\n%+v\nwant the defaults with enable-lifecycle and [storage]:\n%+v", c, want)
			}
		},
		"with-auth.toml": func(t *testing.T, c config.Config) {
			a := c.Metrics.Prometheus.Auth
			if !c.Metrics.Prometheus.Enable || a.Username != "prometheus" || a.Secret.Reveal() != "change-me" {
				t.Errorf("with-auth.toml: %+v", c)
			}
		},
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := config.Load(file, nil)
			if err != nil {
				t.Fatalf("Load(%s):\n%v", file, err)
			}
			if check := checks[filepath.Base(file)]; check != nil {
				check(t, c)
			}
		})
	}
}

func TestLoadNewKeysFromEnvironment(t *testing.T) {
	got, err := config.Load("", []string{
		"DUOMETER_SERVER__TLS__CERT_FILE=/etc/duometer/cert.pem",
		"DUOMETER_SERVER__TLS__KEY_FILE=/etc/duometer/key.pem",
		"DUOMETER_METRICS__CARDINALITY_LIMIT=-1",
		"DUOMETER_METRICS__PUSHGATEWAY__ENABLE=true",
		"DUOMETER_METRICS__PUSHGATEWAY__URL=https://pushgateway.example:9091",
		"DUOMETER_METRICS__PUSHGATEWAY__INTERVAL=1m",
		"DUOMETER_METRICS__PUSHGATEWAY__METHOD=post",
		"DUOMETER_METRICS__PUSHGATEWAY__JOB_NAME=${cluster}",
		"DUOMETER_METRICS__PUSHGATEWAY__HEADERS=X-A: 1, X-B: 2",
		"DUOMETER_METRICS__PUSHGATEWAY__HEADERS__X_C=3,4",
		"DUOMETER_METRICS__PUSHGATEWAY__TIMEOUT=2s",
		"DUOMETER_METRICS__PUSHGATEWAY__AUTH__USERNAME=push",
		"DUOMETER_METRICS__PUSHGATEWAY__AUTH__SECRET=push-secret",
		"DUOMETER_INGEST__ENABLE=false",
		"DUOMETER_INGEST__TOKENS=a, b",
		"DUOMETER_INGEST__MAX_BODY=2MiB",
		"DUOMETER_INGEST__UNKNOWN_EVENTS=counter",
		"DUOMETER_INGEST__MAX_EVENTS=1000",
		"DUOMETER_INGEST__MAX_LABEL_VALUE_LENGTH=100",
		"DUOMETER_INGEST__MAX_IN_FLIGHT=8",
		"DUOMETER_INGEST__READ_TIMEOUT=2s",
		"DUOMETER_INGEST__MAX_AUTO_EVENTS=10",
		"DUOMETER_INGEST__MAX_AUTO_LABELS=3",
		"DUOMETER_INGEST__AUTO_TTL=0s",
		"DUOMETER_METRICS__MAX_SERIES=-1",
		"DUOMETER_METRICS__MAX_LABEL_BYTES=-1",
		"DUOMETER_CLUSTER__NODE_NAME=duometer@node-1",
		"DUOMETER_CLUSTER__PEERS=http://a:1,http://b:2",
		"DUOMETER_CLUSTER__TIMEOUT=1s",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := config.DefaultConfig()
	want.Server.TLS = config.ServerTLS{CertFile: "/etc/duometer/cert.pem", KeyFile: "/etc/duometer/key.pem"}
	want.Metrics.CardinalityLimit = -1
	want.Metrics.MaxSeries = -1
	want.Metrics.MaxLabelBytes = -1
	want.Metrics.Pushgateway = config.Pushgateway{
		Enable:   true,
		URL:      "https://pushgateway.example:9091",
		Interval: time.Minute,
		Method:   "post",
		JobName:  "${cluster}",
		Headers:  map[string]config.Secret{"X-A": "1", "X-B": "2", "x-c": "3,4"},
		Timeout:  2 * time.Second,
		Auth:     config.BasicAuth{Username: "push", Secret: "push-secret"},
	}
	want.Ingest = config.Ingest{Enable: false, Tokens: []config.Secret{"a", "b"}, MaxBody: 2 << 20, MaxEvents: 1000,
		MaxLabelValueLength: 100, MaxInFlight: 8, ReadTimeout: 2 * time.Second, UnknownEvents: "counter",
		MaxAutoEvents: 10, MaxAutoLabels: 3, AutoTTL: 0}
	want.Cluster = config.Cluster{NodeName: "duometer@node-1", Peers: []string{"http://a:1", "http://b:2"}, Timeout: time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if !got.Server.TLS.Enabled() {
		t.Error("server TLS not enabled")
	}

	t.Run("file", func(t *testing.T) {
		got, err := config.Load(writeFile(t, `
[server.tls]
cert-file = "c.pem"
key-file = "k.pem"
[metrics]
cardinality-limit = 10
[metrics.pushgateway]
headers = ["X-A: 1"]
[metrics.pushgateway.auth]
username = "u"
secret = "s"
[ingest]
tokens = ["t1", "t2"]
max-body = 4096
[cluster]
peers = ["http://a:1"]
`), []string{"DUOMETER_INGEST__TOKENS=", "DUOMETER_CLUSTER__NODE_NAME=x@y"})
		if err != nil {
			t.Fatal(err)
		}
		want := config.DefaultConfig()
		want.Server.TLS = config.ServerTLS{CertFile: "c.pem", KeyFile: "k.pem"}
		want.Metrics.CardinalityLimit = 10
		want.Metrics.Pushgateway.Headers = map[string]config.Secret{"X-A": "1"}
		want.Metrics.Pushgateway.Auth = config.BasicAuth{Username: "u", Secret: "s"}
		want.Ingest.MaxBody = 4096
		want.Cluster.Peers = []string{"http://a:1"}
		want.Cluster.NodeName = "x@y"
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got\n%+v\nwant\n%+v", got, want)
		}
	})
}

func TestLoadMaxBody(t *testing.T) {
	for value, want := range map[string]config.Size{
		`1`:            1,
		`1048576`:      1 << 20,
		`"100B"`:       100,
		`"100"`:        100,
		`"512KiB"`:     512 << 10,
		`"1MiB"`:       1 << 20,
		`"1GiB"`:       1 << 30,
		`"2KB"`:        2000,
		`"2MB"`:        2_000_000,
		`"1GB"`:        1_000_000_000,
		`"64kib"`:      64 << 10,
		`" 2 MiB "`:    2 << 20,
		`"8589934592"`: 8 << 30,
	} {
		got, err := config.Load(writeFile(t, "[ingest]\nmax-body = "+value+"\n"), nil)
		if err != nil {
			t.Errorf("max-body = %s: %v", value, err)
		} else if got.Ingest.MaxBody != want {
			t.Errorf("max-body = %s: got %d, want %d", value, got.Ingest.MaxBody, want)
		}
	}
	got, err := config.Load("", []string{"DUOMETER_INGEST__MAX_BODY=3KiB"})
	if err != nil || got.Ingest.MaxBody != 3<<10 {
		t.Errorf("DUOMETER_INGEST__MAX_BODY=3KiB: %d, %v", got.Ingest.MaxBody, err)
	}

	const units = `(units B, KB, MB, GB, KiB, MiB, GiB)`
	for value, want := range map[string]string{
		`0`:                      `ingest.max-body: must be positive, got 0`,
		`-5`:                     `ingest.max-body: must be positive, got -5`,
		`"0KiB"`:                 `ingest.max-body: must be positive, got 0`,
		`1.5`:                    `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB", got a float`,
		`true`:                   `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB", got a boolean`,
		`"1.5MiB"`:               `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB" ` + units + `, got "1.5MiB"`,
		`"1 MiBs"`:               `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB" ` + units + `, got "1 MiBs"`,
		`"MiB"`:                  `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB" ` + units + `, got "MiB"`,
		`"-1MiB"`:                `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB" ` + units + `, got "-1MiB"`,
		`""`:                     `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB" ` + units + `, got ""`,
		`"1TiB"`:                 `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB" ` + units + `, got "1TiB"`,
		`"9000000000GiB"`:        `ingest.max-body: size "9000000000GiB" is too large`,
		`"99999999999999999999"`: `ingest.max-body: size "99999999999999999999" is too large`,
	} {
		_, err := config.Load(writeFile(t, "[ingest]\nmax-body = "+value+"\n"), nil)
		if got := problems(err); len(got) != 1 || got[0] != want {
			t.Errorf("max-body = %s: error %q, want %q", value, got, want)
		}
	}
	_, err = config.Load("", []string{"DUOMETER_INGEST__MAX_BODY=lots"})
	if want := `ingest.max-body: expected a size in bytes such as 1048576 or "1MiB" ` + units + `, got "lots" (from environment variable DUOMETER_INGEST__MAX_BODY)`; err == nil || err.Error() != want {
		t.Errorf("DUOMETER_INGEST__MAX_BODY=lots: %v, want %s", err, want)
	}
	_, err = config.Load("", []string{"DUOMETER_INGEST__MAX_BODY=0"})
	if want := `ingest.max-body: must be positive, got 0 (from environment variable DUOMETER_INGEST__MAX_BODY)`; err == nil || err.Error() != want {
		t.Errorf("DUOMETER_INGEST__MAX_BODY=0: %v, want %s", err, want)
	}
}

func TestLoadNewKeyErrors(t *testing.T) {
	_, err := config.Load(writeFile(t, `
[server.tls]
cert-file = "c.pem"
[ingest]
tokens = ["ok", 3]
enable = "yes"
[cluster]
peers = "http://a:1"
node-name = "nobody"
[metrics]
cardinality-limit = "none"
[metrics.pushgateway]
interval = 15
headers = "X: 1"
`), []string{
		"DUOMETER_METRICS__PUSHGATEWAY__ENABLED=true",
		"DUOMETER_METRICS__PUSHGATEWAY__TIMEOUT=0s",
	})
	want := []string{
		`cluster.node-name: must have the form "name@host" (exactly one "@", non-empty parts), got "nobody"`,
		`cluster.peers: expected an array of strings, got a string`,
		`ingest.enable: expected true or false, got a string`,
		`ingest.tokens[1]: expected a string, got an integer`,
		`metrics.cardinality-limit: expected an integer, got a string`,
		`metrics.pushgateway.enabled: unknown key (from environment variable DUOMETER_METRICS__PUSHGATEWAY__ENABLED; did you mean DUOMETER_METRICS__PUSHGATEWAY__ENABLE?)`,
		`metrics.pushgateway.headers: expected a table or an array of "Name: Value" strings, got a string`,
		`metrics.pushgateway.interval: expected a duration string such as "30s", got an integer`,
		`metrics.pushgateway.timeout: must be positive, got "0s" (from environment variable DUOMETER_METRICS__PUSHGATEWAY__TIMEOUT)`,
		`server.tls: cert-file and key-file must be set together`,
	}
	if got := problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	_, err = config.Load("", []string{
		"DUOMETER_INGEST__TOKENS=a,,b",
		"DUOMETER_CLUSTER__PEERS=http://a:1,b:2",
		"DUOMETER_METRICS__CARDINALITY_LIMIT=0",
		"DUOMETER_SERVER__TLS__KEY_FILE=k.pem",
	})
	want = []string{
		`cluster.peers[1]: must be a URL with scheme http or https, got "b:2" (from environment variable DUOMETER_CLUSTER__PEERS)`,
		`ingest.tokens[1]: must not be empty (from environment variable DUOMETER_INGEST__TOKENS)`,
		`metrics.cardinality-limit: must be positive or -1, got 0 (from environment variable DUOMETER_METRICS__CARDINALITY_LIMIT)`,
		`server.tls: cert-file and key-file must be set together`,
	}
	if got := problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLoadLifecycleKeys pins server.enable-lifecycle and [storage], from the file and the
// environment, and their problems.
func TestLoadLifecycleKeys(t *testing.T) {
	dir := t.TempDir()
	got, err := config.Load(writeFile(t, "[server]\nenable-lifecycle = true\n[storage]\npath = \""+filepath.Join(dir, "snap")+"\"\ninterval = \"1m\"\n"), nil)
	if err != nil || !got.Server.EnableLifecycle || got.Storage != (config.Storage{Path: filepath.Join(dir, "snap"), Interval: time.Minute}) {
		t.Errorf("file: %+v, %+v, %v", got.Server, got.Storage, err)
	}
	got, err = config.Load("", []string{
		"DUOMETER_SERVER__ENABLE_LIFECYCLE=true",
		"DUOMETER_STORAGE__PATH=" + filepath.Join(dir, "snap"),
		"DUOMETER_STORAGE__INTERVAL=5s",
	})
	if err != nil || !got.Server.EnableLifecycle || got.Storage != (config.Storage{Path: filepath.Join(dir, "snap"), Interval: 5 * time.Second}) {
		t.Errorf("environment: %+v, %+v, %v", got.Server, got.Storage, err)
	}

	_, err = config.Load(writeFile(t, "[server]\nenable-lifecycle = \"yes\"\n[storage]\npath = 3\ninterval = \"0s\"\n"), []string{"DUOMETER_STORAGE__INTERVALL=1s"})
	want := []string{
		`server.enable-lifecycle: expected true or false, got a string`,
		`storage.interval: must be positive, got "0s"`,
		`storage.intervall: unknown key (from environment variable DUOMETER_STORAGE__INTERVALL; did you mean DUOMETER_STORAGE__INTERVAL?)`,
		`storage.path: expected a string, got an integer`,
	}
	if got := problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err = config.Load("", []string{"DUOMETER_STORAGE__PATH=" + filepath.Join(dir, "missing", "snap"), "DUOMETER_SERVER__ENABLE_LIFECYCLE=on"})
	want = []string{
		`server.enable-lifecycle: expected true or false, got "on" (from environment variable DUOMETER_SERVER__ENABLE_LIFECYCLE)`,
		`storage.path: directory ` + filepath.Join(dir, "missing") + ` does not exist (from environment variable DUOMETER_STORAGE__PATH)`,
	}
	if got := problems(err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
