package e2e

// End-to-end tests of the limits on what a client allowed to post can do, against the real
// binary with its default limits: it cannot write duometer's own metrics, hold memory with
// bodies that never arrive, multiply the limits through auto-declared events, or poison a
// counter. pkg/ingest's limits_test.go has the same cases in process; the load generator's
// attack modes measure them at a larger scale (docs/performance.md).

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults the tests check against (pkg/config.DefaultConfig).
const (
	limitsMaxInFlight = 64
	limitsMaxSeries   = 50000
	limitsMaxAuto     = 100
)

// limitsConfig is a configuration with every limit at its default: only the listen address,
// what ingest.unknown-events says, and a few events are set.
type limitsConfig struct {
	Listen        string
	UnknownEvents string // "" default
}

func (c limitsConfig) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = %q\nshutdown-timeout = \"10s\"\n", c.Listen)
	b.WriteString(`
[[events]]
name = "big.total"
kind = "counter"
description = "A counter that clients push towards its limits."

[[events]]
name = "big.level"
kind = "updown"
labels = ["k"]

[[events]]
name = "backup.completed"
kind = "counter"
labels = ["host", "kind"]

[ingest]
enable = true
`)
	if c.UnknownEvents != "" {
		fmt.Fprintf(&b, "unknown-events = %q\n", c.UnknownEvents)
	}
	return b.String()
}

// startLimitsServer starts the real binary with every limit at its default, unknown events
// handled as unknownEvents says ("" for the default), and returns it with its process id.
func startLimitsServer(t *testing.T, unknownEvents string) (*duometer, int) {
	t.Helper()
	requireServer(t)
	cfg := limitsConfig{Listen: localAddr(freePort(t)), UnknownEvents: unknownEvents}
	srv := startServer(t, cfg.Listen, cfg.TOML())
	return srv, srv.cmd.Process.Pid
}

// limitsRSS returns VmRSS of pid in bytes, or 0 if it cannot be read (the process is gone).
func limitsRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// limitsCPU returns the CPU time (user and system) process pid has used, from /proc.
func limitsCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// After the command name, in parentheses: utime and stime are the 12th and 13th fields,
	// in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// limitsRSSPeak samples the RSS of pid every 50 ms until stop is called, which returns the peak.
