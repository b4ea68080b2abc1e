package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	promconfig "github.com/prometheus/common/config"

	"github.com/duometer/duometer/pkg/events"
)

// Every Validate method returns all the problems of its struct, joined with [errors.Join] and
// sorted, each "key: message" with the key relative to the struct (none for the struct
// itself), or nil. A parent validates its children and puts their keys below its own.

// Validate checks the whole configuration: keys are full key paths, such as
// "metrics.open-telemetry.endpoint". It reads the client TLS files.
func (c Config) Validate() error {
	r := report(problems("", validateEvents(c.Events)))
	r.sub("server", c.Server.Validate())
	r.sub("metrics", c.Metrics.Validate())
	r.sub("ingest", c.Ingest.Validate())
	r.sub("cluster", c.Cluster.Validate())
	r.sub("storage", c.Storage.Validate())
	return r.err()
}

// Validate checks [server].
func (s Server) Validate() error {
	var r report
	if host, port, err := net.SplitHostPort(s.Listen); err != nil || strings.ContainsAny(host, " \t") || !isPort(port, 0) {
		r.add("listen", "must be host:port, got %q", s.Listen)
	}
	r.oneOf("log-format", s.LogFormat, "text", "json")
	r.oneOf("log-level", s.LogLevel, "debug", "info", "warn", "error")
	r.positive("read-header-timeout", s.ReadHeaderTimeout)
	r.positive("read-timeout", s.ReadTimeout)
	r.positive("write-timeout", s.WriteTimeout)
	r.positive("idle-timeout", s.IdleTimeout)
	r.positive("shutdown-timeout", s.ShutdownTimeout)
	if s.MaxHeaderBytes <= 0 {
		r.add("max-header-bytes", "must be positive, got %d", s.MaxHeaderBytes)
	}
	r.sub("tls", s.TLS.Validate())
	return r.err()
}

// Validate checks that both files or neither are set.
func (t ServerTLS) Validate() error { return pair(t.CertFile, t.KeyFile) }

// Validate checks that cert-file and key-file are set together and that the files load, with
// [promconfig.NewTLSConfig] on [ClientTLS.Common]. The parent checks that the URLs the block
// applies to use https://.
func (t ClientTLS) Validate() error {
	if err := pair(t.CertFile, t.KeyFile); err != nil {
		return err
	}
	c := t.Common()
	if _, err := promconfig.NewTLSConfig(&c); err != nil {
		return &fieldError{msg: err.Error()} // names the files, never shows their content
	}
	return nil
}

// pair reports a certificate file without its key file or the reverse.
func pair(cert, key string) error {
	if (cert == "") != (key == "") {
		return &fieldError{msg: "cert-file and key-file must be set together"}
	}
	return nil
}

// Validate checks [metrics] and the tables below it.
func (m Metrics) Validate() error {
	r := report(problems("", m.eventProblems()))
	r.sub("prometheus", m.Prometheus.Validate())
	r.sub("open-telemetry", m.OpenTelemetry.Validate())
	r.sub("pushgateway", m.Pushgateway.Validate())
	return r.err()
}

// eventProblems checks the settings [Config.DefineEvents] applies to a catalog.
func (m Metrics) eventProblems() error {
	var r report
	for i, p := range m.DisabledEvents {
		if err := events.Pattern(p).Validate(); err != nil {
			r.add(fmt.Sprintf("disabled-events[%d]", i), "%v", err)
		}
	}
	if m.CardinalityLimit <= 0 && m.CardinalityLimit != -1 {
		r.add("cardinality-limit", "must be positive or -1, got %d", m.CardinalityLimit)
	}
	if m.MaxSeries <= 0 && m.MaxSeries != -1 {
		r.add("max-series", "must be positive or -1 (no limit), got %d", m.MaxSeries)
	}
	if m.MaxLabelBytes <= 0 && m.MaxLabelBytes != -1 {
		r.add("max-label-bytes", "must be positive or -1 (no limit), got %d", m.MaxLabelBytes)
	}
	return r.err()
}

// Validate checks [metrics.prometheus].
func (p Prometheus) Validate() error {
	r := report(problems("auth", p.Auth.Validate()))
	if p.MaxInFlight <= 0 {
		r.add("max-in-flight", "must be positive, got %d", p.MaxInFlight)
	}
	return r.err()
}

