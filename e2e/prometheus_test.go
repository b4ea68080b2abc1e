package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireTool returns the path of an external program. When it is missing
// the test is skipped, or fails if the environment variable CI is set (CI
// always installs it).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found on PATH (CI is set, so it must be installed): %v", name, err)
		}
		t.Skipf("%s not found on PATH; install it (Debian: apt-get install prometheus) to run this test", name)
	}
	return path
}

// promServer is a real Prometheus server scraping one duometer target.
type promServer struct {
	*process
	base       string
	configFile string // its --config.file, which reload rewrites
}

// startPrometheus starts Prometheus scraping target (host:port) every
// second at /metrics/prometheus, with basic auth when auth is not nil, and
// waits until it is ready.
func startPrometheus(t *testing.T, target string, auth *basicAuth) *promServer {
	t.Helper()
	bin := requireTool(t, "prometheus")
	return runPrometheus(t, bin, promScrapeConfig(target, auth))
}

// promScrapeConfig is the configuration of a Prometheus that scrapes target (host:port)
// every second at /metrics/prometheus as job "duometer", with basic auth when auth is not nil.
func promScrapeConfig(target string, auth *basicAuth) string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: duometer
    metrics_path: /metrics/prometheus
    static_configs:
      - targets: [%q]
`, target)
	if auth != nil {
		fmt.Fprintf(&cfg, "    basic_auth:\n      username: %q\n      password: %q\n", auth.user, auth.pass)
	}
	return cfg.String()
}

// runPrometheus starts a real Prometheus with the given configuration on a free 127.0.0.1
// port, and flags added to its command line, stopped when the test ends, and waits until it
// is ready.
func runPrometheus(t *testing.T, bin, cfg string, flags ...string) *promServer {
	t.Helper()
	port := freePort(t)
	p := &promServer{base: "http://" + localAddr(port), configFile: writeFile(t, "prometheus.yml", cfg)}
	args := append([]string{
		"--config.file=" + p.configFile,
		"--storage.tsdb.path=" + t.TempDir(),
		"--web.listen-address=" + localAddr(port),
	}, flags...)
	p.process = startProcess(t, "prometheus", nil, bin, args...)
	p.waitReady(t, 30*time.Second, httpClient, p.base+"/-/ready")
	return p
}

// reload writes cfg over Prometheus's configuration file and has Prometheus load it with
// POST /-/reload, which answers once the new configuration is applied (200) or refused. It
// needs a Prometheus started with --web.enable-lifecycle.
func (p *promServer) reload(t *testing.T, cfg string) {
	t.Helper()
	if err := os.WriteFile(p.configFile, []byte(cfg), 0o600); err != nil {
		t.Fatalf("write %s: %v", p.configFile, err)
	}
	resp, err := httpClient.Post(p.base+"/-/reload", "", nil)
	if err != nil {
		t.Fatalf("Prometheus POST /-/reload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Prometheus POST /-/reload: status %d: %s", resp.StatusCode, body)
	}
}

// promSample is one element of an instant-vector query result.
type promSample struct {
	Metric map[string]string
	Value  float64
}

func (s promSample) String() string { return fmt.Sprintf("%v => %v", s.Metric, s.Value) }

// query runs a PromQL instant query.
func (p *promServer) query(q string) ([]promSample, error) {
	r, err := httpGet(p.base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		return nil, fmt.Errorf("query %q: status %d, decode: %w; body %s", q, r.status, err, r.body)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", q, resp.Status, resp.Error)
	}
	if resp.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", q, resp.Data.ResultType)
	}
	out := make([]promSample, 0, len(resp.Data.Result))
	for _, res := range resp.Data.Result {
		str, _ := res.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", q, res.Value[1], err)
		}
		out = append(out, promSample{Metric: res.Metric, Value: v})
	}
	return out, nil
}

// waitQuery polls the query until pred accepts its result or timeout
// passes (then the test fails), and returns the accepted result.
func (p *promServer) waitQuery(t *testing.T, timeout time.Duration, q string, pred func([]promSample) bool) []promSample {
	t.Helper()
	var got []promSample
	waitUntil(t, timeout, fmt.Sprintf("PromQL %q", q), func() (bool, string) {
		res, err := p.query(q)
		if err != nil {
			return false, err.Error()
		}
		got = res
		return pred(res), fmt.Sprintf("%v", res)
	})
	return got
}

// singleValue is a predicate: exactly one series with value v.
func singleValue(v float64) func([]promSample) bool {
	return func(r []promSample) bool { return len(r) == 1 && r[0].Value == v }
}

// waitScraped waits until Prometheus has scraped the target successfully
// at least n times and the latest scrape was up.
func (p *promServer) waitScraped(t *testing.T, n int) {
	t.Helper()
	p.waitQuery(t, 30*time.Second, `up{job="duometer"}`, singleValue(1))
	p.waitQuery(t, 30*time.Second, `sum_over_time(up{job="duometer"}[5m])`, func(r []promSample) bool {
		return len(r) == 1 && r[0].Value >= float64(n)
	})
}
