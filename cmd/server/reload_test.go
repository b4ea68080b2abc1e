package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
)

// running is a server run in-process, on a config file the test rewrites, with its signals
// sent by the test.
type running struct {
	s       *server
	path    string
	signals chan os.Signal
	exit    chan int
	log     *testutil.SyncBuffer
}

func startRunning(t *testing.T, toml string) *running {
	t.Helper()
	path := filepath.Join(t.TempDir(), "duometer.toml")
	must(t, os.WriteFile(path, []byte(toml), 0o600))
	src := source{path: path}
	cfg, err := src.load()
	must(t, err)
	r := &running{path: path, signals: make(chan os.Signal, 4), exit: make(chan int, 1), log: &testutil.SyncBuffer{}}
	r.s, err = newServer(cfg, src, slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})), new(slog.LevelVar))
	must(t, err)
	go func() { r.exit <- r.s.run(r.signals) }()
	testutil.WaitFor(t, 10*time.Second, func() bool { return r.s.health.Ready() })
	t.Cleanup(func() {
		r.signals <- syscall.SIGTERM
		select {
		case <-r.exit:
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop")
		}
	})
	return r
}

// do serves one request through the server's routes as a loopback client.
func (r *running) do(method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:50000"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	r.s.handler.ServeHTTP(rec, req)
	return rec
}

func (r *running) rewrite(t *testing.T, toml string) {
	t.Helper()
	must(t, os.WriteFile(r.path, []byte(toml), 0o600))
}

