package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
)

// testCatalog holds one event of each kind and a disabled one.
func testCatalog(t testing.TB) *events.Catalog {
	t.Helper()
	cat := testutil.Catalog(t,
		events.Def{Name: "backup.completed", Kind: events.Counter, Labels: []string{"host", "kind"}},
		events.Def{Name: "backup.duration", Kind: events.Histogram, Unit: "s", Labels: []string{"host"}},
		events.Def{Name: "queue.depth", Kind: events.Gauge},
		events.Def{Name: "queue.inflight", Kind: events.UpDownCounter, Labels: []string{"queue"}},
		events.Def{Name: "debug.noise", Kind: events.Counter, Labels: []string{"x"}},
	)
	if err := cat.SetDisabled([]string{"debug.*"}); err != nil {
		t.Fatal(err)
	}
	return cat
}

func newTestHandler(t testing.TB, opts Options) *Handler {
	t.Helper()
	if opts.Catalog == nil {
		opts.Catalog = testCatalog(t)
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call is one request to the handler.
type call struct {
	method   string // default POST
	ctype    string // default application/json; "-" for none
	encoding string
	auth     string
	remote   string // default 127.0.0.1:40000; "none" for an empty RemoteAddr
	body     []byte
	chunked  bool // no Content-Length
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func (a answer) problems(t *testing.T) []string {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal([]byte(a.body), &eb); err != nil {
		t.Fatalf("answer %d is not a JSON error body: %v\n%s", a.code, err, a.body)
	}
	return eb.Problems
}

func do(h http.Handler, c call) answer {
	if c.method == "" {
		c.method = http.MethodPost
	}
	req := httptest.NewRequest(c.method, Path, bytes.NewReader(c.body))
	if c.chunked {
		req.ContentLength = -1
	}
	req.RemoteAddr = "127.0.0.1:40000"
	switch c.remote {
	case "":
	case "none":
		req.RemoteAddr = ""
	default:
		req.RemoteAddr = c.remote
	}
	req.Header = testutil.IngestHeader(c.ctype, c.encoding, c.auth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{code: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

func value(t *testing.T, cat *events.Catalog, name string, labels ...string) float64 {
	t.Helper()
	s, err := cat.Lookup(name).Resolve(labels...)
	if err != nil {
		t.Fatal(err)
	}
	return s.Value()
}

func TestHandlerAccepts(t *testing.T) {
	cases := []struct {
		name string
		c    call
		want string
	}{
		{"object", call{body: []byte(`{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 1}`)}, `{"applied":1,"dropped":0}`},
		{"array", call{body: []byte(`[{"event":"backup.completed","labels":{"kind":"full","host":"db1"}},{"event":"queue.depth","value":7}]`)}, `{"applied":2,"dropped":0}`},
		{"ndjson", call{ctype: "application/x-ndjson", body: []byte("{\"event\":\"backup.completed\",\"labels\":{\"host\":\"db1\",\"kind\":\"full\"}}\n{\"event\":\"queue.inflight\",\"labels\":{\"queue\":\"q\"},\"value\":-2}\n")}, `{"applied":2,"dropped":0}`},
		{"gzip", call{encoding: "gzip", body: testutil.Gzip(t, `{"event":"backup.completed","labels":{"host":"db1","kind":"full"},"value":3}`)}, `{"applied":1,"dropped":0}`},
		{"charset", call{ctype: "application/json; charset=UTF-8", body: []byte(`{"event":"queue.depth","value":1}`)}, `{"applied":1,"dropped":0}`},
		{"chunked", call{chunked: true, body: []byte(`{"event":"queue.depth","value":1}`)}, `{"applied":1,"dropped":0}`},
		{"disabled", call{body: []byte(`[{"event":"debug.noise","labels":{"x":"1"}},{"event":"queue.depth","value":1}]`)}, `{"applied":1,"dropped":1}`},
		{"empty array", call{body: []byte(`[]`)}, `{"applied":0,"dropped":0}`},
		{"histogram", call{body: []byte(`{"event":"backup.duration","labels":{"host":"db1"},"value":0.3}`)}, `{"applied":1,"dropped":0}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHandler(t, Options{})
			a := do(h, c.c)
			if a.code != http.StatusAccepted || strings.TrimSpace(a.body) != c.want {
				t.Fatalf("got %d %s, want 202 %s", a.code, a.body, c.want)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestHandlerApplies(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat})
	body := `[
		{"event":"backup.completed","labels":{"host":"db1","kind":"full"}},
		{"event":"backup.completed","labels":{"host":"db1","kind":"full"},"value":2},
		{"event":"backup.completed","labels":{"kind":"incr","host":"db2"},"value":0.5},
		{"event":"queue.depth","value":7},
		{"event":"queue.depth","value":3},
		{"event":"queue.inflight","labels":{"queue":"q"},"value":5},
		{"event":"queue.inflight","labels":{"queue":"q"},"value":-2},
		{"event":"queue.inflight","labels":{"queue":"q"}},
		{"event":"backup.duration","labels":{"host":"db1"},"value":0.3},
		{"event":"backup.duration","labels":{"host":"db1"},"value":42}
	]`
	if a := do(h, call{body: []byte(body)}); a.code != http.StatusAccepted {
		t.Fatalf("%d %s", a.code, a.body)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"backup.completed", []string{"db1", "full"}, 3},
		{"backup.completed", []string{"db2", "incr"}, 0.5},
		{"queue.depth", nil, 3},
		{"queue.inflight", []string{"q"}, 4},
	} {
		if got := value(t, cat, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	s, _ := cat.Lookup("backup.duration").Resolve("db1")
	counts := make([]uint64, len(events.DefaultSecondsBuckets)+1)
	if n, sum := s.HistogramInto(counts); n != 2 || sum != 42.3 || counts[len(counts)-1] != 1 {
		t.Errorf("histogram count %d sum %v +Inf %d, want 2, 42.3, 1", n, sum, counts[len(counts)-1])
	}
	self := cat.Self()
	if v := self.IngestEvents.With("applied").Value(); v != 10 {
		t.Errorf("duometer.ingest.events{applied} = %v, want 10", v)
	}
	if v := self.IngestRequests.With("202").Value(); v != 1 {
		t.Errorf("duometer.ingest.requests{202} = %v, want 1", v)
	}
}

func TestHandlerRejects(t *testing.T) {
	long := strings.Repeat("x", DefaultMaxLabelValue+1)
	cases := []struct {
		name     string
		c        call
		code     int
		contains []string // in the body
		header   [2]string
	}{
		{"unknown event", call{body: []byte(`[{"event":"queue.depth","value":1},{"event":"queue.depth","value":1},{"event":"queue.depth","value":1},{"event":"backup.complete"}]`)},
			400, []string{`[3] event \"backup.complete\": unknown event`, `1 of 4 events invalid; none applied`}, [2]string{}},
		{"undeclared label", call{body: []byte(`{"event":"backup.completed","labels":{"host":"a","kind":"b","zone":"c"}}`)},
			400, []string{`[0] event \"backup.completed\": label \"zone\" not declared (labels: host, kind)`}, [2]string{}},
		{"label on an event without labels", call{body: []byte(`{"event":"queue.depth","labels":{"a":"b"},"value":1}`)},
			400, []string{`label \"a\" not declared (the event has no labels)`}, [2]string{}},
		{"missing label", call{body: []byte(`{"event":"backup.completed","labels":{"host":"a"}}`)},
			400, []string{`[0] event \"backup.completed\": missing label \"kind\"`}, [2]string{}},
		{"missing value of a gauge", call{body: []byte(`{"event":"queue.depth"}`)},
			400, []string{`missing \"value\" (required for gauge events)`}, [2]string{}},
		{"missing value of a histogram", call{body: []byte(`{"event":"backup.duration","labels":{"host":"a"}}`)},
			400, []string{`required for histogram events`}, [2]string{}},
		{"value NaN as a string", call{body: []byte(`{"event":"queue.depth","value":"NaN"}`)},
			400, []string{`\"value\" must be a number, not a string`}, [2]string{}},
		{"value Infinity as a string", call{body: []byte(`{"event":"queue.depth","value":"Infinity"}`)},
			400, []string{`must be a number`}, [2]string{}},
		{"value NaN bare", call{body: []byte(`{"event":"queue.depth","value":NaN}`)},
			400, []string{`invalid JSON: offset 31: unexpected character 'N': want a value`}, [2]string{}},
		{"value 1e400", call{body: []byte(`{"event":"queue.depth","value":1e400}`)},
			400, []string{`\"value\" 1e400 is out of range`}, [2]string{}},
		{"negative counter", call{body: []byte(`{"event":"backup.completed","labels":{"host":"a","kind":"b"},"value":-1}`)},
			400, []string{`negative value -1 for a counter`}, [2]string{}},
		{"missing event", call{body: []byte(`{"value":1}`)},
			400, []string{`[0] missing \"event\"`}, [2]string{}},
		{"not an object", call{body: []byte(`[1]`)},
			400, []string{`[0] not an event object`}, [2]string{}},
		{"unknown field", call{body: []byte(`{"event":"queue.depth","valeu":1}`)},
			400, []string{`unknown field \"valeu\"`}, [2]string{}},
		{"label value too long", call{body: []byte(`{"event":"backup.completed","labels":{"host":"` + long + `","kind":"b"}}`)},
			400, []string{`label \"host\": value of 257 bytes, longer than ingest.max-label-value-length (256)`}, [2]string{}},
		{"ndjson problem names the line", call{ctype: "application/x-ndjson", body: []byte("{\"event\":\"queue.depth\",\"value\":1}\n\n{\"event\":\"nope.nope\"}\n")},
			400, []string{`[1] line 3: event \"nope.nope\": unknown event`}, [2]string{}},
		{"malformed JSON", call{body: []byte(`{"event":"queue.depth",`)},
			400, []string{`invalid JSON: offset 23: unexpected end of input`}, [2]string{}},
		{"malformed NDJSON", call{ctype: "application/x-ndjson", body: []byte("{\"event\":\"queue.depth\",\"value\":1}\n{\"event\":}\n")},
			400, []string{`invalid JSON: line 2, column 10: unexpected character '}'`}, [2]string{}},
		{"empty body", call{body: nil},
			400, []string{`empty body`}, [2]string{}},
		{"wrong content type", call{ctype: "text/plain", body: []byte(`{}`)},
			415, []string{`unsupported Content-Type \"text/plain\"`}, [2]string{"Accept-Post", "application/json, application/x-ndjson"}},
		{"no content type", call{ctype: "-", body: []byte(`{}`)},
			415, []string{`unsupported Content-Type \"\"`}, [2]string{}},
		{"other charset", call{ctype: "application/json; charset=latin1", body: []byte(`{}`)},
			415, []string{`unsupported Content-Type`}, [2]string{}},
		{"unsupported encoding", call{encoding: "br", body: []byte(`{}`)},
			415, []string{`unsupported Content-Encoding \"br\"`}, [2]string{"Accept-Encoding", "gzip"}},
		{"not gzip", call{encoding: "gzip", body: []byte(`{"event":"queue.depth","value":1}`)},
			400, []string{`reading the body: gzip: invalid header`}, [2]string{}},
		{"truncated gzip", call{encoding: "gzip", body: testutil.Gzip(t, `{"event":"queue.depth","value":1}`)[:20]},
			400, []string{`reading the body: gzip: unexpected EOF`}, [2]string{}},
		{"GET", call{method: http.MethodGet},
			405, []string{`method \"GET\" not allowed`}, [2]string{"Allow", "POST"}},
		{"PUT", call{method: http.MethodPut, body: []byte(`{}`)},
			405, []string{`not allowed`}, [2]string{"Allow", "POST"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cat := testCatalog(t)
			h := newTestHandler(t, Options{Catalog: cat})
			a := do(h, c.c)
			if a.code != c.code {
				t.Fatalf("status %d, want %d; body %s", a.code, c.code, a.body)
			}
			for _, s := range c.contains {
				if !strings.Contains(a.body, s) {
					t.Errorf("body %s\ndoes not contain %s", a.body, s)
				}
			}
			if c.header[0] != "" && a.header.Get(c.header[0]) != c.header[1] {
				t.Errorf("header %s = %q, want %q", c.header[0], a.header.Get(c.header[0]), c.header[1])
			}
			if !json.Valid([]byte(a.body)) || a.header.Get("Content-Type") != "application/json" {
				t.Errorf("answer is not JSON: %q %s", a.header.Get("Content-Type"), a.body)
			}
			if v := cat.Self().IngestRequests.With(fmt.Sprint(c.code)).Value(); v != 1 {
				t.Errorf("duometer.ingest.requests{code=%d} = %v, want 1", c.code, v)
			}
			if v := cat.Self().IngestEvents.With("applied").Value(); v != 0 {
				t.Errorf("duometer.ingest.events{applied} = %v after a refused request", v)
			}
		})
	}
}

// One bad event in a batch: nothing is applied, and no series is created.
func TestHandlerAllOrNothing(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat})
	ok := `{"event":"backup.completed","labels":{"host":"db1","kind":"full"},"value":5}`
	if a := do(h, call{body: []byte(ok)}); a.code != http.StatusAccepted {
		t.Fatal(a.code, a.body)
	}
	bad := `[
		{"event":"backup.completed","labels":{"host":"db1","kind":"full"},"value":100},
		{"event":"backup.completed","labels":{"host":"new-host","kind":"full"}},
		{"event":"queue.depth","value":99},
		{"event":"backup.completed","labels":{"host":"db1","kind":"full"},"value":-1},
		{"event":"queue.depth","value":"high"}
	]`
	a := do(h, call{body: []byte(bad)})
	if a.code != http.StatusBadRequest {
		t.Fatal(a.code, a.body)
	}
	want := []string{
		`[3] event "backup.completed": negative value -1 for a counter`,
		`[4] event "queue.depth": "value" must be a number, not a string`,
	}
	if got := a.problems(t); !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
	if !strings.Contains(a.body, `"2 of 5 events invalid; none applied"`) {
		t.Errorf("body %s", a.body)
	}
	if v := value(t, cat, "backup.completed", "db1", "full"); v != 5 {
		t.Errorf("backup.completed{db1,full} = %v, want 5 (unchanged)", v)
	}
	if n := len(cat.Lookup("backup.completed").Series()); n != 1 {
		t.Errorf("backup.completed has %d series, want 1: a refused request created one", n)
	}
	if v := value(t, cat, "queue.depth"); v != 0 {
		t.Errorf("queue.depth = %v, want 0 (unchanged)", v)
	}
	if v := cat.Self().IngestEvents.With("rejected").Value(); v != 5 {
		t.Errorf("duometer.ingest.events{rejected} = %v, want 5", v)
	}
}

func TestHandlerProblemListIsBounded(t *testing.T) {
	h := newTestHandler(t, Options{MaxBody: 8 << 20})
	body := "[" + strings.TrimSuffix(strings.Repeat(`{"event":"`+strings.Repeat("n", 10000)+`.x"},`, 500), ",") + "]"
	a := do(h, call{body: []byte(body)})
	if a.code != http.StatusBadRequest {
		t.Fatal(a.code)
	}
	if p := a.problems(t); len(p) != maxProblems {
		t.Errorf("%d problems listed, want %d", len(p), maxProblems)
	}
	if !strings.Contains(a.body, "500 of 500 events invalid; none applied (first 100 of 500 problems listed)") {
		t.Errorf("summary missing: %.300s", a.body)
	}
	if len(a.body) > 20000 {
		t.Errorf("answer of %d bytes for 500 long names: names are not clipped", len(a.body))
	}
}

func TestHandlerBodyLimits(t *testing.T) {
	const max = 1000
	h := newTestHandler(t, Options{MaxBody: max, MaxEvents: 5})
	event := `{"event":"queue.depth","value":1}`
	big := "[" + strings.Repeat(" ", max) + event + "]"
	cases := []struct {
		name string
		c    call
		code int
		msg  string
	}{
		{"at the limit", call{body: []byte("[" + strings.Repeat(" ", max-2-len(event)) + event + "]")}, 202, ""},
		{"over the limit", call{body: []byte(big)}, 413, "body larger than ingest.max-body (1000 bytes)"},
		{"over the limit, chunked", call{chunked: true, body: []byte(big)}, 413, "body larger than ingest.max-body"},
		{"gzip bomb", call{encoding: "gzip", body: testutil.Gzip(t, strings.Repeat(" ", 10*max)+event)}, 413, "decompressed body larger than ingest.max-body"},
		{"gzip just fits", call{encoding: "gzip", body: testutil.Gzip(t, strings.Repeat(" ", max-len(event))+event)}, 202, ""},
		{"too many events", call{body: []byte("[" + strings.TrimSuffix(strings.Repeat(`{},`, 6), ",") + "]")}, 413, "more than ingest.max-events (5) events in one request"},
		{"too many lines", call{ctype: "application/x-ndjson", body: []byte(strings.Repeat("{}\n", 6))}, 413, "more than ingest.max-events (5) events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := do(h, c.c)
			if a.code != c.code || !strings.Contains(a.body, c.msg) {
				t.Errorf("got %d %s, want %d %q", a.code, a.body, c.code, c.msg)
			}
		})
	}
}

// A gzip bomb is stopped after max-body bytes of output: it is never decompressed whole, and
// memory does not grow with its decompressed size.
func TestHandlerGzipBombMemory(t *testing.T) {
	h := newTestHandler(t, Options{})
	// 256 MiB of '[' in about 250 KiB: 128 gzip members of 2 MiB each, compressed once and
	// repeated (a gzip reader reads concatenated members as one stream; one member alone is
	// over max-body). The checksum of the last member is broken: a handler that decompressed
	// the bomb whole would find it and answer 400, not 413.
	const members, size = 128, 2 << 20
	member := testutil.Gzip(t, strings.Repeat("[", size))
	bomb := bytes.Repeat(member, members)
	bomb[len(bomb)-8] ^= 0xff // the CRC-32 of the last member's trailer
	if len(bomb) > DefaultMaxBody {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	if _, err := io.Copy(io.Discard, gzipReader(t, bomb[len(bomb)-len(member):])); !errors.Is(err, gzip.ErrChecksum) {
		t.Fatalf("the last member decompresses with %v, want %v", err, gzip.ErrChecksum)
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(gzipReader(t, bomb), 2*size+1)); n != 2*size+1 || err != nil {
		t.Fatalf("the bomb's first members decompress to %d bytes, %v", n, err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if a := do(h, call{encoding: "gzip", body: bomb}); a.code != http.StatusRequestEntityTooLarge ||
		!strings.Contains(a.body, "decompressed body larger than ingest.max-body (1048576 bytes)") {
		t.Fatalf("%d %s", a.code, a.body)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("a gzip bomb of %d MiB allocated %d MiB", members*size>>20, grew>>20)
	}
}

func gzipReader(t *testing.T, b []byte) *gzip.Reader {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func TestHandlerTokens(t *testing.T) {
	const good, other = "s3cret-token-1", "second-token-2"
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat, Tokens: []string{good, other}})
	ev := []byte(`{"event":"queue.depth","value":1}`)
	cases := []struct {
		name, auth, remote string
		code               int
	}{
		{"right token", "Bearer " + good, "", 202},
		{"second token", "Bearer " + other, "", 202},
		{"scheme in lower case", "bearer " + good, "", 202},
		{"right token from afar", "Bearer " + good, "198.51.100.7:5555", 202},
		{"wrong token", "Bearer " + good + "x", "", 401},
		{"prefix of the token", "Bearer " + good[:5], "", 401},
		{"missing", "", "", 401},
		{"empty token", "Bearer ", "", 401},
		{"basic auth", "Basic " + good, "", 401},
		{"missing, from afar", "", "198.51.100.7:5555", 401},
	}
	failed := 0
	for _, c := range cases {
		a := do(h, call{auth: c.auth, remote: c.remote, body: ev})
		if a.code != c.code {
			t.Errorf("%s: status %d, want %d (%s)", c.name, a.code, c.code, a.body)
		}
		if c.code == 401 {
			failed++
			if got := a.header.Get("WWW-Authenticate"); got != `Bearer realm="duometer"` {
				t.Errorf("%s: WWW-Authenticate %q", c.name, got)
			}
		}
		if strings.Contains(a.body, good) {
			t.Errorf("%s: the answer shows the token: %s", c.name, a.body)
		}
	}
	if v := cat.Self().AuthFailed.Value(); v != float64(failed) {
		t.Errorf("duometer.auth.failed = %v, want %d", v, failed)
	}
	if h.LoopbackOnly() {
		t.Error("LoopbackOnly with tokens")
	}
}

func TestHandlerLoopbackOnly(t *testing.T) {
	h := newTestHandler(t, Options{})
	if !h.LoopbackOnly() {
		t.Error("LoopbackOnly() = false without tokens")
	}
	ev := []byte(`{"event":"queue.depth","value":1}`)
	for remote, want := range map[string]int{
		"127.0.0.1:1234":            202,
		"127.10.0.1:1234":           202,
		"[::1]:1234":                202,
		"[::ffff:127.0.0.1]:1234":   202,
		"10.0.0.1:1234":             403,
		"[2001:db8::1]:1234":        403,
		"[::ffff:192.0.2.1]:1234":   403,
		"192.0.2.1:1234":            403,
		"none":                      403,
		"@":                         403,
		"localhost:1234":            403, // a name is not an address
		"127.0.0.1":                 202, // no port
		"not an address at all:123": 403,
	} {
		a := do(h, call{remote: remote, body: ev})
		if a.code != want {
			t.Errorf("RemoteAddr %q: status %d, want %d (%s)", remote, a.code, want, a.body)
		}
		if want == 403 && !strings.Contains(a.body, "only loopback clients") {
			t.Errorf("RemoteAddr %q: body %s", remote, a.body)
		}
	}
}

func TestUnknownEventsCounter(t *testing.T) {
	cat := testCatalog(t)
	cat.MustDefine(events.Def{Name: "clash.a-b", Kind: events.Counter})
	h := newTestHandler(t, Options{Catalog: cat, UnknownEvents: UnknownCounter, MaxAutoEvents: 3})

	a := do(h, call{body: []byte(`[{"event":"deploy.done","labels":{"svc":"api","env":"prod"}},{"event":"deploy.done","labels":{"env":"prod","svc":"api"},"value":2}]`)})
	if a.code != http.StatusAccepted {
		t.Fatal(a.code, a.body)
	}
	ev := cat.Lookup("deploy.done")
	if ev == nil {
		t.Fatal("deploy.done was not declared")
	}
	if d := ev.Def(); d.Kind != events.Counter || !slices.Equal(d.Labels, []string{"env", "svc"}) {
		t.Errorf("declared as %v with labels %v, want a counter with [env svc]", d.Kind, d.Labels)
	}
	if v := value(t, cat, "deploy.done", "prod", "api"); v != 3 {
		t.Errorf("deploy.done = %v, want 3", v)
	}

	for _, c := range []struct{ name, body, problem string }{
		{"other label keys later", `{"event":"deploy.done","labels":{"svc":"api"}}`, `missing label "env"`},
		{"other label keys in the same request", `[{"event":"job.ran","labels":{"a":"1"}},{"event":"job.ran","labels":{"b":"1"}}]`,
			`[1] event "job.ran": unknown event first given with labels [a] at [0]`},
		{"reserved name", `{"event":"duometer.fake"}`, `event name is reserved for duometer's own metrics (names starting with "duometer." cannot be posted)`},
		{"runtime name", `{"event":"go.memory.used"}`, `names starting with "go." cannot be posted`},
		{"reserved Prometheus name", `{"event":"duometer-config.loads"}`,
			`event name is reserved for duometer's own metrics (names whose Prometheus name starts with "duometer_" cannot be posted)`},
		{"runtime Prometheus name", `{"event":"go-memory.allocations"}`, `names whose Prometheus name starts with "go_" cannot be posted`},
		{"exporter's name", `{"event":"target.info"}`, `names whose Prometheus name is target_info cannot be posted`},
		{"invalid name", `{"event":"NoDots"}`, `unknown event that cannot be declared: name: "NoDots" is not a dotted lower-case name`},
		{"invalid label key", `{"event":"job.ran","labels":{"le":"1"}}`, `"le" is reserved by Prometheus`},
		// Labels that would break the series' gathering (every __ label: the registry drops
		// the series from the scrape) or fake an overflow series.
		{"Prometheus internal label", `{"event":"job.ran","labels":{"__name__":"x"}}`, `"__name__" is reserved by Prometheus`},
		{"other __ label", `{"event":"job.ran","labels":{"__meta":"x"}}`, `"__meta" is reserved by Prometheus`},
		{"overflow label", `{"event":"job.ran","labels":{"otel_metric_overflow":"true"}}`, `"otel_metric_overflow" is reserved: it marks overflow series`},
		{"negative value", `{"event":"job.ran","value":-1}`, `negative value -1 for a counter`},
		{"Prometheus name clash", `{"event":"clash.a_b"}`, `Prometheus name, clash_a_b, is that of "clash.a-b"`},
	} {
		a := do(h, call{body: []byte(c.body)})
		if a.code != http.StatusBadRequest || !strings.Contains(strings.Join(a.problems(t), "\n"), c.problem) {
			t.Errorf("%s: %d %s, want 400 with %q", c.name, a.code, a.body, c.problem)
		}
	}
	if cat.Lookup("job.ran") != nil || cat.Lookup("clash.a_b") != nil {
		t.Error("a refused request declared an event")
	}

	// The limit: 3 events in all; deploy.done is one.
	if a := do(h, call{body: []byte(`[{"event":"auto.one"},{"event":"auto.two"}]`)}); a.code != http.StatusAccepted {
		t.Fatal(a.code, a.body)
	}
	a = do(h, call{body: []byte(`{"event":"auto.three"}`)})
	if a.code != http.StatusBadRequest || !strings.Contains(a.body, "unknown event not declared: the ingest.max-auto-events (3) events that ingest.unknown-events may declare are declared") {
		t.Errorf("past the limit: %d %s", a.code, a.body)
	}
	// Declared events stay usable past the limit.
	if a := do(h, call{body: []byte(`{"event":"auto.one","value":4}`)}); a.code != http.StatusAccepted {
		t.Error(a.code, a.body)
	}
	if v := value(t, cat, "auto.one"); v != 5 {
		t.Errorf("auto.one = %v, want 5", v)
	}
}

// Unknown events in "reject" mode declare nothing.
func TestUnknownEventsReject(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat})
	if a := do(h, call{body: []byte(`{"event":"deploy.done"}`)}); a.code != http.StatusBadRequest {
		t.Fatal(a.code, a.body)
	}
	if cat.Lookup("deploy.done") != nil {
		t.Error("declared in reject mode")
	}
}

// Label sets past the cardinality limit fold into the overflow series: memory stays bounded.
func TestHandlerCardinality(t *testing.T) {
	cat := events.NewCatalog()
	cat.SetCardinalityLimit(100)
	cat.MustDefine(events.Def{Name: "login.attempt", Kind: events.Counter, Labels: []string{"user"}})
	h := newTestHandler(t, Options{Catalog: cat})
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "{\"event\":\"login.attempt\",\"labels\":{\"user\":\"u%d\"}}\n", i)
	}
	if a := do(h, call{ctype: "application/x-ndjson", body: []byte(b.String())}); a.code != http.StatusAccepted {
		t.Fatal(a.code, a.body)
	}
	series := cat.Lookup("login.attempt").Series()
	if len(series) != 101 {
		t.Fatalf("%d series, want 101 (100 and the overflow)", len(series))
	}
	total, overflow := 0.0, 0.0
	for _, s := range series {
		total += s.Value()
		if s.LabelValues() == nil {
			overflow = s.Value()
		}
	}
	if total != 1000 || overflow != 900 {
		t.Errorf("total %v overflow %v, want 1000 and 900", total, overflow)
	}
}

// Concurrent requests lose nothing (run with -race).
func TestHandlerConcurrent(t *testing.T) {
	cat := testCatalog(t)
	h := newTestHandler(t, Options{Catalog: cat, UnknownEvents: UnknownCounter})
	const workers, perWorker = 8, 50
	testutil.Concurrently(workers, func(w int) {
		for i := range perWorker {
			body := fmt.Sprintf(`[{"event":"backup.completed","labels":{"host":"h%d","kind":"full"}},{"event":"race.auto","labels":{"w":"%d"}}]`, i%5, w)
			if a := do(h, call{body: []byte(body)}); a.code != http.StatusAccepted {
				t.Errorf("%d %s", a.code, a.body)
				return
			}
		}
	})
	total := 0.0
	for _, s := range cat.Lookup("backup.completed").Series() {
		total += s.Value()
	}
	auto := 0.0
	for _, s := range cat.Lookup("race.auto").Series() {
		auto += s.Value()
	}
	if total != workers*perWorker || auto != workers*perWorker {
		t.Errorf("backup.completed total %v, race.auto %v, want %d each", total, auto, workers*perWorker)
	}
}

func TestNewHandlerErrors(t *testing.T) {
	cat := events.NewCatalog()
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, "ingest: Options.Catalog is nil"},
		{Options{Catalog: cat, UnknownEvents: "gauge"}, `ingest: unknown-events "gauge": want "reject" or "counter"`},
		{Options{Catalog: cat, Tokens: []string{"ok", ""}}, "ingest: tokens[1] is empty"},
	} {
		if _, err := NewHandler(c.o); err == nil || err.Error() != c.want {
			t.Errorf("NewHandler(%+v) = %v, want the error %q", c.o, err, c.want)
		}
	}
}

// A request of events seen before allocates little, whatever its size.
func TestHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	h := newTestHandler(t, Options{})
	body := []byte(batchBody(1000, 10))
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
	if w.code != http.StatusAccepted {
		t.Fatal(w.code)
	}
	if n := testing.AllocsPerRun(20, serve); n > 10 {
		t.Errorf("%v allocations for a request of 1,000 events, want at most 10", n)
	}
}
