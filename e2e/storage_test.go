package e2e

// End-to-end tests of [storage]: every value survives a clean restart, as seen by a scrape,
// a real Prometheus scraping the same address before and after, the OTLP receiver and the
// Pushgateway; a corrupt snapshot never stops the start.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

type exportRequest = colmetricspb.ExportMetricsServiceRequest

// storageEvents declare one event of each kind.
const storageEvents = `
[[events]]
name = "backup.completed"
kind = "counter"
labels = ["host"]

[[events]]
name = "jobs.running"
kind = "updown"
labels = ["queue"]

[[events]]
name = "queue.depth"
kind = "gauge"

[[events]]
name = "backup.duration"
kind = "histogram"
unit = "s"
labels = ["host"]
buckets = [1, 10, 60]
`

// storedValues are the values of the storage test's series at one moment.
type storedValues struct {
	completed, running, depth float64 // backup.completed{host=db1}, jobs.running{queue=q1}, queue.depth
	durCount                  uint64  // backup.duration{host=db1}
	durSum                    float64
	buckets                   map[string]float64 // cumulative, by le
}

var (
	db1 = map[string]string{"host": "db1"}
	q1  = map[string]string{"queue": "q1"}
)

// checkScrape compares a scrape with v.
func (v storedValues) checkScrape(t *testing.T, what string, samples []sample) {
	t.Helper()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"backup_completed_total", db1, v.completed},
		{"jobs_running", q1, v.running},
		{"queue_depth", noAttrs, v.depth},
		{"backup_duration_seconds_count", db1, float64(v.durCount)},
		{"backup_duration_seconds_sum", db1, v.durSum},
	} {
		if got, ok := sumSamples(samples, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s: %s%v = %v (present %v), want %v", what, c.name, c.labels, got, ok, c.want)
		}
	}
	for le, want := range v.buckets {
		if got, ok := sumSamples(samples, "backup_duration_seconds_bucket", map[string]string{"host": "db1", "le": le}); !ok || got != want {
			t.Errorf("%s: backup_duration_seconds_bucket{le=%q} = %v (present %v), want %v", what, le, got, ok, want)
		}
	}
}

// checkExport compares one OTLP export with v; it returns the problems.
func (v storedValues) checkExport(req *exportRequest) []string {
	var bad []string
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"backup.completed", db1, v.completed},
		{"jobs.running", q1, v.running},
		{"queue.depth", noAttrs, v.depth},
	} {
		if got, ok := valueIn(req, c.name, c.labels); !ok || got != c.want {
			bad = append(bad, fmt.Sprintf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want))
		}
	}
	if n, s, ok := histogramIn(req, "backup.duration", db1); !ok || n != v.durCount || s != v.durSum {
		bad = append(bad, fmt.Sprintf("backup.duration{host=db1} count %d sum %v (present %v), want %d and %v", n, s, ok, v.durCount, v.durSum))
	}
	return bad
}

// checkGateway compares what the Pushgateway holds for group with v; it returns the problems.
func (v storedValues) checkGateway(samples []sample, group map[string]string) []string {
	with := func(l map[string]string) map[string]string {
		m := map[string]string{}
		for k, x := range group {
			m[k] = x
		}
		for k, x := range l {
			m[k] = x
		}
		return m
	}
	var bad []string
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"backup_completed_total", db1, v.completed},
		{"jobs_running", q1, v.running},
		{"queue_depth", noAttrs, v.depth},
		{"backup_duration_seconds_count", db1, float64(v.durCount)},
		{"backup_duration_seconds_sum", db1, v.durSum},
	} {
		if got, ok := sumSamples(samples, c.name, with(c.labels)); !ok || got != c.want {
			bad = append(bad, fmt.Sprintf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want))
		}
	}
	return bad
}

// startTime returns the start time of the points of metric name (number or histogram) with
// exactly the attribute set attrs in one export.
func startTime(req *exportRequest, name string, attrs map[string]string) (uint64, bool) {
	for _, m := range metricsNamed(req, name) {
		for _, p := range numberPoints(m) {
			if sameAttrs(p.GetAttributes(), attrs) {
				return p.GetStartTimeUnixNano(), true
			}
		}
		for _, p := range m.GetHistogram().GetDataPoints() {
			if sameAttrs(p.GetAttributes(), attrs) {
				return p.GetStartTimeUnixNano(), true
			}
		}
	}
	return 0, false
}

