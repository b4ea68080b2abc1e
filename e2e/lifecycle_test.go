package e2e

// End-to-end tests of what docs/operations.md promises when an operator touches duometer:
// reload (SIGHUP and POST /-/reload) under load with a real Prometheus scraping, the
// ordered shutdown with a client trickling a request body, a second signal, a collector
// that goes down and comes back, SIGHUP, -version and the command line. Restarts with
// [storage] are in storage_test.go.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// lifecycleConfig describes a duometer configuration for the lifecycle and storage tests.
// Empty fields leave their keys out (the defaults apply).
type lifecycleConfig struct {
	Listen          string
	ShutdownTimeout string
	EnableLifecycle bool
	ServerExtra     string // lines added to [server] verbatim (e.g. an unknown key)
	NodeName        string
	Disabled        []string
	Auth            *basicAuth // basic auth on the scrape endpoint (and /-/reload)

	OTLPEndpoint string // gRPC; "" = no OTLP push
	OTLPInterval string
	OTLPTimeout  string

	PushgatewayURL      string // "" = no Pushgateway push
	PushgatewayInterval string
	PushgatewayTimeout  string

	StoragePath     string
	StorageInterval string

	Events string // [[events]] tables, verbatim
}

func (c lifecycleConfig) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = %q\n", c.Listen)
	if c.ShutdownTimeout != "" {
		fmt.Fprintf(&b, "shutdown-timeout = %q\n", c.ShutdownTimeout)
	}
	fmt.Fprintf(&b, "enable-lifecycle = %v\n", c.EnableLifecycle)
	b.WriteString(c.ServerExtra)

	b.WriteString("\n[metrics]\n")
	q := make([]string, len(c.Disabled))
	for i, e := range c.Disabled {
		q[i] = strconv.Quote(e)
	}
	fmt.Fprintf(&b, "disabled-events = [%s]\n", strings.Join(q, ", "))
	b.WriteString("\n[metrics.prometheus]\nenable = true\n")
	if c.Auth != nil {
		fmt.Fprintf(&b, "\n[metrics.prometheus.auth]\nusername = %q\nsecret = %q\n", c.Auth.user, c.Auth.pass)
	}
	if c.OTLPEndpoint != "" {
		fmt.Fprintf(&b, "\n[metrics.open-telemetry]\ntransport = \"grpc\"\nendpoint = %q\n", c.OTLPEndpoint)
		if c.OTLPInterval != "" {
			fmt.Fprintf(&b, "interval = %q\n", c.OTLPInterval)
		}
		if c.OTLPTimeout != "" {
			fmt.Fprintf(&b, "timeout = %q\n", c.OTLPTimeout)
		}
	}
	if c.PushgatewayURL != "" {
		fmt.Fprintf(&b, "\n[metrics.pushgateway]\nenable = true\nurl = %q\n", c.PushgatewayURL)
		if c.PushgatewayInterval != "" {
			fmt.Fprintf(&b, "interval = %q\n", c.PushgatewayInterval)
		}
		if c.PushgatewayTimeout != "" {
			fmt.Fprintf(&b, "timeout = %q\n", c.PushgatewayTimeout)
		}
	}
	if c.NodeName != "" {
		fmt.Fprintf(&b, "\n[cluster]\nnode-name = %q\n", c.NodeName)
	}
	if c.StoragePath != "" {
		fmt.Fprintf(&b, "\n[storage]\npath = %q\n", c.StoragePath)
		if c.StorageInterval != "" {
			fmt.Fprintf(&b, "interval = %q\n", c.StorageInterval)
		}
	}
	b.WriteString(c.Events)
	return b.String()
}

// write writes the configuration to path (for a start, or before a reload).
func (c lifecycleConfig) write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(c.TOML()), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// ordersEvents are the [[events]] of the lifecycle tests: the counter the load posts, and an
// unrelated one that reloads disable and enable again.
const ordersEvents = `
[[events]]
name = "orders.placed"
kind = "counter"
description = "Orders placed, by shop."
labels = ["shop"]

[[events]]
name = "audit.noise"
kind = "counter"
description = "An event unrelated to the load."
`

var shopA = map[string]string{"shop": "a"}

// ingestAnswer is the body of a 202 from the ingestion API.
type ingestAnswer struct {
	Applied int64 `json:"applied"`
	Dropped int64 `json:"dropped"`
}

