package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
)

const pollInterval = 100 * time.Millisecond

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			t.Fatalf("free port: close: %v", err)
		}
		// The kernel may give a closed port out again at once: a port handed out before in
		// this run (to a server of this test, or of a parallel one) is never handed out again.
		if _, taken := portsHandedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

// portsHandedOut holds every port freePort has returned.
var portsHandedOut sync.Map

func localAddr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// waitUntil polls cond every pollInterval until it reports true or the timeout passes, then
// fails the test with what and the last status cond returned.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testutil.WaitUntil(t, timeout, pollInterval, what, cond)
}

// process is a child process whose output is captured and which is killed
// (with its whole process group) at test cleanup.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer // stdout and stderr, interleaved
	done chan struct{}
	err  error // from cmd.Wait, valid after done is closed
}

// startProcess starts bin with args, output captured, in its own process
// group. Cleanup kills the group if it is still running and, if the test
// failed, logs the captured output.
func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env // nil: inherit
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.WaitDelay = 2 * time.Second
	// Registered before the kill so it runs after it (cleanups are LIFO)
	// and shows the complete output.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s output ----\n%s---- end of %s output ----", name, p.out.String(), name)
		}
	})
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}

// kill SIGKILLs the process group unless the process has already exited,
// and waits for it.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *process) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits until GET url, sent with c, answers 200, and fails the test at once if
// the process exits first.
func (p *process) waitReady(t *testing.T, timeout time.Duration, c *http.Client, url string) {
	t.Helper()
	waitUntil(t, timeout, p.name+" "+url, func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited during start-up: %v", p.name, p.err)
		}
		r, err := httpGetWith(c, url, nil, nil)
		if err != nil {
			return false, err.Error()
		}
		return r.status == http.StatusOK, fmt.Sprintf("status %d", r.status)
	})
}

// wait waits up to timeout for the process to exit and returns its exit
// code; ok is false if it did not exit in time.
func (p *process) wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return -1, false
	}
}

// serverConfig describes a duometer TOML configuration.
type serverConfig struct {
	Listen          string
	LogFormat       string // "" = not set
	ShutdownTimeout string // "" = not set
	DisabledEvents  []string
	Username        string // basic auth on the scrape endpoint when not ""
	Secret          string
	Transport       string // "" means "disable"
	Endpoint        string
	Interval        string
	Timeout         string
}

func (c serverConfig) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = %q\n", c.Listen)
	if c.LogFormat != "" {
		fmt.Fprintf(&b, "log-format = %q\n", c.LogFormat)
	}
	if c.ShutdownTimeout != "" {
		fmt.Fprintf(&b, "shutdown-timeout = %q\n", c.ShutdownTimeout)
	}
	b.WriteString("\n[metrics]\n")
	if c.DisabledEvents != nil {
		quoted := make([]string, len(c.DisabledEvents))
		for i, e := range c.DisabledEvents {
			quoted[i] = strconv.Quote(e)
		}
		fmt.Fprintf(&b, "disabled-events = [%s]\n", strings.Join(quoted, ", "))
	}
	b.WriteString("\n[metrics.prometheus]\nenable = true\n")
	if c.Username != "" {
		fmt.Fprintf(&b, "\n[metrics.prometheus.auth]\nusername = %q\nsecret = %q\n", c.Username, c.Secret)
	}
	transport := c.Transport
	if transport == "" {
		transport = "disable"
	}
	fmt.Fprintf(&b, "\n[metrics.open-telemetry]\ntransport = %q\n", transport)
	if c.Endpoint != "" {
		fmt.Fprintf(&b, "endpoint = %q\n", c.Endpoint)
	}
	if c.Interval != "" {
		fmt.Fprintf(&b, "interval = %q\n", c.Interval)
	}
	if c.Timeout != "" {
		fmt.Fprintf(&b, "timeout = %q\n", c.Timeout)
	}
	return b.String()
}

// writeFile writes content to a new file in a test temp dir.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// duometer is a running server.
type duometer struct {
	*process
	addr string // host:port
	base string // http://host:port
}

// startServer writes config to a file, starts the server with it and
// waits until GET /-/ready answers 200.
func startServer(t *testing.T, listen, config string) *duometer {
	t.Helper()
	return launchServer(t, listen, config, "http", httpClient)
}

// launchServer is startServer for a server that serves scheme (http or https) on listen,
// whose readiness c checks.
func launchServer(t *testing.T, listen, config, scheme string, c *http.Client) *duometer {
	t.Helper()
	requireServer(t)
	path := writeFile(t, "duometer.toml", config)
	t.Logf("duometer config %s:\n%s", path, config)
	return launchServerFile(t, listen, path, scheme, c)
}

// startServerFile starts the server with the configuration file at path (which the test may
// rewrite and have reloaded, or use again for a restart) and waits until GET /-/ready answers
// 200.
func startServerFile(t *testing.T, listen, path string) *duometer {
	t.Helper()
	requireServer(t)
	return launchServerFile(t, listen, path, "http", httpClient)
}

func launchServerFile(t *testing.T, listen, path, scheme string, c *http.Client) *duometer {
	t.Helper()
	s := &duometer{
		process: startProcess(t, "duometer", serverEnv(), serverBin, "-config", path),
		addr:    listen,
		base:    scheme + "://" + listen,
	}
	s.waitReady(t, 20*time.Second, c, s.base+"/-/ready")
	return s
}

// waitOutput waits until the process's output contains substr, and fails the test at once
// if the process exits first.
func (p *process) waitOutput(t *testing.T, timeout time.Duration, substr string) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("%q in the output of %s", substr, p.name), func() (bool, string) {
		if strings.Contains(p.out.String(), substr) {
			return true, ""
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before its output said %q", p.name, p.err, substr)
		}
		return false, "not yet"
	})
}

