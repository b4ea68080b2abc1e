// Command loadgen measures the throughput of duometer's ingestion API over HTTP from a second
// process: N workers post the same batch of events over keep-alive connections for a fixed
// time, then it reports events/s, requests/s, latency and the CPU time of both processes.
//
// With -server it starts the server binary itself on a free loopback port, with ingest
// enabled and the benchmark's event declared, and stops it afterwards:
//
//	go build -o /tmp/duometer ./cmd/server
//	go run ./pkg/ingest/internal/loadgen -server /tmp/duometer -batch 1000 -workers 4 -duration 10s
//
// Without -server it posts to -url, to a server whose configuration declares the event
// (see -config-only for the TOML to use).
//
// Two other modes measure the limits on what clients send (attack.go), with the server's
// RSS before, at its peak and after, and the time scrapes take meanwhile:
//
//	go run ./pkg/ingest/internal/loadgen -server /tmp/duometer -mode trickle -conns 300 -announce 1048576 -duration 30s
//	go run ./pkg/ingest/internal/loadgen -server /tmp/duometer -mode attack -events 2000 -series 2000 -labels 64 -value-len 1024 -duration 20s
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const eventName = "loadgen.requests"

// srv is the server started with -server, stopped by fail too.
var srv *serverProc

func main() {
	var (
		url        = flag.String("url", "", "the ingestion API's URL, e.g. http://127.0.0.1:9464/api/v1/events (not with -server)")
		server     = flag.String("server", "", "path of the duometer binary to start and measure")
		batch      = flag.Int("batch", 1, "events per request")
		workers    = flag.Int("workers", 4, "concurrent requests (keep-alive connections)")
		duration   = flag.Duration("duration", 10*time.Second, "how long to post")
		warmup     = flag.Duration("warmup", time.Second, "how long to post before measuring")
		distinct   = flag.Int("distinct", 10, "distinct label values (series) in a batch")
		ndjson     = flag.Bool("ndjson", false, "post NDJSON instead of a JSON array")
		gz         = flag.Bool("gzip", false, "gzip the body")
		token      = flag.String("token", "", "bearer token to send")
		clientKind = flag.String("client", "raw", `"raw": HTTP/1.1 written and read on keep-alive connections by hand, as wrk does (cheap on the CPU the server shares); "net/http": Go's client`)
		configOnly = flag.Bool("config-only", false, "print the server configuration -server would use, and exit")
		mode       = flag.String("mode", "throughput", `"throughput"; "trickle": -conns connections announce -announce bytes and send one byte each -interval; "attack": auto-declared events (-events × -series × -labels of -value-len bytes)`)
		pid        = flag.Int("pid", 0, "without -server, the server's process id, to read its RSS")
	)
	var a attackFlags
	flag.IntVar(&a.conns, "conns", 300, "trickle: connections")
	flag.Int64Var(&a.announce, "announce", 1<<20, "trickle: the Content-Length each connection announces, in bytes")
	flag.DurationVar(&a.interval, "interval", time.Second, "trickle: time between two bytes of a connection")
	flag.IntVar(&a.events, "events", 2000, "attack: distinct unknown events")
	flag.IntVar(&a.series, "series", 2000, "attack: distinct label sets of each event")
	flag.IntVar(&a.labels, "labels", 64, "attack: labels of each event")
	flag.IntVar(&a.valueLen, "value-len", 1024, "attack: bytes of each label value")
	flag.Int64Var(&a.maxBody, "max-body", 1<<20, "attack: the server's ingest.max-body, which each request fits in")
	flag.Parse()
	a.workers, a.duration = *workers, *duration
	if *configOnly {
		fmt.Print(serverConfig("127.0.0.1:9464", *mode))
		return
	}
	if (*url == "") == (*server == "") {
		fail(errors.New("give exactly one of -url and -server"))
	}
	if *server != "" {
		s, err := startServer(*server, *mode)
		if err != nil {
			fail(err)
		}
		srv = s
		defer srv.stop()
		// Stop the server on ^C too, and go on when stdout is a closed pipe (| head), so
		// that the deferred stop runs.
		signal.Ignore(syscall.SIGPIPE)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-sigs
			fail(errors.New("interrupted"))
		}()
		*url = "http://" + srv.addr + "/api/v1/events"
	}
	switch *mode {
	case "throughput":
	case "trickle", "attack":
		a.url, a.pid = *url, *pid
		if srv != nil {
			a.pid = srv.cmd.Process.Pid
		}
		if *mode == "trickle" {
			runTrickle(a)
		} else {
			runAttack(a)
		}
		return
	default:
		fail(fmt.Errorf("-mode %q: want throughput, trickle or attack", *mode))
	}

	body, ctype := makeBody(*batch, *distinct, *ndjson)
	rawLen := len(body)
	if *gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = b.Bytes()
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        *workers,
		MaxIdleConnsPerHost: *workers,
		MaxConnsPerHost:     *workers,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}}
	newPoster := func() func() (int, string) {
		return func() (int, string) { return post(client, *url, body, ctype, *gz, *token) }
	}
	switch *clientKind {
	case "net/http":
	case "raw":
		newPoster = func() func() (int, string) { return rawPoster(*url, body, ctype, *gz, *token) }
	default:
		fail(fmt.Errorf("-client %q: want raw or net/http", *clientKind))
	}

	// One request first: a wrong setup fails fast with the server's answer.
	if code, msg := newPoster()(); code != http.StatusAccepted {
		fail(fmt.Errorf("first request: status %d: %s", code, msg))
	}

	var (
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		latencies []time.Duration
		ok, bad   atomic.Int64
		lastBad   atomic.Value
	)
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			post := newPoster()
			for !stop.Load() {
				start := time.Now()
				code, msg := post()
				if !measuring.Load() {
					continue
				}
				lat = append(lat, time.Since(start))
				if code == http.StatusAccepted {
					ok.Add(1)
				} else {
					bad.Add(1)
					lastBad.Store(fmt.Sprintf("%d %s", code, msg))
				}
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			mu.Unlock()
		}()
	}
	time.Sleep(*warmup)
	cpu0, srvCPU0 := selfCPU(), srv.cpu()
	measuring.Store(true)
	start := time.Now()
	time.Sleep(*duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, srvCPU1 := selfCPU(), srv.cpu()
	stop.Store(true)
	wg.Wait()

	reqs := float64(ok.Load()) / elapsed.Seconds()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Printf("batch=%d workers=%d body=%dB", *batch, *workers, rawLen)
	if *gz {
		fmt.Printf(" (gzip %dB)", len(body))
	}
	if *ndjson {
		fmt.Print(" ndjson")
	}
	fmt.Printf(" client=%s duration=%v\n", *clientKind, elapsed.Round(time.Millisecond))
	fmt.Printf("  events/s   %12.0f\n", reqs*float64(*batch))
	fmt.Printf("  requests/s %12.0f\n", reqs)
	fmt.Printf("  latency    p50 %v  p99 %v\n", pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
	fmt.Printf("  CPU        loadgen %.2f cores", (cpu1-cpu0).Seconds()/elapsed.Seconds())
	if srv != nil {
		fmt.Printf(", server %.2f cores", (srvCPU1-srvCPU0).Seconds()/elapsed.Seconds())
	}
	fmt.Println()
	if n := bad.Load(); n > 0 {
		fail(fmt.Errorf("NOT ACCEPTED %d requests, last: %v", n, lastBad.Load()))
	}
	if srv != nil {
		// The server counted every event: its scrape says so.
		if total, err := srv.scrapeTotal(); err != nil {
			fail(err)
		} else {
			fmt.Printf("  server counted %.0f events in all (warm-up included)\n", total)
		}
	}
}

// makeBody returns a batch of n events of eventName over `distinct` label values.
func makeBody(n, distinct int, ndjson bool) ([]byte, string) {
	var b bytes.Buffer
	if !ndjson {
		b.WriteByte('[')
	}
	for i := 0; i < n; i++ {
		if i > 0 && !ndjson {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event":%q,"labels":{"host":"host-%d","status":"ok"},"value":1}`, eventName, i%distinct)
		if ndjson {
			b.WriteByte('\n')
		}
	}
	if ndjson {
		return b.Bytes(), "application/x-ndjson"
	}
	b.WriteByte(']')
	return b.Bytes(), "application/json"
}

func post(c *http.Client, url string, body []byte, ctype string, gz bool, token string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		fail(err)
	}
	req.Header.Set("Content-Type", ctype)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, ""
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
	return resp.StatusCode, strings.TrimSpace(string(msg))
}

// rawPoster returns a function that posts body on its own keep-alive connection, the request
// written once in advance and the answer read by hand: about a tenth of the CPU of net/http's
// client, so that the server gets the machine's cores.
func rawPoster(rawURL string, body []byte, ctype string, gz bool, token string) func() (int, string) {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		fail(err)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, ctype, len(body))
	if gz {
		req.WriteString("Content-Encoding: gzip\r\n")
	}
	if token != "" {
		fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", token)
	}
	req.WriteString("\r\n")
	req.Write(body)
	request := req.Bytes()
	var (
		conn net.Conn
		rd   *bufio.Reader
	)
	return func() (int, string) {
		if conn == nil {
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				return 0, err.Error()
			}
			conn, rd = c, bufio.NewReaderSize(c, 16<<10)
		}
		code, msg, err := rawExchange(conn, rd, request)
		if err != nil {
			_ = conn.Close()
			conn = nil
			return 0, err.Error()
		}
		return code, msg
	}
}