// postOrders posts n orders.placed{shop="a"} events (value 1 each) in one request, requires
// 202 with n applied, and returns n.
func (s *duometer) postOrders(t *testing.T, n int) int64 {
	t.Helper()
	res := s.post(t, ingestRequest{body: ordersBody(n)})
	var a ingestAnswer
	if res.status != http.StatusAccepted || json.Unmarshal(res.body, &a) != nil || a.Applied != int64(n) {
		t.Fatalf("POST %d orders: %d %s, want 202 with %d applied", n, res.status, res.body, n)
	}
	return a.Applied
}

func ordersBody(n int) []byte {
	items := make([]string, n)
	for i := range items {
		items[i] = `{"event":"orders.placed","labels":{"shop":"a"}}`
	}
	return []byte("[" + strings.Join(items, ",") + "]")
}

// load posts orders.placed events to a server from one goroutine, one request after the
// other, until stopped, and counts what the server accepted.
type load struct {
	url      string
	client   *http.Client
	stopping chan struct{}
	done     chan struct{}

	requests atomic.Int64 // sent
	accepted atomic.Int64 // answered 202
	applied  atomic.Int64 // sum of "applied" in the 202s

	mu       sync.Mutex
	failures []string // anything but a 202 with every event applied (the first 20)
	nfail    int
}

func startLoad(s *duometer) *load {
	l := &load{
		url: s.base + eventsPath,
		// A client of its own: its keep-alive connection lives through the reloads.
		client:   &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}},
		stopping: make(chan struct{}), done: make(chan struct{}),
	}
	go l.run()
	return l
}

func (l *load) run() {
	defer close(l.done)
	for i := 0; ; i++ {
		select {
		case <-l.stopping:
			return
		default:
		}
		n := i%3 + 1
		l.requests.Add(1)
		res, err := postTo(l.url, ingestRequest{body: ordersBody(n), client: l.client})
		var a ingestAnswer
		switch {
		case err != nil:
			l.fail(fmt.Sprintf("request %d: %v", i, err))
		case res.status != http.StatusAccepted:
			l.fail(fmt.Sprintf("request %d: status %d: %s", i, res.status, res.body))
		case json.Unmarshal(res.body, &a) != nil || a.Applied != int64(n):
			l.fail(fmt.Sprintf("request %d: %d events posted, answer %s", i, n, res.body))
			l.accepted.Add(1)
			l.applied.Add(a.Applied)
		default:
			l.accepted.Add(1)
			l.applied.Add(a.Applied)
		}
		// Pace it (about 300 requests a second at most) so that the other parallel tests
		// keep their share of the two CPUs.
		time.Sleep(3 * time.Millisecond)
	}
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nfail++
	if len(l.failures) < 20 {
		l.failures = append(l.failures, msg)
	}
}

// stop stops the load and waits for its last request; the counts are final afterwards.
func (l *load) stop() {
	close(l.stopping)
	<-l.done
	l.client.CloseIdleConnections()
}

// check fails the test if any request was not accepted whole.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nfail > 0 {
		t.Errorf("%d of %d requests of the load were not accepted whole; the first:\n%s",
			l.nfail, l.requests.Load(), strings.Join(l.failures, "\n"))
	}
}

// waitScrape polls the server's scrape with auth until name{want} has a value ok accepts
// (absent is reported as NaN) and returns it.
func (s *duometer) waitScrape(t *testing.T, timeout time.Duration, auth *basicAuth, name string, want map[string]string, ok func(float64) bool) float64 {
	t.Helper()
	var v float64
	waitUntil(t, timeout, fmt.Sprintf("scrape %s%v", name, want), func() (bool, string) {
		var found bool
		v, found = scrapeValue(t, s, auth, name, want)
		if !found {
			v = math.NaN()
		}
		return ok(v), fmt.Sprintf("value %v, present %v", v, found)
	})
	return v
}

func equals(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func atLeast(lo float64) func(float64) bool  { return func(v float64) bool { return v >= lo } }

// reloadOverHTTP sends POST /-/reload with auth and returns the answer.
func (s *duometer) reloadOverHTTP(t *testing.T, auth *basicAuth) *httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+"/-/reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		req.SetBasicAuth(auth.user, auth.pass)
	}
	// A reload builds a new MeterProvider and pusher: give it more than the usual 5 s.
	res, err := do(&http.Client{Timeout: 20 * time.Second}, req)
	if err != nil {
		t.Fatalf("POST /-/reload: %v", err)
	}
	return res
}

