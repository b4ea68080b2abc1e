package ingest

// Tests of what no client may do: write duometer's own metrics, hold memory with bodies
// that never arrive, multiply the limits through auto-declared events, or poison a counter.
// The same cases against the real binary are in e2e/limits_test.go.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
)

// limitsReached returns duometer.limits.reached{limit=key}.
func limitsReached(t *testing.T, cat *events.Catalog, key string) float64 {
	t.Helper()
	v, ok := cat.Self().LimitsReached.Value(key)
	if !ok {
		t.Fatalf("duometer.limits.reached{limit=%q} has no series", key)
	}
	return v
}

// Every limit's series exists, at 0, as soon as the handler does.
func TestLimitSeriesExistFromTheStart(t *testing.T) {
	cat := testCatalog(t)
	newTestHandler(t, Options{Catalog: cat})
	for _, key := range limitKeys {
		if v := limitsReached(t, cat, key); v != 0 {
			t.Errorf("duometer.limits.reached{limit=%q} = %v at start", key, v)
		}
	}
}

// No client writes duometer's own metrics, nor names under the prefixes of the runtime's:
// 400 for each such event, nothing of the request applied, whatever unknown-events says.
// Go code keeps full access.
func TestReservedNamesCannotBePosted(t *testing.T) {
	for _, mode := range []string{UnknownReject, UnknownCounter} {
		t.Run(mode, func(t *testing.T) {
			cat := testCatalog(t)
			h := newTestHandler(t, Options{Catalog: cat, UnknownEvents: mode})
			self := cat.Self()
			for _, body := range []string{
				`{"event":"duometer.config.loads","labels":{"result":"failure"}}`,
				`{"event":"duometer.cluster.peer-up","labels":{"peer":"http://10.0.0.9:9464"},"value":0}`,
				`{"event":"duometer.http.requests","labels":{"handler":"ingest","code":"500"},"value":1000}`,
				`{"event":"duometer.auth.failed"}`,
				`{"event":"duometer.config.last-reload-successful","value":0}`,
				`{"event":"duometer.not.defined"}`,
				`{"event":"go.memory.used","value":1}`,
				`{"event":"process.cpu.time","value":1}`,
			} {
				a := do(h, call{body: []byte(body)})
				if a.code != http.StatusBadRequest {
					t.Errorf("%s: %d %s, want 400", body, a.code, a.body)
					continue
				}
				p := a.problems(t)
				if len(p) != 1 || !strings.Contains(p[0], "event name is reserved for duometer's own metrics") {
					t.Errorf("%s: problems %q, want one saying the name is reserved", body, p)
				}
			}
			// All or nothing: the valid event before it is not applied either.
			a := do(h, call{body: []byte(`[{"event":"backup.completed","labels":{"host":"a","kind":"b"}},{"event":"duometer.auth.success"}]`)})
			if a.code != http.StatusBadRequest || !strings.Contains(a.body, `[1] event \"duometer.auth.success\": event name is reserved`) {
				t.Errorf("batch: %d %s", a.code, a.body)
			}

			for name, labels := range map[string][]string{
				"duometer.config.loads":    {"failure"},
				"duometer.cluster.peer-up": {"http://10.0.0.9:9464"},
				"duometer.http.requests":   {"ingest", "500"},
				"backup.completed":         {"a", "b"},
			} {
				if v, ok := cat.Lookup(name).Value(labels...); ok {
					t.Errorf("%s%q = %v: a refused request created the series", name, labels, v)
				}
			}
			if v := self.AuthFailed.Value(); v != 0 {
				t.Errorf("duometer.auth.failed = %v", v)
			}
			if v := self.ConfigLastReloadSuccessful.Value(); v != 0 {
				t.Errorf("duometer.config.last-reload-successful = %v", v)
			}
			if cat.Lookup("duometer.not.defined") != nil {
				t.Error("a reserved name was declared")
			}
			if v := self.IngestRequests.With("400").Value(); v != 9 {
				t.Errorf("duometer.ingest.requests{400} = %v, want 9", v)
			}

			// Go code that embeds the packages keeps full access.
			self.ConfigLoads.Inc("failure")
			if v, _ := self.ConfigLoads.Value("failure"); v != 1 {
				t.Errorf("duometer.config.loads{failure} = %v after Inc from Go", v)
			}
		})
	}
}