func limitsRSSPeak(pid int) (stop func() int64) {
	var (
		peak int64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			peak = max(peak, limitsRSS(pid))
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// limitsScrape scrapes the server and returns how long the answer took, whole.
func limitsScrape(t *testing.T, s *duometer) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	body := s.scrape(t, nil)
	return time.Since(start), body
}

// limitsMedianScrape scrapes n times and returns the median time and the last body.
func limitsMedianScrape(t *testing.T, s *duometer, n int) (time.Duration, string) {
	t.Helper()
	var took []time.Duration
	var body string
	for range n {
		var d time.Duration
		d, body = limitsScrape(t, s)
		took = append(took, d)
	}
	slices.Sort(took)
	return took[n/2], body
}

func limitsReachedIn(t *testing.T, samples []sample, key string) float64 {
	t.Helper()
	v, ok := sumSamples(samples, "duometer_limits_reached_total", map[string]string{"limit": key})
	if !ok {
		t.Errorf("duometer_limits_reached_total{limit=%q} is not in the scrape", key)
	}
	return v
}

// No client writes duometer's own metrics: each such event is refused (400), nothing of its
// request is applied, and the scrape is unchanged.
func TestLimitsReservedNames(t *testing.T) {
	t.Parallel()
	srv, _ := startLimitsServer(t, "counter")

	own := func() map[string]float64 { // the series of duometer's own events the attempts aim at
		samples, err := parseExposition(srv.scrape(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, s := range samples {
			switch {
			case s.name == "duometer_config_loads_total", s.name == "duometer_cluster_peer_up",
				s.name == "duometer_auth_failed_total", s.name == "duometer_config_last_reload_successful",
				s.name == "duometer_http_requests_total" && s.labels["code"] == "500",
				strings.HasPrefix(s.name, "duometer_sneaky"), strings.HasPrefix(s.name, "go_fake"),
				s.name == "target_info_total":
				out[fmt.Sprintf("%s%v", s.name, s.labels)] = s.value
			}
		}
		return out
	}
	before := own()
	for _, body := range []string{
		`{"event":"duometer.config.loads","labels":{"result":"failure"}}`,
		`{"event":"duometer.cluster.peer-up","labels":{"peer":"http://10.0.0.9:9464"},"value":0}`,
		`{"event":"duometer.http.requests","labels":{"handler":"ingest","code":"500"},"value":1000}`,
		`{"event":"duometer.config.last-reload-successful","value":0}`,
		`{"event":"duometer.auth.failed","value":5}`,
		`{"event":"duometer.sneaky.new"}`,
		`{"event":"go.fake.metric","value":1}`,
		// Other spellings of the same Prometheus names: duometer_sneaky_other_total, the
		// runtime's own go_memory_allocations_total, target_info_total.
		`{"event":"duometer-sneaky.other"}`,
		`{"event":"go-memory.allocations","value":1}`,
		`{"event":"target.info"}`,
		`[{"event":"backup.completed","labels":{"host":"db1","kind":"full"}},{"event":"duometer.config.loads","labels":{"result":"failure"}}]`,
	} {
		res := srv.post(t, ingestRequest{body: []byte(body)})
		if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "event name is reserved for duometer's own metrics") {
			t.Errorf("%s: %d %s, want 400 saying the name is reserved", body, res.status, res.body)
		}
	}
	after := own()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("the scrape changed:\nbefore %v\nafter  %v", before, after)
	}
	if v, ok := scrapeValue(t, srv, nil, "duometer_config_loads_total", map[string]string{"result": "success"}); !ok || v != 1 {
		t.Errorf("duometer_config_loads_total{success} = %v, %v; want 1", v, ok)
	}
	if _, ok := scrapeValue(t, srv, nil, "backup_completed_total", nil); ok {
		t.Error("the valid event of a refused batch was applied")
	}
	if v, _ := scrapeValue(t, srv, nil, "duometer_ingest_requests_total", map[string]string{"code": "400"}); v != 11 {
		t.Errorf("duometer_ingest_requests_total{400} = %v, want 11", v)
	}
}

// trickler is a connection that announced a body and sends one byte of it now and then.
type limitsTrickler struct {
	conn   net.Conn
	status chan int // the answer's status (0 if none came), and its Retry-After in retry
	retry  string
}

func startLimitsTrickler(t *testing.T, addr string, announce int) *limitsTrickler {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: duometer\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", eventsPath, announce); err != nil {
		t.Fatal(err)
	}
	tr := &limitsTrickler{conn: conn, status: make(chan int, 1)}
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			tr.status <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tr.retry = resp.Header.Get("Retry-After")
		tr.status <- resp.StatusCode
	}()
	return tr
}