// exportsAfter returns the exports received after the first n.
func (r *otlpReceiver) exportsAfter(n int) []receivedExport {
	ex := r.snapshot()
	if n > len(ex) {
		return nil
	}
	return ex[n:]
}

// TestReloadUnderLoad reloads duometer four times (SIGHUP twice, POST /-/reload twice, one of
// them invalid) while a client posts events without a pause and a real Prometheus scrapes
// every second: no post fails, no count is lost or reset, the scrape credentials and the
// OTLP target change live (Prometheus's configuration follows), a disabled event comes back
// with its value, and the invalid reload changes nothing but the reload metrics.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	promBin := requireTool(t, "prometheus")
	requireServer(t)

	oldAuth := &basicAuth{"prometheus", "s3cret-e2e-Rel0ad-old"}
	newAuth := &basicAuth{"prometheus", "s3cret-e2e-Rel0ad-new"}
	rec1, rec2 := startReceiver(t, 0), startReceiver(t, 0)
	g := startGateway(t, 0)
	cfg := lifecycleConfig{
		Listen: localAddr(freePort(t)), ShutdownTimeout: "10s", EnableLifecycle: true,
		NodeName: "duometer@e2e-reload", Auth: oldAuth,
		OTLPEndpoint: rec1.endpoint(), OTLPInterval: "1s", OTLPTimeout: "1s",
		PushgatewayURL: g.base, PushgatewayInterval: "1s", PushgatewayTimeout: "2s",
		Events: ordersEvents,
	}
	path := writeFile(t, "duometer.toml", cfg.TOML())
	srv := startServerFile(t, cfg.Listen, path)
	prom := runPrometheus(t, promBin, promScrapeConfig(srv.addr, oldAuth), "--web.enable-lifecycle")

	srv.mustPost(t, ingestRequest{body: []byte(`{"event":"audit.noise","value":5}`)}, 202, `{"applied":1,"dropped":0}`)
	loads := func(result string) map[string]string { return map[string]string{"result": result} }
	srv.waitScrape(t, 5*time.Second, oldAuth, "duometer_config_loads_total", loads("success"), equals(1))

	l := startLoad(srv)
	stopped := false
	defer func() {
		if !stopped {
			l.stop()
		}
	}()
	prom.waitQuery(t, 30*time.Second, "orders_placed_total", func(r []promSample) bool { return len(r) == 1 && r[0].Value > 0 })

	// 1. SIGHUP with audit.noise disabled: it leaves the scrape; the process goes on.
	t.Log("reload 1: SIGHUP disabling audit.noise")
	disabled := cfg
	disabled.Disabled = []string{"audit.*"}
	disabled.write(t, path)
	if err := srv.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.waitScrape(t, 10*time.Second, oldAuth, "duometer_config_loads_total", loads("success"), equals(2))
	promSees(t, prom, `duometer_config_loads_total{result="success"}`, 2)
	if v, ok := scrapeValue(t, srv, oldAuth, "audit_noise_total", noAttrs); ok {
		t.Errorf("audit_noise_total = %v is still in the scrape after a reload disabled it", v)
	}

	// 2. SIGHUP with it enabled again: back with the value it had.
	t.Log("reload 2: SIGHUP enabling audit.noise again")
	cfg.write(t, path)
	if err := srv.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.waitScrape(t, 10*time.Second, oldAuth, "duometer_config_loads_total", loads("success"), equals(3))
	promSees(t, prom, `duometer_config_loads_total{result="success"}`, 3)
	srv.waitScrape(t, 5*time.Second, oldAuth, "audit_noise_total", noAttrs, equals(5))
	if srv.exited() {
		t.Fatalf("duometer exited after SIGHUP: %v", srv.err)
	}

	// 3. An invalid configuration over POST /-/reload: 400 naming the problem, nothing changes.
	t.Log("reload 3: POST /-/reload with an unknown key")
	invalid := cfg
	invalid.ServerExtra = "colour = \"red\"\n"
	invalid.write(t, path)
	before, _ := scrapeValue(t, srv, oldAuth, "orders_placed_total", shopA)
	res := srv.reloadOverHTTP(t, oldAuth)
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "server.colour: unknown key") {
		t.Fatalf("POST /-/reload with an unknown key: %d %q, want 400 naming server.colour", res.status, res.body)
	}
	// The log is read from the process's stderr by another goroutine: poll for the line.
	srv.waitOutput(t, 5*time.Second, "configuration reload failed")
	srv.waitScrape(t, 5*time.Second, oldAuth, "duometer_config_last_reload_successful", noAttrs, equals(0))
	srv.waitScrape(t, 5*time.Second, oldAuth, "duometer_config_loads_total", loads("failure"), equals(1))
	promSees(t, prom, `duometer_config_loads_total{result="failure"}`, 1)
	promSees(t, prom, "duometer_config_last_reload_successful", 0)
	if v, _ := scrapeValue(t, srv, oldAuth, "duometer_config_loads_total", loads("success")); v != 3 {
		t.Errorf("duometer_config_loads_total{result=success} = %v after a failed reload, want 3", v)
	}
	if v, _ := scrapeValue(t, srv, oldAuth, "audit_noise_total", noAttrs); v != 5 {
		t.Errorf("audit_noise_total = %v after a failed reload, want 5", v)
	}
	if after, _ := scrapeValue(t, srv, oldAuth, "orders_placed_total", shopA); after < before {
		t.Errorf("orders_placed_total went from %v to %v across a failed reload", before, after)
	}

	// 4. POST /-/reload (with the credentials in use) changing the scrape credentials and the
	// OTLP target.
	t.Log("reload 4: POST /-/reload with new scrape credentials and OTLP target")
	moved := cfg
	moved.Auth, moved.OTLPEndpoint = newAuth, rec2.endpoint()
	moved.write(t, path)
	atReload, _ := scrapeValue(t, srv, oldAuth, "orders_placed_total", shopA)
	reloadedAt := time.Now()
	if res := srv.reloadOverHTTP(t, oldAuth); res.status != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %s, want 200", res.status, res.body)
	}
	prom.reload(t, promScrapeConfig(srv.addr, newAuth))
	assertUnauthorized(t, srv, oldAuth)
	promSees(t, prom, `duometer_config_loads_total{result="success"}`, 4)
	promSees(t, prom, "duometer_config_last_reload_successful", 1)
	if v, ok := scrapeValue(t, srv, newAuth, "duometer_config_last_reload_successful", noAttrs); !ok || v != 1 {
		t.Errorf("duometer_config_last_reload_successful = %v (present %v) after a good reload, want 1", v, ok)
	}
	if v, _ := scrapeValue(t, srv, newAuth, "duometer_config_loads_total", loads("success")); v != 4 {
		t.Errorf("duometer_config_loads_total{result=success} = %v, want 4", v)
	}
	if v, _ := scrapeValue(t, srv, newAuth, "duometer_config_loads_total", loads("failure")); v != 1 {
		t.Errorf("duometer_config_loads_total{result=failure} = %v, want 1", v)
	}
	if v, ok := scrapeValue(t, srv, newAuth, "duometer_config_last_reload_success_time_seconds", noAttrs); !ok || v < float64(reloadedAt.Unix()) {
		t.Errorf("duometer_config_last_reload_success_time_seconds = %v (present %v), want >= %d", v, ok, reloadedAt.Unix())
	}
	// The second receiver gets the counter with (at least) the value it had at the reload.
	waitUntil(t, 10*time.Second, "an OTLP push to the new target carrying orders.placed", func() (bool, string) {
		v, ok := rec2.latest("orders.placed", shopA)
		return ok && v >= atReload, fmt.Sprintf("latest %v (present %v), %d exports; at the reload %v", v, ok, rec2.count(), atReload)
	})
	// A collector that follows both targets sees one cumulative series: the start time of
	// the counter's point does not change with the new MeterProvider (a new one would say the
	// series was reset, per the OTLP data model).
	if ex1, ex2 := rec1.snapshot(), rec2.snapshot(); len(ex1) > 0 && len(ex2) > 0 {
		st1, ok1 := startTime(ex1[len(ex1)-1].req, "orders.placed", shopA)
		st2, ok2 := startTime(ex2[0].req, "orders.placed", shopA)
		if !ok1 || !ok2 || st1 != st2 {
			t.Errorf("OTLP start time of orders.placed: %s (present %v) in the last export to the old target, %s (present %v) in the first to the new one; want the same",
				time.Unix(0, int64(st1)).UTC().Format(time.RFC3339Nano), ok1, time.Unix(0, int64(st2)).UTC().Format(time.RFC3339Nano), ok2)
		}
	}
	// The old target gets nothing more once the old exporter's last export is done: three
	// exports to the new one later, the count of the old one is still the same.
	n1, n2 := rec1.count(), rec2.count()
	waitUntil(t, 10*time.Second, "three more exports to the new OTLP target", func() (bool, string) {
		return rec2.count() >= n2+3, fmt.Sprintf("%d exports", rec2.count())
	})
	if n := rec1.count(); n != n1 {
		t.Errorf("the old OTLP target got %d exports after the new one had taken over, want none", n-n1)
	}

	// Prometheus scrapes with the new credentials under load; then the load stops.
	prom.waitQuery(t, 20*time.Second, "orders_placed_total", func(r []promSample) bool {
		return len(r) == 1 && r[0].Value > atReload
	})
	l.stop()
	stopped = true
	l.check(t)
	total := float64(l.applied.Load())
	t.Logf("load: %d requests, %d accepted, %v events applied", l.requests.Load(), l.accepted.Load(), total)

	if v, ok := scrapeValue(t, srv, newAuth, "orders_placed_total", shopA); !ok || v != total {
		t.Errorf("direct scrape orders_placed_total = %v (present %v), want %v (the events accepted)", v, ok, total)
	}
	prom.waitQuery(t, 20*time.Second, "orders_placed_total", singleValue(total))
	if r, err := prom.query("resets(orders_placed_total[10m])"); err != nil || len(r) != 1 || r[0].Value != 0 {
		t.Errorf("PromQL resets(orders_placed_total[10m]) = %v, %v; want one series with 0", r, err)
	}
	// Prometheus scraped all along, before and after each reload.
	if r, err := prom.query("count_over_time(orders_placed_total[10m])"); err != nil || len(r) != 1 || r[0].Value < 5 {
		t.Errorf("PromQL count_over_time(orders_placed_total[10m]) = %v, %v; want at least 5 samples", r, err)
	} else {
		t.Logf("Prometheus has %v samples of orders_placed_total", r[0].Value)
	}
	// One series throughout: no reload renamed or relabelled it.
	if r, err := prom.query("count(count_over_time(orders_placed_total[10m]))"); err != nil || len(r) != 1 || r[0].Value != 1 {
		t.Errorf("PromQL count(count_over_time(orders_placed_total[10m])) = %v, %v; want 1 series over the run", r, err)
	}
	if r, err := prom.query("resets(duometer_http_requests_total[10m]) > 0"); err != nil || len(r) != 0 {
		t.Errorf("PromQL resets(duometer_http_requests_total[10m]) > 0 = %v, %v; want none (duometer's own counters survive reloads too)", r, err)
	}
	rec2.waitLatest(t, 10*time.Second, "orders.placed", shopA, total)
	group := map[string]string{"job": "duometer", "instance": "duometer~e2e-reload", "shop": "a"}
	g.waitValue(t, 10*time.Second, "orders_placed_total", group, equals(total))

	srv.shutdown(t, oldAuth.pass, newAuth.pass)
	if n := strings.Count(srv.out.String(), "configuration reloaded"); n != 3 {
		t.Errorf("%d log lines say \"configuration reloaded\", want 3", n)
	}
}

