package e2e

// The operator's pack, end to end: every query of the Grafana dashboard
// (deploy/grafana/duometer.json) returns data from a real Prometheus that scrapes a duometer
// doing all it can (ingestion with limits biting, OTLP and Pushgateway pushes, a cluster peer,
// scrape auth, TLS, storage, reloads), and the alert rules (deploy/prometheus/alerts.yml)
// load in that Prometheus, evaluate without error and fire what the run provokes. The rules'
// unit tests and runbook entries are checked to cover every rule.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
)

const (
	dashboardFile   = "../deploy/grafana/duometer.json"
	alertsFile      = "../deploy/prometheus/alerts.yml"
	alertsTestFile  = "../deploy/prometheus/alerts_test.yml"
	alertsRunbook   = "../docs/alerts.md"
	runbookURLStart = "https://github.com/duometer/duometer/blob/main/docs/alerts.md#"
)

// dashboardEmpty lists the panels whose queries legitimately return nothing in
// TestDashboardQueriesReturnData, with the reason (docs/dashboard.md lists them too). The
// test fails if one of them returns data after all: then it belongs off this list.
var dashboardEmpty = map[string]string{
	"Label mismatches (Go emitters)": "only Go code that emits an event with the wrong number of label values makes them; " +
		"the ingestion API refuses such an event with 400, so the server binary never counts one",
	"Series restored at start": "the server starts without a snapshot; the series appear when a start reads one",
}

// dashboardVars are the values the test gives Grafana's variables. $__rate_interval is what
// Grafana makes of Prometheus's 1 s scrape interval (at least four scrapes), rounded up so
// that every window holds several scrapes; $__interval and $__range are those of a short
// time range.
func dashboardVars(job, instance string) *strings.Replacer {
	return strings.NewReplacer(
		"${job}", job, "$job", job,
		"${instance}", instance, "$instance", instance,
		"$__rate_interval", "10s", "${__rate_interval}", "10s",
		"$__interval", "2s", "${__interval}", "2s",
		"$__range", "1m", "${__range}", "1m",
	)
}