// stallingBody returns its first part, then blocks until release is closed (or returns
// err at once, if set), then returns its rest and io.EOF.
type stallingBody struct {
	first, rest []byte
	release     chan struct{}
	read        chan struct{} // closed at the first Read
	once        sync.Once
}

func newStallingBody(first, rest string) *stallingBody {
	return &stallingBody{first: []byte(first), rest: []byte(rest), release: make(chan struct{}), read: make(chan struct{})}
}

func (b *stallingBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.read) })
	if len(b.first) > 0 {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	<-b.release
	if len(b.rest) > 0 {
		n := copy(p, b.rest)
		b.rest = b.rest[n:]
		return n, nil
	}
	return 0, io.EOF
}

func (b *stallingBody) Close() error { return nil }

// serveAsync serves a request whose body is b, announced as length bytes, in a goroutine.
func serveAsync(h http.Handler, b io.ReadCloser, length int64) <-chan answer {
	req := httptest.NewRequest(http.MethodPost, Path, b)
	req.ContentLength = length
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/json")
	done := make(chan answer, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		done <- answer{code: rec.Code, header: rec.Header(), body: rec.Body.String()}
	}()
	return done
}

// neverRead fails the test if the handler reads the body.
type neverRead struct{ t *testing.T }

func (r neverRead) Read([]byte) (int, error) {
	r.t.Error("the body of a request refused for max-in-flight was read")
	return 0, io.EOF
}

// Past max-in-flight a request is answered 429 with Retry-After at once, its body unread;
// the slots free as the requests end.
func TestMaxInFlight(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat, MaxInFlight: 2})
	event := `{"event":"queue.depth","value":7}`
	var bodies []*stallingBody
	var answers []<-chan answer
	for range 2 {
		b := newStallingBody(event[:10], event[10:])
		bodies = append(bodies, b)
		answers = append(answers, serveAsync(h, b, int64(len(event))))
		<-b.read
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.inFlight.Load() == 2 })

	for i := range 3 {
		req := httptest.NewRequest(http.MethodPost, Path, neverRead{t})
		req.ContentLength = 1 << 20
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "too many requests in flight: ingest.max-in-flight (2) are being served; retry later") {
			t.Fatalf("request %d past the limit: %d %s", i, rec.Code, rec.Body.String())
		}
		if got := rec.Header().Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After %q, want 1", got)
		}
		if got := rec.Header().Get("Connection"); got != "close" {
			t.Errorf("Connection %q, want close: the server would read the unread body", got)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("429 after %v, want at once", d)
		}
	}
	if v := limitsReached(t, cat, LimitMaxInFlight); v != 3 {
		t.Errorf("limits.reached{ingest.max-in-flight} = %v, want 3", v)
	}
	if v := cat.Self().IngestRequests.With("429").Value(); v != 3 {
		t.Errorf("ingest.requests{429} = %v, want 3", v)
	}

	for i, b := range bodies {
		close(b.release)
		if a := <-answers[i]; a.code != http.StatusAccepted {
			t.Errorf("slow request %d: %d %s", i, a.code, a.body)
		}
	}
	if n := h.inFlight.Load(); n != 0 {
		t.Errorf("%d requests in flight after all ended", n)
	}
	for range 3 { // the slots are free again
		if a := do(h, call{body: []byte(event)}); a.code != http.StatusAccepted {
			t.Errorf("after the slow requests: %d %s", a.code, a.body)
		}
	}
	// Refusals that do not read the body hold no slot.
	for _, c := range []call{{method: http.MethodGet}, {ctype: "text/plain"}, {remote: "192.0.2.1:1"}} {
		do(h, c)
	}
	if n := h.inFlight.Load(); n != 0 {
		t.Errorf("%d requests in flight after refusals", n)
	}
}

// Bodies that announce a megabyte and send a few bytes hold a few bytes, not the megabyte.
func TestBodyBufferGrowsWithWhatArrives(t *testing.T) {
	h := newTestHandler(t, Options{MaxInFlight: 100})
	const n = 50
	head, tail := `[{"event":"queue.depth","value":1}`, `]`
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var bodies []*stallingBody
	var answers []<-chan answer
	for range n {
		b := newStallingBody(head, tail)
		bodies = append(bodies, b)
		answers = append(answers, serveAsync(h, b, DefaultMaxBody)) // announces 1 MiB
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return h.inFlight.Load() == n })
	for _, b := range bodies {
		<-b.read
	}
	runtime.ReadMemStats(&during)
	allocated := during.TotalAlloc - before.TotalAlloc
	t.Logf("%d requests announcing 1 MiB each, %d bytes sent each: %d KiB allocated", n, len(head), allocated>>10)
	if allocated > 8<<20 { // pre-growing from Content-Length took 50 MiB
		t.Errorf("%d requests announcing 1 MiB and sending %d bytes allocated %d MiB", n, len(head), allocated>>20)
	}
	for i, b := range bodies {
		close(b.release)
		if a := <-answers[i]; a.code != http.StatusAccepted {
			t.Errorf("request %d: %d %s", i, a.code, a.body)
		}
	}
}