// promSees waits until Prometheus's latest sample of the query q (one series) is want: it
// has scraped since duometer got there.
func promSees(t *testing.T, prom *promServer, q string, want float64) {
	t.Helper()
	prom.waitQuery(t, 15*time.Second, q, singleValue(want))
}

// trickle is a client that announces a large body to POST /api/v1/events and sends it one
// byte every 100 ms.
type trickle struct {
	conn    net.Conn
	sent    atomic.Int64
	closed  chan struct{} // closed when the server closed the connection (or answered)
	stopped chan struct{}
}

func startTrickle(t *testing.T, addr string) *trickle {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("trickle: dial: %v", err)
	}
	tr := &trickle{conn: conn, closed: make(chan struct{}), stopped: make(chan struct{})}
	t.Cleanup(func() { conn.Close(); <-tr.stopped })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[", eventsPath, addr)
	go func() {
		defer close(tr.closed)
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes the connection
	}()
	go func() {
		defer close(tr.stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tr.closed:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
				tr.sent.Add(1)
			}
		}
	}()
	return tr
}

// TestSIGTERMWhileClientTricklesBody: a client trickling a request body cannot take the time
// of the final pushes. With shutdown-timeout 6s, SIGTERM while a body arrives a byte every
// 100 ms: the connection is cut, the final Pushgateway push and the final OTLP export arrive
// with the latest values, and the process exits 0 within the timeout.
func TestSIGTERMWhileClientTricklesBody(t *testing.T) {
	t.Parallel()
	requireServer(t)
	const shutdownTimeout = 6 * time.Second
	rec := startReceiver(t, 0)
	g := startGateway(t, 0)
	cfg := lifecycleConfig{
		Listen: localAddr(freePort(t)), ShutdownTimeout: shutdownTimeout.String(),
		NodeName:     "duometer@e2e-trickle",
		OTLPEndpoint: rec.endpoint(), OTLPInterval: "1h", OTLPTimeout: "5s",
		PushgatewayURL: g.base, PushgatewayInterval: "1h", PushgatewayTimeout: "5s",
		Events: ordersEvents,
	}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	total := srv.postOrders(t, 3)

	tr := startTrickle(t, srv.addr)
	waitUntil(t, 5*time.Second, "the trickling client sending its body", func() (bool, string) {
		return tr.sent.Load() >= 5, fmt.Sprintf("%d bytes sent", tr.sent.Load())
	})
	// The latest values are posted while the trickled request is in flight.
	total += srv.postOrders(t, 2)
	select {
	case <-tr.closed:
		t.Fatalf("the server closed the trickling client's connection before SIGTERM")
	default:
	}

	if n := rec.count(); n != 0 {
		t.Fatalf("%d OTLP exports before SIGTERM, want none (interval 1h)", n)
	}
	sigterm := time.Now()
	if err := srv.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, ok := srv.wait(shutdownTimeout + 2*time.Second)
	took := time.Since(sigterm)
	if !ok {
		t.Fatalf("duometer did not exit within %v of SIGTERM (shutdown-timeout %v)", shutdownTimeout+2*time.Second, shutdownTimeout)
	}
	t.Logf("exited with code %d %v after SIGTERM; the client had sent %d bytes", code, took.Round(time.Millisecond), tr.sent.Load())
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	select {
	case <-tr.closed:
	case <-time.After(2 * time.Second):
		t.Errorf("the trickling client's connection is still open after the process exited")
	}
	out := srv.out.String()
	if !strings.Contains(out, "HTTP requests still in flight were cut off") {
		t.Errorf("the log does not say that the trickled request was cut off")
	}

	// The final OTLP export: after SIGTERM, with the latest value.
	var vals []string
	found := false
	for _, e := range rec.snapshot() {
		v, ok := valueIn(e.req, "orders.placed", shopA)
		vals = append(vals, fmt.Sprintf("%v at +%v (present %v)", v, e.at.Sub(sigterm).Round(time.Millisecond), ok))
		if e.at.After(sigterm) && ok && v == float64(total) {
			found = true
		}
	}
	if !found {
		t.Errorf("no OTLP export after SIGTERM carries orders.placed = %d; exports: %v", total, vals)
	}
	// The final Pushgateway push: the only one (interval 1h), after SIGTERM, with the latest
	// value.
	_, samples := g.metrics(t)
	group := map[string]string{"job": "duometer", "instance": "duometer~e2e-trickle"}
	if v, ok := sumSamples(samples, "orders_placed_total", map[string]string{"job": "duometer", "instance": "duometer~e2e-trickle", "shop": "a"}); !ok || v != float64(total) {
		t.Errorf("the Pushgateway holds orders_placed_total = %v (present %v), want %d", v, ok, total)
	}
	if v, ok := sumSamples(samples, "push_time_seconds", group); !ok || v < float64(sigterm.UnixMilli())/1000 {
		t.Errorf("the Pushgateway's push_time_seconds for the group = %v (present %v), want a push after SIGTERM at %v",
			v, ok, float64(sigterm.UnixMilli())/1000)
	}
}