// grafanaDS is a panel's or query's datasource reference.
type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	Expr       string     `json:"expr"`
	RefID      string     `json:"refId"`
	Datasource *grafanaDS `json:"datasource"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *grafanaDS      `json:"datasource"`
	Targets    []grafanaTarget `json:"targets"`
	Panels     []grafanaPanel  `json:"panels"` // a collapsed row's
}

type grafanaVariable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "..."} (Grafana 10+)
	Datasource *grafanaDS      `json:"datasource"`
}

// query is the variable's query text, from either form.
func (v grafanaVariable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

type grafanaDashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// dashboardQuery is one query of one panel.
type dashboardQuery struct {
	panel string
	ref   string
	expr  string
}

func (q dashboardQuery) String() string { return fmt.Sprintf("panel %q query %s", q.panel, q.ref) }

// loadDashboard parses the dashboard and returns it with its panels (rows left out, the
// panels of collapsed rows in).
func loadDashboard(t *testing.T) (*grafanaDashboard, []grafanaPanel) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var panels []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			panels = append(panels, p)
		}
	}
	walk(d.Panels)
	return &d, panels
}

// dashboardQueries returns every query of the panels.
func dashboardQueries(panels []grafanaPanel) []dashboardQuery {
	var out []dashboardQuery
	for _, p := range panels {
		for _, tg := range p.Targets {
			out = append(out, dashboardQuery{panel: p.Title, ref: tg.RefID, expr: tg.Expr})
		}
	}
	return out
}

var (
	selectorRE    = regexp.MustCompile(`\{[^{}]*\}`)
	labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
)

// TestDashboardJSON checks the dashboard's structure, without running anything: the
// datasource, job and instance variables, and panels whose every query selects with $job and
// $instance from the datasource variable.
func TestDashboardJSON(t *testing.T) {
	t.Parallel()
	d, panels := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: want both set", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d: want one Grafana 10 and 11 import as they are (36 to 41)", d.SchemaVersion)
	}
	vars := map[string]grafanaVariable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || v.query() != "prometheus" {
		t.Errorf("variable datasource = %+v, want type datasource, query prometheus", v)
	}
	for _, name := range []string{"job", "instance"} {
		v, ok := vars[name]
		if !ok || v.Type != "query" || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s = %+v, want a query variable on ${datasource}", name, v)
			continue
		}
		if m := labelValuesRE.FindStringSubmatch(v.query()); m == nil || m[2] != name {
			t.Errorf("variable %s: query %q, want label_values(<selector>, %s)", name, v.query(), name)
		}
	}

	titles := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range panels {
		if titles[p.Title] {
			t.Errorf("two panels are titled %q", p.Title)
		}
		titles[p.Title] = true
		if ids[p.ID] {
			t.Errorf("two panels have id %d", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: datasource %+v, want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
			sels := selectorRE.FindAllString(tg.Expr, -1)
			if len(sels) == 0 {
				t.Errorf("panel %q query %s selects nothing with $job and $instance: %s", p.Title, tg.RefID, tg.Expr)
			}
			for _, sel := range sels {
				if !strings.Contains(sel, `job=~"$job"`) || !strings.Contains(sel, `instance=~"$instance"`) {
					t.Errorf("panel %q query %s: selector %s lacks job=~\"$job\" or instance=~\"$instance\"", p.Title, tg.RefID, sel)
				}
			}
		}
	}
	for title := range dashboardEmpty {
		if !titles[title] {
			t.Errorf("dashboardEmpty names %q, which is no panel of the dashboard", title)
		}
	}
	doc, err := os.ReadFile("../docs/dashboard.md")
	if err != nil {
		t.Fatal(err)
	}
	for title := range titles {
		if !strings.Contains(string(doc), "**"+title+"**") {
			t.Errorf("docs/dashboard.md does not list the panel **%s**", title)
		}
	}
}

// alertRules returns the text of each rule of alerts.yml, by alert name, in file order.
func alertRules(t *testing.T) (names []string, text map[string]string) {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	text = map[string]string{}
	chunks := strings.Split(string(b), "- alert: ")
	for _, c := range chunks[1:] {
		name, _, _ := strings.Cut(c, "\n")
		name = strings.TrimSpace(name)
		names = append(names, name)
		text[name] = c
	}
	return names, text
}

// runbookSection returns the text of the section "### name" of the runbook.
func runbookSection(runbook, name string) (string, bool) {
	_, rest, ok := strings.Cut(runbook, "\n### "+name+"\n")
	if !ok {
		return "", false
	}
	for _, end := range []string{"\n### ", "\n## "} {
		if i := strings.Index(rest, end); i >= 0 {
			rest = rest[:i]
		}
	}
	return rest, true
}

// ruleFields returns a rule's expression (its words joined by single spaces), its for:
// ("" when it has none) and its severity label, from its text in alerts.yml.
func ruleFields(rule string) (expr, forDur, severity string) {
	lines := strings.Split(rule, "\n")
	for i, line := range lines {
		key, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		value = strings.TrimSpace(value)
		switch key {
		case "expr":
			if value != ">-" && value != "|" && value != ">" {
				expr = value
				continue
			}
			indent := len(line) - len(strings.TrimLeft(line, " "))
			var block []string
			for _, l := range lines[i+1:] {
				if strings.TrimSpace(l) != "" && len(l)-len(strings.TrimLeft(l, " ")) <= indent {
					break
				}
				block = append(block, l)
			}
			expr = strings.Join(block, " ")
		case "for":
			forDur = value
		case "severity":
			severity = value
		}
	}
	return strings.Join(strings.Fields(expr), " "), forDur, severity
}

// TestAlertRulesCovered: every rule of alerts.yml has summary, description and runbook_url
// annotations, the runbook_url names its section of docs/alerts.md, which exists and shows
// the rule's expression, for: and severity, and
// alerts_test.yml has a case where it fires (with labels and annotations) and one where it
// does not. With promtool on PATH, the rules pass `promtool check rules` and their tests
// `promtool test rules`, as .ci/run runs them.
func TestAlertRulesCovered(t *testing.T) {
	t.Parallel()
	names, rules := alertRules(t)
	if len(names) == 0 {
		t.Fatalf("no rule in %s", alertsFile)
	}
	runbook, err := os.ReadFile(alertsRunbook)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		r := rules[name]
		for _, want := range []string{"summary:", "description:", "{{ $labels.", "runbook_url: \"" + runbookURLStart + strings.ToLower(name) + "\""} {
			if !strings.Contains(r, want) {
				t.Errorf("rule %s has no %s", name, want)
			}
		}
		section, ok := runbookSection(string(runbook), name)
		if !ok {
			t.Errorf("docs/alerts.md has no section \"### %s\"", name)
			continue
		}
		// The section shows the rule as it is: its expression, for: and severity.
		expr, forDur, severity := ruleFields(r)
		if !strings.Contains(strings.Join(strings.Fields(section), " "), expr) {
			t.Errorf("docs/alerts.md, section %s, does not show the rule's expression %s", name, expr)
		}
		wantFor := "Fires at once"
		if forDur != "" {
			wantFor = "`for: " + forDur + "`"
		}
		if !strings.Contains(section, wantFor) || !strings.Contains(section, severity) {
			t.Errorf("docs/alerts.md, section %s, does not say %s and %s", name, wantFor, severity)
		}
	}

	b, err := os.ReadFile(alertsTestFile)
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, c := range strings.Split(string(b), "- eval_time:")[1:] {
		m := regexp.MustCompile(`(?m)^\s*alertname:\s*(\S+)\s*$`).FindStringSubmatch(c)
		if m == nil {
			t.Errorf("an alert_rule_test without alertname:\n%s", c)
			continue
		}
		if _, ok := rules[m[1]]; !ok {
			t.Errorf("alerts_test.yml tests %s, which is no rule of alerts.yml", m[1])
		}
		switch {
		case regexp.MustCompile(`(?m)^\s*exp_alerts:\s*\[\]\s*$`).MatchString(c):
			quiet[m[1]]++
		case strings.Contains(c, "exp_labels:") && strings.Contains(c, "exp_annotations:") && strings.Contains(c, "runbook_url:"):
			fires[m[1]]++
		default:
			t.Errorf("alert_rule_test of %s neither expects no alert nor gives exp_labels and exp_annotations (runbook_url included)", m[1])
		}
	}
	for _, name := range names {
		if fires[name] == 0 || quiet[name] == 0 {
			t.Errorf("alerts_test.yml: %s has %d cases where it fires and %d where it does not; want at least one of each", name, fires[name], quiet[name])
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		requireTool(t, "promtool") // skips, or fails in CI
		return
	}
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertsTestFile}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboardLoad posts events over TLS without a pause until stopped: a valid event and a
// disabled one in each request, a new login.attempt user each time (the event keeps two
// series, so all but the first two overflow), and now and then a label value longer than
// ingest.max-label-value-length and an unknown event (both 400, the first counted as a limit).
type dashboardLoad struct {
	url, token string
	client     *http.Client
	stop       chan struct{}
	stopOnce   sync.Once
	done       chan struct{}

	mu   sync.Mutex
	err  error
	sent int
}

func startDashboardLoad(base, token string, client *http.Client) *dashboardLoad {
	l := &dashboardLoad{url: base + eventsPath, token: token, client: client, stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *dashboardLoad) run() {
	defer close(l.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		body := fmt.Sprintf(`[{"event":"backup.completed","labels":{"host":"db%d"}},{"event":"debug.noise"},{"event":"login.attempt","labels":{"user":"u%d"}}]`, i%3, i)
		want := http.StatusAccepted
		switch {
		case i%5 == 4:
			body = `{"event":"backup.completed","labels":{"host":"a-host-name-far-longer-than-sixteen-bytes"}}`
			want = http.StatusBadRequest
		case i%7 == 6:
			body = `{"event":"backup.started","labels":{"host":"db1"}}`
			want = http.StatusBadRequest
		}
		r, err := postTo(l.url, ingestRequest{body: []byte(body), token: l.token, client: l.client})
		l.mu.Lock()
		l.sent++
		switch {
		case err != nil && l.err == nil:
			l.err = fmt.Errorf("POST %s: %w", body, err)
		case err == nil && r.status != want && l.err == nil:
			l.err = fmt.Errorf("POST %s: status %d %s, want %d", body, r.status, r.body, want)
		}
		l.mu.Unlock()
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
	}
}

// halt stops the load and waits until it has stopped.
func (l *dashboardLoad) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// finish stops the load and fails the test if a request did not get the answer expected.
func (l *dashboardLoad) finish(t *testing.T) {
	t.Helper()
	l.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		t.Errorf("load (%d requests): %v", l.sent, l.err)
	}
}

// dashboardServerConfig is the configuration of the duometer the dashboard watches.
func dashboardServerConfig(listen, certFile, keyFile string, auth *basicAuth, token, otlp, gateway, peer, storage, shutdownTimeout string) string {
	return fmt.Sprintf(`[server]