// Validate checks that both fields or neither are set, and that the username has no colon
// (RFC 7617).
func (a BasicAuth) Validate() error {
	var r report
	if (a.Username == "") != (a.Secret == "") {
		r.add("", "username and secret must be set together")
	}
	if strings.Contains(a.Username, ":") {
		r.add("username", `must not contain ":"`)
	}
	return r.err()
}

// Validate checks [metrics.open-telemetry], whatever the transport.
func (o OpenTelemetry) Validate() error {
	var r report
	r.oneOf("transport", o.Transport, "grpc", "http", "disable")
	switch u, msg := checkURL(o.Endpoint, "use headers instead"); {
	case o.Endpoint == "" && (o.Transport == "grpc" || o.Transport == "http"):
		r.add("endpoint", "required when transport is %q", o.Transport)
	case o.Endpoint == "":
	case msg != "":
		r.add("endpoint", "%s", msg)
	case o.Transport != "disable" && u.Scheme == "http" && o.TLS != (ClientTLS{}):
		r.add("tls", "TLS settings need an https:// endpoint, got %q", o.Endpoint)
	}
	r.positive("interval", o.Interval)
	r.positive("timeout", o.Timeout)
	r.sub("headers", checkHeaders(o.Headers))
	r.oneOf("compression", o.Compression, "gzip", "none")
	r.sub("tls", o.TLS.Validate())
	return r.err()
}

// Validate checks [metrics.pushgateway], enabled or not. The job name is rendered with the
// placeholders' names as values; a grouping label name taken from a placeholder is checked
// with its value when the server starts.
func (g Pushgateway) Validate() error {
	var r report
	switch u, msg := checkURL(g.URL, "use auth instead"); {
	case g.URL == "":
		r.add("url", "must not be empty")
	case msg != "":
		r.add("url", "%s", msg)
	case u.Scheme == "http" && g.TLS != (ClientTLS{}):
		r.add("tls", "TLS settings need an https:// url, got %q", g.URL)
	}
	r.positive("interval", g.Interval)
	r.oneOf("method", g.Method, "put", "post")
	_, _, err := RenderJobName(g.JobName, map[string]string{"name": "name", "host": "host", "cluster": "cluster"})
	r.sub("job-name", err)
	r.sub("headers", checkHeaders(g.Headers))
	r.positive("timeout", g.Timeout)
	r.sub("auth", g.Auth.Validate())
	r.sub("tls", g.TLS.Validate())
	return r.err()
}

// Validate checks [ingest].
func (in Ingest) Validate() error {
	var r report
	for i, token := range in.Tokens {
		key := fmt.Sprintf("tokens[%d]", i)
		if token == "" {
			r.add(key, "must not be empty")
		} else if strings.ContainsFunc(token.Reveal(), isSpaceOrControl) {
			r.add(key, "must not contain spaces or control characters")
		}
		if j := slices.Index(in.Tokens[:i], token); j >= 0 && token != "" {
			r.add(key, "duplicate of ingest.tokens[%d]", j)
		}
	}
	if in.MaxBody <= 0 {
		r.add("max-body", "must be positive, got %d", in.MaxBody)
	}
	r.positiveInt("max-events", in.MaxEvents)
	r.positiveInt("max-label-value-length", in.MaxLabelValueLength)
	r.positiveInt("max-in-flight", in.MaxInFlight)
	r.positive("read-timeout", in.ReadTimeout)
	r.oneOf("unknown-events", in.UnknownEvents, "reject", "counter")
	r.positiveInt("max-auto-events", in.MaxAutoEvents)
	if in.MaxAutoLabels < 1 || in.MaxAutoLabels > MaxAutoLabels {
		r.add("max-auto-labels", "must be from 1 to %d, got %d", MaxAutoLabels, in.MaxAutoLabels)
	}
	r.notNegative("auto-ttl", in.AutoTTL)
	return r.err()
}

// Validate checks [cluster]. TLS settings need at least one https:// peer.
func (c Cluster) Validate() error {
	var r report
	if left, right, ok := strings.Cut(c.NodeName, "@"); !ok || left == "" || right == "" || strings.Contains(right, "@") {
		r.add("node-name", `must have the form "name@host" (exactly one "@", non-empty parts), got %q`, c.NodeName)
	} else if strings.ContainsFunc(c.NodeName, isSpaceOrControl) {
		r.add("node-name", "must not contain spaces or control characters, got %q", c.NodeName)
	}
	https := false
	for i, peer := range c.Peers {
		key := fmt.Sprintf("peers[%d]", i)
		switch u, msg := checkURL(peer, ""); {
		case msg != "":
			r.add(key, "%s", msg)
		case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			r.add(key, "must be a base URL without query or fragment, got %q", peer)
		default:
			https = https || u.Scheme == "https"
		}
		if j := slices.Index(c.Peers[:i], peer); j >= 0 {
			r.add(key, "duplicate of cluster.peers[%d]", j)
		}
	}
	r.positive("timeout", c.Timeout)
	if c.TLS != (ClientTLS{}) && !https {
		r.add("tls", "TLS settings need at least one https:// peer")
	}
	r.sub("tls", c.TLS.Validate())
	return r.err()
}

