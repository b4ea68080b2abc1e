package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/duometer/duometer/internal/testutil"
)

var noAttrs = map[string]string{}

// assertNoSecret fails if the secret shows up in the captured output.
func assertNoSecret(t *testing.T, what, output, secret string) {
	t.Helper()
	if strings.Contains(output, secret) {
		t.Errorf("the auth secret %q appears in %s:\n%s", secret, what, output)
	}
}

// badCredentials makes exactly three scrape requests that must be refused:
// no credentials, wrong secret, wrong user.
func badCredentials(t *testing.T, s *duometer, good *basicAuth) {
	t.Helper()
	assertUnauthorized(t, s, nil)
	assertUnauthorized(t, s, &basicAuth{good.user, good.pass + "-wrong"})
	assertUnauthorized(t, s, &basicAuth{"intruder", good.pass})
}

// scrapeValue scrapes the server and returns the sum of the samples named
// name whose labels include want.
func scrapeValue(t *testing.T, s *duometer, auth *basicAuth, name string, want map[string]string) (float64, bool) {
	t.Helper()
	samples, err := parseExposition(s.scrape(t, auth))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return sumSamples(samples, name, want)
}

// serverVersion runs duometer -version, which must exit 0 and print
// "duometer VERSION", and returns VERSION.
func serverVersion(t *testing.T) string {
	t.Helper()
	code, stdout, stderr := runServer(t, 10*time.Second, "-version")
	f := strings.Fields(stdout)
	if code != 0 || len(f) != 5 || f[0] != "duometer" || f[2] != "(revision" {
		t.Fatalf("duometer -version: exit code %d, stdout %q, stderr %q; want exit 0 and \"duometer VERSION (revision REV, GOVERSION)\"", code, stdout, stderr)
	}
	return f[1]
}

// userLabels drops the labels Prometheus and the OpenTelemetry exporter
// add, leaving the metric's own attributes.
func userLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		switch {
		case k == "__name__", k == "job", k == "instance", strings.HasPrefix(k, "otel_scope_"):
		default:
			out[k] = v
		}
	}
	return out
}

// Test 1: Prometheus pulling with basic auth and the OTLP push report the
// same numbers.
func TestPullWithAuthAndPushAgree(t *testing.T) {
	t.Parallel()
	requireTool(t, "prometheus")
	promtool := requireTool(t, "promtool")
	requireServer(t)

	auth := &basicAuth{"prometheus", "s3cret-e2e-Qx7vLw"}
	rec := startReceiver(t, 0)
	cfg := serverConfig{
		Listen: localAddr(freePort(t)), ShutdownTimeout: "10s",
		Username: auth.user, Secret: auth.pass,
		Transport: "grpc", Endpoint: rec.endpoint(), Interval: "1s", Timeout: "1s",
	}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	prom := startPrometheus(t, srv.addr, auth)

	badCredentials(t, srv, auth)

	// Prometheus, scraping with the right credentials, sees exactly 3.
	got := prom.waitQuery(t, 30*time.Second, "duometer_auth_failed_total", singleValue(3))
	if l := userLabels(got[0].Metric); len(l) != 0 {
		t.Errorf("duometer_auth_failed_total has labels %v, want none", l)
	}
	prom.waitQuery(t, 10*time.Second, `up{job="duometer"}`, singleValue(1))
	// Prometheus's own scrapes passed the credential check.
	prom.waitQuery(t, 10*time.Second, "duometer_auth_success_total", func(r []promSample) bool {
		return len(r) == 1 && r[0].Value > 0
	})

	// The OTLP push carries the same value with the same (empty) attributes.
	rec.waitLatest(t, 15*time.Second, "duometer.auth.failed", noAttrs, 3)
	for _, e := range rec.snapshot() {
		for _, m := range metricsNamed(e.req, "duometer.auth.failed") {
			sum := m.GetSum()
			if sum == nil {
				t.Fatalf("duometer.auth.failed is pushed as %T, want a Sum", m.GetData())
			}
			if !sum.GetIsMonotonic() || sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
				t.Errorf("duometer.auth.failed: monotonic=%v temporality=%v, want a cumulative monotonic sum",
					sum.GetIsMonotonic(), sum.GetAggregationTemporality())
			}
			for _, p := range sum.GetDataPoints() {
				if len(p.GetAttributes()) != 0 {
					t.Errorf("duometer.auth.failed point has attributes %v, want none", attrMap(p.GetAttributes()))
				}
			}
		}
	}
	res := rec.resourceAttrs()
	if res["service.name"] != "duometer" {
		t.Errorf("resource service.name = %q, want duometer (resource %v)", res["service.name"], res)
	}
	for _, k := range []string{"host.name", "service.instance.id", "service.version"} {
		if res[k] == "" {
			t.Errorf("resource attribute %s missing or empty (resource %v)", k, res)
		}
	}
	if v := serverVersion(t); res["service.version"] != v {
		t.Errorf("resource service.version = %q, but duometer -version says %q", res["service.version"], v)
	}

	// Our own scrape agrees and is valid exposition text.
	r, err := httpGetAuth(srv.base+"/metrics/prometheus", auth, map[string]string{"Accept": "text/plain"})
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("scrape with Accept text/plain: %v, %+v", err, r)
	}
	samples, err := parseExposition(string(r.body))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	if v, ok := sumSamples(samples, "duometer_auth_failed_total", nil); !ok || v != 3 {
		t.Errorf("direct scrape duometer_auth_failed_total = %v (present %v), want 3", v, ok)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(r.body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nscrape body:\n%s", err, out, r.body)
	}

	srv.shutdown(t, auth.pass)
}

