package e2e

// End-to-end tests of the Pushgateway push against Debian's prometheus-pushgateway (1.5.1),
// started in memory (an empty --persistence.file=) on 127.0.0.1.

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// gateway is a running Pushgateway.
type gateway struct {
	*process
	base string // http://127.0.0.1:port
}

// startGateway starts a Pushgateway on 127.0.0.1:port (0 picks a free one), in memory, and
// waits until it is ready. Without prometheus-pushgateway on PATH the test is skipped, or
// fails when CI is set.
func startGateway(t *testing.T, port int) *gateway {
	t.Helper()
	bin := requireTool(t, "prometheus-pushgateway")
	if port == 0 {
		port = freePort(t)
	}
	g := &gateway{base: "http://" + localAddr(port)}
	g.process = startProcess(t, "pushgateway", nil, bin,
		"--web.listen-address="+localAddr(port),
		"--persistence.file=", // in memory: Debian's default file would keep groups between runs
	)
	g.waitReady(t, 20*time.Second, httpClient, g.base+"/-/ready")
	return g
}

// metrics fetches the Pushgateway's /metrics: every pushed group's series, with their job
// and grouping labels, beside the gateway's own.
func (g *gateway) metrics(t *testing.T) (string, []sample) {
	t.Helper()
	r, err := httpGet(g.base+"/metrics", map[string]string{"Accept": "text/plain"})
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("GET pushgateway /metrics: %v %+v", err, r)
	}
	samples, err := parseExposition(string(r.body))
	if err != nil {
		t.Fatalf("parse pushgateway /metrics: %v", err)
	}
	return string(r.body), samples
}

// waitValue waits until the gateway holds name{want...} with a value ok accepts, and returns
// the value.
func (g *gateway) waitValue(t *testing.T, timeout time.Duration, name string, want map[string]string, ok func(float64) bool) float64 {
	t.Helper()
	var v float64
	waitUntil(t, timeout, fmt.Sprintf("pushgateway %s%v", name, want), func() (bool, string) {
		_, samples := g.metrics(t)
		var found bool
		v, found = sumSamples(samples, name, want)
		return found && ok(v), fmt.Sprintf("value %v, present %v", v, found)
	})
	return v
}

// push sends a text-format push from the test (a second pusher beside duometer).
func (g *gateway) push(t *testing.T, method, path, body string) {
	t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
	}
}

// groupLines returns the sample lines of the gateway's exposition that belong to the group
// whose instance label is instance, and the HELP/TYPE lines of their families: what the
// gateway shows for one duometer.
func groupLines(body, instance string) string {
	var out []string
	var meta []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "#") {
			meta = append(meta, line)
			continue
		}
		if strings.Contains(line, `instance="`+instance+`"`) {
			out = append(out, meta...)
			out = append(out, line)
		}
		meta = nil
	}
	return strings.Join(out, "\n") + "\n"
}

// startPusher starts a duometer with basic auth on the scrape endpoint (to produce
// duometer.auth.failed), node name node and a [metrics.pushgateway] section with the settings
// in pushgateway.
func startPusher(t *testing.T, node string, auth *basicAuth, pushgateway string) *duometer {
	t.Helper()
	cfg := serverConfig{Listen: localAddr(freePort(t)), ShutdownTimeout: "10s", Username: auth.user, Secret: auth.pass}
	return startServer(t, cfg.Listen, cfg.TOML()+"\n[metrics.pushgateway]\nenable = true\n"+pushgateway+
		fmt.Sprintf("\n[cluster]\nnode-name = %q\n", node))
}