// 300 connections that announce 1 MiB each and trickle their bodies: 64 are taken and
// answered 408 after ingest.read-timeout, the others 429 at once; the server's RSS grows by
// at most 64 MiB, and scrapes answer in their usual time meanwhile.
func TestLimitsTricklingConnections(t *testing.T) {
	t.Parallel()
	const conns, announce = 300, 1 << 20
	srv, pid := startLimitsServer(t, "")
	usual, _ := limitsMedianScrape(t, srv, 5)
	time.Sleep(500 * time.Millisecond)
	rssBefore := limitsRSS(pid)
	stopRSS := limitsRSSPeak(pid)

	start := time.Now()
	trs := make([]*limitsTrickler, conns)
	for i := range trs {
		trs[i] = startLimitsTrickler(t, srv.addr, announce)
	}
	// Trickle: one byte every 500 ms on each connection still waiting.
	stopTrickle := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopTrickle:
				return
			case <-time.After(500 * time.Millisecond):
			}
			for _, tr := range trs {
				_, _ = tr.conn.Write([]byte{' '})
			}
		}
	}()

	// Scrapes meanwhile, until every connection has its answer.
	statuses := map[int]int{}
	var during []time.Duration
	answered, tooMany, retryAfter := 0, time.Duration(0), map[string]int{}
	deadline := time.After(30 * time.Second)
	for answered < conns {
		select {
		case <-deadline:
			t.Fatalf("after 30 s, %d connections of %d have their answer: %v", answered, conns, statuses)
		case <-time.After(250 * time.Millisecond):
			d, _ := limitsScrape(t, srv)
			during = append(during, d)
		}
		for _, tr := range trs {
			if tr.status == nil {
				continue
			}
			select {
			case code := <-tr.status:
				statuses[code]++
				answered++
				tr.status = nil
				if code == http.StatusTooManyRequests {
					tooMany = max(tooMany, time.Since(start))
					retryAfter[tr.retry]++
				}
			default:
			}
		}
	}
	took := time.Since(start)
	close(stopTrickle)
	wg.Wait()
	peak := stopRSS()
	slices.Sort(during)
	t.Logf("%d connections announcing %d bytes: answers %v after %v (the 429s within %v); VmRSS %d MiB before, %d MiB at the peak (+%d MiB); scrapes: usual %v, meanwhile %d, median %v, slowest %v",
		conns, announce, statuses, took.Round(time.Millisecond), tooMany.Round(time.Millisecond), rssBefore>>20, peak>>20, (peak-rssBefore)>>20,
		usual, len(during), during[len(during)/2], during[len(during)-1])

	if statuses[http.StatusTooManyRequests] != conns-limitsMaxInFlight || statuses[http.StatusRequestTimeout] != limitsMaxInFlight {
		t.Errorf("answers %v, want %d × 429 and %d × 408", statuses, conns-limitsMaxInFlight, limitsMaxInFlight)
	}
	if retryAfter["1"] != statuses[http.StatusTooManyRequests] {
		t.Errorf("Retry-After of the 429s: %v, want 1 on each", retryAfter)
	}
	if took < 10*time.Second {
		t.Errorf("every connection answered after %v, before ingest.read-timeout (10s)", took)
	}
	if grew := peak - rssBefore; grew > 64<<20 {
		t.Errorf("VmRSS grew by %d MiB with %d connections announcing 1 MiB, want at most 64 MiB", grew>>20, conns)
	}
	if median, slowest := during[len(during)/2], during[len(during)-1]; median > 2*usual+20*time.Millisecond || slowest > 500*time.Millisecond {
		t.Errorf("scrapes meanwhile: median %v, slowest %v; usual %v", median, slowest, usual)
	}

	samples, err := parseExposition(srv.scrape(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{"ingest.max-in-flight": conns - limitsMaxInFlight, "ingest.read-timeout": limitsMaxInFlight} {
		if v := limitsReachedIn(t, samples, key); v != want {
			t.Errorf("duometer_limits_reached_total{limit=%q} = %v, want %v", key, v, want)
		}
	}
	for code, want := range map[string]float64{"429": conns - limitsMaxInFlight, "408": limitsMaxInFlight} {
		if v, _ := sumSamples(samples, "duometer_ingest_requests_total", map[string]string{"code": code}); v != want {
			t.Errorf("duometer_ingest_requests_total{code=%s} = %v, want %v", code, v, want)
		}
	}
	// The slots are free again.
	srv.mustPost(t, ingestRequest{body: []byte(`{"event":"big.total"}`)}, 202, `{"applied":1,"dropped":0}`)
}

// limitsAttackBody returns a JSON array of events of one unknown event, one per label set from
// from to to-1, each with labels labels of length bytes.
func limitsAttackBody(event string, from, to, labels, length int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for s := from; s < to; s++ {
		if s > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event":%q,"labels":{`, event)
		for l := range labels {
			if l > 0 {
				b.WriteByte(',')
			}
			v := fmt.Sprintf("s%d-%d-", s, l)
			fmt.Fprintf(&b, `"k%d":"%s%s"`, l, v, strings.Repeat("x", max(0, length-len(v))))
		}
		b.WriteString("}}")
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// attackResult is what limitsAfterAttack measured: the last of three scrapes, parsed, the
// scrape times (sorted), the server's CPU time per scrape, and VmRSS at the peak.
type attackResult struct {
	samples      []sample
	body         string
	scrapes      []time.Duration
	cpuPerScrape time.Duration
	peak         int64
}

// limitsAfterAttack scrapes srv three times after an attack and reads the RSS peak that
// stopRSS (limitsRSSPeak's) recorded. A scrape's time is the wall time, and the server's CPU
// time too: when other tests keep the machine's cores busy, a scrape may wait for a core
// longer than it works.
func limitsAfterAttack(t *testing.T, srv *duometer, stopRSS func() int64) attackResult {
	t.Helper()
	pid := srv.cmd.Process.Pid
	var r attackResult
	cpu0 := limitsCPU(pid)
	for range 3 {
		d, b := limitsScrape(t, srv)
		r.scrapes, r.body = append(r.scrapes, d), b
	}
	r.cpuPerScrape = (limitsCPU(pid) - cpu0) / 3
	slices.Sort(r.scrapes)
	r.peak = max(stopRSS(), limitsRSS(pid))
	var err error
	if r.samples, err = parseExposition(r.body); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkBounded fails t unless the server peaked under 256 MiB and scraped in under 1 s
// (or used under 1 s of CPU per scrape, when the machine is busy).
func (r attackResult) checkBounded(t *testing.T) {
	t.Helper()
	if r.peak > 256<<20 {
		t.Errorf("VmRSS peaked at %d MiB, want under 256 MiB", r.peak>>20)
	}
	switch {
	case r.scrapes[0] < time.Second:
	case r.cpuPerScrape < time.Second:
		t.Logf("scrapes took %v but %v of the server's CPU each: the machine is busy", r.scrapes, r.cpuPerScrape)
	default:
		t.Errorf("scrapes after the attack took %v, %v of the server's CPU each; want under 1 s", r.scrapes, r.cpuPerScrape)
	}
}

// The auto-declare attack of the issue (ingest.unknown-events = "counter"): many events ×
// many label sets × many labels. Every limit it passes is counted, the scrape holds at most
// metrics.max-series series, and the server stays under 256 MB and scrapes under 1 s.
func TestLimitsAutoDeclareAttack(t *testing.T) {
	t.Parallel()
	srv, pid := startLimitsServer(t, "counter")
	usual, _ := limitsMedianScrape(t, srv, 5)
	rssBefore := limitsRSS(pid)
	stopRSS := limitsRSSPeak(pid)
	start := time.Now()
	post := func(body []byte, status int) {
		t.Helper()
		if res := srv.post(t, ingestRequest{body: body}); res.status != status {
			t.Fatalf("POST of %d bytes: %d %.300s, want %d", len(body), res.status, res.body, status)
		}
	}

	// 1. The shape: 64 labels of 1 KiB, 14 events to a request of 1 MiB, 20 events
	// of 140 label sets each. All refused.
	for e := range 20 {
		for from := 0; from < 140; from += 14 {
			post(limitsAttackBody(fmt.Sprintf("attack.wide%d", e), from, from+14, 64, 1024), http.StatusBadRequest)
		}
	}
	// 2. Bigger requests, to get more through at once.
	post(limitsAttackBody("attack.big", 0, 1000, 8, 256), http.StatusRequestEntityTooLarge)  // 2 MB
	post([]byte("["+strings.Repeat(`{},`, 100_000)+"{}]"), http.StatusRequestEntityTooLarge) // 100,001 events
	// 3. Within the labels' limits: 8 short labels, 2,000 label sets an event, one event a
	// request. The first 100 events are declared, the next refused; past 50,000 series the
	// label sets fold into each event's overflow series.
	for e := range limitsMaxAuto + 5 {
		status := http.StatusAccepted
		if e >= limitsMaxAuto {
			status = http.StatusBadRequest
		}
		post(limitsAttackBody(fmt.Sprintf("attack.e%d", e), 0, 2000, 8, 12), status)
	}
	attackTook := time.Since(start)

	// The scrape: at most metrics.max-series series of the attack.
	r := limitsAfterAttack(t, srv, stopRSS)
	samples := r.samples
	series, overflow := 0, 0
	for _, s := range samples {
		if strings.HasPrefix(s.name, "attack_") {
			series++
			if s.labels["otel_metric_overflow"] == "true" {
				overflow++
			}
		}
	}
	t.Logf("attack posted in %v; %d series of the attack in the scrape (%d overflow series), %d samples in all, %d bytes; VmRSS %d MiB before, peak %d MiB, now %d MiB; scrapes %v (usual %v), %v of the server's CPU each",
		attackTook.Round(time.Millisecond), series, overflow, len(samples), len(r.body), rssBefore>>20, r.peak>>20, limitsRSS(pid)>>20, r.scrapes, usual, r.cpuPerScrape)

	// The budget counts the series of every event, duometer's own included; the overflow
	// series that label sets past it fold into (one an event at most) are made past it.
	if labelled := series - overflow; labelled > limitsMaxSeries || overflow > limitsMaxAuto {
		t.Errorf("%d series of the attack in the scrape and %d overflow series, more than metrics.max-series (%d) and one an event: the budget of series is not enforced",
			labelled, overflow, limitsMaxSeries)
	}
	if series < limitsMaxSeries-2000 {
		t.Errorf("%d series of the attack in the scrape: the attack should fill most of metrics.max-series (%d)", series, limitsMaxSeries)
	}
	r.checkBounded(t)
	for _, key := range []string{"ingest.max-auto-labels", "ingest.max-label-value-length", "ingest.max-auto-events",
		"ingest.max-body", "ingest.max-events", "metrics.max-series"} {
		if v := limitsReachedIn(t, samples, key); v == 0 {
			t.Errorf("duometer_limits_reached_total{limit=%q} = 0 after the attack", key)
		}
	}
	if v := limitsReachedIn(t, samples, "ingest.max-auto-events"); v != 5 {
		t.Errorf(`duometer_limits_reached_total{limit="ingest.max-auto-events"} = %v, want 5`, v)
	}
	if v := limitsReachedIn(t, samples, "ingest.max-auto-labels"); v != 200 {
		t.Errorf(`duometer_limits_reached_total{limit="ingest.max-auto-labels"} = %v, want 200 (one per request)`, v)
	}
	for _, s := range samples {
		if strings.HasPrefix(s.name, "attack_wide") || strings.HasPrefix(s.name, "attack_big") || s.name == "attack_e100_total" {
			t.Fatalf("a refused event is in the scrape: %s", s.name)
		}
	}
}

// An attacker who stays within every label limit with the longest values they allow
// (8 labels of 256 bytes) fills metrics.max-label-bytes (16 MiB) and no more: the label sets
// past it fold into overflow series, counted, and the server stays under 256 MB and scrapes
// under 1 s. Without the budget, 50,000 such series held 100 MB of label values, peaked at
// 576 MiB and scraped in up to 3.2 s.
func TestLimitsLongLabelsAttack(t *testing.T) {
	t.Parallel()
	srv, pid := startLimitsServer(t, "counter")
	rssBefore := limitsRSS(pid)
	stopRSS := limitsRSSPeak(pid)
	const events, perEvent, labels, length = 25, 400, 8, 256 // 10,000 label sets of 2 KiB
	for e := range events {
		body := limitsAttackBody(fmt.Sprintf("attack.long%d", e), 0, perEvent, labels, length)
		if res := srv.post(t, ingestRequest{body: body}); res.status != http.StatusAccepted {
			t.Fatalf("POST of %d bytes: %d %.300s, want 202", len(body), res.status, res.body)
		}
	}
	r := limitsAfterAttack(t, srv, stopRSS)
	series, overflow, valueBytes := 0, 0, 0
	for _, s := range r.samples {
		if !strings.HasPrefix(s.name, "attack_long") {
			continue
		}
		series++
		if s.labels["otel_metric_overflow"] == "true" {
			overflow++
		}
		for _, v := range s.labels {
			valueBytes += len(v)
		}
	}
	t.Logf("%d series of the attack in the scrape (%d overflow series) with %d bytes of label values; %d bytes in all; VmRSS %d MiB before, peak %d MiB, now %d MiB; scrapes %v, %v of the server's CPU each",
		series, overflow, valueBytes, len(r.body), rssBefore>>20, r.peak>>20, limitsRSS(pid)>>20, r.scrapes, r.cpuPerScrape)

	const budget = 16 << 20
	if valueBytes > budget {
		t.Errorf("the attack's series hold %d bytes of label values, more than metrics.max-label-bytes (%d)", valueBytes, budget)
	}
	if labelled := series - overflow; labelled < (budget-(1<<20))/(labels*length) || overflow == 0 {
		t.Errorf("%d series of the attack and %d overflow series: the attack should fill metrics.max-label-bytes, the rest in overflow series", labelled, overflow)
	}
	if v := limitsReachedIn(t, r.samples, "metrics.max-label-bytes"); v == 0 {
		t.Error(`duometer_limits_reached_total{limit="metrics.max-label-bytes"} = 0 after the attack`)
	}
	r.checkBounded(t)
}

// A flood of concurrent scrapes, as a misconfigured fleet of scrapers or an attacker would
// send: at most metrics.max-in-flight (16 by default) are served at once, the others are
// answered 503 at once and counted, and memory stays bounded.
func TestLimitsScrapeFlood(t *testing.T) {
	t.Parallel()
	srv, pid := startLimitsServer(t, "counter")
	for e := range 5 { // 10,000 series, so that a scrape takes a while
		if res := srv.post(t, ingestRequest{body: limitsAttackBody(fmt.Sprintf("flood.e%d", e), 0, 2000, 8, 12)}); res.status != http.StatusAccepted {
			t.Fatalf("post: %d %.300s", res.status, res.body)
		}
	}
	rssBefore := limitsRSS(pid)
	stopRSS := limitsRSSPeak(pid)
	codes, errs := map[int]int{}, map[string]int{}
	var mu sync.Mutex
	// Under -race and beside the other tests, 16 scrapes at once on a shared machine may take
	// longer than the harness's 5 s: a slow answer is not what this test is about.
	client := &http.Client{Timeout: time.Minute}
	for round := 0; round < 5 && codes[http.StatusServiceUnavailable] == 0; round++ {
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				r, err := httpGetWith(client, srv.base+"/metrics/prometheus", nil, map[string]string{"Accept": "text/plain"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					codes[-1]++
					errs[err.Error()]++
				case r.status == http.StatusOK && !strings.Contains(string(r.body), "\ntarget_info{"):
					codes[-2]++ // a 200 without its whole exposition
				default:
					codes[r.status]++
				}
			})
		}
		wg.Wait()
	}
	peak := stopRSS()
	refused := codes[http.StatusServiceUnavailable]
	t.Logf("answers %v (-1: errors %v); VmRSS %d MiB before, peak %d MiB", codes, errs, rssBefore>>20, peak>>20)
	if refused == 0 || codes[http.StatusOK] == 0 || len(codes) != 2 {
		t.Errorf("answers %v: want 200s and 503s only", codes)
	}
	samples, err := parseExposition(srv.scrape(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if v := limitsReachedIn(t, samples, "metrics.prometheus.max-in-flight"); v != float64(refused) {
		t.Errorf(`duometer_limits_reached_total{limit="metrics.prometheus.max-in-flight"} = %v, want %d (the 503s)`, v, refused)
	}
	if peak > 256<<20 {
		t.Errorf("VmRSS peaked at %d MiB under the flood, want under 256 MiB", peak>>20)
	}
}

// Counters never wrap nor become infinite: 3 × 4e18 is 1.2e19, and an increment that would
// make a counter infinite is refused with 400, the counter unchanged.
func TestLimitsCounterArithmetic(t *testing.T) {
	t.Parallel()
	srv, _ := startLimitsServer(t, "")

	for range 3 {
		srv.mustPost(t, ingestRequest{body: []byte(`{"event":"big.total","value":4e18}`)}, 202, `{"applied":1,"dropped":0}`)
	}
	if v, ok := scrapeValue(t, srv, nil, "big_total", nil); !ok || v != 1.2e19 {
		t.Errorf("big_total = %v after 3 × 4e18, want 1.2e19", v)
	}
	srv.mustPost(t, ingestRequest{body: []byte(`{"event":"big.total","value":1.7e308}`)}, 202, `{"applied":1,"dropped":0}`)
	res := srv.post(t, ingestRequest{body: []byte(`{"event":"big.total","value":1.7e308}`)})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `value 1.7e+308 would make the counter's value infinite`) {
		t.Errorf("second 1.7e308: %d %s, want 400", res.status, res.body)
	}
	if v, _ := scrapeValue(t, srv, nil, "big_total", nil); math.IsInf(v, 0) || v != 1.7e308+1.2e19 {
		t.Errorf("big_total = %v, want 1.7e308 + 1.2e19", v)
	}
	// In one request: refused whole, at the event that would overflow.
	res = srv.post(t, ingestRequest{body: []byte(`[{"event":"big.level","labels":{"k":"a"},"value":1.7e308},{"event":"big.level","labels":{"k":"a"},"value":1.7e308}]`)})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `[1] event \"big.level\": value 1.7e+308 would make the up-down counter's value infinite`) {
		t.Errorf("1.7e308 twice in one request: %d %s, want 400", res.status, res.body)
	}
	if _, ok := scrapeValue(t, srv, nil, "big_level", map[string]string{"k": "a"}); ok {
		t.Error("the refused request created big_level{k=a}")
	}
	if v, _ := scrapeValue(t, srv, nil, "duometer_limits_reached_total", map[string]string{"limit": "finite-values"}); v != 2 {
		t.Errorf(`duometer_limits_reached_total{limit="finite-values"} = %v, want 2`, v)
	}
}
