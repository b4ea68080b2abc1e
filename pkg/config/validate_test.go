package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
)

func TestValidate(t *testing.T) {
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
			o.Headers = map[string]string{"Authorization": "Bearer x", "X-Scope-OrgID": "t"}
			o.Compression = "none"
			o.TLS = config.TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}
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
			c.Metrics.OpenTelemetry.Headers = map[string]string{
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
			c.Metrics.OpenTelemetry.TLS.CAFile = "ca.pem"
		}, []string{`metrics.open-telemetry.tls: TLS settings need an https:// endpoint, got "http://collector:4317"`}},

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
