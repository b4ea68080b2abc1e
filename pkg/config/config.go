package config

import (
	"log/slog"
	"os"
	"time"

	"github.com/duometer/duometer/pkg/events"
)

// Config is duometer's complete configuration.
type Config struct {
	Server  Server  `koanf:"server"`
	Metrics Metrics `koanf:"metrics"`
	// Events are the user-declared events, the TOML array of tables
	// [[events]]. They cannot be set from the environment.
	Events  []Event `koanf:"events"`
	Ingest  Ingest  `koanf:"ingest"`
	Cluster Cluster `koanf:"cluster"`
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
	// TLS makes the server serve HTTPS when both files are set.
	TLS ServerTLS `koanf:"tls"`
}

// ServerTLS is the server's certificate: with both files set the server
// serves HTTPS, with neither plain HTTP.
type ServerTLS struct {
	// CertFile is a PEM certificate (chain); KeyFile is its PEM private key.
	CertFile string `koanf:"cert-file"`
	KeyFile  string `koanf:"key-file"`
}

// Enabled reports whether the server serves HTTPS, that is whether both the
// certificate and the key file are set.
func (t ServerTLS) Enabled() bool {
	return t.CertFile != "" && t.KeyFile != ""
}

// Metrics configures which metrics are recorded and how they are exported.
type Metrics struct {
	// DisabledEvents lists event name patterns that are not recorded. A
	// pattern is an exact name, "*" (everything), "prefix*" or "*suffix".
	DisabledEvents []string `koanf:"disabled-events"`
	// CardinalityLimit is the most label sets (series) an event keeps unless
	// its definition sets its own; the rest are folded into one overflow
	// series. Positive, or -1 for no limit.
	CardinalityLimit int           `koanf:"cardinality-limit"`
	Prometheus       Prometheus    `koanf:"prometheus"`
	OpenTelemetry    OpenTelemetry `koanf:"open-telemetry"`
	Pushgateway      Pushgateway   `koanf:"pushgateway"`
}

// Event is one [[events]] entry: a user-declared event, with the same
// fields as the Go API's [events.Def].
type Event struct {
	// Name is dotted and lower case, e.g. "backup.completed". Required.
	Name string `koanf:"name"`
	// Kind is "counter", "updown", "gauge" or "histogram". Required.
	Kind string `koanf:"kind"`
	// Unit is a UCUM unit such as "s", "By" or "1", or empty.
	Unit string `koanf:"unit"`
	// Description is the help text.
	Description string `koanf:"description"`
	// Labels are the label keys every emission gives values for.
	Labels []string `koanf:"labels"`
	// Buckets are a histogram's upper bounds, strictly increasing. Empty
	// means the default bounds. TOML integers and floats are both accepted.
	Buckets []float64 `koanf:"buckets"`
	// CardinalityLimit is the most label sets the event keeps: 0 means
	// metrics.cardinality-limit, -1 no limit.
	CardinalityLimit int `koanf:"cardinality-limit"`
	// Aggregation says how a cluster merges the event's series: "" (sum),
	// "sum", "logical", "per-node" or "consistent".
	Aggregation string `koanf:"aggregation"`
}

// Ingest configures the HTTP ingestion API.
type Ingest struct {
	// Enable serves the ingestion API.
	Enable bool `koanf:"enable"`
	// Tokens are the accepted bearer tokens. Empty means that only loopback
	// clients are accepted. They are secrets: never printed.
	Tokens []Secret `koanf:"tokens"`
	// MaxBody is the largest accepted request body, in bytes. The file and
	// the environment may give it as an integer or as a string with a unit:
	// "512KiB", "1MiB", "2MB", "100B".
	MaxBody int64 `koanf:"max-body"`
	// UnknownEvents says what happens to an event that is not defined:
	// "reject" the request, or define it as a "counter".
	UnknownEvents string `koanf:"unknown-events"`
}

// Cluster configures the other duometer nodes this one answers for.
type Cluster struct {
	// NodeName names this node, "name@host". The default is
	// "duometer@" followed by the host name.
	NodeName string `koanf:"node-name"`
	// Peers are the base URLs of the other nodes, http:// or https://, e.g.
	// "http://10.0.0.2:9464".
	Peers []string `koanf:"peers"`
	// Timeout bounds one request to a peer.
	Timeout time.Duration `koanf:"timeout"`
}

