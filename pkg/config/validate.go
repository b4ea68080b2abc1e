package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
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
	validateEventEntries(c.Events, p)
	c.Ingest.validate("ingest", p)
	c.Cluster.validate("cluster", p)
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
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		p.add(prefix+".tls", "cert-file and key-file must be set together")
	}
}

func (m Metrics) validate(prefix string, p *problems) {
	m.validateEvents(prefix, p)
	m.Prometheus.validate(prefix+".prometheus", p)
	m.OpenTelemetry.validate(prefix+".open-telemetry", p)
	m.Pushgateway.validate(prefix+".pushgateway", p)
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
		endpoint, msg = checkEndpoint(o.Endpoint, "use headers instead")
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
	checkHeaders(p, prefix+".headers", o.Headers)
	checkOneOf(p, prefix+".compression", o.Compression, "gzip", "none")

	o.TLS.validate(prefix+".tls", p)
	if o.Transport != transportDisable && endpointOK && endpoint.Scheme == "http" && o.TLS != (TLS{}) {
		p.add(prefix+".tls", "TLS settings need an https:// endpoint, got %q", redactURL(o.Endpoint))
	}
}

// checkHeaders checks the names and values of the headers at key. Values are
// never echoed.
func checkHeaders(p *problems, key string, headers map[string]string) {
	seen := make(map[string]string, len(headers))
	for _, name := range sortedKeys(headers) {
		hkey := joinKey(key, name)
		if !validHeaderName(name) {
			p.add(hkey, "invalid header name")
		}
		if strings.ContainsAny(headers[name], "\r\n\x00") {
			p.add(hkey, "value must not contain line breaks or NUL characters")
		}
		lower := strings.ToLower(name)
		if other, dup := seen[lower]; dup {
			p.add(hkey, "duplicate of header %q (header names are case-insensitive)", other)
		} else {
			seen[lower] = name
		}
	}
}

func (g Pushgateway) validate(prefix string, p *problems) {
	if g.URL == "" {
		p.add(prefix+".url", "must not be empty")
	} else if _, msg := checkEndpoint(g.URL, "use auth instead"); msg != "" {
		p.add(prefix+".url", "%s", msg)
	}
	checkPositive(p, prefix+".interval", g.Interval)
	checkOneOf(p, prefix+".method", g.Method, methodPut, methodPost)
	if msg := checkJobName(g.JobName); msg != "" {
		p.add(prefix+".job-name", "%s", msg)
	}
	checkHeaders(p, prefix+".headers", g.Headers)
	checkPositive(p, prefix+".timeout", g.Timeout)
	g.Auth.validate(prefix+".auth", p)
}

// jobNamePlaceholders are the placeholders metrics.pushgateway.job-name may
// contain.
var jobNamePlaceholders = []string{"name", "host", "cluster"}

// checkJobName checks the Pushgateway job-name template: a job name, then
// label/value pairs of the grouping key, all separated by "/", where every
// "$" starts one of the placeholders ${name}, ${host} or ${cluster}. A
// placeholder's value stays within its component. It returns a message, or
// "" when the template is valid.
func checkJobName(job string) string {
	if job == "" {
		return "must not be empty"
	}
	for rest := job; ; {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			break
		}
		rest = rest[i:]
		end := strings.IndexByte(rest, '}')
		if !strings.HasPrefix(rest, "${") || end < 0 {
			return fmt.Sprintf(`"$" must start a placeholder ${name}, ${host} or ${cluster}, got %q`, job)
		}
		if name := rest[2:end]; !slices.Contains(jobNamePlaceholders, name) {
			return fmt.Sprintf("unknown placeholder ${%s}: only ${name}, ${host} and ${cluster} are allowed", name)
		}
		rest = rest[end+1:]
	}
	parts := strings.Split(job, "/")
	if len(parts)%2 == 0 {
		return fmt.Sprintf(`must be a job name followed by label/value pairs, all separated by "/", got %q`, job)
	}
	if parts[0] == "" {
		return fmt.Sprintf("the job name (before the first \"/\") is empty in %q", job)
	}
	seen := map[string]bool{}
	for i := 1; i < len(parts); i += 2 {
		label := parts[i]
		switch {
		case strings.Contains(label, "${"):
			// Checked when rendered.
		case !promLabelRE.MatchString(label) || strings.HasPrefix(label, "__"):
			return fmt.Sprintf("grouping label name %q must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __", label)
		case label == "job":
			return `"job" cannot be a grouping label: it is the first component`
		case seen[label]:
			return fmt.Sprintf("grouping label %q appears twice", label)
		}
		seen[label] = true
	}
	return ""
}

// promLabelRE matches a Prometheus label name.
var promLabelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (in Ingest) validate(prefix string, p *problems) {
	for i, token := range in.Tokens {
		key := fmt.Sprintf("%s.tokens[%d]", prefix, i)
		switch {
		case token == "":
			p.add(key, "must not be empty")
		case strings.ContainsFunc(string(token), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			p.add(key, "must not contain spaces or control characters")
		}
		if j := slices.Index(in.Tokens[:i], token); j >= 0 && token != "" {
			p.add(key, "duplicate of %s.tokens[%d]", prefix, j)
		}
	}
	if in.MaxBody <= 0 {
		p.add(prefix+".max-body", "must be positive, got %d", in.MaxBody)
	}
	checkOneOf(p, prefix+".unknown-events", in.UnknownEvents, unknownReject, unknownCounter)
}

func (c Cluster) validate(prefix string, p *problems) {
	if msg := checkNodeName(c.NodeName); msg != "" {
		p.add(prefix+".node-name", "%s", msg)
	}
	for i, peer := range c.Peers {
		key := fmt.Sprintf("%s.peers[%d]", prefix, i)
		u, msg := checkEndpoint(peer, "")
		switch {
		case msg != "":
			p.add(key, "%s", msg)
		case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			p.add(key, "must be a base URL without query or fragment, got %q", peer)
		}
		if j := slices.Index(c.Peers[:i], peer); j >= 0 {
			p.add(key, "duplicate of %s.peers[%d]", prefix, j)
		}
	}
	checkPositive(p, prefix+".timeout", c.Timeout)
}

// checkNodeName checks a cluster node name, "name@host". It returns a
// message, or "" when the name is valid.
func checkNodeName(name string) string {
	left, right, ok := strings.Cut(name, "@")
	switch {
	case !ok || left == "" || right == "" || strings.Contains(right, "@"):
		return fmt.Sprintf(`must have the form "name@host" (exactly one "@", non-empty parts), got %q`, name)
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Sprintf("must not contain spaces or control characters, got %q", name)
	}
	return ""
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

// checkEndpoint checks an absolute http:// or https:// URL with a host, such
// as the OTLP endpoint; it returns the parsed URL and a message, which is ""
// when the URL is valid. Credentials in the URL are refused and never
// echoed; instead, if not empty, is appended to the message that says so.
func checkEndpoint(raw, instead string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Sprintf("must be a URL with scheme http or https, got %q", redactURL(raw))
	}
	if u.User != nil {
		if instead != "" {
			return nil, "must not contain credentials; " + instead
		}
		return nil, "must not contain credentials"
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
