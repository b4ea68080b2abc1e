package e2e

// End-to-end tests of the HTTP ingestion API (/api/v1/events): events posted to the real
// binary show up in a real Prometheus and in the OTLP receiver, bad input is refused whole
// with a clear status, tokens and the loopback rule guard the API, and memory stays bounded.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
)

const eventsPath = "/api/v1/events"

// Events posted in each form (object, array, NDJSON, gzip) reach Prometheus and the OTLP
// receiver with the right values and labels; a batch with one bad event changes nothing.
func TestIngestReachesPrometheusAndOTLP(t *testing.T) {
	t.Parallel()
	requireTool(t, "prometheus")
	requireServer(t)

	rec := startReceiver(t, 0)
	cfg := ingestConfig{Listen: localAddr(freePort(t)), Transport: "grpc", Endpoint: rec.endpoint()}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	if !strings.Contains(srv.out.String(), "ingestion API accepts only loopback clients") {
		t.Errorf("the start-up log does not say that only loopback clients are accepted:\n%s", srv.out.String())
	}

	srv.mustPost(t, ingestRequest{body: []byte(`{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}}`)},
		202, `{"applied":1,"dropped":0}`)
	srv.mustPost(t, ingestRequest{body: []byte(`[
		{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 2},
		{"event": "backup.completed", "labels": {"kind": "incr", "host": "db2"}},
		{"event": "queue.depth", "value": 42.5},
		{"event": "jobs.running", "labels": {"queue": "q1"}, "value": 5},
		{"event": "jobs.running", "labels": {"queue": "q1"}, "value": -2},
		{"event": "backup.duration", "labels": {"host": "db1"}, "value": 0.5},
		{"event": "backup.duration", "labels": {"host": "db1"}, "value": 30},
		{"event": "debug.noise", "labels": {"x": "1"}}
	]`)}, 202, `{"applied":7,"dropped":1}`)
	srv.mustPost(t, ingestRequest{ctype: "application/x-ndjson", body: []byte(
		"{\"event\":\"backup.completed\",\"labels\":{\"host\":\"db2\",\"kind\":\"incr\"},\"value\":3}\n" +
			"{\"event\":\"queue.depth\",\"value\":17}\n")}, 202, `{"applied":2,"dropped":0}`)
	srv.mustPost(t, ingestRequest{encoding: "gzip", body: testutil.Gzip(t,
		`{"event":"backup.completed","labels":{"host":"db1","kind":"full"},"value":4}`)}, 202, `{"applied":1,"dropped":0}`)

	// One bad event in a batch: 400 naming it, and nothing of the batch is applied.
	bad := srv.post(t, ingestRequest{body: []byte(`[
		{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 100},
		{"event": "queue.depth", "value": 0},
		{"event": "backup.completed", "labels": {"host": "db9", "kind": "full"}},
		{"event": "backup.completed", "labels": {"host": "db1"}}
	]`)})
	if bad.status != http.StatusBadRequest || !strings.Contains(string(bad.body), `[3] event \"backup.completed\": missing label \"kind\"`) {
		t.Fatalf("bad batch: %d %s, want 400 naming [3]", bad.status, bad.body)
	}

	want := []struct {
		prom   string            // Prometheus metric
		otlp   string            // OTLP metric
		labels map[string]string // of both
		value  float64
	}{
		{"backup_completed_total", "backup.completed", map[string]string{"host": "db1", "kind": "full"}, 7},
		{"backup_completed_total", "backup.completed", map[string]string{"host": "db2", "kind": "incr"}, 4},
		{"queue_depth", "queue.depth", map[string]string{}, 17},
		{"jobs_running", "jobs.running", map[string]string{"queue": "q1"}, 3},
	}
	// The direct scrape, right after the bad batch.
	samples, err := parseExposition(srv.scrape(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if v, ok := sumSamples(samples, w.prom, w.labels); !ok || v != w.value {
			t.Errorf("scrape %s%v = %v (present %v), want %v", w.prom, w.labels, v, ok, w.value)
		}
	}
	if n := len(samplesNamed(samples, "backup_completed_total")); n != 2 {
		t.Errorf("scrape has %d backup_completed_total series, want 2: the refused batch created one", n)
	}
	for name, v := range map[string]float64{"backup_duration_seconds_count": 2, "backup_duration_seconds_sum": 30.5} {
		if got, ok := sumSamples(samples, name, map[string]string{"host": "db1"}); !ok || got != v {
			t.Errorf("scrape %s{host=db1} = %v (present %v), want %v", name, got, ok, v)
		}
	}
	for le, v := range map[string]float64{"1": 1, "10": 1, "60": 2, "+Inf": 2} {
		if got, ok := sumSamples(samples, "backup_duration_seconds_bucket", map[string]string{"host": "db1", "le": le}); !ok || got != v {
			t.Errorf("scrape backup_duration_seconds_bucket{le=%s} = %v (present %v), want %v", le, got, ok, v)
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"duometer_ingest_requests_total", map[string]string{"code": "202"}, 4},
		{"duometer_ingest_requests_total", map[string]string{"code": "400"}, 1},
		{"duometer_ingest_events_total", map[string]string{"result": "applied"}, 11},
		{"duometer_ingest_events_total", map[string]string{"result": "dropped"}, 1},
		{"duometer_ingest_events_total", map[string]string{"result": "rejected"}, 4},
		{"duometer_http_requests_total", map[string]string{"handler": "ingest", "code": "202"}, 4},
	} {
		if v, ok := sumSamples(samples, c.name, c.labels); !ok || v != c.want {
			t.Errorf("scrape %s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	body := srv.scrape(t, nil)
	if strings.Contains(body, "debug_noise") {
		t.Errorf("the disabled debug.noise is in the scrape")
	}

	// Prometheus, scraping on its own, sees the same series with exactly these labels.
	prom := startPrometheus(t, srv.addr, nil)
	for _, w := range want {
		q := w.prom + labelMatchers(w.labels)
		got := prom.waitQuery(t, 30*time.Second, q, singleValue(w.value))
		if l := userLabels(got[0].Metric); !sameLabels(l, w.labels) {
			t.Errorf("PromQL %s: labels %v, want %v", q, l, w.labels)
		}
	}
	prom.waitQuery(t, 10*time.Second, `count(backup_completed_total)`, singleValue(2))
	prom.waitQuery(t, 10*time.Second, `backup_duration_seconds_count{host="db1"}`, singleValue(2))
	prom.waitQuery(t, 10*time.Second, `backup_duration_seconds_sum{host="db1"}`, singleValue(30.5))
	prom.waitQuery(t, 10*time.Second, `backup_duration_seconds_bucket{host="db1",le=~"10|10[.]0"}`, singleValue(1))
	if res, err := prom.query(`{__name__=~"debug_noise.*"}`); err != nil || len(res) != 0 {
		t.Errorf("PromQL debug_noise = %v, %v; want nothing (disabled)", res, err)
	}

	// The OTLP push carries the same values and attributes.
	for _, w := range want {
		rec.waitLatest(t, 15*time.Second, w.otlp, w.labels, w.value)
	}
	rec.waitHistogram(t, 15*time.Second, "backup.duration", map[string]string{"host": "db1"}, 2, 30.5)
	if rec.seen("debug.noise") {
		t.Error("an OTLP push carried the disabled debug.noise")
	}
	for _, e := range rec.snapshot() {
		if _, ok := valueIn(e.req, "backup.completed", map[string]string{"host": "db9", "kind": "full"}); ok {
			t.Fatal("an OTLP push carried the series of the refused batch")
		}
	}
	srv.stop(t, 15*time.Second)
}

func labelMatchers(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	var parts []string
	for k, v := range l {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Each kind of bad input gets its status and message, and changes nothing.
func TestIngestBadInput(t *testing.T) {
	t.Parallel()
	requireServer(t)
	cfg := ingestConfig{Listen: localAddr(freePort(t)), MaxBody: "64KiB"}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	srv.mustPost(t, ingestRequest{body: []byte(`[{"event":"backup.completed","labels":{"host":"db1","kind":"full"}},{"event":"queue.depth","value":5}]`)},
		202, `{"applied":2,"dropped":0}`)

	event := `{"event":"queue.depth","value":1}`
	long := strings.Repeat("x", 1025)
	cases := []struct {
		name   string
		req    ingestRequest
		status int
		msg    string    // in the body
		header [2]string // a header of the answer and its value
	}{
		{"unknown event", ingestRequest{body: []byte(`[` + event + `,` + event + `,` + event + `,{"event":"backup.complete"}]`)},
			400, `[3] event \"backup.complete\": unknown event`, [2]string{}},
		{"undeclared label", ingestRequest{body: []byte(`{"event":"backup.completed","labels":{"host":"db1","kind":"full","zone":"eu"}}`)},
			400, `[0] event \"backup.completed\": label \"zone\" not declared (labels: host, kind)`, [2]string{}},
		{"missing declared label", ingestRequest{body: []byte(`{"event":"backup.completed","labels":{"host":"db1"}}`)},
			400, `[0] event \"backup.completed\": missing label \"kind\"`, [2]string{}},
		{"missing value of a gauge", ingestRequest{body: []byte(`{"event":"queue.depth"}`)},
			400, `[0] event \"queue.depth\": missing \"value\" (required for gauge events)`, [2]string{}},
		{"missing value of a histogram", ingestRequest{body: []byte(`{"event":"backup.duration","labels":{"host":"db1"}}`)},
			400, `missing \"value\" (required for histogram events)`, [2]string{}},
		{"value NaN as a string", ingestRequest{body: []byte(`{"event":"queue.depth","value":"NaN"}`)},
			400, `[0] event \"queue.depth\": \"value\" must be a number, not a string`, [2]string{}},
		{"value Inf as a string", ingestRequest{body: []byte(`{"event":"queue.depth","value":"+Inf"}`)},
			400, `\"value\" must be a number, not a string`, [2]string{}},
		{"value a number in a string", ingestRequest{body: []byte(`{"event":"queue.depth","value":"1"}`)},
			400, `\"value\" must be a number, not a string`, [2]string{}},
		{"negative counter", ingestRequest{body: []byte(`{"event":"backup.completed","labels":{"host":"db1","kind":"full"},"value":-1}`)},
			400, `[0] event \"backup.completed\": negative value -1 for a counter`, [2]string{}},
		{"huge number", ingestRequest{body: []byte(`{"event":"queue.depth","value":1e400}`)},
			400, `[0] event \"queue.depth\": \"value\" 1e400 is out of range of a 64-bit float`, [2]string{}},
		{"label value too long", ingestRequest{body: []byte(`{"event":"backup.completed","labels":{"host":"` + long + `","kind":"full"}}`)},
			400, `label \"host\": value of 1025 bytes, longer than ingest.max-label-value-length (256)`, [2]string{}},
		{"malformed JSON", ingestRequest{body: []byte(`[{"event":"queue.depth","value":1},{"event":"queue.depth" "value":1}]`)},
			400, `invalid JSON: offset 58: unexpected character '\"' after a field: want ',' or '}'`, [2]string{}},
		{"malformed NDJSON", ingestRequest{ctype: "application/x-ndjson", body: []byte(event + "\n" + event + "\n{\"event\":\"queue.depth\",\"value\":}\n")},
			400, `invalid JSON: line 3, column 32: unexpected character '}': want a value`, [2]string{}},
		{"wrong content type", ingestRequest{ctype: "text/plain", body: []byte(event)},
			415, `unsupported Content-Type \"text/plain\": want application/json or application/x-ndjson`, [2]string{"Accept-Post", "application/json, application/x-ndjson"}},
		{"form content type", ingestRequest{ctype: "application/x-www-form-urlencoded", body: []byte(event)},
			415, `unsupported Content-Type`, [2]string{}},
		{"unsupported encoding", ingestRequest{encoding: "br", body: []byte(event)},
			415, `unsupported Content-Encoding \"br\"`, [2]string{"Accept-Encoding", "gzip"}},
		{"body over max-body", ingestRequest{body: []byte("[" + strings.Repeat(event+",", 3000) + event + "]")},
			413, `body larger than ingest.max-body (65536 bytes)`, [2]string{}},
		{"gzip bomb", ingestRequest{encoding: "gzip", body: testutil.Gzip(t, strings.Repeat(" ", 16<<20)+event)},
			413, `decompressed body larger than ingest.max-body (65536 bytes)`, [2]string{}},
		{"not gzip", ingestRequest{encoding: "gzip", body: []byte(event)},
			400, `reading the body: gzip: invalid header`, [2]string{}},
		{"GET", ingestRequest{method: http.MethodGet},
			405, `method \"GET\" not allowed: POST events to /api/v1/events`, [2]string{"Allow", "POST"}},
		{"DELETE", ingestRequest{method: http.MethodDelete},
			405, `not allowed`, [2]string{"Allow", "POST"}},
	}
	codes := map[int]int{}
	for _, c := range cases {
		res := srv.post(t, c.req)
		codes[c.status]++
		if res.status != c.status || !strings.Contains(string(res.body), c.msg) {
			t.Errorf("%s: got %d %s\nwant %d with %s", c.name, res.status, res.body, c.status, c.msg)
			continue
		}
		if !json.Valid(res.body) || res.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: the answer is not JSON: %q %s", c.name, res.header.Get("Content-Type"), res.body)
		}
		if c.header[0] != "" && res.header.Get(c.header[0]) != c.header[1] {
			t.Errorf("%s: header %s = %q, want %q", c.name, c.header[0], res.header.Get(c.header[0]), c.header[1])
		}
	}
	if srv.exited() {
		t.Fatalf("the server exited: %v", srv.err)
	}

	// Nothing was applied, every refusal was counted by its code, and none was a 500.
	samples, err := parseExposition(srv.scrape(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sumSamples(samples, "backup_completed_total", map[string]string{"host": "db1", "kind": "full"}); v != 1 {
		t.Errorf("backup_completed_total{db1,full} = %v after the refused requests, want 1", v)
	}
	if v, _ := sumSamples(samples, "queue_depth", nil); v != 5 {
		t.Errorf("queue_depth = %v after the refused requests, want 5", v)
	}
	if n := len(samplesNamed(samples, "backup_completed_total")); n != 1 {
		t.Errorf("%d backup_completed_total series, want 1", n)
	}
	for code, n := range codes {
		if v, _ := sumSamples(samples, "duometer_ingest_requests_total", map[string]string{"code": strconv.Itoa(code)}); v != float64(n) {
			t.Errorf("duometer_ingest_requests_total{code=%d} = %v, want %d", code, v, n)
		}
	}
	if v, _ := sumSamples(samples, "duometer_ingest_events_total", map[string]string{"result": "applied"}); v != 2 {
		t.Errorf("duometer_ingest_events_total{applied} = %v, want 2", v)
	}
	for _, s := range samplesNamed(samples, "duometer_http_requests_total") {
		if strings.HasPrefix(s.labels["code"], "5") {
			t.Errorf("a request was answered %s", s.labels["code"])
		}
	}
}

// Bearer tokens: the right one passes, a wrong or missing one gets 401 with a Bearer
// challenge; tokens are never logged. Without tokens only loopback clients are accepted, and
// ingest.enable = false takes the API away.
func TestIngestAuth(t *testing.T) {
	t.Parallel()
	requireServer(t)
	event := []byte(`{"event":"queue.depth","value":3}`)

	t.Run("tokens", func(t *testing.T) {
		t.Parallel()
		tokens := []string{"tok-e2e-Alpha-7f3c", "tok-e2e-Bravo-91d2"}
		cfg := ingestConfig{Listen: localAddr(freePort(t)), Tokens: tokens}
		srv := startServer(t, cfg.Listen, cfg.TOML())
		srv.mustPost(t, ingestRequest{token: tokens[0], body: event}, 202, `{"applied":1,"dropped":0}`)
		srv.mustPost(t, ingestRequest{token: tokens[1], body: event}, 202, `{"applied":1,"dropped":0}`)
		for name, token := range map[string]string{"wrong": tokens[0] + "x", "missing": "", "prefix": tokens[0][:8]} {
			res := srv.post(t, ingestRequest{token: token, body: event})
			if res.status != http.StatusUnauthorized {
				t.Errorf("%s token: status %d, want 401 (%s)", name, res.status, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); got != `Bearer realm="duometer"` {
				t.Errorf("%s token: WWW-Authenticate %q, want Bearer realm=\"duometer\"", name, got)
			}
		}
		if v, ok := scrapeValue(t, srv, nil, "duometer_auth_failed_total", nil); !ok || v != 3 {
			t.Errorf("duometer_auth_failed_total = %v (present %v), want 3", v, ok)
		}
		if v, _ := scrapeValue(t, srv, nil, "duometer_ingest_requests_total", map[string]string{"code": "401"}); v != 3 {
			t.Errorf("duometer_ingest_requests_total{code=401} = %v, want 3", v)
		}
		out := srv.out.String()
		if !strings.Contains(out, "ingestion API enabled with bearer tokens") {
			t.Errorf("the start-up log does not mention the tokens:\n%s", out)
		}
		srv.shutdown(t, tokens...)
	})

	// Without tokens only loopback clients may post. Tests bind 127.0.0.1 only, so the 403
	// for other clients is unit-tested in pkg/ingest (TestHandlerLoopbackOnly); here the loopback
	// client is accepted and the start-up log says what the rule is.
	t.Run("loopback only", func(t *testing.T) {
		t.Parallel()
		cfg := ingestConfig{Listen: localAddr(freePort(t))}
		srv := startServer(t, cfg.Listen, cfg.TOML())
		if res := srv.post(t, ingestRequest{body: event}); res.status != http.StatusAccepted {
			t.Errorf("loopback client without tokens: status %d, want 202 (%s)", res.status, res.body)
		}
		if !strings.Contains(srv.out.String(), "accepts only loopback clients") {
			t.Errorf("the start-up log does not say so:\n%s", srv.out.String())
		}
	})

	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		cfg := ingestConfig{Listen: localAddr(freePort(t)), Disable: true}
		srv := startServer(t, cfg.Listen, cfg.TOML())
		if res := srv.post(t, ingestRequest{body: event}); res.status != http.StatusNotFound {
			t.Errorf("ingest.enable = false: status %d, want 404 (%s)", res.status, res.body)
		}
		if strings.Contains(srv.out.String(), "ingestion API") {
			t.Errorf("the log mentions the disabled ingestion API:\n%s", srv.out.String())
		}
	})
}

// 20,000 distinct label values on one event: the series stop at the cardinality limit, the
// rest fold into the overflow series with the right total, and memory stays bounded.
func TestIngestCardinalityBoundsMemory(t *testing.T) {
	t.Parallel()
	requireServer(t)
	const limit = 2000 // the default metrics.cardinality-limit
	cfg := ingestConfig{Listen: localAddr(freePort(t))}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	pid := srv.cmd.Process.Pid
	srv.scrape(t, nil)
	rssStart := vmRSS(t, pid)

	post := func(from, n int) {
		var b strings.Builder
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&b, "{\"event\":\"login.attempt\",\"labels\":{\"user\":\"user-%06d\"}}\n", i)
		}
		srv.mustPost(t, ingestRequest{ctype: "application/x-ndjson", body: []byte(b.String())}, 202,
			fmt.Sprintf(`{"applied":%d,"dropped":0}`, n))
	}
	check := func(total int) {
		t.Helper()
		samples, err := parseExposition(srv.scrape(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		series := samplesNamed(samples, "login_attempt_total")
		if len(series) > limit+1 {
			t.Errorf("%d login_attempt_total series in the scrape, want at most %d", len(series), limit+1)
		}
		sum, overflow, found := 0.0, 0.0, false
		for _, s := range series {
			sum += s.value
			if s.labels["otel_metric_overflow"] == "true" {
				overflow, found = s.value, true
			}
		}
		if !found || overflow != float64(total-limit) || sum != float64(total) {
			t.Errorf("after %d events: overflow series present %v with %v (want %d), total %v", total, found, overflow, total-limit, sum)
		}
		if v, _ := sumSamples(samples, "duometer_cardinality_overflows_total", map[string]string{"event": "login.attempt"}); v != float64(total-limit) {
			t.Errorf("duometer_cardinality_overflows_total{event=login.attempt} = %v, want %d", v, total-limit)
		}
	}
	for i := 0; i < 20000; i += 5000 {
		post(i, 5000)
	}
	check(20000)
	rssFirst := vmRSS(t, pid)
	// 40,000 more new values: memory must not grow with them.
	for i := 20000; i < 60000; i += 5000 {
		post(i, 5000)
	}
	check(60000)
	rssSecond := vmRSS(t, pid)
	t.Logf("VmRSS: %d MiB at start, %d MiB after 20,000 label values, %d MiB after 60,000",
		rssStart>>20, rssFirst>>20, rssSecond>>20)
	if rssSecond > 100<<20 {
		t.Errorf("VmRSS %d MiB after 60,000 label values, want under 100 MiB", rssSecond>>20)
	}
	if grew := rssSecond - rssFirst; grew > 32<<20 {
		t.Errorf("VmRSS grew by %d MiB over 40,000 label values past the limit, want under 32 MiB", grew>>20)
	}
}

// ingest.unknown-events = "counter": an unknown event is declared on first use, with its
// label keys sorted, and reaches the scrape and the OTLP push; other label keys later are
// refused.
func TestIngestUnknownEventsCounter(t *testing.T) {
	t.Parallel()
	requireServer(t)
	rec := startReceiver(t, 0)
	cfg := ingestConfig{Listen: localAddr(freePort(t)), UnknownEvents: "counter", Transport: "grpc", Endpoint: rec.endpoint()}
	srv := startServer(t, cfg.Listen, cfg.TOML())

	srv.mustPost(t, ingestRequest{body: []byte(`[{"event":"deploy.finished","labels":{"service":"api","env":"prod"}},{"event":"deploy.finished","labels":{"env":"prod","service":"api"},"value":2}]`)},
		202, `{"applied":2,"dropped":0}`)
	res := srv.post(t, ingestRequest{body: []byte(`{"event":"deploy.finished","labels":{"service":"api"}}`)})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `missing label \"env\"`) {
		t.Errorf("other label keys: %d %s, want 400", res.status, res.body)
	}
	res = srv.post(t, ingestRequest{body: []byte(`{"event":"duometer.sneaky"}`)})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `reserved`) {
		t.Errorf("duometer.* name: %d %s, want 400", res.status, res.body)
	}
	attrs := map[string]string{"env": "prod", "service": "api"}
	if v, ok := scrapeValue(t, srv, nil, "deploy_finished_total", attrs); !ok || v != 3 {
		t.Errorf("deploy_finished_total%v = %v (present %v), want 3", attrs, v, ok)
	}
	rec.waitLatest(t, 15*time.Second, "deploy.finished", attrs, 3)
}
