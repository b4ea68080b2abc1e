package main

// The attack modes: what a client allowed to post can make the server hold, measured from a
// second process with the server's RSS (/proc/<pid>/status) before, at its peak and after,
// and the time scrapes take meanwhile.
//
//   - trickle: -conns connections each announce a body of -announce bytes and send one byte
//     every -interval, for -duration; a connection answered (429, 408) waits what
//     Retry-After says (1 s if none) and connects again.
//   - attack: -events unknown events (ingest.unknown-events = "counter"), each posted with
//     -series label sets of -labels labels of -value-len bytes, event after event, in
//     requests that fit -max-body, by -workers workers, for -duration at most.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type attackFlags struct {
	url      string
	pid      int
	workers  int
	duration time.Duration

	conns    int
	announce int64
	interval time.Duration

	events, series, labels, valueLen int
	maxBody                          int64
}

// memory reads VmRSS and VmHWM (the peak RSS since the process started) of pid, in bytes.
func memory(pid int) (rss, hwm int64) {
	if pid == 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, _ := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// scrapeResult is one scrape of /metrics/prometheus.
type scrapeResult struct {
	took    time.Duration
	bytes   int
	samples int                // sample lines
	attack  int                // sample lines of the attack's events (attack_*)
	limits  map[string]float64 // duometer_limits_reached_total by limit
}

func scrape(base string) (scrapeResult, error) {
	r := scrapeResult{limits: map[string]float64{}}
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics/prometheus", nil)
	req.Header.Set("Accept", "text/plain")
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	r.took = time.Since(start)
	if err != nil {
		return r, err
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("scrape: status %d", resp.StatusCode)
	}
	r.bytes = len(text)
	for line := range bytes.Lines(text) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		r.samples++
		if bytes.HasPrefix(line, []byte("attack_")) {
			r.attack++
		}
		if rest, ok := bytes.CutPrefix(line, []byte(`duometer_limits_reached_total{limit="`)); ok {
			key, val, _ := bytes.Cut(rest, []byte(`"}`))
			r.limits[string(key)], _ = strconv.ParseFloat(string(bytes.TrimSpace(val)), 64)
		}
	}
	return r, nil
}

// monitor samples the server's RSS every 50 ms and scrapes it every second until finish.
type monitor struct {
	pid     int
	base    string
	mu      sync.Mutex
	peak    int64
	scrapes []time.Duration
	errs    []error
	stop    chan struct{}
	done    sync.WaitGroup
}

func startMonitor(pid int, base string) *monitor {
	m := &monitor{pid: pid, base: base, stop: make(chan struct{})}
	m.done.Add(2)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			rss, _ := memory(m.pid)
			m.mu.Lock()
			m.peak = max(m.peak, rss)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		defer m.done.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			r, err := scrape(m.base)
			m.mu.Lock()
			if err != nil {
				m.errs = append(m.errs, err)
			} else {
				m.scrapes = append(m.scrapes, r.took)
			}
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *monitor) finish() (peak int64, scrapes []time.Duration, errs []error) {
	close(m.stop)
	m.done.Wait()
	slices.Sort(m.scrapes)
	return m.peak, m.scrapes, m.errs
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// baseline scrapes five times and returns the median time and the last scrape.
func baseline(base string) (time.Duration, scrapeResult) {
	var took []time.Duration
	var last scrapeResult
	for range 5 {
		r, err := scrape(base)
		if err != nil {
			fail(err)
		}
		took, last = append(took, r.took), r
	}
	slices.Sort(took)
	return took[2], last
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// report prints what the attacks share: memory, scrapes, limits.
func report(pid int, rss0 int64, scrape0 time.Duration, peak int64, during []time.Duration, errs []error, base string) {
	time.Sleep(2 * time.Second) // what the attack left, once the connections are gone
	rss1, hwm := memory(pid)
	after, err := scrape(base)
	if err != nil {
		fail(err)
	}
	if pid != 0 {
		fmt.Printf("  RSS        before %s, peak %s (+%s), after %s; VmHWM %s\n", mib(rss0), mib(peak), mib(peak-rss0), mib(rss1), mib(hwm))
	}
	fmt.Printf("  scrapes    before %s; during: %d, p50 %s, max %s, %d failed; after %s (%d samples, %d of the attack's, %d bytes)\n",
		ms(scrape0), len(during), ms(quantile(during, 0.5)), ms(quantile(during, 1)), len(errs), ms(after.took), after.samples, after.attack, after.bytes)
	for _, err := range errs {
		fmt.Printf("    scrape failed: %v\n", err)
	}
	keys := make([]string, 0, len(after.limits))
	for k := range after.limits {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Print("  limits    ")
	for _, k := range keys {
		fmt.Printf(" %s=%.0f", k, after.limits[k])
	}
	fmt.Println()
}

func statusLine(counts map[int]int) string {
	codes := make([]int, 0, len(counts))
	for c := range counts {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "error"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", name, counts[c]))
	}
	return strings.Join(parts, ", ")
}

// runTrickle holds a.conns connections that announce a.announce bytes and send one byte
// every a.interval, for a.duration.
func runTrickle(a attackFlags) {
	u, err := neturl.Parse(a.url)
	if err != nil {
		fail(err)
	}
	base := u.Scheme + "://" + u.Host
	scrape0, _ := baseline(base)
	time.Sleep(time.Second)
	rss0, _ := memory(a.pid)
	fmt.Printf("trickle: %d connections announcing %d bytes, one byte every %v, for %v\n", a.conns, a.announce, a.interval, a.duration)

	m := startMonitor(a.pid, base)
	var (
		mu        sync.Mutex
		counts    = map[int]int{}
		lastError string
		connects  atomic.Int64
		wg        sync.WaitGroup
	)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", u.RequestURI(), u.Host, a.announce)
	deadline := time.Now().Add(a.duration)
	for range a.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				connects.Add(1)
				code, wait, msg := trickleOnce(u.Host, head, a.interval, deadline)
				mu.Lock()
				counts[code]++
				if code == 0 {
					lastError = msg
				}
				mu.Unlock()
				if code == 0 {
					wait = 100 * time.Millisecond
				}
				if time.Until(deadline) < wait {
					return
				}
				time.Sleep(wait)
			}
		}()
	}
	wg.Wait()
	peak, during, errs := m.finish()
	fmt.Printf("  answers    %s, in %d connections\n", statusLine(counts), connects.Load())
	if lastError != "" {
		fmt.Printf("    last error: %s\n", lastError)
	}
	report(a.pid, rss0, scrape0, peak, during, errs, base)
}

