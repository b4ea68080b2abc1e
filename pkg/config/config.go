package config

import (
	"crypto/tls"
	"os"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/duometer/duometer/pkg/events"
)

// Config is duometer's configuration. Each field's koanf tag is its key; docs/configuration.md
// describes every key.
type Config struct {
	Server  Server  `koanf:"server"`
	Metrics Metrics `koanf:"metrics"`
	// Events are the [[events]] entries. They cannot be set from the environment.
	Events  []Event `koanf:"events"`
	Ingest  Ingest  `koanf:"ingest"`
	Cluster Cluster `koanf:"cluster"`
	Storage Storage `koanf:"storage"`
}

// Server configures the HTTP server and logging.
type Server struct {
	Listen    string `koanf:"listen"`     // host:port
	LogFormat string `koanf:"log-format"` // "text" or "json"
	LogLevel  string `koanf:"log-level"`  // "debug", "info", "warn" or "error"
	// The net/http.Server settings of the same names.
	ReadHeaderTimeout time.Duration `koanf:"read-header-timeout"`
	ReadTimeout       time.Duration `koanf:"read-timeout"`
	WriteTimeout      time.Duration `koanf:"write-timeout"`
	IdleTimeout       time.Duration `koanf:"idle-timeout"`
	MaxHeaderBytes    int           `koanf:"max-header-bytes"`
	ShutdownTimeout   time.Duration `koanf:"shutdown-timeout"` // bounds the graceful shutdown
	// InstanceID identifies this process in exported metrics; empty, the server makes one.
	InstanceID string `koanf:"instance-id"`
	// EnableLifecycle serves POST and PUT /-/reload, as Prometheus's --web.enable-lifecycle.
	EnableLifecycle bool      `koanf:"enable-lifecycle"`
	TLS             ServerTLS `koanf:"tls"`
}

// ServerTLS is the server's PEM certificate (chain) and key: with both files set the server
// serves HTTPS, with neither plain HTTP.
type ServerTLS struct {
	CertFile string `koanf:"cert-file"`
	KeyFile  string `koanf:"key-file"`
}