listen = %q
shutdown-timeout = %q

[server.tls]
cert-file = %q
key-file = %q

[metrics]
disabled-events = ["debug.*"]

[metrics.prometheus.auth]
username = %q
secret = %q

[metrics.open-telemetry]
transport = "grpc"
endpoint = %q
interval = "1s"
timeout = "1s"

[metrics.pushgateway]
enable = true
url = %q
interval = "1s"
timeout = "1s"

[cluster]
node-name = "duometer@dashboard"
peers = [%q]
timeout = "1s"

[storage]
path = %q
interval = "1s"

[ingest]
tokens = [%q]
max-label-value-length = 16

[[events]]
name = "backup.completed"
kind = "counter"
labels = ["host"]

[[events]]
name = "login.attempt"
kind = "counter"
labels = ["user"]
cardinality-limit = 2

[[events]]
name = "debug.noise"
kind = "counter"
`, listen, shutdownTimeout, certFile, keyFile, auth.user, auth.pass, otlp, gateway, peer, storage, token)
}

// tlsScrapeValue scrapes s over TLS with auth and returns the sum of name{want}.
func tlsScrapeValue(t *testing.T, c *http.Client, s *duometer, auth *basicAuth, name string, want map[string]string) (float64, bool) {
	t.Helper()
	r, err := httpGetWith(c, s.base+"/metrics/prometheus", auth, map[string]string{"Accept": "text/plain"})
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("scrape %s: %v %+v", s.base, err, r)
	}
	samples, err := parseExposition(string(r.body))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return sumSamples(samples, name, want)
}

// promAPI GETs a Prometheus API path and decodes its data into v.
func promAPI(p *promServer, path string, v any) error {
	r, err := httpGet(p.base+path, nil)
	if err != nil {
		return err
	}
	var resp struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		return fmt.Errorf("%s: status %d: %w", path, r.status, err)
	}
	if resp.Status != "success" {
		return fmt.Errorf("%s: %s", path, resp.Error)
	}
	return json.Unmarshal(resp.Data, v)
}

// TestDashboardQueriesReturnData runs a duometer that does everything the dashboard shows,
// has a real Prometheus scrape it every second with the alert rules loaded, and then requires
// every query of every panel (but those of dashboardEmpty) to return data; the rules must
// evaluate without error and fire the two alerts the run provokes, and no other.
func TestDashboardQueriesReturnData(t *testing.T) {
	t.Parallel()
	start := time.Now()
	promBin := requireTool(t, "prometheus")
	requireTool(t, "prometheus-pushgateway")
	requireServer(t)
	_, panels := loadDashboard(t)
	queries := dashboardQueries(panels)
	alertNames, _ := alertRules(t)
	rulesPath, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}

	auth := &basicAuth{"prometheus", "s3cret-e2e-D4shb0ard"}
	const token = "t0ken-e2e-D4shb0ard"
	certFile, keyFile, cert := testutil.SelfSigned(t, time.Now().Add(90*24*time.Hour))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	rec := startReceiver(t, 0)
	gw := startGateway(t, 0)
	peerCfg := serverConfig{Listen: localAddr(freePort(t)), ShutdownTimeout: "5s", Username: auth.user, Secret: auth.pass}
	peer := startServer(t, peerCfg.Listen, peerCfg.TOML()+"\n[cluster]\nnode-name = \"duometer@peer\"\n")

	listen := localAddr(freePort(t))
	snapshot := filepath.Join(t.TempDir(), "duometer.snapshot")
	config := func(shutdownTimeout string) string {
		return dashboardServerConfig(listen, certFile, keyFile, auth, token, rec.endpoint(), gw.base, peer.base,
			snapshot, shutdownTimeout)
	}
	cfgPath := writeFile(t, "duometer.toml", config("5s"))
	srv := launchServerFile(t, listen, cfgPath, "https", client)

	prom := runPrometheus(t, promBin, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: duometer
    metrics_path: /metrics/prometheus
    scheme: https
    tls_config:
      ca_file: %q
    basic_auth:
      username: %q
      password: %q
    static_configs:
      - targets: [%q]
`, rulesPath, certFile, auth.user, auth.pass, srv.addr))
	load := startDashboardLoad(srv.base, token, client)
	t.Cleanup(load.halt) // when the test stops early

	// Wrong credentials once for the scrape, once for the ingestion API.
	if r, err := httpGetWith(client, srv.base+"/metrics/prometheus", &basicAuth{auth.user, "wrong"}, nil); err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("scrape with a wrong password: %v %+v, want 401", err, r)
	}
	if r, err := postTo(srv.base+eventsPath, ingestRequest{body: []byte(`{"event":"backup.completed","labels":{"host":"x"}}`), token: "wrong", client: client}); err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("post with a wrong token: %v %+v, want 401", err, r)
	}
	// A group scrape, and a cluster-mode scrape, which sets duometer_cluster_peer_up.
	for _, path := range []string{"/metrics/prometheus/duometer", "/metrics/prometheus?mode=all_nodes_aggregated"} {
		if r, err := httpGetWith(client, srv.base+path, auth, nil); err != nil || r.status != http.StatusOK {
			t.Fatalf("GET %s: %v %+v, want 200", path, err, r)
		}
	}
	// A reload that fails (an invalid duration), then one that succeeds.
	for i, c := range []struct{ shutdownTimeout, result string }{{"soon", "failure"}, {"5s", "success"}} {
		if err := os.WriteFile(cfgPath, []byte(config(c.shutdownTimeout)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := srv.signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 15*time.Second, "reload "+c.result, func() (bool, string) {
			v, ok := tlsScrapeValue(t, client, srv, auth, "duometer_config_loads_total", map[string]string{"result": c.result})
			return ok && v == float64(1+i), fmt.Sprintf("duometer_config_loads_total{result=%q} = %v (present %v)", c.result, v, ok)
		})
	}
	if v, _ := tlsScrapeValue(t, client, srv, auth, "duometer_cluster_peer_up", map[string]string{"peer": peer.addr}); v != 1 {
		t.Errorf("duometer_cluster_peer_up{peer=%q} = %v, want 1", peer.addr, v)
	}

	prom.waitScraped(t, 12)
	vars := dashboardVars("duometer", srv.addr)

	// The variables' queries list the job and the instance.
	for _, c := range []struct{ query, label, want string }{
		{"label_values(duometer_build_info, job)", "job", "duometer"},
		{`label_values(duometer_build_info{job=~"$job"}, instance)`, "instance", srv.addr},
	} {
		m := labelValuesRE.FindStringSubmatch(vars.Replace(c.query))
		q := fmt.Sprintf("group by (%s) (%s)", m[2], m[1])
		res, err := prom.query(q)
		if err != nil || !slices.ContainsFunc(res, func(s promSample) bool { return s.Metric[c.label] == c.want }) {
			t.Errorf("variable query %s (as %s) = %v, %v: want %s among its values", c.query, q, res, err, c.want)
		}
	}

	// Every query parses and, but for the panels of dashboardEmpty, returns data.
	var empty []string
	waitUntil(t, 20*time.Second, "every dashboard query returning data", func() (bool, string) {
		empty = empty[:0]
		for _, q := range queries {
			res, err := prom.query(vars.Replace(q.expr))
			if err != nil {
				t.Fatalf("%s: %s: %v", q, vars.Replace(q.expr), err)
			}
			if len(res) == 0 {
				empty = append(empty, q.String())
			} else if why, listed := dashboardEmpty[q.panel]; listed {
				t.Fatalf("%s returned %v, but dashboardEmpty says it is empty (%s): take it off the list", q, res, why)
			}
		}
		var missing []string
		for _, e := range empty {
			listed := false
			for title := range dashboardEmpty {
				listed = listed || strings.HasPrefix(e, fmt.Sprintf("panel %q ", title))
			}
			if !listed {
				missing = append(missing, e)
			}
		}
		return len(missing) == 0, "empty: " + strings.Join(missing, "; ")
	})
	t.Logf("%d queries of %d panels return data; empty, as expected: %v", len(queries)-len(empty), len(panels), empty)

	// Every rule has been evaluated, without error.
	type promRule struct {
		Name      string `json:"name"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
	}
	waitUntil(t, 10*time.Second, "every alert rule evaluated", func() (bool, string) {
		var data struct {
			Groups []struct {
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		}
		if err := promAPI(prom, "/api/v1/rules?type=alert", &data); err != nil {
			return false, err.Error()
		}
		var got []string
		var bad []string
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				got = append(got, r.Name)
				if r.Health != "ok" {
					bad = append(bad, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
				}
			}
		}
		sort.Strings(got)
		want := slices.Sorted(slices.Values(alertNames))
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("rules %v, want %v", got, want)
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})

	// The limit and the overflow the load provokes fire; nothing else does.
	type promAlert struct {
		Labels map[string]string `json:"labels"`
		State  string            `json:"state"`
	}
	want := map[string]string{
		"DuometerLimitReached":        "ingest.max-label-value-length",
		"DuometerCardinalityOverflow": "login.attempt",
	}
	waitUntil(t, 15*time.Second, "the alerts the run provokes firing", func() (bool, string) {
		var data struct {
			Alerts []promAlert `json:"alerts"`
		}
		if err := promAPI(prom, "/api/v1/alerts", &data); err != nil {
			return false, err.Error()
		}
		firing := map[string]bool{}
		var all []string
		for _, a := range data.Alerts {
			all = append(all, fmt.Sprintf("%s%v %s", a.Labels["alertname"], a.Labels, a.State))
			if a.State != "firing" {
				continue
			}
			name := a.Labels["alertname"]
			w, expected := want[name]
			if !expected || (a.Labels["limit"] != w && a.Labels["event"] != w) {
				t.Fatalf("alert %s%v is firing; the run provokes only %v", name, a.Labels, want)
			}
			firing[name] = true
		}
		return len(firing) == len(want), strings.Join(all, "; ")
	})

	// The pushes got through.
	if rec.count() == 0 {
		t.Errorf("the OTLP receiver got no export")
	}
	gw.waitValue(t, 5*time.Second, "duometer_push_exports_total", map[string]string{"exporter": "pushgateway"}, func(v float64) bool { return v > 0 })

	load.finish(t)
	srv.shutdown(t, auth.pass, token)
	peer.shutdown(t, auth.pass)
	t.Logf("took %v", time.Since(start).Round(100*time.Millisecond))
}