func (r *running) scrape(t *testing.T) string {
	t.Helper()
	rec := r.do(http.MethodGet, "/metrics/prometheus", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

const reloadBase = `
[server]
listen = "127.0.0.1:0"
enable-lifecycle = true
[[events]]
name = "jobs.done"
kind = "counter"
labels = ["task"]
`

// SIGHUP and POST /-/reload apply a new configuration while serving: a disabled event leaves
// the scrape and comes back with the value it had; an invalid configuration changes nothing
// and flips duometer_config_last_reload_successful to 0; counts never go back.
func TestReloadAppliesAndKeepsCounts(t *testing.T) {
	r := startRunning(t, reloadBase)
	post := func(n int) {
		t.Helper()
		for range n {
			if rec := r.do(http.MethodPost, "/api/v1/events", `{"event":"jobs.done","labels":{"task":"a"}}`); rec.Code != http.StatusAccepted {
				t.Fatalf("post: %d %s", rec.Code, rec.Body.String())
			}
		}
	}
	post(3)
	if !strings.Contains(r.scrape(t), `jobs_done_total{task="a"} 3`) {
		t.Fatalf("scrape lacks the 3 posted events:\n%s", r.scrape(t))
	}

	r.rewrite(t, reloadBase+"[metrics]\ndisabled-events = [\"jobs.*\"]\n")
	r.signals <- syscall.SIGHUP
	testutil.WaitFor(t, 10*time.Second, func() bool { return !strings.Contains(r.scrape(t), "jobs_done_total") })
	post(2) // dropped: disabled

	r.rewrite(t, reloadBase+"[[events]]\nname = \"jobs.failed\"\nkind = \"counter\"\n")
	rec := r.do(http.MethodPost, reloadPath, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", reloadPath, rec.Code, rec.Body.String())
	}
	body := r.scrape(t)
	if !strings.Contains(body, `jobs_done_total{task="a"} 3`) {
		t.Errorf("re-enabled jobs.done lost its value:\n%s", body)
	}
	if rec := r.do(http.MethodPost, "/api/v1/events", `{"event":"jobs.failed"}`); rec.Code != http.StatusAccepted {
		t.Errorf("an event added by reload cannot be posted: %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(body, `duometer_config_loads_total{result="success"} 3`) || !strings.Contains(body, "duometer_config_last_reload_successful 1") {
		t.Errorf("reload self metrics after 2 reloads:\n%s", grep(body, "duometer_config"))
	}

	r.rewrite(t, strings.Replace(reloadBase, "enable-lifecycle = true", "enable-lifecycle = true\nlog-level = \"loud\"", 1))
	rec = r.do(http.MethodPut, reloadPath, "")
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `server.log-level: must be one of "debug", "info", "warn", "error", got "loud"`) {
		t.Errorf("invalid reload: %d %q, want 400 naming the problem", rec.Code, rec.Body.String())
	}
	body = r.scrape(t)
	if !strings.Contains(body, "duometer_config_last_reload_successful 0") || !strings.Contains(body, `duometer_config_loads_total{result="failure"} 1`) {
		t.Errorf("after a failed reload:\n%s", grep(body, "duometer_config"))
	}
	if !strings.Contains(body, `jobs_done_total{task="a"} 3`) {
		t.Errorf("a failed reload changed the values:\n%s", body)
	}
	if !strings.Contains(r.log.String(), "configuration reload failed") {
		t.Errorf("the failed reload was not logged:\n%s", r.log.String())
	}
}

// A reload that changes an existing event's kind, labels, unit or buckets is refused, naming
// the event and saying to restart.
func TestReloadRefusesChangedEvents(t *testing.T) {
	r := startRunning(t, reloadBase)
	r.rewrite(t, strings.Replace(reloadBase, `kind = "counter"`, `kind = "gauge"`, 1))
	rec := r.do(http.MethodPost, reloadPath, "")
	want := `events[0]: event "jobs.done" changes its kind (counter to gauge), which would break its series: restart duometer to change it`
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("reload changing a kind: %d %q, want 400 with %q", rec.Code, rec.Body.String(), want)
	}
}

// /-/reload: 404 without server.enable-lifecycle, POST and PUT only, loopback clients only
// without scrape auth, behind the scrape auth when it is set.
func TestReloadEndpointAccess(t *testing.T) {
	off := startRunning(t, "[server]\nlisten = \"127.0.0.1:0\"\n")
	if rec := off.do(http.MethodPost, reloadPath, ""); rec.Code != http.StatusNotFound {
		t.Errorf("without enable-lifecycle: %d, want 404", rec.Code)
	}
	r := startRunning(t, reloadBase)
	if rec := r.do(http.MethodGet, reloadPath, ""); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST, PUT" {
		t.Errorf("GET: %d, Allow %q; want 405 with Allow: POST, PUT", rec.Code, rec.Header().Get("Allow"))
	}
	req := httptest.NewRequest(http.MethodPost, reloadPath, nil)
	req.RemoteAddr = "192.0.2.7:4000"
	rec := httptest.NewRecorder()
	r.s.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("a non-loopback client without scrape auth: %d, want 403", rec.Code)
	}

	authed := startRunning(t, reloadBase+"[metrics.prometheus.auth]\nusername = \"prom\"\nsecret = \"s3cret\"\n")
	if rec := authed.do(http.MethodPost, reloadPath, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", rec.Code)
	}
	req = httptest.NewRequest(http.MethodPost, reloadPath, nil)
	req.RemoteAddr = "192.0.2.7:4000"
	req.SetBasicAuth("prom", "s3cret")
	rec = httptest.NewRecorder()
	authed.s.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("with credentials from anywhere: %d %s, want 200", rec.Code, rec.Body.String())
	}
}

func TestCheckEvents(t *testing.T) {
	cat := events.NewCatalog()
	cat.MustDefine(events.Def{Name: "a.c", Kind: events.Counter, Labels: []string{"x"}})
	cat.MustDefine(events.Def{Name: "a.h", Kind: events.Histogram, Unit: "s"})
	for _, tc := range []struct {
		entry config.Event
		want  string
	}{
		{config.Event{Name: "a.c", Kind: "counter", Labels: []string{"x"}, Description: "new words"}, ""},
		{config.Event{Name: "a.h", Kind: "histogram", Unit: "s"}, ""}, // default buckets either way
		{config.Event{Name: "a.new", Kind: "gauge"}, ""},
		{config.Event{Name: "a.c", Kind: "counter", Labels: []string{"x", "y"}}, "changes its labels ([x] to [x, y])"},
		{config.Event{Name: "a.c", Kind: "counter", Labels: []string{"x"}, Unit: "By"}, `changes its unit ("" to "By")`},
		{config.Event{Name: "a.h", Kind: "histogram", Unit: "s", Buckets: []float64{1, 2}}, "changes its buckets ("},
		{config.Event{Name: "a.c", Kind: "updown", Labels: []string{"x"}}, "changes its kind (counter to updown)"},
	} {
		err := checkEvents(cat, config.Config{Events: []config.Event{tc.entry}})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.entry, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "restart duometer")):
			t.Errorf("%+v: %v, want an error with %q", tc.entry, err, tc.want)
		}
	}
}