// rawExchange writes one request and reads its answer: status line, headers, and a body of
// Content-Length bytes (the ingestion API always sends one).
func rawExchange(conn net.Conn, rd *bufio.Reader, request []byte) (int, string, error) {
	if _, err := conn.Write(request); err != nil {
		return 0, "", err
	}
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return 0, "", err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, "", fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, "", fmt.Errorf("bad status line %q", line)
	}
	length, closing := -1, false
	for {
		h, err := rd.ReadSlice('\n')
		if err != nil {
			return 0, "", err
		}
		if len(h) <= 2 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, "", fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return 0, "", errors.New("answer without Content-Length")
	}
	var msg string
	if code == http.StatusAccepted {
		if _, err := rd.Discard(length); err != nil {
			return 0, "", err
		}
	} else {
		b := make([]byte, length)
		if _, err := io.ReadFull(rd, b); err != nil {
			return 0, "", err
		}
		msg = strings.TrimSpace(string(b))
	}
	if closing {
		return code, msg, errors.New("server closed the connection")
	}
	return code, msg, nil
}

// serverConfig is the configuration -server runs the server with: for the throughput, the
// benchmark's event and a larger body; for the attacks, the defaults (and unknown events
// declared as counters for "attack"), which are what they measure.
func serverConfig(listen, mode string) string {
	ingest := "max-body = \"8MiB\"\n"
	switch mode {
	case "trickle":
		ingest = "# every limit at its default\n"
	case "attack":
		ingest = "unknown-events = \"counter\"\n# every limit at its default\n"
	}
	return fmt.Sprintf(`[server]
listen = %q
log-level = "warn"

[[events]]
name = %q
kind = "counter"
description = "Events posted by the load generator."
labels = ["host", "status"]

[ingest]
enable = true
%s`, listen, eventName, ingest)
}

type serverProc struct {
	cmd      *exec.Cmd
	addr     string
	dir      string
	stopping atomic.Bool
}

func startServer(bin, mode string) (*serverProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "duometer.toml")
	if err := os.WriteFile(path, []byte(serverConfig(addr, mode)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Should the load generator die all the same (SIGKILL), the server goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "DUOMETER_") })
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serverProc{cmd: cmd, addr: addr, dir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server not ready after 10s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *serverProc) stop() {
	if !s.stopping.CompareAndSwap(false, true) {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(s.dir)
}

// cpu returns the user and system CPU time the server has used, from /proc.
func (s *serverProc) cpu() time.Duration {
	if s == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): utime is the 14th field of
	// the line, stime the 15th, in clock ticks (100 per second on Linux).
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

func (s *serverProc) scrapeTotal() (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/metrics/prometheus", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	prefix := strings.ReplaceAll(eventName, ".", "_") + "_total{"
	total := 0.0
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, fmt.Errorf("scrape line %q: %w", line, err)
			}
			total += v
		}
	}
	return total, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	if srv != nil {
		srv.stop()
	}
	os.Exit(1)
}