// Enabled reports whether the server serves HTTPS: both files are set.
func (t ServerTLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// ClientTLS configures the client side of TLS connections to https:// URLs, in one shape for
// the OTLP collector, the Pushgateway and the cluster peers. The zero value verifies servers
// against the system's CAs.
type ClientTLS struct {
	CAFile string `koanf:"ca-file"` // PEM CA certificates used instead of the system's
	// CertFile and KeyFile are a PEM client certificate and its key, both or neither.
	CertFile           string `koanf:"cert-file"`
	KeyFile            string `koanf:"key-file"`
	ServerName         string `koanf:"server-name"` // checked against the certificate instead of the URL's host
	InsecureSkipVerify bool   `koanf:"insecure-skip-verify"`
}

// Common returns t in the shape Prometheus's clients take (promconfig.NewTLSConfig,
// promconfig.HTTPClientConfig), with TLS 1.2 as the minimum version.
func (t ClientTLS) Common() promconfig.TLSConfig {
	return promconfig.TLSConfig{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: promconfig.TLSVersion(tls.VersionTLS12)}
}

// Metrics configures which metrics are recorded and how they are exported.
type Metrics struct {
	// DisabledEvents are [events.Pattern]s of events not recorded.
	DisabledEvents []string `koanf:"disabled-events"`
	// CardinalityLimit is the most series an event keeps unless it sets its own: positive,
	// or -1 for no limit.
	CardinalityLimit int `koanf:"cardinality-limit"`
	// MaxSeries is the most series of all events together: positive, or -1 for no limit.
	MaxSeries int `koanf:"max-series"`
	// MaxLabelBytes is the most bytes of label values of all series together: positive, or
	// -1 for no limit.
	MaxLabelBytes Size          `koanf:"max-label-bytes"`
	Prometheus    Prometheus    `koanf:"prometheus"`
	OpenTelemetry OpenTelemetry `koanf:"open-telemetry"`
	Pushgateway   Pushgateway   `koanf:"pushgateway"`
}

// Event is one [[events]] entry, with the fields of [events.Def] (see [Event.Def]).
type Event struct {
	Name             string    `koanf:"name"`
	Kind             string    `koanf:"kind"` // "counter", "updown", "gauge" or "histogram"
	Unit             string    `koanf:"unit"`
	Description      string    `koanf:"description"`
	Labels           []string  `koanf:"labels"`
	Buckets          []float64 `koanf:"buckets"`
	CardinalityLimit int       `koanf:"cardinality-limit"` // 0: metrics.cardinality-limit; -1: none
	Aggregation      string    `koanf:"aggregation"`       // "" (sum), "sum", "logical", "per-node" or "consistent"
	// TTL makes a series not updated for that long expire; 0: never.
	TTL time.Duration `koanf:"ttl"`
}

// Size is a number of bytes: in the file an integer or a string with a unit ("512KiB",
// "2MB"), in the environment a string.
type Size int64

// Ingest configures the HTTP ingestion API and its limits.
type Ingest struct {
	Enable bool `koanf:"enable"`
	// Tokens are the accepted bearer tokens; with none, only loopback clients are accepted.
	Tokens              []Secret      `koanf:"tokens"`
	MaxBody             Size          `koanf:"max-body"`               // the largest request body
	MaxEvents           int           `koanf:"max-events"`             // events in one request
	MaxLabelValueLength int           `koanf:"max-label-value-length"` // bytes of a label value
	MaxInFlight         int           `koanf:"max-in-flight"`          // requests served at once
	ReadTimeout         time.Duration `koanf:"read-timeout"`           // for a request's body to arrive
	UnknownEvents       string        `koanf:"unknown-events"`         // "reject" or "counter"
	MaxAutoEvents       int           `koanf:"max-auto-events"`        // events "counter" declares
	MaxAutoLabels       int           `koanf:"max-auto-labels"`        // labels of an event it declares
	AutoTTL             time.Duration `koanf:"auto-ttl"`               // TTL of the events it declares; 0: never
}

// Cluster configures the other duometer nodes this one answers for.
type Cluster struct {
	NodeName string        `koanf:"node-name"` // "name@host"
	Peers    []string      `koanf:"peers"`     // base URLs, http:// or https://
	Timeout  time.Duration `koanf:"timeout"`   // bounds one request to a peer
	TLS      ClientTLS     `koanf:"tls"`
}

// Pushgateway configures pushing to a Prometheus Pushgateway.
type Pushgateway struct {
	Enable   bool          `koanf:"enable"`
	URL      string        `koanf:"url"` // base URL, http:// or https://
	Interval time.Duration `koanf:"interval"`
	Method   string        `koanf:"method"` // "put" or "post"
	// JobName is a template for [RenderJobName], with ${name}, ${host} and ${cluster}.
	JobName string `koanf:"job-name"`
	// Headers are sent with every push; the file gives a table or "Name: Value" strings.
	Headers map[string]Secret `koanf:"headers"`
	Timeout time.Duration     `koanf:"timeout"`
	Auth    BasicAuth         `koanf:"auth"`
	TLS     ClientTLS         `koanf:"tls"`
}

// Prometheus configures the Prometheus pull endpoint.
type Prometheus struct {
	Enable bool `koanf:"enable"`
	// MaxInFlight is the most scrapes served at once, of every pull endpoint and mode
	// together: past it, 503.
	MaxInFlight int       `koanf:"max-in-flight"`
	Auth        BasicAuth `koanf:"auth"`
}

// BasicAuth holds HTTP basic authentication credentials: both fields or neither.
type BasicAuth struct {
	Username string `koanf:"username"`
	Secret   Secret `koanf:"secret"`
}

// Enabled reports whether both the username and the secret are set.
func (a BasicAuth) Enabled() bool { return a.Username != "" && a.Secret != "" }

// OpenTelemetry configures pushing with OTLP.
type OpenTelemetry struct {
	Transport string `koanf:"transport"` // "grpc", "http" or "disable"
	// Endpoint is the collector's http:// or https:// URL, required unless the transport is
	// "disable". No port is filled in.
	Endpoint string        `koanf:"endpoint"`
	Interval time.Duration `koanf:"interval"`
	Timeout  time.Duration `koanf:"timeout"`
	// Headers are sent with every push; the file gives a table or "Name: Value" strings.
	Headers     map[string]Secret `koanf:"headers"`
	Compression string            `koanf:"compression"` // "gzip" or "none"
	TLS         ClientTLS         `koanf:"tls"`
}

// Storage configures the snapshot file that keeps every series' value across restarts.
type Storage struct {
	Path     string        `koanf:"path"`     // the snapshot file; "" for none
	Interval time.Duration `koanf:"interval"` // time between two snapshots
}

// DefaultMaxSeries is the default of metrics.max-series.
const DefaultMaxSeries = 50_000

// DefaultMaxLabelBytes is the default of metrics.max-label-bytes.
const DefaultMaxLabelBytes = 16 << 20

// MaxAutoLabels is the largest ingest.max-auto-labels: the most labels an event may carry.
const MaxAutoLabels = 64

// DefaultConfig returns the built-in defaults, which validate. Its lists and maps are nil:
// Load decodes onto it, and an empty list leaves a key at its default.
func DefaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return Config{
		Server: Server{
			Listen: "127.0.0.1:9464", LogFormat: "text", LogLevel: "info",
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16384, ShutdownTimeout: 15 * time.Second,
		},
		Metrics: Metrics{
			CardinalityLimit: events.DefaultCardinalityLimit,
			MaxSeries:        DefaultMaxSeries,
			MaxLabelBytes:    DefaultMaxLabelBytes,
			Prometheus:       Prometheus{Enable: true, MaxInFlight: 16},
			OpenTelemetry:    OpenTelemetry{Transport: "disable", Interval: time.Minute, Timeout: 10 * time.Second, Compression: "gzip"},
			Pushgateway: Pushgateway{URL: "http://127.0.0.1:9091", Interval: 15 * time.Second, Method: "put",
				JobName: DefaultJobName, Timeout: 10 * time.Second},
		},
		Ingest: Ingest{Enable: true, MaxBody: 1 << 20, MaxEvents: 100_000, MaxLabelValueLength: 256,
			MaxInFlight: 64, ReadTimeout: 10 * time.Second, UnknownEvents: "reject",
			MaxAutoEvents: 100, MaxAutoLabels: 8, AutoTTL: 24 * time.Hour},
		Cluster: Cluster{NodeName: "duometer@" + host, Timeout: 5 * time.Second},
		Storage: Storage{Interval: 30 * time.Second},
	}
}