// Test 2: a disabled event is neither scraped nor pushed.
func TestDisabledEvent(t *testing.T) {
	t.Parallel()
	requireTool(t, "prometheus")
	requireServer(t)

	auth := &basicAuth{"prometheus", "s3cret-e2e-Dis4bled"}
	rec := startReceiver(t, 0)
	cfg := serverConfig{
		Listen:         localAddr(freePort(t)),
		DisabledEvents: []string{"duometer.auth.success"},
		Username:       auth.user, Secret: auth.pass,
		Transport: "grpc", Endpoint: rec.endpoint(), Interval: "1s", Timeout: "1s",
	}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	prom := startPrometheus(t, srv.addr, auth)

	// One failure, so that duometer.auth.failed exists and the absence of
	// duometer.auth.success means something.
	assertUnauthorized(t, srv, nil)

	prom.waitScraped(t, 2) // at least two successful (authenticated) scrapes
	prom.waitQuery(t, 10*time.Second, "duometer_auth_failed_total", singleValue(1))
	if res, err := prom.query("duometer_auth_success_total"); err != nil || len(res) != 0 {
		t.Errorf("PromQL duometer_auth_success_total = %v, %v; want an empty result", res, err)
	}
	if res, err := prom.query(`{__name__=~"duometer_auth_success.*"}`); err != nil || len(res) != 0 {
		t.Errorf(`PromQL {__name__=~"duometer_auth_success.*"} = %v, %v; want an empty result`, res, err)
	}

	body := srv.scrape(t, auth)
	if strings.Contains(body, "duometer_auth_success") {
		t.Errorf("direct scrape contains duometer_auth_success:\n%s", body)
	}
	if !strings.Contains(body, "duometer_auth_failed_total") {
		t.Errorf("direct scrape lacks duometer_auth_failed_total:\n%s", body)
	}

	// Pushes made after the successful scrapes still lack it.
	rec.waitLatest(t, 15*time.Second, "duometer.auth.failed", noAttrs, 1)
	n := rec.count()
	waitUntil(t, 10*time.Second, "two more OTLP pushes", func() (bool, string) {
		return rec.count() >= n+2, fmt.Sprintf("%d exports", rec.count())
	})
	if rec.seen("duometer.auth.success") {
		t.Errorf("an OTLP push carried the disabled duometer.auth.success")
	}
	assertNoSecret(t, "the server output", srv.out.String(), auth.pass)
}

// Test 3: the OTLP receiver is down when the server starts and comes up
// later; the server serves meanwhile and loses nothing.
func TestOTLPReceiverLate(t *testing.T) {
	t.Parallel()
	requireServer(t)

	auth := &basicAuth{"prometheus", "s3cret-e2e-L4te"}
	recPort := freePort(t) // nothing listens here yet
	cfg := serverConfig{
		Listen:   localAddr(freePort(t)),
		Username: auth.user, Secret: auth.pass,
		Transport: "grpc", Endpoint: "http://" + localAddr(recPort), Interval: "1s", Timeout: "1s",
	}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	srv.scrape(t, auth)

	assertUnauthorized(t, srv, nil)
	assertUnauthorized(t, srv, &basicAuth{auth.user, "nope"})

	// The failing pushes are counted and the server keeps serving.
	failures := map[string]string{"exporter": "otlp"}
	waitUntil(t, 20*time.Second, "duometer_push_failures_total{exporter=otlp} > 0", func() (bool, string) {
		v, ok := scrapeValue(t, srv, auth, "duometer_push_failures_total", failures)
		return ok && v > 0, fmt.Sprintf("value %v, present %v", v, ok)
	})

	rec := startReceiver(t, recPort)
	assertUnauthorized(t, srv, &basicAuth{"intruder", auth.pass})

	rec.waitLatest(t, 45*time.Second, "duometer.auth.failed", noAttrs, 3)

	r, err := httpGet(srv.base+"/-/ready", nil)
	if err != nil || r.status != http.StatusOK {
		t.Errorf("GET /-/ready after the receiver came up: %v %+v", err, r)
	}
	if v, ok := scrapeValue(t, srv, auth, "duometer_push_failures_total", failures); !ok || v <= 0 {
		t.Errorf("duometer_push_failures_total{exporter=otlp} = %v (present %v), want > 0", v, ok)
	}
	waitUntil(t, 10*time.Second, "duometer_push_exports_total{exporter=otlp} > 0", func() (bool, string) {
		v, ok := scrapeValue(t, srv, auth, "duometer_push_exports_total", failures)
		return ok && v > 0, fmt.Sprintf("value %v, present %v", v, ok)
	})
	assertNoSecret(t, "the server output", srv.out.String(), auth.pass)
}