// The buffer of a body whose length is announced stops at that length (and the byte that
// finds EOF); a chunked body's buffer doubles.
func TestBodyBufferSize(t *testing.T) {
	h := newTestHandler(t, Options{})
	body := "[" + strings.Repeat(" ", 100_000) + `{"event":"queue.depth","value":1}]`
	for _, chunked := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
		if chunked {
			req.ContentLength = -1
		}
		r := h.getRequest()
		if code, msg := h.readBody(httptest.NewRecorder(), req, r, false); code != 0 || string(r.body) != body {
			t.Fatalf("chunked %v: readBody = %d %s, %d bytes read", chunked, code, msg, len(r.body))
		}
		switch c := cap(r.body); {
		case !chunked && c > len(body)+len(body)/8: // the size class of the allocation aside
			t.Errorf("buffer of %d bytes for a body of %d announced", c, len(body))
		case chunked && c > 2*len(body):
			t.Errorf("buffer of %d bytes for a chunked body of %d", c, len(body))
		}
		h.putRequest(r)
	}
}

// rawPost writes a request's headers and the first part of its body on a new connection.
func rawPost(t *testing.T, addr string, header, first string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "POST "+Path+" HTTP/1.1\r\nHost: duometer\r\nContent-Type: application/json\r\n"+header+"\r\n"+first); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// A body that does not arrive within ingest.read-timeout is answered 408, whatever the
// server's own read timeout, and the connection is closed.
func TestReadTimeout(t *testing.T) {
	cat := testCatalog(t)
	const timeout = 300 * time.Millisecond
	h := newTestHandler(t, Options{Catalog: cat, ReadTimeout: timeout})
	srv := httptest.NewServer(h) // without a read timeout of its own
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	event := `{"event":"queue.depth","value":1}`
	gz := testutil.Gzip(t, event)

	for _, c := range []struct{ name, header, first string }{
		{"announced length", fmt.Sprintf("Content-Length: %d\r\n", 1<<20), `[{"event":`},
		{"chunked", "Transfer-Encoding: chunked\r\n", "a\r\n[{\"event\":\r\n"},
		{"gzip", fmt.Sprintf("Content-Encoding: gzip\r\nContent-Length: %d\r\n", len(gz)), string(gz[:12])},
		{"headers only", "Content-Length: 10\r\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			conn, rd := rawPost(t, addr, c.header, c.first)
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(rd, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "the body did not arrive within ingest.read-timeout (300ms)") {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if took < timeout || took > timeout+2*time.Second {
				t.Errorf("answered after %v, want just after %v", took, timeout)
			}
			if !resp.Close {
				t.Error("the connection stays open after a 408")
			}
			if _, err := rd.ReadByte(); err == nil {
				t.Error("the server sent more after the 408")
			}
		})
	}
	if v := limitsReached(t, cat, LimitReadTimeout); v != 4 {
		t.Errorf("limits.reached{ingest.read-timeout} = %v, want 4", v)
	}
	if v := cat.Self().IngestRequests.With("408").Value(); v != 4 {
		t.Errorf("ingest.requests{408} = %v, want 4", v)
	}
	if n := h.inFlight.Load(); n != 0 {
		t.Errorf("%d requests in flight after the timeouts", n)
	}

	// A slow body that is complete in time is accepted, and the connection is reused.
	conn, rd := rawPost(t, addr, fmt.Sprintf("Content-Length: %d\r\n", len(event)), event[:5])
	for _, part := range []string{event[5:15], event[15:]} {
		time.Sleep(timeout / 5)
		if _, err := io.WriteString(conn, part); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("slow but in time, request %d: %d %s", i, resp.StatusCode, b)
		}
		if i == 0 { // the next request on the same connection gets a fresh deadline
			time.Sleep(timeout + 100*time.Millisecond)
			if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: duometer\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", Path, len(event), event); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The read deadline holds over HTTP/2 too, where it is the stream's.
func TestReadTimeoutHTTP2(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat, ReadTimeout: 300 * time.Millisecond, Tokens: []string{"t0ken"}})
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Timeout = 10 * time.Second
	client.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS12

	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = io.WriteString(pw, `[{"event":`) }()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+Path, pr)
	req.Header = testutil.IngestHeader("", "", "Bearer t0ken")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("%s %d %s, want HTTP/2 408", resp.Proto, resp.StatusCode, b)
	}
	if v := limitsReached(t, cat, LimitReadTimeout); v != 1 {
		t.Errorf("limits.reached{ingest.read-timeout} = %v, want 1", v)
	}
	// The connection goes on serving other streams.
	req, _ = http.NewRequest(http.MethodPost, srv.URL+Path, strings.NewReader(`{"event":"queue.depth","value":1}`))
	req.Header = testutil.IngestHeader("", "", "Bearer t0ken")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("next request: %d", resp.StatusCode)
	}
}