// startTimes returns the start times of the storage test's cumulative series in one export.
func startTimes(req *exportRequest) map[string]uint64 {
	out := map[string]uint64{}
	for name, attrs := range map[string]map[string]string{"backup.completed": db1, "jobs.running": q1, "backup.duration": db1} {
		if st, ok := startTime(req, name, attrs); ok {
			out[name] = st
		}
	}
	return out
}

// pushedAfter waits until the Pushgateway holds a push of group made after t0 and
// returns its samples.
func (g *gateway) pushedAfter(t *testing.T, timeout time.Duration, group map[string]string, t0 time.Time) []sample {
	t.Helper()
	var samples []sample
	waitUntil(t, timeout, fmt.Sprintf("a Pushgateway push of %v after %s", group, t0.Format("15:04:05.000")), func() (bool, string) {
		_, samples = g.metrics(t)
		v, ok := sumSamples(samples, "push_time_seconds", group)
		return ok && v >= float64(t0.UnixMilli())/1000, fmt.Sprintf("push_time_seconds %v (present %v)", v, ok)
	})
	return samples
}

// TestRestartKeepsEveryValue: with storage.path set, a counter, an up-down counter gone
// negative, a gauge and a histogram keep their values across SIGTERM and a start with the
// same configuration, as seen by a direct scrape, by one real Prometheus scraping the same
// address all along (resets() == 0, one series), by the first OTLP export after the restart
// (with the first start's start time) and by the first Pushgateway push after it. Then a
// corrupt snapshot: the server starts anyway, moves it aside and says so.
func TestRestartKeepsEveryValue(t *testing.T) {
	t.Parallel()
	requireTool(t, "prometheus")
	requireServer(t)

	rec := startReceiver(t, 0)
	g := startGateway(t, 0)
	dir := t.TempDir()
	snapshot := filepath.Join(dir, "duometer.snapshot")
	cfg := lifecycleConfig{
		Listen: localAddr(freePort(t)), ShutdownTimeout: "10s", NodeName: "duometer@e2e-restart",
		OTLPEndpoint: rec.endpoint(), OTLPInterval: "1s", OTLPTimeout: "1s",
		PushgatewayURL: g.base, PushgatewayInterval: "1s", PushgatewayTimeout: "2s",
		StoragePath: snapshot, StorageInterval: "1s",
		Events: storageEvents,
	}
	path := writeFile(t, "duometer.toml", cfg.TOML())
	group := map[string]string{"job": "duometer", "instance": "duometer~e2e-restart"}

	srv := startServerFile(t, cfg.Listen, path)
	prom := startPrometheus(t, srv.addr, nil)
	srv.mustPost(t, ingestRequest{body: []byte(`[
		{"event": "backup.completed", "labels": {"host": "db1"}, "value": 5},
		{"event": "jobs.running", "labels": {"queue": "q1"}, "value": 2},
		{"event": "jobs.running", "labels": {"queue": "q1"}, "value": -5},
		{"event": "queue.depth", "value": 42.5},
		{"event": "backup.duration", "labels": {"host": "db1"}, "value": 0.5},
		{"event": "backup.duration", "labels": {"host": "db1"}, "value": 30}
	]`)}, 202, `{"applied":6,"dropped":0}`)
	first := storedValues{completed: 5, running: -3, depth: 42.5, durCount: 2, durSum: 30.5,
		buckets: map[string]float64{"1": 1, "10": 1, "60": 2, "+Inf": 2}}
	samples, err := parseExposition(srv.scrape(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	first.checkScrape(t, "before the restart", samples)

	// Prometheus, the receiver and the gateway have seen the values before the restart.
	prom.waitQuery(t, 30*time.Second, "backup_completed_total", singleValue(5))
	prom.waitQuery(t, 10*time.Second, "jobs_running", singleValue(-3))
	rec.waitLatest(t, 10*time.Second, "backup.completed", db1, 5)
	start0 := startTimes(rec.snapshot()[rec.count()-1].req)
	if len(start0) != 3 {
		t.Fatalf("the latest export lacks start times: %v", start0)
	}
	instance0 := rec.resourceAttrs()["service.instance.id"]
	g.waitValue(t, 10*time.Second, "backup_completed_total", map[string]string{"job": "duometer", "host": "db1"}, equals(5))

	srv.stop(t, 15*time.Second)
	if _, err := os.Stat(snapshot); err != nil {
		t.Fatalf("no snapshot after a clean shutdown: %v", err)
	}

	// The second start, with the same configuration on the same address.
	restart := time.Now()
	exportsBefore := rec.count()
	srv = startServerFile(t, cfg.Listen, path)
	samples, err = parseExposition(srv.scrape(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	first.checkScrape(t, "the first scrape after the restart", samples)
	// duometer's own counters continue too: one ingestion request so far.
	if v, ok := sumSamples(samples, "duometer_ingest_requests_total", map[string]string{"code": "202"}); !ok || v != 1 {
		t.Errorf("after the restart duometer_ingest_requests_total{code=202} = %v (present %v), want 1 (restored)", v, ok)
	}
	if v, ok := sumSamples(samples, "duometer_storage_restored_total", map[string]string{"result": "restored"}); !ok || v < 5 {
		t.Errorf("duometer_storage_restored_total{result=restored} = %v (present %v), want >= 5", v, ok)
	}
	if !strings.Contains(srv.out.String(), "restored the values of the storage snapshot") {
		t.Errorf("the log does not say that the snapshot was restored")
	}

	// The first OTLP export after the restart carries the restored values, with the start
	// time of the first start: a collector sees one cumulative series, not a reset.
	waitUntil(t, 10*time.Second, "an OTLP export after the restart", func() (bool, string) {
		return rec.count() > exportsBefore, fmt.Sprintf("%d exports", rec.count())
	})
	next := rec.exportsAfter(exportsBefore)[0]
	if bad := first.checkExport(next.req); len(bad) > 0 {
		t.Errorf("the first OTLP export after the restart:\n%s", strings.Join(bad, "\n"))
	}
	start1 := startTimes(next.req)
	t.Logf("OTLP start times before the restart %v, after it %v", start0, start1)
	for name, st := range start0 {
		if start1[name] != st {
			t.Errorf("OTLP start time of %s: %s before the restart, %s after it; want the same (a new start time tells a collector the cumulative series was reset)",
				name, time.Unix(0, int64(st)).UTC().Format(time.RFC3339Nano), time.Unix(0, int64(start1[name])).UTC().Format(time.RFC3339Nano))
		}
	}
	// Under the same identity: the snapshot keeps the generated service.instance.id.
	if id := attrMap(next.req.GetResourceMetrics()[0].GetResource().GetAttributes())["service.instance.id"]; id != instance0 || id == "" {
		t.Errorf("service.instance.id %q before the restart, %q after it; want the same (a new one makes a new series in every OTLP backend)", instance0, id)
	}
	if sum := metricsNamed(next.req, "backup.completed"); len(sum) == 1 &&
		sum[0].GetSum().GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Errorf("backup.completed is pushed with temporality %v, want cumulative", sum[0].GetSum().GetAggregationTemporality())
	}
	// So does the first Pushgateway push after it.
	if bad := first.checkGateway(g.pushedAfter(t, 10*time.Second, group, restart), group); len(bad) > 0 {
		t.Errorf("the first Pushgateway push after the restart:\n%s", strings.Join(bad, "\n"))
	}

	// The values go on from where they were.
	srv.mustPost(t, ingestRequest{body: []byte(`[
		{"event": "backup.completed", "labels": {"host": "db1"}, "value": 2},
		{"event": "jobs.running", "labels": {"queue": "q1"}, "value": 1},
		{"event": "backup.duration", "labels": {"host": "db1"}, "value": 5}
	]`)}, 202, `{"applied":3,"dropped":0}`)
	second := storedValues{completed: 7, running: -2, depth: 42.5, durCount: 3, durSum: 35.5,
		buckets: map[string]float64{"1": 1, "10": 2, "60": 3, "+Inf": 3}}
	samples, err = parseExposition(srv.scrape(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	second.checkScrape(t, "after the restart and more events", samples)
	prom.waitQuery(t, 20*time.Second, "backup_completed_total", singleValue(7))
	prom.waitQuery(t, 10*time.Second, "jobs_running", singleValue(-2))
	for _, q := range []string{
		"resets(backup_completed_total[10m])",
		"resets(backup_duration_seconds_count[10m])",
		"resets(backup_duration_seconds_sum[10m])",
		`resets(backup_duration_seconds_bucket{le="+Inf"}[10m])`,
		`resets(duometer_ingest_requests_total{code="202"}[10m])`,
	} {
		if r, err := prom.query(q); err != nil || len(r) != 1 || r[0].Value != 0 {
			t.Errorf("PromQL %s = %v, %v; want one series with 0 across the restart", q, r, err)
		}
	}
	// Prometheus saw both processes, and one series of the counter through the restart.
	if r, err := prom.query("min_over_time(backup_completed_total[10m])"); err != nil || len(r) != 1 || r[0].Value != 5 {
		t.Errorf("PromQL min_over_time(backup_completed_total[10m]) = %v, %v; want 5", r, err)
	}
	// One target_info through the restart: the second process has the first one's
	// service_instance_id, from the snapshot.
	if r, err := prom.query("count(count_over_time(target_info[10m]))"); err != nil || len(r) != 1 || r[0].Value != 1 {
		t.Errorf("PromQL count(count_over_time(target_info[10m])) = %v, %v; want 1 (the same service_instance_id through the restart)", r, err)
	}
	if r, err := prom.query("count(count_over_time(backup_completed_total[10m]))"); err != nil || len(r) != 1 || r[0].Value != 1 {
		t.Errorf("PromQL count(count_over_time(backup_completed_total[10m])) = %v, %v; want 1 series through the restart", r, err)
	}
	rec.waitLatest(t, 10*time.Second, "backup.completed", db1, 7)
	rec.waitHistogram(t, 10*time.Second, "backup.duration", db1, 3, 35.5)
	g.waitValue(t, 10*time.Second, "backup_completed_total", map[string]string{"job": "duometer", "host": "db1"}, equals(7))
	srv.stop(t, 15*time.Second)

	// A corrupt snapshot: moved aside, and the server starts without it.
	garbage := []byte("this is not a duometer snapshot\x00\xff\x13")
	if err := os.WriteFile(snapshot, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	srv = startServerFile(t, cfg.Listen, path)
	aside, err := filepath.Glob(snapshot + ".corrupt-*")
	if err != nil || len(aside) != 1 {
		t.Fatalf("files %s.corrupt-*: %v, %v; want one", snapshot, aside, err)
	}
	if b, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(b, garbage) {
		t.Errorf("%s holds %q, %v; want the garbage written over the snapshot", aside[0], b, err)
	}
	out := srv.out.String()
	if !strings.Contains(out, "the storage snapshot is unreadable") || !strings.Contains(out, aside[0]) {
		t.Errorf("the log does not say that the snapshot is unreadable and where it went (%s)", aside[0])
	}
	if v, ok := scrapeValue(t, srv, nil, "backup_completed_total", db1); ok {
		t.Errorf("backup_completed_total = %v after starting without a snapshot, want absent", v)
	}
	if r, err := httpGet(srv.base+"/-/ready", nil); err != nil || r.status != http.StatusOK {
		t.Errorf("GET /-/ready after starting with a corrupt snapshot: %v %+v", err, r)
	}
	srv.postBackup(t)
	srv.stop(t, 15*time.Second)
	// The path holds a whole snapshot again, which the next start restores.
	srv = startServerFile(t, cfg.Listen, path)
	if v, ok := scrapeValue(t, srv, nil, "backup_completed_total", db1); !ok || v != 1 {
		t.Errorf("backup_completed_total = %v (present %v) after a restart that followed the corrupt one, want 1", v, ok)
	}
	if strings.Contains(srv.out.String(), "unreadable") {
		t.Errorf("the snapshot written after the corrupt one is unreadable too")
	}
	srv.stop(t, 15*time.Second)
}

// postBackup posts one backup.completed{host=db1}.
func (s *duometer) postBackup(t *testing.T) {
	t.Helper()
	s.mustPost(t, ingestRequest{body: []byte(`{"event": "backup.completed", "labels": {"host": "db1"}}`)}, 202, `{"applied":1,"dropped":0}`)
}