// Test 4: SIGTERM makes one final push with the latest values and exits 0.
func TestSIGTERMFinalPush(t *testing.T) {
	t.Parallel()
	requireServer(t)

	auth := &basicAuth{"prometheus", "s3cret-e2e-T3rm"}
	rec := startReceiver(t, 0)
	const shutdownTimeout = 10 * time.Second
	cfg := serverConfig{
		Listen: localAddr(freePort(t)), ShutdownTimeout: shutdownTimeout.String(),
		Username: auth.user, Secret: auth.pass,
		Transport: "grpc", Endpoint: rec.endpoint(), Interval: "1m", Timeout: "5s",
	}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	assertUnauthorized(t, srv, nil)
	assertUnauthorized(t, srv, &basicAuth{auth.user, "nope"})

	before := rec.count()
	start := time.Now()
	srv.stop(t, shutdownTimeout+5*time.Second)
	t.Logf("exited %v after SIGTERM; %d exports before the signal", time.Since(start).Round(time.Millisecond), before)

	// The final push must have completed before the process exited.
	after := rec.snapshot()[before:]
	if len(after) == 0 {
		t.Fatalf("no OTLP push received after SIGTERM")
	}
	var vals []string
	for _, e := range after {
		v, ok := valueIn(e.req, "duometer.auth.failed", noAttrs)
		if ok && v == 2 {
			assertNoSecret(t, "the server output", srv.out.String(), auth.pass)
			return
		}
		vals = append(vals, fmt.Sprintf("%v(present %v)", v, ok))
	}
	t.Errorf("pushes after SIGTERM carry duometer.auth.failed = %v, want 2", vals)
}

// Test 5: a bad configuration is refused with exit code 2, naming every
// problem, without printing the secret.
func TestBadConfig(t *testing.T) {
	t.Parallel()
	requireServer(t)
	const secret = "s3cret-e2e-B4dC0nf"
	listen := localAddr(freePort(t))

	bad := fmt.Sprintf(`[server]
listen = %q

[metrics.prometheus]
enabled = true

[metrics.prometheus.auth]
username = "prometheus"
secret = %q

[metrics.open-telemetry]
transport = "pigeon"
endpoint = "http://127.0.0.1:4317"
interval = "soon"
timeout = "1s"
`, listen, secret)
	badPath := writeFile(t, "bad.toml", bad)
	// Each problem is named on a line of its own, with its key path and what is wrong.
	problems := [][]string{
		{"metrics.prometheus.enabled: unknown key", "did you mean metrics.prometheus.enable?"},
		{`metrics.open-telemetry.interval: invalid duration "soon"`},
		{"metrics.open-telemetry.transport: must be one of", `got "pigeon"`},
	}
	t.Run("check-config", func(t *testing.T) { refused(t, secret, problems, "-check-config", "-config", badPath) })
	t.Run("start", func(t *testing.T) { refused(t, secret, problems, "-config", badPath) })

	t.Run("secret-not-echoed", func(t *testing.T) {
		// A TOML syntax error on the line after the secret: error messages that quote the
		// surrounding lines would leak it; the file and line are named instead.
		syntax := writeFile(t, "syntax-error-next-to-secret.toml", fmt.Sprintf(`[server]
listen = %q

[metrics.prometheus.auth]
username = "prometheus"
secret = %q
timeout = 1s oops
`, listen, secret))
		// A misspelled key holding the secret: an "unknown key" error that shows the value
		// would leak it.
		misspelled := writeFile(t, "misspelled-secret-key.toml", fmt.Sprintf(`[server]
listen = %q

[metrics.prometheus.auth]
username = "prometheus"
secrets = %q
`, listen, secret))
		for path, problems := range map[string][][]string{
			syntax: {{syntax + ":7:"}},
			misspelled: {
				{"metrics.prometheus.auth.secrets: unknown key", "did you mean metrics.prometheus.auth.secret?"},
				{"metrics.prometheus.auth: username and secret must be set together"},
			},
		} {
			refused(t, secret, problems, "-check-config", "-config", path)
			refused(t, secret, problems, "-config", path)
		}
	})

	t.Run("good", func(t *testing.T) {
		good := serverConfig{
			Listen: listen, LogFormat: "json", ShutdownTimeout: "15s",
			DisabledEvents: []string{"duometer.auth.success", "duometer.push*", "*request-time"},
			Username:       "prometheus", Secret: secret,
			Transport: "http", Endpoint: "http://127.0.0.1:4318", Interval: "1s", Timeout: "1s",
		}
		path := writeFile(t, "good.toml", good.TOML())
		code, stdout, stderr := runServer(t, 10*time.Second, "-check-config", "-config", path)
		if code != 0 {
			t.Errorf("-check-config on a good config: exit code %d, want 0\nconfig:\n%s\nstderr:\n%s", code, good.TOML(), stderr)
		}
		assertNoSecret(t, "stdout", stdout, secret)
		assertNoSecret(t, "stderr", stderr, secret)
	})
}