// Pushgateway configures pushing metrics to a Prometheus Pushgateway.
//
// Header values are secrets: Pushgateway formats itself (fmt, encoding/json,
// log/slog) with every header value replaced by "<redacted>".
type Pushgateway struct {
	// Enable pushes metrics to the Pushgateway.
	Enable bool `koanf:"enable"`
	// URL is the Pushgateway's base URL, http:// or https://.
	URL string `koanf:"url"`
	// Interval is the time between two pushes.
	Interval time.Duration `koanf:"interval"`
	// Method is "put" (replace the group's metrics) or "post" (replace only
	// the metrics of the same names).
	Method string `koanf:"method"`
	// JobName is the grouping path after /metrics/job/. It may contain the
	// placeholders ${name}, ${host} and ${cluster}.
	JobName string `koanf:"job-name"`
	// Headers are sent with every push. The TOML file may give them as a
	// table or as a list of "Name: Value" strings.
	Headers map[string]string `koanf:"headers"`
	// Timeout bounds one push.
	Timeout time.Duration `koanf:"timeout"`
	// Auth optionally sends HTTP basic authentication.
	Auth BasicAuth `koanf:"auth"`
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

	unknownReject  = "reject"
	unknownCounter = "counter"

	methodPut  = "put"
	methodPost = "post"
)

// defaultNodeName is "duometer@" followed by the host name ("localhost" when
// it is unknown).
func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "duometer@" + host
}

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
			TLS:               ServerTLS{},
		},
		Metrics: Metrics{
			DisabledEvents:   nil,
			CardinalityLimit: events.DefaultCardinalityLimit,
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
			Pushgateway: Pushgateway{
				Enable:   false,
				URL:      "http://127.0.0.1:9091",
				Interval: 15 * time.Second,
				Method:   methodPut,
				JobName:  "${name}/instance/${name}~${host}",
				Headers:  nil,
				Timeout:  10 * time.Second,
			},
		},
		Events: nil,
		Ingest: Ingest{
			Enable:        true,
			Tokens:        nil,
			MaxBody:       1 << 20,
			UnknownEvents: unknownReject,
		},
		Cluster: Cluster{
			NodeName: defaultNodeName(),
			Peers:    nil,
			Timeout:  5 * time.Second,
		},
	}
}

// LogValue implements [slog.LogValuer]: the configuration is logged as nested
// groups named after the keys, with secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("server", c.Server),
		slog.Any("metrics", c.Metrics),
		slog.Any("events", c.Events),
		slog.Any("ingest", c.Ingest),
		slog.Any("cluster", c.Cluster),
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
		slog.Any("tls", s.TLS),
	)
}

// LogValue implements [slog.LogValuer].
func (t ServerTLS) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("cert-file", t.CertFile),
		slog.String("key-file", t.KeyFile),
	)
}

// LogValue implements [slog.LogValuer].
func (m Metrics) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("disabled-events", m.DisabledEvents),
		slog.Int("cardinality-limit", m.CardinalityLimit),
		slog.Any("prometheus", m.Prometheus),
		slog.Any("open-telemetry", m.OpenTelemetry),
		slog.Any("pushgateway", m.Pushgateway),
	)
}

// LogValue implements [slog.LogValuer].
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", e.Name),
		slog.String("kind", e.Kind),
		slog.String("unit", e.Unit),
		slog.String("description", e.Description),
		slog.Any("labels", e.Labels),
		slog.Any("buckets", e.Buckets),
		slog.Int("cardinality-limit", e.CardinalityLimit),
		slog.String("aggregation", e.Aggregation),
	)
}

// LogValue implements [slog.LogValuer]; the tokens are redacted.
func (i Ingest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("enable", i.Enable),
		slog.Any("tokens", i.Tokens),
		slog.Int64("max-body", i.MaxBody),
		slog.String("unknown-events", i.UnknownEvents),
	)
}

// LogValue implements [slog.LogValuer].
func (c Cluster) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("node-name", c.NodeName),
		slog.Any("peers", redactURLs(c.Peers)),
		slog.Duration("timeout", c.Timeout),
	)
}

// LogValue implements [slog.LogValuer]; header values are redacted.
func (p Pushgateway) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("enable", p.Enable),
		slog.String("url", redactURL(p.URL)),
		slog.Duration("interval", p.Interval),
		slog.String("method", p.Method),
		slog.String("job-name", p.JobName),
		slog.Attr{Key: "headers", Value: headersLogValue(p.Headers)},
		slog.Duration("timeout", p.Timeout),
		slog.Any("auth", p.Auth),
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
	return slog.GroupValue(
		slog.String("transport", o.Transport),
		slog.String("endpoint", redactURL(o.Endpoint)),
		slog.Duration("interval", o.Interval),
		slog.Duration("timeout", o.Timeout),
		slog.Attr{Key: "headers", Value: headersLogValue(o.Headers)},
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

// headersLogValue is a group of the headers with their values redacted.
func headersLogValue(h map[string]string) slog.Value {
	names := sortedKeys(h)
	headers := make([]slog.Attr, 0, len(names))
	for _, name := range names {
		headers = append(headers, slog.Any(name, Secret(h[name])))
	}
	return slog.GroupValue(headers...)
}