// TestSecondSignalExitsAtOnce: during a shutdown slowed by a Pushgateway that accepts the
// final push's connection and never answers, a second SIGTERM makes duometer exit at once
// with code 1, logging it.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	requireServer(t)

	// A Pushgateway that hangs: it accepts connections and never answers.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	conns.Go(func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			accepted.Add(1)
		}
	})
	t.Cleanup(func() {
		hung.Close()
		conns.Wait()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})

	cfg := lifecycleConfig{
		Listen: localAddr(freePort(t)), ShutdownTimeout: "30s",
		PushgatewayURL: "http://" + hung.Addr().String(), PushgatewayInterval: "1h", PushgatewayTimeout: "20s",
		Events: ordersEvents,
	}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	srv.postOrders(t, 1)

	if err := srv.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv.waitOutput(t, 5*time.Second, `msg="shutting down"`)
	// The final push is under way, and would take up to 15 s (half of the 30 s).
	waitUntil(t, 10*time.Second, "the final Pushgateway push connecting", func() (bool, string) {
		return accepted.Load() > 0, "no connection yet"
	})
	if srv.exited() {
		t.Fatalf("duometer exited before the second signal: %v", srv.err)
	}
	second := time.Now()
	if err := srv.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, ok := srv.wait(3 * time.Second)
	if !ok {
		t.Fatalf("duometer did not exit within 3 s of the second SIGTERM")
	}
	t.Logf("exited with code %d %v after the second SIGTERM", code, time.Since(second).Round(time.Millisecond))
	if code != 1 {
		t.Errorf("exit code %d after a second SIGTERM, want 1", code)
	}
	if !strings.Contains(srv.out.String(), "second signal") {
		t.Errorf("the log does not say \"second signal\"")
	}
}