// After one interval the Pushgateway holds duometer's series, with the values produced,
// under the rendered job and instance labels.
func TestPushgatewayPush(t *testing.T) {
	t.Parallel()
	requireServer(t)
	g := startGateway(t, 0)
	auth := &basicAuth{"prometheus", "s3cret-e2e-Pu5hgw"}
	srv := startPusher(t, "duometer@e2e-push", auth, fmt.Sprintf(`url = %q
interval = "1s"
timeout = "2s"
method = "put"
headers = { X-Scope-OrgID = "e2e" }
`, g.base))
	assertUnauthorized(t, srv, nil)
	assertUnauthorized(t, srv, &basicAuth{auth.user, "nope"})

	group := map[string]string{"job": "duometer", "instance": "duometer~e2e-push"}
	g.waitValue(t, 15*time.Second, "duometer_auth_failed_total", group, func(v float64) bool { return v == 2 })
	body, samples := g.metrics(t)
	if _, ok := sumSamples(samples, "target_info", map[string]string{"job": "duometer", "instance": "duometer~e2e-push", "service_name": "duometer"}); !ok {
		t.Errorf("target_info is not in the group")
	}
	// The histograms and the push counters come along, as the scrape endpoint serves them.
	if v, ok := sumSamples(samples, "duometer_http_request_time_seconds_count", map[string]string{"job": "duometer", "handler": "prometheus"}); !ok || v < 2 {
		t.Errorf("duometer_http_request_time_seconds_count{handler=prometheus} = %v (present %v), want >= 2", v, ok)
	}
	pushed := map[string]string{"job": "duometer", "instance": "duometer~e2e-push", "exporter": "pushgateway"}
	g.waitValue(t, 10*time.Second, "duometer_push_exports_total", pushed, func(v float64) bool { return v >= 1 })
	if v, ok := sumSamples(samples, "push_failure_time_seconds", group); !ok || v != 0 {
		t.Errorf("the gateway refused a push: push_failure_time_seconds = %v (present %v)", v, ok)
	}
	// No series of the group lacks the grouping labels.
	for _, s := range samples {
		if s.labels["job"] == "duometer" && s.labels["instance"] != "duometer~e2e-push" {
			t.Errorf("series outside the group: %s%v", s.name, s.labels)
		}
	}
	if os.Getenv("DUOMETER_E2E_SHOW") != "" {
		t.Logf("pushgateway /metrics for the group:\n%s", groupLines(body, "duometer~e2e-push"))
	}
	if v, ok := scrapeValue(t, srv, auth, "duometer_push_failures_total", map[string]string{"exporter": "pushgateway"}); ok && v != 0 {
		t.Errorf("duometer_push_failures_total{exporter=pushgateway} = %v, want 0", v)
	}
	srv.shutdown(t, auth.pass)
}

// put replaces the whole group: a family another pusher put there is gone after duometer's
// first push. post replaces only the families it carries: the other pusher's family stays,
// and a family of the same name as one of duometer's is replaced.
func TestPushgatewayPutVersusPost(t *testing.T) {
	t.Parallel()
	requireServer(t)
	g := startGateway(t, 0)
	for _, method := range []string{"put", "post"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			auth := &basicAuth{"prometheus", "s3cret-e2e-" + method}
			instance := "duometer~e2e-" + method
			group := map[string]string{"job": "duometer", "instance": instance}
			// Another pusher's families in the group duometer will push to.
			g.push(t, http.MethodPut, "/metrics/job/duometer/instance/"+instance,
				"# TYPE e2e_foreign_total counter\ne2e_foreign_total 7\n# TYPE duometer_auth_failed_total counter\nduometer_auth_failed_total 99\n")
			g.waitValue(t, 5*time.Second, "e2e_foreign_total", group, func(v float64) bool { return v == 7 })

			srv := startPusher(t, "duometer@e2e-"+method, auth,
				fmt.Sprintf("url = %q\ninterval = \"1s\"\nmethod = %q\n", g.base, method))
			assertUnauthorized(t, srv, nil)
			g.waitValue(t, 15*time.Second, "duometer_auth_failed_total", group, func(v float64) bool { return v == 1 })
			g.waitValue(t, 15*time.Second, "duometer_push_exports_total", group, func(v float64) bool { return v >= 1 })

			_, samples := g.metrics(t)
			v, found := sumSamples(samples, "e2e_foreign_total", group)
			switch method {
			case "put":
				if found {
					t.Errorf("after a put, the other pusher's e2e_foreign_total is still there (%v)", v)
				}
			case "post":
				if !found || v != 7 {
					t.Errorf("after a post, e2e_foreign_total = %v (present %v), want 7 kept", v, found)
				}
			}
			srv.stop(t, 15*time.Second)
		})
	}
}

