package config

import (
	"log/slog"
	"time"
)

// Config is duometer's complete configuration.
type Config struct {
	Server  Server  `koanf:"server"`
	Metrics Metrics `koanf:"metrics"`
}

// Server configures the HTTP server and logging.
type Server struct {
	// Listen is the host:port the HTTP server listens on.
	Listen string `koanf:"listen"`
	// LogFormat is "text" or "json".
	LogFormat string `koanf:"log-format"`
	// LogLevel is "debug", "info", "warn" or "error".
	LogLevel string `koanf:"log-level"`
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// net/http.Server timeouts of the same names.
	ReadHeaderTimeout time.Duration `koanf:"read-header-timeout"`
	ReadTimeout       time.Duration `koanf:"read-timeout"`
	WriteTimeout      time.Duration `koanf:"write-timeout"`
	IdleTimeout       time.Duration `koanf:"idle-timeout"`
	// MaxHeaderBytes is net/http.Server.MaxHeaderBytes.
	MaxHeaderBytes int `koanf:"max-header-bytes"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `koanf:"shutdown-timeout"`
	// InstanceID identifies this process in exported metrics. Empty means
	// the server generates one at start.
	InstanceID string `koanf:"instance-id"`
}

// Metrics configures which metrics are recorded and how they are exported.
type Metrics struct {
	// DisabledEvents lists event name patterns that are not recorded. A
	// pattern is an exact name, "*" (everything), "prefix*" or "*suffix".
	DisabledEvents []string      `koanf:"disabled-events"`
	Prometheus     Prometheus    `koanf:"prometheus"`
	OpenTelemetry  OpenTelemetry `koanf:"open-telemetry"`
}

// Prometheus configures the Prometheus pull endpoint.
type Prometheus struct {
	// Enable serves metrics for Prometheus to scrape.
	Enable bool `koanf:"enable"`
	// Auth optionally protects the endpoint with HTTP basic authentication.
	Auth BasicAuth `koanf:"auth"`
}

// BasicAuth holds HTTP basic authentication credentials. Username and Secret
// are either both set or both empty.
type BasicAuth struct {
	Username string `koanf:"username"`
	Secret   Secret `koanf:"secret"`
}

// Enabled reports whether basic authentication is configured, that is
// whether both the username and the secret are set.
func (a BasicAuth) Enabled() bool {
	return a.Username != "" && a.Secret != ""
}

// OpenTelemetry configures pushing metrics with OTLP.
//
// Header values are secrets: OpenTelemetry formats itself (fmt, encoding/json,
// log/slog) with every header value replaced by "<redacted>". Printing the
// Headers map on its own does not redact it.
type OpenTelemetry struct {
	// Transport is "grpc", "http" or "disable".
	Transport string `koanf:"transport"`
	// Endpoint is the collector's absolute http:// or https:// URL. It is
	// required unless Transport is "disable". No default port is filled in.
	Endpoint string `koanf:"endpoint"`
	// Interval is the time between two pushes.
	Interval time.Duration `koanf:"interval"`
	// Timeout bounds one push.
	Timeout time.Duration `koanf:"timeout"`
	// Headers are sent with every push. The TOML file may give them as a
	// table or as a list of "Name: Value" strings.
	Headers map[string]string `koanf:"headers"`
	// Compression is "gzip" or "none".
	Compression string `koanf:"compression"`
	TLS         TLS    `koanf:"tls"`
}

// TLS configures the client side of the OTLP connection.
type TLS struct {
	// CAFile is a PEM file of CA certificates used instead of the system
	// pool to verify the collector.
	CAFile string `koanf:"ca-file"`
	// CertFile and KeyFile are a PEM client certificate and its key; both or
	// neither are set.
	CertFile string `koanf:"cert-file"`
	KeyFile  string `koanf:"key-file"`
	// InsecureSkipVerify disables verification of the collector's
	// certificate.
	InsecureSkipVerify bool `koanf:"insecure-skip-verify"`
}

// Accepted values of the enumerated settings.
const (
	transportGRPC    = "grpc"
	transportHTTP    = "http"
	transportDisable = "disable"
)

// DefaultConfig returns the built-in defaults. It validates cleanly.
func DefaultConfig() Config {
	return Config{
		Server: Server{
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
		},
		Metrics: Metrics{
			DisabledEvents: nil,
			Prometheus: Prometheus{
				Enable: true,
			},
			OpenTelemetry: OpenTelemetry{
				Transport:   transportDisable,
				Endpoint:    "",
				Interval:    time.Minute,
				Timeout:     10 * time.Second,
				Headers:     nil,
				Compression: "gzip",
			},
		},
	}
}

// LogValue implements [slog.LogValuer]: the configuration is logged as nested
// groups named after the keys, with secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("server", c.Server),
		slog.Any("metrics", c.Metrics),
	)
}

// LogValue implements [slog.LogValuer].
func (s Server) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", s.Listen),
		slog.String("log-format", s.LogFormat),
		slog.String("log-level", s.LogLevel),
		slog.Duration("read-header-timeout", s.ReadHeaderTimeout),
		slog.Duration("read-timeout", s.ReadTimeout),
		slog.Duration("write-timeout", s.WriteTimeout),
		slog.Duration("idle-timeout", s.IdleTimeout),
		slog.Int("max-header-bytes", s.MaxHeaderBytes),
		slog.Duration("shutdown-timeout", s.ShutdownTimeout),
		slog.String("instance-id", s.InstanceID),
	)
}

// LogValue implements [slog.LogValuer].
func (m Metrics) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("disabled-events", m.DisabledEvents),
		slog.Any("prometheus", m.Prometheus),
		slog.Any("open-telemetry", m.OpenTelemetry),
	)
}

// LogValue implements [slog.LogValuer].
func (p Prometheus) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("enable", p.Enable),
		slog.Any("auth", p.Auth),
	)
}

// LogValue implements [slog.LogValuer]; the secret is redacted.
func (a BasicAuth) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("username", a.Username),
		slog.Any("secret", a.Secret),
	)
}

// LogValue implements [slog.LogValuer]; header values are redacted.
func (o OpenTelemetry) LogValue() slog.Value {
	names := sortedKeys(o.Headers)
	headers := make([]slog.Attr, 0, len(names))
	for _, name := range names {
		headers = append(headers, slog.Any(name, Secret(o.Headers[name])))
	}
	return slog.GroupValue(
		slog.String("transport", o.Transport),
		slog.String("endpoint", redactURL(o.Endpoint)),
		slog.Duration("interval", o.Interval),
		slog.Duration("timeout", o.Timeout),
		slog.Attr{Key: "headers", Value: slog.GroupValue(headers...)},
		slog.String("compression", o.Compression),
		slog.Any("tls", o.TLS),
	)
}

// LogValue implements [slog.LogValuer].
func (t TLS) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("ca-file", t.CAFile),
		slog.String("cert-file", t.CertFile),
		slog.String("key-file", t.KeyFile),
		slog.Bool("insecure-skip-verify", t.InsecureSkipVerify),
	)
}