// TestOTLPCollectorDownThenUp: the collector goes down for 45 s while duometer pushes every
// 2 s: the failed pushes are counted and logged once; when a collector is up again on the
// same address, an export arrives within two intervals, carrying the failures, and the log
// says once that pushes succeed again.
func TestOTLPCollectorDownThenUp(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 50 s")
	}
	t.Parallel()
	requireServer(t)
	const interval = 2 * time.Second
	rec := startReceiver(t, 0)
	cfg := lifecycleConfig{
		Listen:       localAddr(freePort(t)),
		OTLPEndpoint: rec.endpoint(), OTLPInterval: interval.String(), OTLPTimeout: "1s",
		Events: ordersEvents,
	}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	srv.postOrders(t, 2)
	rec.waitLatest(t, 10*time.Second, "orders.placed", shopA, 2)

	rec.stop()
	down := time.Now()
	t.Logf("collector down at %s", down.Format("15:04:05.000"))
	otlp := map[string]string{"exporter": "otlp"}
	srv.waitScrape(t, 15*time.Second, nil, "duometer_push_failures_total", otlp, atLeast(2))
	srv.postOrders(t, 3) // a count the collector has not seen yet
	// Down for 45 s: long enough for gRPC's default reconnection backoff to grow past the
	// interval, were it not bounded.
	waitUntil(t, 50*time.Second, "45 s of collector downtime", func() (bool, string) {
		if srv.exited() {
			t.Fatalf("duometer exited while the collector was down: %v", srv.err)
		}
		return time.Since(down) >= 45*time.Second, ""
	})
	failures := srv.waitScrape(t, time.Second, nil, "duometer_push_failures_total", otlp, atLeast(10))
	if out := srv.out.String(); strings.Contains(out, "push exports succeed again") {
		t.Fatalf("the log says that pushes succeed again while the collector is down")
	}

	rec2 := startReceiverAgain(t, rec.addr)
	up := time.Now()
	waitUntil(t, 2*interval, "an OTLP export within two intervals of the collector being up", func() (bool, string) {
		return rec2.count() > 0, "none yet"
	})
	first := rec2.snapshot()[0]
	t.Logf("collector up at %s; first export %v later; %v failed pushes counted", up.Format("15:04:05.000"),
		first.at.Sub(up).Round(time.Millisecond), failures)
	if v, ok := valueIn(first.req, "orders.placed", shopA); !ok || v != 5 {
		t.Errorf("the first export after the collector came back carries orders.placed = %v (present %v), want 5", v, ok)
	}
	if v, ok := valueIn(first.req, "duometer.push.failures", otlp); !ok || v < failures {
		t.Errorf("the first export after the collector came back carries duometer.push.failures{exporter=otlp} = %v (present %v), want >= %v", v, ok, failures)
	}
	srv.waitOutput(t, 2*interval, "push exports succeed again")
	// Two more exports, and the recovery is still logged once.
	waitUntil(t, 3*interval, "two more exports", func() (bool, string) { return rec2.count() >= 3, fmt.Sprintf("%d", rec2.count()) })
	out := srv.out.String()
	if n := strings.Count(out, "push exports succeed again"); n != 1 {
		t.Errorf("%d log lines say \"push exports succeed again\", want 1", n)
	}
	if n := strings.Count(out, "OpenTelemetry SDK error"); n != 1 {
		t.Errorf("%d log lines for the failed pushes over 45 s, want 1 (at most one a minute)", n)
	}
	srv.shutdown(t)
}