func TestChangedKeys(t *testing.T) {
	a := config.DefaultConfig()
	b := a
	b.Server.LogLevel = "debug"
	b.Metrics.Prometheus.Auth.Secret = "x"
	b.Metrics.DisabledEvents = []string{"a.*"}
	got := strings.Join(changedKeys(a, b), " ")
	if got != "server.log-level metrics.disabled-events metrics.prometheus.auth.secret" {
		t.Errorf("changedKeys = %q", got)
	}
}

func grep(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A series of an event with a ttl leaves the scrape once it has not been updated for that
// long; posted again, it starts from zero. duometer_catalog_series follows.
func TestExpiryLeavesTheScrape(t *testing.T) {
	r := startRunning(t, `
[server]
listen = "127.0.0.1:0"
[[events]]
name = "jobs.last-run"
kind = "gauge"
labels = ["task"]
ttl = "2s"
[[events]]
name = "jobs.done"
kind = "counter"
labels = ["task"]
ttl = "2s"
`)
	post := func(body string) {
		t.Helper()
		if rec := r.do(http.MethodPost, "/api/v1/events", body); rec.Code != http.StatusAccepted {
			t.Fatalf("post: %d %s", rec.Code, rec.Body.String())
		}
	}
	post(`[{"event":"jobs.last-run","labels":{"task":"retired"},"value":1700000000},{"event":"jobs.done","labels":{"task":"x"},"value":5}]`)
	body := r.scrape(t)
	if !strings.Contains(body, `jobs_last_run{task="retired"} 1.7e+09`) || !strings.Contains(body, `jobs_done_total{task="x"} 5`) {
		t.Fatalf("scrape lacks the posted series:\n%s", grep(body, "jobs_"))
	}
	testutil.WaitFor(t, 15*time.Second, func() bool {
		b := r.scrape(t)
		return !strings.Contains(b, `task="retired"`) && !strings.Contains(b, `jobs_done_total{task="x"}`) &&
			strings.Contains(b, `duometer_catalog_series{event="jobs.done"} 0`)
	})
	post(`{"event":"jobs.done","labels":{"task":"x"}}`)
	if body := r.scrape(t); !strings.Contains(body, `jobs_done_total{task="x"} 1`) {
		t.Errorf("after expiry, a new post did not start from zero:\n%s", grep(body, "jobs_done"))
	}
}

// The catalog's budgets are in the scrape as configured, follow a reload, and show 0 when
// off; duometer_catalog_label_values_bytes counts the label values posted.
func TestCatalogBudgetsInTheScrape(t *testing.T) {
	const quick = "[ingest]\nauto-ttl = \"4s\"\n" // housekeeping every second
	r := startRunning(t, reloadBase+quick+"[metrics]\nmax-series = 1000\nmax-label-bytes = \"1MiB\"\n")
	body := r.scrape(t)
	for _, want := range []string{"duometer_catalog_max_series 1000", "duometer_catalog_max_label_values_bytes 1.048576e+06"} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %q:\n%s", want, grep(body, "duometer_catalog_max"))
		}
	}
	before := r.s.cat.LabelBytes()
	if rec := r.do(http.MethodPost, "/api/v1/events", `{"event":"jobs.done","labels":{"task":"0123456789"}}`); rec.Code != http.StatusAccepted {
		t.Fatalf("post: %d %s", rec.Code, rec.Body.String())
	}
	if got := r.s.cat.LabelBytes() - before; got < 10 { // and those of duometer's own new series
		t.Errorf("a label value of 10 bytes added %d label bytes", got)
	}
	r.rewrite(t, reloadBase+quick+"[metrics]\nmax-series = -1\nmax-label-bytes = 2048\n")
	r.signals <- syscall.SIGHUP
	testutil.WaitFor(t, 10*time.Second, func() bool {
		b := r.scrape(t)
		return strings.Contains(b, "duometer_catalog_max_series 0") && strings.Contains(b, "duometer_catalog_max_label_values_bytes 2048")
	})
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(r.scrape(t), fmt.Sprintf("duometer_catalog_label_values_bytes %d", r.s.cat.LabelBytes()))
	})
}