// refused runs duometer with args, which must exit with code 2 and print each problem (all
// of its parts) on a line of its own on stderr, and the secret nowhere.
func refused(t *testing.T, secret string, problems [][]string, args ...string) {
	t.Helper()
	what := "duometer " + strings.Join(args, " ")
	code, stdout, stderr := runServer(t, 10*time.Second, args...)
	if code != 2 {
		t.Errorf("%s: exit code %d, want 2\nstderr:\n%s", what, code, stderr)
	}
	lines := strings.Split(stderr, "\n")
	used := make([]bool, len(lines))
	for _, parts := range problems {
		found := false
		for i, l := range lines {
			if !used[i] && containsAll(l, parts) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("%s: stderr has no line of its own saying %q:\n%s", what, parts, stderr)
		}
	}
	assertNoSecret(t, what+": stdout", stdout, secret)
	assertNoSecret(t, what+": stderr", stderr, secret)
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Test 6: defaults: no auth, content negotiation and gzip on the scrape
// endpoint.
func TestDefaults(t *testing.T) {
	t.Parallel()
	requireServer(t)
	listen := localAddr(freePort(t))
	srv := startServer(t, listen, fmt.Sprintf("[server]\nlisten = %q\n", listen))
	url := srv.base + "/metrics/prometheus"

	if r, err := httpGet(srv.base+"/-/healthy", nil); err != nil || r.status != http.StatusOK {
		t.Errorf("GET /-/healthy: %v %+v", err, r)
	}

	r, err := httpGet(url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET %s without credentials: status %d, want 200; body:\n%s", url, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") && !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q, want text/plain or application/openmetrics-text", ct)
	}

	// The server's own request metrics show up (the first scrape is
	// counted once it has been answered).
	waitUntil(t, 10*time.Second, "duometer_http_requests_total and duometer_http_request_time_seconds in the scrape", func() (bool, string) {
		body := srv.scrape(t, nil)
		samples, err := parseExposition(body)
		if err != nil {
			t.Fatalf("parse scrape: %v\n%s", err, body)
		}
		_, reqs := sumSamples(samples, "duometer_http_requests_total", nil)
		_, hist := sumSamples(samples, "duometer_http_request_time_seconds_count", nil)
		return reqs && hist, fmt.Sprintf("requests %v, request time %v", reqs, hist)
	})

	om, err := httpGet(url, map[string]string{"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
	if err != nil || om.status != http.StatusOK {
		t.Fatalf("GET with Accept openmetrics: %v %+v", err, om)
	}
	if ct := om.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Accept openmetrics: Content-Type %q, want application/openmetrics-text", ct)
	}
	if !bytes.HasSuffix(om.body, []byte("# EOF\n")) {
		tail := om.body[max(0, len(om.body)-200):]
		t.Errorf("Accept openmetrics: body does not end with \"# EOF\\n\"; ends with:\n%q", tail)
	}

	gz, err := httpGet(url, map[string]string{"Accept-Encoding": "gzip", "Accept": "text/plain"})
	if err != nil || gz.status != http.StatusOK {
		t.Fatalf("GET with Accept-Encoding gzip: %v %+v", err, gz)
	}
	if ce := gz.header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("Accept-Encoding gzip: Content-Encoding %q, want gzip", ce)
	}
	if plain := testutil.Gunzip(t, bytes.NewReader(gz.body)); !bytes.Contains(plain, []byte("# TYPE duometer_")) {
		t.Errorf("gunzipped body has no duometer metrics:\n%s", plain)
	}
}
