package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
)

// clusterNode is one duometer of a test cluster.
type clusterNode struct {
	*duometer
	name string // cluster.node-name
}

// clusterTimeout is cluster.timeout in the test clusters.
const clusterTimeout = time.Second

// startCluster starts n duometer processes on 127.0.0.1, duometer@a, duometer@b, …, each
// with basic auth and the others as peers. extra is appended to every configuration.
func startCluster(t *testing.T, n int, auth *basicAuth, extra string) []*clusterNode {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	nodes := make([]*clusterNode, n)
	for i := range n {
		var peers []string
		for j, p := range ports {
			if j != i {
				peers = append(peers, strconv.Quote("http://"+localAddr(p)))
			}
		}
		name := "duometer@" + string(rune('a'+i))
		cfg := serverConfig{Listen: localAddr(ports[i]), ShutdownTimeout: "10s", Username: auth.user, Secret: auth.pass}
		toml := cfg.TOML() + fmt.Sprintf("\n[cluster]\nnode-name = %q\npeers = [%s]\ntimeout = %q\n",
			name, strings.Join(peers, ", "), clusterTimeout.String()) + extra
		nodes[i] = &clusterNode{duometer: startServer(t, cfg.Listen, toml), name: name}
	}
	return nodes
}

// clusterGet fetches path (with its query) from s with auth in the text format and returns
// the result and how long it took.
func clusterGet(t *testing.T, s *duometer, auth *basicAuth, path string) (*httpResult, time.Duration) {
	t.Helper()
	start := time.Now()
	r, err := httpGetAuth(s.base+path, auth, map[string]string{"Accept": "text/plain"})
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return r, time.Since(start)
}

// clusterScrape is clusterGet requiring 200; it returns the samples and the body, which
// must pass promtool check metrics.
func clusterScrape(t *testing.T, s *duometer, auth *basicAuth, promtool, path string) ([]sample, string) {
	t.Helper()
	r, took := clusterGet(t, s, auth, path)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d (after %v), want 200; body:\n%s", path, r.status, took, r.body)
	}
	samples, err := parseExposition(string(r.body))
	if err != nil {
		t.Fatalf("GET %s: parse: %v\n%s", path, err, r.body)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(r.body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("GET %s: promtool check metrics: %v\n%s\nbody:\n%s", path, err, out, r.body)
	}
	capture(t, s.addr+path, r.body)
	return samples, string(r.body)
}

// captured numbers the captures in the order they are made.
var captured atomic.Int64

// capture writes body to $DUOMETER_E2E_CAPTURE/<test>/<n>_<what>.prom when that variable
// names a directory: the examples of docs/cluster.md come from there.
func capture(t *testing.T, what string, body []byte) {
	dir := os.Getenv("DUOMETER_E2E_CAPTURE")
	if dir == "" {
		return
	}
	name := strings.NewReplacer("/", "_", "?", "_", "=", "_", ":", "_").Replace(what)
	p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"), fmt.Sprintf("%02d_%s.prom", captured.Add(1), name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
		_ = os.WriteFile(p, body, 0o644)
	}
}

// seriesOf returns the samples named name, rendered as label sets → value.
func seriesOf(samples []sample, name string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		if s.name != name {
			continue
		}
		keys := make([]string, 0, len(s.labels))
		for k := range s.labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%q", k, s.labels[k])
		}
		out["{"+strings.Join(parts, ",")+"}"] = s.value
	}
	return out
}