// The limits of max-body and max-events are counted once per request they refuse.
func TestBodyLimitsAreCounted(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat, MaxBody: 1000, MaxEvents: 5})
	big := "[" + strings.Repeat(" ", 1000) + "]"
	for _, c := range []call{
		{body: []byte(big)},                             // Content-Length over the limit
		{chunked: true, body: []byte(big)},              // found while reading
		{encoding: "gzip", body: testutil.Gzip(t, big)}, // after decompression
	} {
		if a := do(h, c); a.code != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, "ingest.max-body (1000 bytes)") {
			t.Errorf("%d %s", a.code, a.body)
		}
	}
	if a := do(h, call{body: []byte("[" + strings.Repeat(`{},`, 6) + "{}]")}); a.code != http.StatusRequestEntityTooLarge ||
		!strings.Contains(a.body, "more than ingest.max-events (5) events in one request") {
		t.Errorf("%d %s", a.code, a.body)
	}
	if v := limitsReached(t, cat, LimitMaxBody); v != 3 {
		t.Errorf("limits.reached{ingest.max-body} = %v, want 3", v)
	}
	if v := limitsReached(t, cat, LimitMaxEvents); v != 1 {
		t.Errorf("limits.reached{ingest.max-events} = %v, want 1", v)
	}
}