// A reload keeps service.instance.id: a new one would make every series a new series in an
// OTLP backend. server.instance-id set by a reload takes over; removed, the process's own
// comes back.
func TestReloadKeepsInstanceID(t *testing.T) {
	r := startRunning(t, reloadBase)
	idRe := regexp.MustCompile(`target_info\{[^}]*service_instance_id="([^"]*)"`)
	id := func() string {
		m := idRe.FindStringSubmatch(r.scrape(t))
		if m == nil {
			t.Fatalf("no service_instance_id in target_info:\n%s", grep(r.scrape(t), "target_info"))
		}
		return m[1]
	}
	reload := func(toml string, loads int) {
		t.Helper()
		r.rewrite(t, toml)
		r.signals <- syscall.SIGHUP
		want := fmt.Sprintf(`duometer_config_loads_total{result="success"} %d`, loads)
		testutil.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(r.scrape(t), want) })
	}
	own := id()
	reload(reloadBase+"[metrics]\ncardinality-limit = 5\n", 2)
	if got := id(); got != own {
		t.Errorf("service_instance_id %q before the reload, %q after it", own, got)
	}
	reload(strings.Replace(reloadBase, "[server]\n", "[server]\ninstance-id = \"db-1\"\n", 1), 3)
	if got := id(); got != "db-1" {
		t.Errorf("service_instance_id %q after a reload that sets server.instance-id = db-1", got)
	}
	reload(reloadBase, 4)
	if got := id(); got != own {
		t.Errorf("service_instance_id %q after server.instance-id was removed, want the process's own %q", got, own)
	}
}

// A reload that changes server.listen binds the new address first, then closes the old one;
// one whose address cannot be bound changes nothing.
func TestReloadRebinds(t *testing.T) {
	r := startRunning(t, reloadBase)
	old := r.s.http.Addr().String()
	get := func(addr string) (int, error) {
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/-/ready")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(old); err != nil || code != http.StatusOK {
		t.Fatalf("old address before the reload: %d, %v", code, err)
	}
	// An address in use: the reload fails and the old listener stays.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer busy.Close()
	r.rewrite(t, strings.Replace(reloadBase, `listen = "127.0.0.1:0"`, `listen = "`+busy.Addr().String()+`"`, 1))
	if rec := r.do(http.MethodPost, reloadPath, ""); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "server.listen") {
		t.Errorf("reload onto a busy address: %d %q, want 400 naming server.listen", rec.Code, rec.Body.String())
	}
	if code, err := get(old); err != nil || code != http.StatusOK {
		t.Fatalf("old address after a failed rebind: %d, %v", code, err)
	}
	// A free address: served at once, the old one closed.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	next := free.Addr().String()
	must(t, free.Close())
	r.rewrite(t, strings.Replace(reloadBase, `listen = "127.0.0.1:0"`, `listen = "`+next+`"`, 1))
	if rec := r.do(http.MethodPost, reloadPath, ""); rec.Code != http.StatusOK {
		t.Fatalf("reload onto %s: %d %s", next, rec.Code, rec.Body.String())
	}
	if code, err := get(next); err != nil || code != http.StatusOK {
		t.Errorf("new address after the reload: %d, %v", code, err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { _, err := get(old); return err != nil })
}