func expectSeries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	ok := len(got) == len(want)
	for k, v := range want {
		if g, found := got[k]; !found || g != v {
			ok = false
		}
	}
	if !ok {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// TestCluster: three real duometer processes, each with the other two as peers and basic
// auth on all; one answers for the cluster in both cluster modes, on the main and the group
// endpoints, for Prometheus too, and keeps answering when a peer hangs or dies.
func TestCluster(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	requireServer(t)
	auth := &basicAuth{"prometheus", "s3cret-e2e-Clu5ter"}
	userEvents := `
[[events]]
name = "backup.ok"
kind = "gauge"
description = "1 when the node's last backup succeeded."
aggregation = "logical"

[ingest]
enable = true
`
	nodes := startCluster(t, 3, auth, userEvents)
	a, b, c := nodes[0], nodes[1], nodes[2]
	peerA, peerB, peerC := fmt.Sprintf("{peer=%q}", a.addr), fmt.Sprintf("{peer=%q}", b.addr), fmt.Sprintf("{peer=%q}", c.addr)

	// Deterministic values: node i refuses i+1 requests.
	for i, n := range nodes {
		for range i + 1 {
			assertUnauthorized(t, n.duometer, &basicAuth{"intruder", "nope"})
		}
	}
	// b answers for the cluster once, so that it has peer-up series of its own, which a's
	// answers must not carry (consistent: the answering node's).
	clusterScrape(t, b.duometer, auth, promtool, "/metrics/prometheus?mode=all_nodes_aggregated")

	t.Run("aggregated", func(t *testing.T) {
		r, _ := clusterGet(t, a.duometer, auth, "/metrics/prometheus?mode=all_nodes_aggregated")
		if got := r.header.Get("X-Duometer-Node"); got != a.name {
			t.Errorf("X-Duometer-Node = %q, want %q", got, a.name)
		}
		samples, _ := clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus?mode=all_nodes_aggregated")
		expectSeries(t, "duometer_auth_failed_total (sum)", seriesOf(samples, "duometer_auth_failed_total"), map[string]float64{"{}": 6})
		expectSeries(t, "duometer_http_requests_total 401 (sum)", filterSeries(seriesOf(samples, "duometer_http_requests_total"), `code="401"`),
			map[string]float64{`{code="401",handler="prometheus"}`: 6})
		expectSeries(t, "duometer_cluster_peer_up (consistent)", seriesOf(samples, "duometer_cluster_peer_up"), map[string]float64{peerB: 1, peerC: 1})
		goroutines := seriesOf(samples, "go_goroutines")
		if len(goroutines) != 3 {
			t.Errorf("go_goroutines (per-node): %v, want three series", goroutines)
		}
		for _, n := range nodes {
			if v, ok := goroutines[fmt.Sprintf("{node=%q}", n.name)]; !ok || v <= 0 {
				t.Errorf("go_goroutines{node=%q} = %v (present %v), want > 0", n.name, v, ok)
			}
		}
		if got := seriesOf(samples, "target_info"); len(got) != 1 {
			t.Errorf("target_info: %v, want the answering node's only", got)
		}
	})

	t.Run("unaggregated", func(t *testing.T) {
		samples, _ := clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus?mode=all_nodes_unaggregated")
		expectSeries(t, "duometer_auth_failed_total", seriesOf(samples, "duometer_auth_failed_total"), map[string]float64{
			`{node="duometer@a"}`: 1, `{node="duometer@b"}`: 2, `{node="duometer@c"}`: 3})
		expectSeries(t, "duometer_cluster_peer_up (consistent)", seriesOf(samples, "duometer_cluster_peer_up"), map[string]float64{peerB: 1, peerC: 1})
		if got := seriesOf(samples, "go_goroutines"); len(got) != 3 {
			t.Errorf("go_goroutines: %v, want three series", got)
		}
		if got := seriesOf(samples, "target_info"); len(got) != 1 {
			t.Errorf("target_info: %v, want the answering node's only", got)
		}
		// Node mode is a's alone.
		samples, _ = clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus")
		expectSeries(t, "node mode duometer_auth_failed_total", seriesOf(samples, "duometer_auth_failed_total"), map[string]float64{"{}": 1})
	})

	t.Run("groups", func(t *testing.T) {
		samples, _ := clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus/duometer?mode=all_nodes_aggregated")
		for _, s := range samples {
			if !strings.HasPrefix(s.name, "duometer_") && s.name != "target_info" {
				t.Errorf("group duometer serves %s", s.name)
			}
		}
		expectSeries(t, "group duometer duometer_auth_failed_total", seriesOf(samples, "duometer_auth_failed_total"), map[string]float64{"{}": 6})
		samples, _ = clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus/go?mode=all_nodes_unaggregated")
		for _, s := range samples {
			if !strings.HasPrefix(s.name, "go_") && s.name != "target_info" {
				t.Errorf("group go serves %s", s.name)
			}
		}
		if got := seriesOf(samples, "go_goroutines"); len(got) != 3 {
			t.Errorf("group go go_goroutines: %v", got)
		}
		samples, _ = clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus/process")
		if got := seriesOf(samples, "process_cpu_time_seconds_total"); len(got) == 0 {
			t.Errorf("group process in node mode lacks process_cpu_time_seconds_total")
		}
		for _, mode := range []string{"", "?mode=all_nodes_aggregated"} {
			r, _ := clusterGet(t, a.duometer, auth, "/metrics/prometheus/nope"+mode)
			_, known, _ := strings.Cut(strings.TrimSpace(string(r.body)), "known groups: ")
			groups := strings.Split(known, ", ")
			if r.status != http.StatusNotFound || !slices.Contains(groups, "duometer") || !slices.Contains(groups, "go") || !slices.Contains(groups, "process") {
				t.Errorf("unknown group%s: %d %q, want 404 with the known groups (duometer, go, process, …)", mode, r.status, r.body)
			}
		}
	})

	t.Run("logical", func(t *testing.T) {
		// Needs the [[events]] configuration and the ingestion API in the server.
		for i, v := range []float64{1, 1, 0} {
			body := fmt.Sprintf(`{"event":"backup.ok","value":%v}`, v)
			resp, err := http.Post(nodes[i].base+"/api/v1/events", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatalf("POST /api/v1/events: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest {
				t.Skipf("POST /api/v1/events: %s: the server has no ingestion API or no [[events]] yet", resp.Status)
			}
			if resp.StatusCode/100 != 2 {
				t.Fatalf("POST /api/v1/events %s: %s", body, resp.Status)
			}
		}
		samples, _ := clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus/backup?mode=all_nodes_aggregated")
		expectSeries(t, "backup_ok with c at 0 (logical)", seriesOf(samples, "backup_ok"), map[string]float64{"{}": 0})
		resp, err := http.Post(c.base+"/api/v1/events", "application/json", strings.NewReader(`{"event":"backup.ok","value":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		samples, _ = clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus/backup?mode=all_nodes_aggregated")
		expectSeries(t, "backup_ok with all at 1 (logical)", seriesOf(samples, "backup_ok"), map[string]float64{"{}": 1})
		samples, _ = clusterScrape(t, a.duometer, auth, promtool, "/metrics/prometheus/backup?mode=all_nodes_unaggregated")
		expectSeries(t, "backup_ok unaggregated", seriesOf(samples, "backup_ok"), map[string]float64{
			`{node="duometer@a"}`: 1, `{node="duometer@b"}`: 1, `{node="duometer@c"}`: 1})
	})

	t.Run("prometheus", func(t *testing.T) {
		requireTool(t, "prometheus")
		prom := startClusterPrometheus(t, a.addr, auth, "all_nodes_aggregated")
		prom.waitQuery(t, 30*time.Second, `duometer_auth_failed_total{job="duometer-cluster"}`, singleValue(6))
		prom.waitQuery(t, 10*time.Second, `count(go_goroutines{job="duometer-cluster"})`, singleValue(3))
		prom.waitQuery(t, 10*time.Second, `count(duometer_cluster_peer_up{job="duometer-cluster"} == 1)`, singleValue(2))
		prom.kill() // its scrapes would time out while c hangs below
	})

	t.Run("peer-down", func(t *testing.T) {
		// c hangs: it takes connections but answers nothing.
		if err := c.signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// The signal is delivered asynchronously: a thread of c running on the other core
		// could still answer one fetch. Wait until the kernel says c is stopped.
		waitStopped(t, c.cmd.Process.Pid)
		for _, mode := range []string{"all_nodes_aggregated", "all_nodes_unaggregated", "all_nodes_aggregated"} {
			samples, took := timedScrape(t, a.duometer, auth, promtool, "/metrics/prometheus?mode="+mode)
			if took > clusterTimeout+1500*time.Millisecond {
				t.Errorf("%s with c hanging took %v; cluster.timeout is %v", mode, took, clusterTimeout)
			}
			expectSeries(t, mode+" duometer_cluster_peer_up with c hanging", seriesOf(samples, "duometer_cluster_peer_up"), map[string]float64{peerB: 1, peerC: 0})
			if mode == "all_nodes_aggregated" {
				expectSeries(t, "duometer_auth_failed_total without c", seriesOf(samples, "duometer_auth_failed_total"), map[string]float64{"{}": 3})
			} else {
				expectSeries(t, "duometer_auth_failed_total without c", seriesOf(samples, "duometer_auth_failed_total"), map[string]float64{
					`{node="duometer@a"}`: 1, `{node="duometer@b"}`: 2})
			}
		}
		// c dies.
		c.kill()
		for _, mode := range []string{"all_nodes_aggregated", "all_nodes_unaggregated"} {
			for _, path := range []string{"/metrics/prometheus?mode=" + mode, "/metrics/prometheus/duometer?mode=" + mode} {
				samples, took := timedScrape(t, a.duometer, auth, promtool, path)
				if took > clusterTimeout+1500*time.Millisecond {
					t.Errorf("%s with c dead took %v", path, took)
				}
				expectSeries(t, path+" duometer_cluster_peer_up with c dead", seriesOf(samples, "duometer_cluster_peer_up"), map[string]float64{peerB: 1, peerC: 0})
			}
		}
		// b sees the same from its side.
		samples, _ := timedScrape(t, b.duometer, auth, promtool, "/metrics/prometheus?mode=all_nodes_aggregated")
		expectSeries(t, "b's duometer_cluster_peer_up", seriesOf(samples, "duometer_cluster_peer_up"), map[string]float64{peerA: 1, peerC: 0})
		expectSeries(t, "b's duometer_auth_failed_total", seriesOf(samples, "duometer_auth_failed_total"), map[string]float64{"{}": 3})
		// Warned about, once a minute at most: one line for c in a's output.
		if n := strings.Count(a.out.String(), "peer="+c.addr); n != 1 {
			t.Errorf("a's output names peer %s %d times, want one rate-limited warning:\n%s", c.addr, n, a.out.String())
		}
	})

	// Last, as it counts one more failure on a: cluster modes and groups need credentials.
	for _, path := range []string{"/metrics/prometheus/duometer?mode=all_nodes_aggregated", "/metrics/prometheus?mode=all_nodes_unaggregated"} {
		r, _ := clusterGet(t, a.duometer, nil, path)
		if r.status != http.StatusUnauthorized || strings.Contains(string(r.body), "duometer_") {
			t.Errorf("GET %s without credentials: %d %q, want 401", path, r.status, r.body)
		}
	}

	for _, n := range []*clusterNode{a, b} {
		n.shutdown(t, auth.pass)
	}
}

// timedScrape is clusterScrape that also returns how long the request took.
func timedScrape(t *testing.T, s *duometer, auth *basicAuth, promtool, path string) ([]sample, time.Duration) {
	t.Helper()
	start := time.Now()
	samples, _ := clusterScrape(t, s, auth, promtool, path)
	return samples, time.Since(start)
}

// filterSeries keeps the series whose rendered labels contain sub.
func filterSeries(m map[string]float64, sub string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.Contains(k, sub) {
			out[k] = v
		}
	}
	return out
}

// startClusterPrometheus starts Prometheus scraping target's /metrics/prometheus?mode=mode
// every second as job duometer-cluster, with basic auth, and waits until it is ready.
func startClusterPrometheus(t *testing.T, target string, auth *basicAuth, mode string) *promServer {
	t.Helper()
	bin := requireTool(t, "prometheus")
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: duometer-cluster
    metrics_path: /metrics/prometheus
    params:
      mode: [%q]
    static_configs:
      - targets: [%q]
    basic_auth:
      username: %q
      password: %q
`, mode, target, auth.user, auth.pass)
	return runPrometheus(t, bin, cfg)
}

// waitStopped waits until /proc says every thread of pid is stopped (state T).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	testutil.WaitUntil(t, 5*time.Second, 10*time.Millisecond, fmt.Sprintf("every thread of process %d stopped after SIGSTOP", pid), func() (bool, string) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatalf("process %d: %v", pid, err)
		}
		for _, task := range tasks {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread exited
			}
			// The state follows the command name in parentheses: "pid (comm) S ...".
			if i := strings.LastIndexByte(string(stat), ')'); i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
				return false, fmt.Sprintf("thread %s: %s", task.Name(), stat)
			}
		}
		return true, ""
	})
}