// Auto-declared events: few, with few labels, and short label values; every refusal names
// its key and is counted, once per request.
func TestAutoDeclareLimits(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat, UnknownEvents: UnknownCounter, AutoTTL: 24 * time.Hour})
	labels := func(n, length int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":%q`, i, strings.Repeat("v", length))
		}
		return "{" + b.String() + "}"
	}
	post := func(body string, code int, msg string) {
		t.Helper()
		a := do(h, call{body: []byte(body)})
		if a.code != code || !strings.Contains(a.body, msg) {
			t.Errorf("got %d %.300s\nwant %d with %s", a.code, a.body, code, msg)
		}
	}

	post(`{"event":"auto.labels","labels":`+labels(9, 1)+`}`, 400, `unknown event not declared: 9 labels, more than ingest.max-auto-labels (8)`)
	post(`{"event":"auto.labels","labels":`+labels(8, 1)+`}`, 202, `"applied":1`)
	if d := cat.Lookup("auto.labels").Def(); d.TTL != 24*time.Hour || !IsAutoDeclared(d) {
		t.Errorf("declared as %+v, want TTL 24h", d)
	}
	// A snapshot's auto-declared event whose name is reserved now is not declared again.
	if d := (events.Def{Name: "duometer-old.attack", Kind: events.Counter, Description: AutoDescription}); IsAutoDeclared(d) {
		t.Errorf("IsAutoDeclared(%q) = true, want false: the name is reserved", d.Name)
	}
	// Label values: at most 256 bytes, for every event; three events too long, one count.
	post(`[{"event":"auto.labels","labels":`+labels(8, 257)+`},{"event":"backup.completed","labels":{"host":"`+strings.Repeat("h", 300)+`","kind":"x"}}]`,
		400, `label \"k0\": value of 257 bytes, longer than ingest.max-label-value-length (256)`)
	post(`{"event":"auto.labels","labels":`+labels(8, 256)+`}`, 202, `"applied":1`)

	// Events: 100 in all; auto.labels is one.
	var b strings.Builder
	b.WriteByte('[')
	for i := range 99 {
		fmt.Fprintf(&b, `{"event":"auto.e%d"},`, i)
	}
	b.WriteString(`{"event":"auto.labels","labels":` + labels(8, 1) + `}]`)
	post(b.String(), 202, `"applied":100`)
	post(`[{"event":"auto.one-more"},{"event":"auto.two-more"}]`, 400,
		`unknown event not declared: the ingest.max-auto-events (100) events that ingest.unknown-events may declare are declared`)
	if cat.Lookup("auto.one-more") != nil {
		t.Error("declared past max-auto-events")
	}
	// The events declared before a reload count in the limit of the next handler.
	h2 := newTestHandler(t, Options{Catalog: cat, UnknownEvents: UnknownCounter})
	if a := do(h2, call{body: []byte(`{"event":"auto.after-reload"}`)}); a.code != http.StatusBadRequest || !strings.Contains(a.body, "ingest.max-auto-events (100)") {
		t.Errorf("a new handler over the same catalog: %d %s", a.code, a.body)
	}
	if a := do(h2, call{body: []byte(`{"event":"auto.e5"}`)}); a.code != http.StatusAccepted {
		t.Errorf("a declared event through the new handler: %d %s", a.code, a.body)
	}

	// The shape, 64 labels of 1 KiB on a new event past the limit: every limit it
	// passes is named and counted.
	a := do(h, call{body: []byte(`{"event":"auto.shape","labels":` + labels(64, 1024) + `}`)})
	if p := a.problems(t); a.code != http.StatusBadRequest || len(p) != 66 ||
		!strings.Contains(p[0], "ingest.max-label-value-length") || !strings.Contains(p[64], "ingest.max-auto-labels (8)") ||
		!strings.Contains(p[65], "ingest.max-auto-events (100)") {
		t.Errorf("64 labels of 1 KiB: %d %.500s", a.code, a.body)
	}

	for key, want := range map[string]float64{
		LimitMaxAutoLabels:       2,
		LimitMaxLabelValueLength: 2,
		LimitMaxAutoEvents:       3,
		LimitMaxInFlight:         0,
	} {
		if v := limitsReached(t, cat, key); v != want {
			t.Errorf("limits.reached{%s} = %v, want %v", key, v, want)
		}
	}
}

// The smallest increment that can make a finite float64 infinite is 2^970: below it the
// handler skips the check.
func TestMayOverflowBound(t *testing.T) {
	below := math.Nextafter(mayOverflow, 0)
	for _, x := range []float64{math.MaxFloat64, -math.MaxFloat64, math.Nextafter(math.MaxFloat64, 0)} {
		v := math.Copysign(below, x)
		if math.IsInf(x+v, 0) {
			t.Errorf("%v + %v is infinite", x, v)
		}
	}
	maxf, bound := math.MaxFloat64, mayOverflow // variables: constant arithmetic is exact
	if !math.IsInf(maxf+bound, 1) || !math.IsInf(-maxf-bound, -1) {
		t.Error("MaxFloat64 + 2^970 is finite: the bound is too low")
	}
}