// The Pushgateway is down when duometer starts: the failed pushes are counted and duometer
// serves meanwhile; when it comes up, the next push lands without a restart and carries the
// failure count.
func TestPushgatewayDownThenUp(t *testing.T) {
	t.Parallel()
	requireServer(t)
	requireTool(t, "prometheus-pushgateway")
	gwPort := freePort(t) // nothing listens here yet
	auth := &basicAuth{"prometheus", "s3cret-e2e-D0wnUp"}
	srv := startPusher(t, "duometer@e2e-late", auth,
		fmt.Sprintf("url = %q\ninterval = \"1s\"\ntimeout = \"1s\"\n", "http://"+localAddr(gwPort)))

	failures := map[string]string{"exporter": "pushgateway"}
	waitUntil(t, 20*time.Second, "duometer_push_failures_total{exporter=pushgateway} >= 3", func() (bool, string) {
		v, ok := scrapeValue(t, srv, auth, "duometer_push_failures_total", failures)
		return ok && v >= 3, fmt.Sprintf("value %v, present %v", v, ok)
	})
	assertUnauthorized(t, srv, nil)
	assertUnauthorized(t, srv, nil)
	assertUnauthorized(t, srv, nil)

	g := startGateway(t, gwPort)
	group := map[string]string{"job": "duometer", "instance": "duometer~e2e-late"}
	g.waitValue(t, 15*time.Second, "duometer_auth_failed_total", group, func(v float64) bool { return v == 3 })
	pushed := map[string]string{"job": "duometer", "instance": "duometer~e2e-late", "exporter": "pushgateway"}
	g.waitValue(t, 10*time.Second, "duometer_push_failures_total", pushed, func(v float64) bool { return v >= 3 })
	g.waitValue(t, 10*time.Second, "duometer_push_exports_total", pushed, func(v float64) bool { return v >= 1 })

	if r, err := httpGet(srv.base+"/-/ready", nil); err != nil || r.status != http.StatusOK {
		t.Errorf("GET /-/ready after the gateway came up: %v %+v", err, r)
	}
	out := srv.out.String()
	if n := strings.Count(out, "Pushgateway push failed"); n != 1 {
		t.Errorf("%d warnings for the failed pushes, want 1 (at most one a minute)", n)
	}
	if !strings.Contains(out, "Pushgateway push succeeded again") {
		t.Errorf("no line saying the pushes recovered")
	}
	srv.shutdown(t, auth.pass)
}

// With a long interval nothing is pushed before SIGTERM, and SIGTERM makes one last push with
// the latest values before the process exits 0.
func TestPushgatewaySIGTERMFinalPush(t *testing.T) {
	t.Parallel()
	requireServer(t)
	g := startGateway(t, 0)
	auth := &basicAuth{"prometheus", "s3cret-e2e-T3rmPg"}
	srv := startPusher(t, "duometer@e2e-term", auth,
		fmt.Sprintf("url = %q\ninterval = \"1h\"\nmethod = \"post\"\n", g.base))
	assertUnauthorized(t, srv, nil)
	assertUnauthorized(t, srv, &basicAuth{auth.user, "nope"})

	group := map[string]string{"job": "duometer", "instance": "duometer~e2e-term"}
	// For a second (far less than the interval), no push may show.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(pollInterval) {
		if _, samples := g.metrics(t); len(filterGroup(samples, group)) != 0 {
			t.Fatalf("the group was pushed before one interval had passed: %v", filterGroup(samples, group))
		}
	}
	srv.stop(t, 15*time.Second)

	_, samples := g.metrics(t)
	if v, ok := sumSamples(samples, "duometer_auth_failed_total", group); !ok || v != 2 {
		t.Errorf("after SIGTERM the gateway holds duometer_auth_failed_total = %v (present %v), want 2", v, ok)
	}
	if v, ok := sumSamples(samples, "duometer_push_exports_total", map[string]string{"job": "duometer", "exporter": "pushgateway"}); !ok || v != 0 {
		t.Errorf("duometer_push_exports_total in the final push = %v (present %v), want 0 (it is the first push)", v, ok)
	}
}

func filterGroup(samples []sample, group map[string]string) []sample {
	var out []sample
	for _, s := range samples {
		if _, ok := sumSamples([]sample{s}, s.name, group); ok {
			out = append(out, s)
		}
	}
	return out
}