// trickleOnce connects, sends head and a byte every interval until the server answers or
// deadline passes, and returns the status (0 for none) and what Retry-After says.
func trickleOnce(host, head string, interval time.Duration, deadline time.Time) (code int, wait time.Duration, msg string) {
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return 0, 0, err.Error()
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, 0, err.Error()
	}
	type answer struct {
		code int
		wait time.Duration
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answers <- answer{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			wait = time.Duration(s) * time.Second
		}
		answers <- answer{code: resp.StatusCode, wait: wait}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.NewTimer(time.Until(deadline))
	defer end.Stop()
	for {
		select {
		case a := <-answers:
			if a.err != nil {
				return 0, 0, a.err.Error()
			}
			return a.code, a.wait, ""
		case <-tick.C:
			_, _ = conn.Write([]byte{' '}) // an error shows as the answer's
		case <-end.C:
			return -1, 0, ""
		}
	}
}

// attackBody returns a JSON array of the events of event e with label sets from..to-1.
func attackBody(a attackFlags, e, from, to int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for s := from; s < to; s++ {
		if s > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event":"attack.e%d","labels":{`, e)
		for l := range a.labels {
			if l > 0 {
				b.WriteByte(',')
			}
			v := fmt.Sprintf("s%d-l%d-", s, l)
			fmt.Fprintf(&b, `"k%d":"%s%s"`, l, v, strings.Repeat("x", max(0, a.valueLen-len(v))))
		}
		b.WriteString(`}}`)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// runAttack posts a.events unknown events, each with a.series label sets, event after event.
func runAttack(a attackFlags) {
	u, err := neturl.Parse(a.url)
	if err != nil {
		fail(err)
	}
	base := u.Scheme + "://" + u.Host
	scrape0, _ := baseline(base)
	time.Sleep(time.Second)
	rss0, _ := memory(a.pid)

	one := len(attackBody(a, a.events-1, a.series-1, a.series)) - 2
	batch := max(1, min(a.series, int(a.maxBody*9/10)/(one+1)))
	perEvent := (a.series + batch - 1) / batch
	chunks := a.events * perEvent
	fmt.Printf("attack: %d events × %d label sets × %d labels of %d bytes; an event is %d bytes, %d in a request; %d requests at most, %v at most\n",
		a.events, a.series, a.labels, a.valueLen, one, batch, chunks, a.duration)

	m := startMonitor(a.pid, base)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: a.workers, DisableCompression: true}}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		counts  = map[int]int{}
		sent    atomic.Int64
		lastMsg string
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(a.duration)
	for range a.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				k := int(next.Add(1) - 1)
				if k >= chunks {
					return
				}
				e, from := k/perEvent, (k%perEvent)*batch
				to := min(a.series, from+batch)
				code, msg := post(client, a.url, attackBody(a, e, from, to), "application/json", false, "")
				sent.Add(int64(to - from))
				mu.Lock()
				counts[code]++
				if code != http.StatusAccepted && code != http.StatusBadRequest {
					lastMsg = msg
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	peak, during, errs := m.finish()
	fmt.Printf("  sent       %d events in %d requests in %v: %s\n", sent.Load(), min(int(next.Load()), chunks), took.Round(time.Millisecond), statusLine(counts))
	if lastMsg != "" {
		fmt.Printf("    last other answer: %.200s\n", lastMsg)
	}
	report(a.pid, rss0, scrape0, peak, during, errs, base)
}