// A counter never overflows: 3 × 4e18 is 1.2e19, and an increment that would make a sum
// infinite is refused with 400, nothing applied.
func TestCounterStaysFinite(t *testing.T) {
	cat := testCatalog(t)
	testutil.Define(t, cat,
		events.Def{Name: "big.count", Kind: events.Counter},
		events.Def{Name: "big.level", Kind: events.UpDownCounter, Labels: []string{"k"}},
		events.Def{Name: "big.size", Kind: events.Histogram, Buckets: []float64{1}})
	h := newTestHandler(t, Options{Catalog: cat, UnknownEvents: UnknownCounter})
	post := func(body string, code int, msg string) {
		t.Helper()
		a := do(h, call{body: []byte(body)})
		if a.code != code || !strings.Contains(a.body, msg) {
			t.Errorf("%s: got %d %s, want %d with %s", body, a.code, a.body, code, msg)
		}
	}
	val := func(name string, labels ...string) float64 {
		t.Helper()
		v, _ := cat.Lookup(name).Value(labels...)
		return v
	}

	for range 3 {
		post(`{"event":"big.count","value":4e18}`, 202, `"applied":1`)
	}
	if v := val("big.count"); v != 1.2e19 {
		t.Errorf("big.count = %v after 3 × 4e18, want 1.2e19", v)
	}
	post(`{"event":"big.count","value":1.7e308}`, 202, `"applied":1`)
	post(`{"event":"big.count","value":1.7e308}`, 400, `[0] event \"big.count\": value 1.7e+308 would make the counter's value infinite`)
	if v := val("big.count"); v != 1.7e308+1.2e19 || math.IsInf(v, 0) {
		t.Errorf("big.count = %v after a refused overflow", v)
	}
	// Within one request: the second is refused, and so is the request.
	post(`[{"event":"big.level","labels":{"k":"a"},"value":1.7e308},{"event":"queue.depth","value":1},{"event":"big.level","labels":{"k":"a"},"value":1.7e308}]`,
		400, `"1 of 3 events invalid; none applied","problems":["[2] event \"big.level\": value 1.7e+308 would make the up-down counter's value infinite"]`)
	if _, ok := cat.Lookup("big.level").Value("a"); ok {
		t.Error("the refused request created big.level{a}")
	}
	// Up and down again is fine; twice down is not.
	post(`[{"event":"big.level","labels":{"k":"a"},"value":1.7e308},{"event":"big.level","labels":{"k":"a"},"value":-1.7e308},{"event":"big.level","labels":{"k":"a"},"value":1.7e308},{"event":"big.level","labels":{"k":"b"},"value":1.7e308}]`,
		202, `"applied":4`)
	post(`[{"event":"big.level","labels":{"k":"a"}},{"event":"big.level","labels":{"k":"a"},"value":-1.7e308},{"event":"big.level","labels":{"k":"a"},"value":-1.7e308},{"event":"big.level","labels":{"k":"a"},"value":-1.7e308}]`,
		400, `[3] event \"big.level\": value -1.7e+308 would make the up-down counter's value infinite`)
	if v := val("big.level", "a"); v != 1.7e308 {
		t.Errorf("big.level{a} = %v, want 1.7e308", v)
	}
	// Large values that cannot overflow are not refused: MaxFloat64 plus anything below
	// 2^970 rounds to MaxFloat64.
	post(`[{"event":"big.level","labels":{"k":"c"},"value":1.7976931348623157e308},{"event":"big.level","labels":{"k":"c"},"value":9.9e291}]`, 202, `"applied":2`)
	// Events declared on first use are checked from 0, and not declared when refused.
	post(`[{"event":"auto.big","value":1e308},{"event":"auto.big","value":1e308}]`, 400, `[1] event \"auto.big\": value 1e+308 would make the counter's value infinite`)
	if cat.Lookup("auto.big") != nil {
		t.Error("auto.big declared by a refused request")
	}
	// A histogram's sum the same: an observation that would make it infinite is refused
	// (before, it was answered 202 and dropped), in one request or across two.
	post(`{"event":"big.size","value":-1.7e308}`, 202, `"applied":1`)
	post(`{"event":"big.size","value":-1.7e308}`, 400, `[0] event \"big.size\": value -1.7e+308 would make the histogram's sum infinite`)
	post(`[{"event":"big.size","value":1.7e308},{"event":"big.size","value":-1.7e308},{"event":"big.size","value":-1.7e308}]`,
		400, `[2] event \"big.size\": value -1.7e+308 would make the histogram's sum infinite`)
	counts := make([]uint64, 2)
	if n, sum := cat.Lookup("big.size").With().HistogramInto(counts); n != 1 || sum != -1.7e308 {
		t.Errorf("big.size count %d, sum %v after refused observations, want 1 and -1.7e308", n, sum)
	}
	if v := limitsReached(t, cat, LimitFiniteValues); v != 6 {
		t.Errorf("limits.reached{finite-values} = %v, want 6", v)
	}
}

// A request of events seen before still allocates little, with the limits in place; the
// read deadline a real server's writer takes included.
func TestHandlerAllocsOverHTTP(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	h := newTestHandler(t, Options{})
	body := []byte(batchBody(100, 10))
	rd := bytes.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, Path, rd)
	req.RemoteAddr = "127.0.0.1:1"
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	serve := func() {
		rd.Reset(body)
		req.Body = nopCloser{rd}
		h.ServeHTTP(w, req)
	}
	serve()
	if w.code != http.StatusAccepted || w.deadlines != 1 {
		t.Fatal(w.code, w.deadlines)
	}
	if n := testing.AllocsPerRun(20, serve); n > 10 {
		t.Errorf("%v allocations for a request of 100 events, want at most 10", n)
	}
}