// stop sends SIGTERM and requires an exit with code 0 within timeout.
func (s *duometer) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := s.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	code, ok := s.wait(timeout)
	if !ok {
		t.Fatalf("duometer did not exit within %v of SIGTERM", timeout)
	}
	if code != 0 {
		t.Fatalf("duometer exited with code %d after SIGTERM, want 0 (%v)", code, s.err)
	}
}

// shutdown is stop with the usual 15 s, and then requires that none of secrets shows in the
// server's output.
func (s *duometer) shutdown(t *testing.T, secrets ...string) {
	t.Helper()
	s.stop(t, 15*time.Second)
	for _, secret := range secrets {
		assertNoSecret(t, "the output of the server on "+s.addr, s.out.String(), secret)
	}
}

// runServer runs the binary to completion (or kills it after timeout) and
// returns its exit code and separate stdout and stderr.
func runServer(t *testing.T, timeout time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	requireServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, serverBin, args...)
	cmd.Env = serverEnv()
	var out, errb testutil.SyncBuffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("duometer %s did not exit within %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), timeout, out.String(), errb.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run duometer: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// httpResult is a fully read HTTP response.
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpGet does a GET with the given request headers. Special keys:
// setting "Accept-Encoding" disables Go's transparent decompression, so
// the raw body is returned.
func httpGet(url string, header map[string]string) (*httpResult, error) {
	return httpGetAuth(url, nil, header)
}

type basicAuth struct{ user, pass string }

func httpGetAuth(url string, auth *basicAuth, header map[string]string) (*httpResult, error) {
	return httpGetWith(httpClient, url, auth, header)
}

// httpGetWith does a GET with c, with basic auth when auth is not nil and the given request
// headers, and reads the whole answer.
func httpGetWith(c *http.Client, url string, auth *basicAuth, header map[string]string) (*httpResult, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		req.SetBasicAuth(auth.user, auth.pass)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(c, req)
}

// do sends req with c and reads the whole answer.
func do(c *http.Client, req *http.Request) (*httpResult, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &httpResult{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// scrape fetches /metrics/prometheus in the classic text format and
// requires 200.
func (s *duometer) scrape(t *testing.T, auth *basicAuth) string {
	t.Helper()
	r, err := httpGetAuth(s.base+"/metrics/prometheus", auth, map[string]string{"Accept": "text/plain"})
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("scrape: status %d, want 200; body:\n%s", r.status, r.body)
	}
	return string(r.body)
}

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseExposition parses the sample lines of the Prometheus text format
// (enough for the metrics the exporter writes: no escaped quotes or commas
// inside label values beyond what strconv.Unquote handles).
func parseExposition(text string) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		var rest string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("bad line %q", line)
			}
			s.name = line[:i]
			if err := parseLabels(line[i+1:j], s.labels); err != nil {
				return nil, fmt.Errorf("bad labels in %q: %w", line, err)
			}
			rest = strings.TrimSpace(line[j+1:])
		} else {
			f := strings.Fields(line)
			s.name, rest = f[0], strings.Join(f[1:], " ")
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q: %w", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseLabels(s string, into map[string]string) error {
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return fmt.Errorf("no '=' in %q", s)
		}
		name := strings.TrimSpace(s[:eq])
		s = strings.TrimSpace(s[eq+1:])
		if !strings.HasPrefix(s, `"`) {
			return fmt.Errorf("unquoted value in %q", s)
		}
		// Find the closing quote, skipping escapes.
		end := -1
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '"' {
				end = i
				break
			}
		}
		if end < 0 {
			return fmt.Errorf("unterminated value in %q", s)
		}
		v, err := strconv.Unquote(s[:end+1])
		if err != nil {
			return err
		}
		into[name] = v
		s = strings.TrimPrefix(strings.TrimSpace(s[end+1:]), ",")
	}
	return nil
}

// sumSamples adds up the samples named name whose labels include want.
// found is false when no such sample exists.
func sumSamples(samples []sample, name string, want map[string]string) (sum float64, found bool) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			sum += s.value
			found = true
		}
	}
	return sum, found
}

// assertUnauthorized makes one request to the scrape endpoint with the
// given (wrong or missing) credentials and requires a 401 with the Basic
// challenge.
func assertUnauthorized(t *testing.T, s *duometer, auth *basicAuth) {
	t.Helper()
	r, err := httpGetAuth(s.base+"/metrics/prometheus", auth, nil)
	if err != nil {
		t.Fatalf("GET /metrics/prometheus with %+v: %v", auth, err)
	}
	if r.status != http.StatusUnauthorized {
		t.Fatalf("GET /metrics/prometheus with %+v: status %d, want 401", auth, r.status)
	}
	if got := r.header.Get("WWW-Authenticate"); !isBasicDuometerChallenge(got) {
		t.Fatalf("GET /metrics/prometheus with %+v: WWW-Authenticate %q, want Basic realm=\"duometer\"", auth, got)
	}
}

// isBasicDuometerChallenge reports whether a WWW-Authenticate value is
// `Basic realm="duometer"`, allowing further auth-params such as RFC 7617's
// charset="UTF-8".
func isBasicDuometerChallenge(v string) bool {
	scheme, params, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return false
	}
	for _, p := range strings.Split(params, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "realm") {
			return strings.TrimSpace(val) == `"duometer"`
		}
	}
	return false
}

// serverEnv is the environment for the server: ours without DUOMETER_* and
// OTEL_* variables, which would override the test's configuration.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DUOMETER_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
