package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"

	"github.com/duometer/duometer/pkg/config"
)

func TestValidate(t *testing.T) {
	ca, cert, key := tlsFiles(t)
	storageDir := t.TempDir()
	storageFile := filepath.Join(storageDir, "file")
	if err := os.WriteFile(storageFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		modify func(c *config.Config)
		want   []string // exact lines of the error; nil means valid
	}{
		// server
		{"listen on all interfaces", func(c *config.Config) { c.Server.Listen = ":9464" }, nil},
		{"listen on a random port", func(c *config.Config) { c.Server.Listen = "localhost:0" }, nil},
		{"listen on IPv6", func(c *config.Config) { c.Server.Listen = "[::1]:9464" }, nil},
		{"listen without port", func(c *config.Config) { c.Server.Listen = "127.0.0.1" },
			[]string{`server.listen: must be host:port, got "127.0.0.1"`}},
		{"listen with empty port", func(c *config.Config) { c.Server.Listen = "127.0.0.1:" },
			[]string{`server.listen: must be host:port, got "127.0.0.1:"`}},
		{"listen with port out of range", func(c *config.Config) { c.Server.Listen = ":65536" },
			[]string{`server.listen: must be host:port, got ":65536"`}},
		{"listen with named port", func(c *config.Config) { c.Server.Listen = ":http" },
			[]string{`server.listen: must be host:port, got ":http"`}},
		{"empty listen", func(c *config.Config) { c.Server.Listen = "" },
			[]string{`server.listen: must be host:port, got ""`}},
		{"json logs", func(c *config.Config) { c.Server.LogFormat = "json" }, nil},
		{"bad log format", func(c *config.Config) { c.Server.LogFormat = "logfmt" },
			[]string{`server.log-format: must be "text" or "json", got "logfmt"`}},
		{"every log level", func(c *config.Config) {
			for _, l := range []string{"debug", "info", "warn", "error"} {
				c.Server.LogLevel = l
				if err := c.Validate(); err != nil {
					t.Errorf("log-level %q: %v", l, err)
				}
			}
		}, nil},
		{"bad log level", func(c *config.Config) { c.Server.LogLevel = "INFO" },
			[]string{`server.log-level: must be one of "debug", "info", "warn", "error", got "INFO"`}},
		{"zero and negative timeouts", func(c *config.Config) {
			c.Server.ReadHeaderTimeout = 0
			c.Server.ReadTimeout = -time.Second
			c.Server.WriteTimeout = 0
			c.Server.IdleTimeout = 0
			c.Server.ShutdownTimeout = 0
		}, []string{
			`server.idle-timeout: must be positive, got "0s"`,
			`server.read-header-timeout: must be positive, got "0s"`,
			`server.read-timeout: must be positive, got "-1s"`,
			`server.shutdown-timeout: must be positive, got "0s"`,
			`server.write-timeout: must be positive, got "0s"`,
		}},
		{"max header bytes", func(c *config.Config) { c.Server.MaxHeaderBytes = 0 },
			[]string{`server.max-header-bytes: must be positive, got 0`}},

		// metrics.disabled-events
		{"good patterns", func(c *config.Config) {
			c.Metrics.DisabledEvents = []string{"duometer.auth.success", "*", "duometer.http.*", "*.failure"}
		}, nil},
		{"bad patterns", func(c *config.Config) {
			c.Metrics.DisabledEvents = []string{"ok", "", "a*b", "*a*", "**", "a", "a", "b", "c", "d", "x*y"}
		}, []string{
			`metrics.disabled-events[1]: must not be empty`,
			`metrics.disabled-events[2]: pattern "a*b" may only have "*" at its start or end`,
			`metrics.disabled-events[3]: pattern "*a*" may contain at most one "*"`,
			`metrics.disabled-events[4]: pattern "**" may contain at most one "*"`,
			`metrics.disabled-events[10]: pattern "x*y" may only have "*" at its start or end`,
		}},

		// metrics.prometheus
		{"disabled prometheus", func(c *config.Config) { c.Metrics.Prometheus.Enable = false }, nil},
		{"basic auth", func(c *config.Config) {
			c.Metrics.Prometheus.Auth = config.BasicAuth{Username: "prometheus", Secret: "s3cr3t"}
		}, nil},
		{"username without secret", func(c *config.Config) { c.Metrics.Prometheus.Auth.Username = "prometheus" },
			[]string{`metrics.prometheus.auth: username and secret must be set together`}},
		{"secret without username", func(c *config.Config) { c.Metrics.Prometheus.Auth.Secret = "s3cr3t" },
			[]string{`metrics.prometheus.auth: username and secret must be set together`}},
		{"username with colon", func(c *config.Config) {
			c.Metrics.Prometheus.Auth = config.BasicAuth{Username: "a:b", Secret: "s3cr3t"}
		}, []string{`metrics.prometheus.auth.username: must not contain ":"`}},

		// metrics.open-telemetry
		{"grpc push", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Transport = "grpc"
			c.Metrics.OpenTelemetry.Endpoint = "http://127.0.0.1:4317"
		}, nil},
		{"http push with path and TLS", func(c *config.Config) {
			o := &c.Metrics.OpenTelemetry
			o.Transport = "http"
			o.Endpoint = "https://otlp.example.com/v1/metrics"
			o.Headers = map[string]config.Secret{"Authorization": "Bearer x", "X-Scope-OrgID": "t"}
			o.Compression = "none"
			o.TLS = config.ClientTLS{CAFile: ca, CertFile: cert, KeyFile: key, ServerName: "otlp.example.com"}
		}, nil},
		{"endpoint kept while disabled", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Endpoint = "http://127.0.0.1:4317"
		}, nil},
		{"bad transport", func(c *config.Config) { c.Metrics.OpenTelemetry.Transport = "carrier-pigeon" },
			[]string{`metrics.open-telemetry.transport: must be one of "grpc", "http", "disable", got "carrier-pigeon"`}},
		{"missing endpoint", func(c *config.Config) { c.Metrics.OpenTelemetry.Transport = "http" },
			[]string{`metrics.open-telemetry.endpoint: required when transport is "http"`}},
		{"endpoint without scheme", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Transport = "grpc"
			c.Metrics.OpenTelemetry.Endpoint = "127.0.0.1:4317"
		}, []string{`metrics.open-telemetry.endpoint: must be a URL with scheme http or https, got "127.0.0.1:4317"`}},
		{"endpoint with other scheme", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Transport = "grpc"
			c.Metrics.OpenTelemetry.Endpoint = "grpc://collector:4317"
		}, []string{`metrics.open-telemetry.endpoint: must be a URL with scheme http or https, got "grpc://collector:4317"`}},
		{"bad endpoint while disabled", func(c *config.Config) { c.Metrics.OpenTelemetry.Endpoint = "collector" },
			[]string{`metrics.open-telemetry.endpoint: must be a URL with scheme http or https, got "collector"`}},
		{"endpoint without host", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Transport = "http"
			c.Metrics.OpenTelemetry.Endpoint = "http:///v1/metrics"
		}, []string{`metrics.open-telemetry.endpoint: must include a host[:port], got "http:///v1/metrics"`}},
		{"endpoint with bad port", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Transport = "http"
			c.Metrics.OpenTelemetry.Endpoint = "http://collector:99999"
		}, []string{`metrics.open-telemetry.endpoint: port must be a number from 1 to 65535, got "http://collector:99999"`}},
		{"endpoint with credentials", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Transport = "http"
			c.Metrics.OpenTelemetry.Endpoint = "https://user:hunter2@collector:4318"
		}, []string{`metrics.open-telemetry.endpoint: must not contain credentials; use headers instead`}},
		{"intervals", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Interval = 0
			c.Metrics.OpenTelemetry.Timeout = -time.Millisecond
		}, []string{
			`metrics.open-telemetry.interval: must be positive, got "0s"`,
			`metrics.open-telemetry.timeout: must be positive, got "-1ms"`,
		}},
		{"timeout above interval", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Interval = time.Second
			c.Metrics.OpenTelemetry.Timeout = time.Minute
		}, nil},
		{"bad headers", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Headers = map[string]config.Secret{
				"Authorization": "Bearer x",
				"authorization": "Bearer y",
				"bad name":      "v",
				"X-Split":       "a\r\nInjected: yes",
			}
		}, []string{
			`metrics.open-telemetry.headers."bad name": invalid header name`,
			`metrics.open-telemetry.headers.X-Split: value must not contain line breaks or NUL characters`,
			`metrics.open-telemetry.headers.authorization: duplicate of header "Authorization" (header names are case-insensitive)`,
		}},
		{"bad compression", func(c *config.Config) { c.Metrics.OpenTelemetry.Compression = "zstd" },
			[]string{`metrics.open-telemetry.compression: must be "gzip" or "none", got "zstd"`}},
		{"cert without key", func(c *config.Config) { c.Metrics.OpenTelemetry.TLS.CertFile = "c.pem" },
			[]string{`metrics.open-telemetry.tls: cert-file and key-file must be set together`}},
		{"key without cert", func(c *config.Config) { c.Metrics.OpenTelemetry.TLS.KeyFile = "k.pem" },
			[]string{`metrics.open-telemetry.tls: cert-file and key-file must be set together`}},
		{"TLS with plain http", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Transport = "grpc"
			c.Metrics.OpenTelemetry.Endpoint = "http://collector:4317"
			c.Metrics.OpenTelemetry.TLS.CAFile = ca
		}, []string{`metrics.open-telemetry.tls: TLS settings need an https:// endpoint, got "http://collector:4317"`}},
		{"TLS files that do not load", func(c *config.Config) { c.Metrics.OpenTelemetry.TLS.CAFile = "missing-ca.pem" },
			[]string{`metrics.open-telemetry.tls: unable to read CA cert: unable to read file missing-ca.pem: open missing-ca.pem: no such file or directory`}},
		{"TLS while disabled with plain http", func(c *config.Config) {
			c.Metrics.OpenTelemetry.Endpoint = "http://collector:4317"
			c.Metrics.OpenTelemetry.TLS.InsecureSkipVerify = true
		}, nil},

		// metrics.pushgateway.tls and cluster.tls: the same shape
		{"pushgateway TLS", func(c *config.Config) {
			c.Metrics.Pushgateway.URL = "https://pushgateway.example:9091"
			c.Metrics.Pushgateway.TLS = config.ClientTLS{CAFile: ca, CertFile: cert, KeyFile: key}
		}, nil},
		{"pushgateway TLS with plain http", func(c *config.Config) { c.Metrics.Pushgateway.TLS.ServerName = "pg.example" },
			[]string{`metrics.pushgateway.tls: TLS settings need an https:// url, got "http://127.0.0.1:9091"`}},
		{"pushgateway cert without key", func(c *config.Config) {
			c.Metrics.Pushgateway.URL = "https://pushgateway.example:9091"
			c.Metrics.Pushgateway.TLS.CertFile = cert
		}, []string{`metrics.pushgateway.tls: cert-file and key-file must be set together`}},
		{"cluster TLS", func(c *config.Config) {
			c.Cluster.Peers = []string{"http://10.0.0.2:9464", "https://10.0.0.3:9464"}
			c.Cluster.TLS = config.ClientTLS{CAFile: ca, InsecureSkipVerify: true}
		}, nil},
		{"cluster TLS without an https peer", func(c *config.Config) {
			c.Cluster.Peers = []string{"http://10.0.0.2:9464"}
			c.Cluster.TLS = config.ClientTLS{KeyFile: key}
		}, []string{
			`cluster.tls: TLS settings need at least one https:// peer`,
			`cluster.tls: cert-file and key-file must be set together`,
		}},

		// server.tls
		{"server TLS", func(c *config.Config) { c.Server.TLS = config.ServerTLS{CertFile: "c.pem", KeyFile: "k.pem"} }, nil},
		{"server cert without key", func(c *config.Config) { c.Server.TLS.CertFile = "c.pem" },
			[]string{`server.tls: cert-file and key-file must be set together`}},
		{"server key without cert", func(c *config.Config) { c.Server.TLS.KeyFile = "k.pem" },
			[]string{`server.tls: cert-file and key-file must be set together`}},

		// metrics.cardinality-limit
		{"no cardinality limit", func(c *config.Config) { c.Metrics.CardinalityLimit = -1 }, nil},
		{"small cardinality limit", func(c *config.Config) { c.Metrics.CardinalityLimit = 1 }, nil},
		{"zero cardinality limit", func(c *config.Config) { c.Metrics.CardinalityLimit = 0 },
			[]string{`metrics.cardinality-limit: must be positive or -1, got 0`}},
		{"negative cardinality limit", func(c *config.Config) { c.Metrics.CardinalityLimit = -2 },
			[]string{`metrics.cardinality-limit: must be positive or -1, got -2`}},

		// metrics.max-series
		{"no max series", func(c *config.Config) { c.Metrics.MaxSeries = -1 }, nil},
		{"small max series", func(c *config.Config) { c.Metrics.MaxSeries = 1 }, nil},
		{"zero max series", func(c *config.Config) { c.Metrics.MaxSeries = 0 },
			[]string{`metrics.max-series: must be positive or -1 (no limit), got 0`}},
		{"negative max series", func(c *config.Config) { c.Metrics.MaxSeries = -2 },
			[]string{`metrics.max-series: must be positive or -1 (no limit), got -2`}},

		// metrics.max-label-bytes
		{"no max label bytes", func(c *config.Config) { c.Metrics.MaxLabelBytes = -1 }, nil},
		{"zero max label bytes", func(c *config.Config) { c.Metrics.MaxLabelBytes = 0 },
			[]string{`metrics.max-label-bytes: must be positive or -1 (no limit), got 0`}},
		{"negative max label bytes", func(c *config.Config) { c.Metrics.MaxLabelBytes = -2 },
			[]string{`metrics.max-label-bytes: must be positive or -1 (no limit), got -2`}},

		// [[events]] ttl
		{"event ttl", func(c *config.Config) {
			c.Events = []config.Event{{Name: "a.b", Kind: "counter", TTL: time.Hour}, {Name: "a.c", Kind: "gauge"}}
		}, nil},
		{"negative event ttl", func(c *config.Config) {
			c.Events = []config.Event{{Name: "a.b", Kind: "counter", TTL: -time.Second}}
		}, []string{`events[0].ttl: must not be negative`}},

		// metrics.pushgateway
		{"pushgateway enabled with defaults", func(c *config.Config) { c.Metrics.Pushgateway.Enable = true }, nil},
		{"pushgateway everything set", func(c *config.Config) {
			g := &c.Metrics.Pushgateway
			g.Enable = true
			g.URL = "https://pushgateway.example.com/prefix"
			g.Method = "post"
			g.JobName = "metrics/cluster/${cluster}/node/${name}@${host}"
			g.Headers = map[string]config.Secret{"X-Scope-OrgID": "t"}
			g.Auth = config.BasicAuth{Username: "push", Secret: "s3cr3t"}
		}, nil},
		{"pushgateway bad values while disabled", func(c *config.Config) {
			g := &c.Metrics.Pushgateway
			g.URL = "127.0.0.1:9091"
			g.Interval = 0
			g.Timeout = -time.Second
			g.Method = "PATCH"
			g.Auth.Username = "push"
		}, []string{
			`metrics.pushgateway.auth: username and secret must be set together`,
			`metrics.pushgateway.interval: must be positive, got "0s"`,
			`metrics.pushgateway.method: must be "put" or "post", got "PATCH"`,
			`metrics.pushgateway.timeout: must be positive, got "-1s"`,
			`metrics.pushgateway.url: must be a URL with scheme http or https, got "127.0.0.1:9091"`,
		}},
		{"pushgateway empty URL", func(c *config.Config) { c.Metrics.Pushgateway.URL = "" },
			[]string{`metrics.pushgateway.url: must not be empty`}},
		{"pushgateway URL with credentials", func(c *config.Config) {
			c.Metrics.Pushgateway.URL = "http://user:hunter2@127.0.0.1:9091"
		}, []string{`metrics.pushgateway.url: must not contain credentials; use auth instead`}},
		{"pushgateway bad headers", func(c *config.Config) {
			c.Metrics.Pushgateway.Headers = map[string]config.Secret{"a b": "x", "X": "1\n2", "x": "y"}
		}, []string{
			`metrics.pushgateway.headers."a b": invalid header name`,
			`metrics.pushgateway.headers.X: value must not contain line breaks or NUL characters`,
			`metrics.pushgateway.headers.x: duplicate of header "X" (header names are case-insensitive)`,
		}},
		{"job name without placeholders", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "duometer" }, nil},
		{"empty job name", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "" },
			[]string{`metrics.pushgateway.job-name: must not be empty`}},
		{"unknown job name placeholder", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "${name}/instance/${hostname}" },
			[]string{`metrics.pushgateway.job-name: unknown placeholder ${hostname}: only ${cluster}, ${host} and ${name} are allowed`}},
		{"unterminated job name placeholder", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "${name" },
			[]string{`metrics.pushgateway.job-name: unterminated "${" in "${name"`}},
		{"dollar without a brace in job name", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "job$1" }, nil},
		{"job name with two unknown placeholders", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "${a}/instance/${b" },
			[]string{
				`metrics.pushgateway.job-name: unknown placeholder ${a}: only ${cluster}, ${host} and ${name} are allowed`,
				`metrics.pushgateway.job-name: unterminated "${" in "${b"`,
			}},
		{"job name with a label but no value", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "duometer/instance" },
			[]string{`metrics.pushgateway.job-name: must be a job name followed by label/value pairs, all separated by "/", got "duometer/instance"`}},
		{"job name starting with a slash", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "/a/b" },
			[]string{`metrics.pushgateway.job-name: the job name (before the first "/") is empty in "/a/b"`}},
		{"job name with a bad label", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "d/in-stance/x" },
			[]string{`metrics.pushgateway.job-name: grouping label name "in-stance" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __`}},
		{"job name with a job label", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "d/job/x" },
			[]string{`metrics.pushgateway.job-name: "job" cannot be a grouping label: it is the first component`}},
		{"job name with a repeated label", func(c *config.Config) { c.Metrics.Pushgateway.JobName = "d/a/x/a/y" },
			[]string{`metrics.pushgateway.job-name: grouping label "a" appears twice`}},

		// ingest
		{"ingest tokens", func(c *config.Config) {
			c.Ingest.Tokens = []config.Secret{"t0k3n-a", "t0k3n-b"}
			c.Ingest.UnknownEvents = "counter"
			c.Ingest.Enable = false
		}, nil},
		{"bad ingest", func(c *config.Config) {
			c.Ingest.Tokens = []config.Secret{"ok", "", "with space", "ok"}
			c.Ingest.MaxBody = 0
			c.Ingest.UnknownEvents = "gauge"
		}, []string{
			`ingest.max-body: must be positive, got 0`,
			`ingest.tokens[1]: must not be empty`,
			`ingest.tokens[2]: must not contain spaces or control characters`,
			`ingest.tokens[3]: duplicate of ingest.tokens[0]`,
			`ingest.unknown-events: must be "reject" or "counter", got "gauge"`,
		}},
		{"negative max body", func(c *config.Config) { c.Ingest.MaxBody = -1 },
			[]string{`ingest.max-body: must be positive, got -1`}},
		{"ingest limits at their smallest", func(c *config.Config) {
			in := &c.Ingest
			in.MaxEvents, in.MaxLabelValueLength, in.MaxInFlight, in.MaxAutoEvents, in.MaxAutoLabels = 1, 1, 1, 1, 1
			in.ReadTimeout, in.AutoTTL = time.Millisecond, 0
		}, nil},
		{"ingest max-auto-labels at its largest", func(c *config.Config) { c.Ingest.MaxAutoLabels = 64 }, nil},
		{"bad ingest limits", func(c *config.Config) {
			in := &c.Ingest
			in.MaxEvents, in.MaxLabelValueLength, in.MaxInFlight, in.MaxAutoEvents, in.MaxAutoLabels = 0, -1, 0, -5, 0
			in.ReadTimeout, in.AutoTTL = 0, -time.Hour
		}, []string{
			`ingest.auto-ttl: must not be negative (0 means never), got "-1h0m0s"`,
			`ingest.max-auto-events: must be positive, got -5`,
			`ingest.max-auto-labels: must be from 1 to 64, got 0`,
			`ingest.max-events: must be positive, got 0`,
			`ingest.max-in-flight: must be positive, got 0`,
			`ingest.max-label-value-length: must be positive, got -1`,
			`ingest.read-timeout: must be positive, got "0s"`,
		}},
		{"too many auto labels", func(c *config.Config) { c.Ingest.MaxAutoLabels = 65 },
			[]string{`ingest.max-auto-labels: must be from 1 to 64, got 65`}},

		// cluster
		{"cluster", func(c *config.Config) {
			c.Cluster.NodeName = "duometer@10.0.0.1"
			c.Cluster.Peers = []string{"http://10.0.0.2:9464", "https://node-3.example/duometer/", "http://[::1]:9464"}
		}, nil},
		{"node names", func(c *config.Config) {
			for _, name := range []string{"", "duometer", "@host", "duometer@", "a@b@c", "a b@c"} {
				c.Cluster.NodeName = name
				if c.Validate() == nil {
					t.Errorf("node-name %q accepted", name)
				}
			}
			c.Cluster.NodeName = "a@b@c"
		}, []string{`cluster.node-name: must have the form "name@host" (exactly one "@", non-empty parts), got "a@b@c"`}},
		{"node name with a space", func(c *config.Config) { c.Cluster.NodeName = "duo meter@host" },
			[]string{`cluster.node-name: must not contain spaces or control characters, got "duo meter@host"`}},
		{"bad peers", func(c *config.Config) {
			c.Cluster.Peers = []string{
				"10.0.0.2:9464",
				"ftp://10.0.0.2",
				"http://",
				"http://u:hunter2@10.0.0.2:9464",
				"http://10.0.0.2:9464/?x=1",
				"http://10.0.0.2:99999",
				"http://10.0.0.3:9464",
				"http://10.0.0.3:9464",
			}
			c.Cluster.Timeout = 0
		}, []string{
			`cluster.peers[0]: must be a URL with scheme http or https, got "10.0.0.2:9464"`,
			`cluster.peers[1]: must be a URL with scheme http or https, got "ftp://10.0.0.2"`,
			`cluster.peers[2]: must include a host[:port], got "http://"`,
			`cluster.peers[3]: must not contain credentials`,
			`cluster.peers[4]: must be a base URL without query or fragment, got "http://10.0.0.2:9464/?x=1"`,
			`cluster.peers[5]: port must be a number from 1 to 65535, got "http://10.0.0.2:99999"`,
			`cluster.peers[7]: duplicate of cluster.peers[6]`,
			`cluster.timeout: must be positive, got "0s"`,
		}},

		// storage
		{"storage", func(c *config.Config) {
			c.Storage = config.Storage{Path: filepath.Join(storageDir, "snapshot"), Interval: time.Minute}
		}, nil},
		{"storage in the working directory", func(c *config.Config) { c.Storage.Path = "snapshot" }, nil},
		{"storage file that exists", func(c *config.Config) { c.Storage.Path = storageFile }, nil},
		{"storage directory missing", func(c *config.Config) { c.Storage.Path = filepath.Join(storageDir, "no", "snapshot") },
			[]string{`storage.path: directory ` + filepath.Join(storageDir, "no") + ` does not exist`}},
		{"storage directory is a file", func(c *config.Config) { c.Storage.Path = filepath.Join(storageFile, "snapshot") },
			[]string{`storage.path: ` + storageFile + ` is not a directory`}},
		{"storage path is a directory", func(c *config.Config) { c.Storage.Path = storageDir },
			[]string{`storage.path: ` + storageDir + ` is a directory; give the path of the snapshot file in it`}},
		{"storage interval", func(c *config.Config) { c.Storage.Interval = 0 },
			[]string{`storage.interval: must be positive, got "0s"`}},
		{"storage interval while off", func(c *config.Config) { c.Storage.Interval = -time.Second },
			[]string{`storage.interval: must be positive, got "-1s"`}},

		{"everything at once is sorted by key", func(c *config.Config) {
			c.Server.LogFormat = "xml"
			c.Metrics.OpenTelemetry.Compression = "br"
			c.Server.Listen = "x"
		}, []string{
			`metrics.open-telemetry.compression: must be "gzip" or "none", got "br"`,
			`server.listen: must be host:port, got "x"`,
			`server.log-format: must be "text" or "json", got "xml"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if got := problems(err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate():\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if err != nil {
				if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(tt.want) {
					t.Errorf("Validate() joined %d errors, want %d", n, len(tt.want))
				}
			}
		})
	}
}

func TestBasicAuthEnabled(t *testing.T) {
	for _, tt := range []struct {
		auth config.BasicAuth
		want bool
	}{
		{config.BasicAuth{}, false},
		{config.BasicAuth{Username: "u"}, false},
		{config.BasicAuth{Secret: "s"}, false},
		{config.BasicAuth{Username: "u", Secret: "s"}, true},
	} {
		if got := tt.auth.Enabled(); got != tt.want {
			t.Errorf("%+v.Enabled() = %v, want %v", tt.auth, got, tt.want)
		}
	}
}

func TestServerTLSEnabled(t *testing.T) {
	for _, tt := range []struct {
		tls  config.ServerTLS
		want bool
	}{
		{config.ServerTLS{}, false},
		{config.ServerTLS{CertFile: "c.pem"}, false},
		{config.ServerTLS{KeyFile: "k.pem"}, false},
		{config.ServerTLS{CertFile: "c.pem", KeyFile: "k.pem"}, true},
	} {
		if got := tt.tls.Enabled(); got != tt.want {
			t.Errorf("%+v.Enabled() = %v, want %v", tt.tls, got, tt.want)
		}
	}
}

// tlsFiles writes a self-signed certificate and its key to a temporary directory and returns
// the paths of the certificate (as a CA file), of the certificate again (as a client
// certificate) and of the key.
func tlsFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	cert, key, _ = testutil.SelfSigned(t, time.Now().Add(time.Hour))
	return cert, cert, key
}
