package e2e

// Harness for the ingestion API's end-to-end tests (ingest_test.go): a configuration with
// [[events]] and [ingest], posting events, histogram points in OTLP exports, the server's RSS.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"

	"github.com/duometer/duometer/internal/testutil"
)

// ingestEvents are the [[events]] of the ingestion tests: one of each kind, and one that
// metrics.disabled-events turns off.
const ingestEvents = `
[[events]]
name = "backup.completed"
kind = "counter"
description = "Backups that completed."
labels = ["host", "kind"]

[[events]]
name = "backup.duration"
kind = "histogram"
unit = "s"
description = "Time taken by a backup."
labels = ["host"]
buckets = [1, 10, 60]

[[events]]
name = "queue.depth"
kind = "gauge"
description = "Messages waiting."

[[events]]
name = "jobs.running"
kind = "updown"
description = "Jobs running, by queue."
labels = ["queue"]

[[events]]
name = "debug.noise"
kind = "counter"
labels = ["x"]

[[events]]
name = "login.attempt"
kind = "counter"
description = "Login attempts, by user: a label of unbounded cardinality."
labels = ["user"]
`

// ingestConfig describes a duometer configuration for the ingestion tests.
type ingestConfig struct {
	Listen           string
	CardinalityLimit int // 0: default
	Transport        string
	Endpoint         string
	Disable          bool // ingest.enable = false
	Tokens           []string
	MaxBody          string // "" default
	UnknownEvents    string // "" default
}

func (c ingestConfig) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = %q\nshutdown-timeout = \"10s\"\n", c.Listen)
	b.WriteString("\n[metrics]\ndisabled-events = [\"debug.*\"]\n")
	if c.CardinalityLimit != 0 {
		fmt.Fprintf(&b, "cardinality-limit = %d\n", c.CardinalityLimit)
	}
	b.WriteString("\n[metrics.prometheus]\nenable = true\n")
	if c.Transport != "" {
		fmt.Fprintf(&b, "\n[metrics.open-telemetry]\ntransport = %q\nendpoint = %q\ninterval = \"1s\"\ntimeout = \"1s\"\n", c.Transport, c.Endpoint)
	}
	b.WriteString(ingestEvents)
	fmt.Fprintf(&b, "\n[ingest]\nenable = %v\n", !c.Disable)
	if len(c.Tokens) > 0 {
		q := make([]string, len(c.Tokens))
		for i, t := range c.Tokens {
			q[i] = strconv.Quote(t)
		}
		fmt.Fprintf(&b, "tokens = [%s]\n", strings.Join(q, ", "))
	}
	if c.MaxBody != "" {
		fmt.Fprintf(&b, "max-body = %q\n", c.MaxBody)
	}
	if c.UnknownEvents != "" {
		fmt.Fprintf(&b, "unknown-events = %q\n", c.UnknownEvents)
	}
	return b.String()
}

// ingestRequest is one request to the ingestion API.
type ingestRequest struct {
	method   string // default POST
	ctype    string // default application/json; "-" for none
	encoding string
	token    string // sent as a bearer token when not ""
	body     []byte
	client   *http.Client // default httpClient
}

// post sends r to the server's ingestion API and reads the answer.
func (s *duometer) post(t *testing.T, r ingestRequest) *httpResult {
	t.Helper()
	res, err := postTo(s.base+eventsPath, r)
	if err != nil {
		t.Fatalf("POST %s: %v", eventsPath, err)
	}
	return res
}

func postTo(url string, r ingestRequest) (*httpResult, error) {
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	var auth string
	if r.token != "" {
		auth = "Bearer " + r.token
	}
	req.Header = testutil.IngestHeader(r.ctype, r.encoding, auth)
	c := r.client
	if c == nil {
		c = httpClient
	}
	return do(c, req)
}

// mustPost posts r and requires the status and the exact (trimmed) body.
func (s *duometer) mustPost(t *testing.T, r ingestRequest, status int, body string) {
	t.Helper()
	res := s.post(t, r)
	if res.status != status || strings.TrimSpace(string(res.body)) != body {
		t.Fatalf("POST %s: got %d %s, want %d %s", r.body, res.status, res.body, status, body)
	}
}

// histogramIn returns the count and sum of the points of histogram metric name with exactly
// the attribute set attrs in one export.
func histogramIn(req *colmetricspb.ExportMetricsServiceRequest, name string, attrs map[string]string) (count uint64, sum float64, found bool) {
	for _, m := range metricsNamed(req, name) {
		for _, p := range m.GetHistogram().GetDataPoints() {
			if sameAttrs(p.GetAttributes(), attrs) {
				count += p.GetCount()
				sum += p.GetSum()
				found = true
			}
		}
	}
	return count, sum, found
}

// waitHistogram waits until the latest export with histogram name{attrs} has count and sum.
func (r *otlpReceiver) waitHistogram(t *testing.T, timeout time.Duration, name string, attrs map[string]string, count uint64, sum float64) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("OTLP histogram %s%v count %d sum %v", name, attrs, count, sum), func() (bool, string) {
		ex := r.snapshot()
		for i := len(ex) - 1; i >= 0; i-- {
			if c, s, ok := histogramIn(ex[i].req, name, attrs); ok {
				return c == count && s == sum, fmt.Sprintf("count %d sum %v", c, s)
			}
		}
		return false, fmt.Sprintf("not received yet (%d exports)", r.count())
	})
}

// vmRSS returns the resident set size of process pid, in bytes, from /proc/<pid>/status.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || len(f) != 2 || f[1] != "kB" {
				t.Fatalf("VmRSS line %q", line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// samplesNamed returns the samples of the metric called name.
func samplesNamed(samples []sample, name string) []sample {
	var out []sample
	for _, s := range samples {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}