// Validate checks [storage]: the directory of a snapshot file must exist, and the file must
// not be a directory. It creates nothing.
func (s Storage) Validate() error {
	var r report
	dir := filepath.Dir(s.Path)
	info, err := os.Stat(dir)
	switch {
	case s.Path == "":
	case errors.Is(err, fs.ErrNotExist):
		r.add("path", "directory %s does not exist", dir)
	case err != nil:
		r.add("path", "%v", err)
	case !info.IsDir():
		r.add("path", "%s is not a directory", dir)
	default:
		if info, err := os.Stat(s.Path); err == nil && info.IsDir() {
			r.add("path", "%s is a directory; give the path of the snapshot file in it", s.Path)
		}
	}
	r.positive("interval", s.Interval)
	return r.err()
}

// oneOf records a problem at key unless value is one of allowed.
func (r *report) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		q := fmt.Sprintf("%q", allowed)
		if q = strings.ReplaceAll(q[1:len(q)-1], `" "`, `", "`); len(allowed) == 2 {
			q = strings.Replace(q, ", ", " or ", 1)
		} else {
			q = "one of " + q
		}
		r.add(key, "must be %s, got %q", q, value)
	}
}

// positive records a problem at key unless d is positive.
func (r *report) positive(key string, d time.Duration) {
	if d <= 0 {
		r.add(key, "must be positive, got %q", d.String())
	}
}

// notNegative records a problem at key if d is negative.
func (r *report) notNegative(key string, d time.Duration) {
	if d < 0 {
		r.add(key, "must not be negative (0 means never), got %q", d.String())
	}
}

// positiveInt records a problem at key unless n is positive.
func (r *report) positiveInt(key string, n int) {
	if n <= 0 {
		r.add(key, "must be positive, got %d", n)
	}
}

func isSpaceOrControl(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }

// isPort reports whether port is a decimal number from lowest to 65535.
func isPort(port string, lowest uint64) bool {
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n >= lowest
}

// checkURL checks an absolute http:// or https:// URL with a host; it returns the URL and a
// message, "" when the URL is valid. Credentials are refused, and never shown; instead
// follows that message.
func checkURL(raw, instead string) (*url.URL, string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
		return nil, fmt.Sprintf("must be a URL with scheme http or https, got %q", redactURL(raw))
	case u.User != nil:
		return nil, strings.TrimSuffix("must not contain credentials; "+instead, "; ")
	case u.Hostname() == "":
		return nil, fmt.Sprintf("must include a host[:port], got %q", raw)
	case u.Port() != "" && !isPort(u.Port(), 1):
		return nil, fmt.Sprintf("port must be a number from 1 to 65535, got %q", raw)
	}
	return u, ""
}

// redactURL hides what may be credentials in a URL, parsable or not: everything between
// "://" and the last "@".
func redactURL(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	if at := strings.LastIndexByte(raw, '@'); at >= start {
		return raw[:start] + redacted + raw[at:]
	}
	return raw
}

// checkHeaders checks header names (RFC 9110 tokens, each once in any case) and values (no
// line breaks or NUL); problems are keyed by name and never show a value.
func checkHeaders(headers map[string]Secret) error {
	var r report
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		key, lower := quoteKey(name), strings.ToLower(name)
		if name == "" || strings.ContainsFunc(name, func(c rune) bool {
			return !isBare(c) && !strings.ContainsRune("!#$%&'*+.^`|~", c)
		}) {
			r.add(key, "invalid header name")
		}
		if strings.ContainsAny(headers[name].Reveal(), "\r\n\x00") {
			r.add(key, "value must not contain line breaks or NUL characters")
		}
		if other, dup := seen[lower]; dup {
			r.add(key, "duplicate of header %q (header names are case-insensitive)", other)
		}
		seen[lower] = cmp.Or(seen[lower], name)
	}
	return r.err()
}