// TestSignalsAndCommandLine: SIGHUP reloads and does not end the process; -version prints
// "duometer VERSION (revision REV, GOVERSION)" and duometer_build_info carries the same
// values, set with -ldflags -X; a positional argument exits 2 with the usage on stderr.
func TestSignalsAndCommandLine(t *testing.T) {
	t.Parallel()
	requireServer(t)

	t.Run("positional-argument", func(t *testing.T) {
		code, stdout, stderr := runServer(t, 10*time.Second, "duometer.toml")
		if code != 2 {
			t.Errorf("duometer duometer.toml: exit code %d, want 2", code)
		}
		if !strings.Contains(stderr, `unexpected argument "duometer.toml"`) || !strings.Contains(stderr, "-config") ||
			!strings.Contains(stderr, "Usage: duometer") {
			t.Errorf("duometer duometer.toml: stderr does not name the argument, -config and the usage:\n%s", stderr)
		}
		if stdout != "" {
			t.Errorf("duometer duometer.toml: stdout %q, want nothing", stdout)
		}
	})

	t.Run("version-and-build-info", func(t *testing.T) {
		// A binary of its own, with the version and revision set as a release build sets them.
		const version, revision = "v9.8.7-e2e", "0123abcd"
		bin := t.TempDir() + "/duometer"
		build := exec.Command("go", "build", "-o", bin,
			"-ldflags", "-X main.version="+version+" -X main.revision="+revision, "./cmd/server")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build -ldflags: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "-version").Output()
		if err != nil {
			t.Fatalf("duometer -version: %v", err)
		}
		want := fmt.Sprintf("duometer %s (revision %s, %s)\n", version, revision, runtime.Version())
		if string(out) != want {
			t.Errorf("duometer -version printed %q, want %q", out, want)
		}

		listen := localAddr(freePort(t))
		s := &duometer{
			process: startProcess(t, "duometer", serverEnv(), bin, "-config",
				writeFile(t, "duometer.toml", lifecycleConfig{Listen: listen}.TOML())),
			addr: listen, base: "http://" + listen,
		}
		s.waitReady(t, 20*time.Second, httpClient, s.base+"/-/ready")
		samples, err := parseExposition(s.scrape(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		info := samplesNamed(samples, "duometer_build_info")
		if len(info) != 1 {
			t.Fatalf("the scrape has %d duometer_build_info series, want 1: %v", len(info), info)
		}
		wantLabels := map[string]string{"version": version, "revision": revision, "goversion": runtime.Version()}
		if got := userLabels(info[0].labels); !sameLabels(got, wantLabels) || info[0].value != 1 {
			t.Errorf("duometer_build_info%v %v, want %v 1", got, info[0].value, wantLabels)
		}

		// The default binary: what -version prints is what duometer_build_info says.
		f := strings.Fields(strings.NewReplacer("(", "", ")", "", ",", "").Replace(versionLine(t)))
		if len(f) != 5 || f[0] != "duometer" || f[2] != "revision" {
			t.Fatalf("duometer -version: %q", f)
		}
		defCfg := lifecycleConfig{Listen: localAddr(freePort(t))}
		def := startServer(t, defCfg.Listen, defCfg.TOML())
		v, ok := scrapeValue(t, def, nil, "duometer_build_info", map[string]string{"version": f[1], "revision": f[3], "goversion": f[4]})
		if !ok || v != 1 {
			t.Errorf("duometer_build_info{version=%q,revision=%q,goversion=%q} = %v (present %v), want 1", f[1], f[3], f[4], v, ok)
		}
		def.shutdown(t)
		s.stop(t, 15*time.Second)
	})

	t.Run("SIGHUP", func(t *testing.T) {
		listen := localAddr(freePort(t))
		srv := startServer(t, listen, lifecycleConfig{Listen: listen}.TOML())
		for i := 2; i <= 3; i++ {
			if err := srv.signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			srv.waitScrape(t, 10*time.Second, nil, "duometer_config_loads_total", map[string]string{"result": "success"}, equals(float64(i)))
		}
		if srv.exited() {
			t.Fatalf("duometer exited after SIGHUP: %v", srv.err)
		}
		if r, err := httpGet(srv.base+"/-/ready", nil); err != nil || r.status != http.StatusOK {
			t.Errorf("GET /-/ready after SIGHUP: %v %+v", err, r)
		}
		srv.shutdown(t)
	})
}

// versionLine runs the e2e binary with -version and returns its one line.
func versionLine(t *testing.T) string {
	t.Helper()
	code, stdout, stderr := runServer(t, 10*time.Second, "-version")
	sc := bufio.NewScanner(strings.NewReader(stdout))
	if code != 0 || !sc.Scan() {
		t.Fatalf("duometer -version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	return sc.Text()
}
