package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// fieldError is one configuration problem, tied to a key path.
type fieldError struct {
	key  string // key path, e.g. "metrics.open-telemetry.interval"
	msg  string // what is wrong; never contains a secret
	env  string // environment variable that supplied the value, if any
	hint string // "did you mean" suggestion, if any
}

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.key)
	b.WriteString(": ")
	b.WriteString(e.msg)
	switch {
	case e.env != "" && e.hint != "":
		fmt.Fprintf(&b, " (from environment variable %s; did you mean %s?)", e.env, e.hint)
	case e.env != "":
		fmt.Fprintf(&b, " (from environment variable %s)", e.env)
	case e.hint != "":
		fmt.Fprintf(&b, " (did you mean %s?)", e.hint)
	}
	return b.String()
}

// problems collects fieldErrors.
type problems []*fieldError

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &fieldError{key: key, msg: fmt.Sprintf(format, args...)})
}

// errs returns the problems sorted by key path.
func (p problems) errs() []error {
	slices.SortStableFunc(p, func(a, b *fieldError) int { return naturalCompare(a.key, b.key) })
	errs := make([]error, len(p))
	for i, e := range p {
		errs[i] = e
	}
	return errs
}

// Validate checks the configuration and returns every problem it finds,
// joined with [errors.Join] and sorted by key path. Each problem reads
// "key.path: message". It returns nil when the configuration is valid.
func (c Config) Validate() error {
	var p problems
	c.validate(&p)
	return errors.Join(p.errs()...)
}

func (c Config) validate(p *problems) {
	c.Server.validate("server", p)
	c.Metrics.validate("metrics", p)
}

func (s Server) validate(prefix string, p *problems) {
	if err := checkHostPort(s.Listen); err != "" {
		p.add(prefix+".listen", "%s", err)
	}
	checkOneOf(p, prefix+".log-format", s.LogFormat, "text", "json")
	checkOneOf(p, prefix+".log-level", s.LogLevel, "debug", "info", "warn", "error")
	checkPositive(p, prefix+".read-header-timeout", s.ReadHeaderTimeout)
	checkPositive(p, prefix+".read-timeout", s.ReadTimeout)
	checkPositive(p, prefix+".write-timeout", s.WriteTimeout)
	checkPositive(p, prefix+".idle-timeout", s.IdleTimeout)
	if s.MaxHeaderBytes <= 0 {
		p.add(prefix+".max-header-bytes", "must be positive, got %d", s.MaxHeaderBytes)
	}
	checkPositive(p, prefix+".shutdown-timeout", s.ShutdownTimeout)
}

func (m Metrics) validate(prefix string, p *problems) {
	for i, pattern := range m.DisabledEvents {
		key := fmt.Sprintf("%s.disabled-events[%d]", prefix, i)
		switch stars := strings.Count(pattern, "*"); {
		case pattern == "":
			p.add(key, "must not be empty")
		case stars > 1:
			p.add(key, "pattern %q may contain at most one \"*\"", pattern)
		case stars == 1 && pattern[0] != '*' && pattern[len(pattern)-1] != '*':
			p.add(key, "pattern %q may only have \"*\" at its start or end", pattern)
		}
	}
	m.Prometheus.validate(prefix+".prometheus", p)
	m.OpenTelemetry.validate(prefix+".open-telemetry", p)
}

func (pr Prometheus) validate(prefix string, p *problems) {
	pr.Auth.validate(prefix+".auth", p)
}

func (a BasicAuth) validate(prefix string, p *problems) {
	if (a.Username == "") != (a.Secret == "") {
		p.add(prefix, "username and secret must be set together")
	}
	if strings.Contains(a.Username, ":") {
		// RFC 7617: the user-id cannot contain a colon.
		p.add(prefix+".username", "must not contain \":\"")
	}
}

func (o OpenTelemetry) validate(prefix string, p *problems) {
	checkOneOf(p, prefix+".transport", o.Transport, transportGRPC, transportHTTP, transportDisable)
	endpoint, endpointOK := (*url.URL)(nil), false
	switch {
	case o.Endpoint != "":
		var msg string
		endpoint, msg = checkEndpoint(o.Endpoint)
		if msg != "" {
			p.add(prefix+".endpoint", "%s", msg)
		} else {
			endpointOK = true
		}
	case o.Transport == transportGRPC || o.Transport == transportHTTP:
		p.add(prefix+".endpoint", "required when transport is %q", o.Transport)
	}
	checkPositive(p, prefix+".interval", o.Interval)
	checkPositive(p, prefix+".timeout", o.Timeout)

	seen := make(map[string]string, len(o.Headers))
	for _, name := range sortedKeys(o.Headers) {
		key := joinKey(prefix+".headers", name)
		if !validHeaderName(name) {
			p.add(key, "invalid header name")
		}
		if strings.ContainsAny(o.Headers[name], "\r\n\x00") {
			p.add(key, "value must not contain line breaks or NUL characters")
		}
		lower := strings.ToLower(name)
		if other, dup := seen[lower]; dup {
			p.add(key, "duplicate of header %q (header names are case-insensitive)", other)
		} else {
			seen[lower] = name
		}
	}
	checkOneOf(p, prefix+".compression", o.Compression, "gzip", "none")

	o.TLS.validate(prefix+".tls", p)
	if o.Transport != transportDisable && endpointOK && endpoint.Scheme == "http" && o.TLS != (TLS{}) {
		p.add(prefix+".tls", "TLS settings need an https:// endpoint, got %q", redactURL(o.Endpoint))
	}
}

func (t TLS) validate(prefix string, p *problems) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add(prefix, "cert-file and key-file must be set together")
	}
}

// checkOneOf adds a problem unless value is one of allowed.
func checkOneOf(p *problems, key, value string, allowed ...string) {
	if slices.Contains(allowed, value) {
		return
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	if len(quoted) == 2 {
		p.add(key, "must be %s or %s, got %q", quoted[0], quoted[1], value)
		return
	}
	p.add(key, "must be one of %s, got %q", strings.Join(quoted, ", "), value)
}

func checkPositive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be positive, got %q", d.String())
	}
}

// checkHostPort checks a listen address: an optional host and a port number
// from 0 to 65535. It returns a message, or "" when addr is valid.
func checkHostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(host, " \t") {
		return fmt.Sprintf("must be host:port, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("must be host:port, got %q", addr)
	}
	return ""
}

// checkEndpoint checks the OTLP endpoint; it returns the parsed URL and a
// message, which is "" when the endpoint is valid. Credentials in the URL
// are never echoed.
func checkEndpoint(raw string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Sprintf("must be a URL with scheme http or https, got %q", redactURL(raw))
	}
	if u.User != nil {
		return nil, "must not contain credentials; use headers instead"
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Sprintf("must include a host[:port], got %q", raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return nil, fmt.Sprintf("port must be a number from 1 to 65535, got %q", raw)
		}
	}
	return u, ""
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// naturalCompare orders strings with embedded numbers numerically, so that
// "x[2]" sorts before "x[10]".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			i, j := digits(a), digits(b)
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
