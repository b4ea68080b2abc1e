package ingest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest/internal/decode"
	"github.com/duometer/duometer/pkg/web"
)

// Path is where the ingestion API is served.
const Path = "/api/v1/events"

// Defaults of Options.
const (
	DefaultMaxBody       = 1 << 20 // bytes, after decompression too
	DefaultMaxEvents     = 100_000
	DefaultMaxLabelValue = 1024 // bytes
)

// The values of Options.UnknownEvents.
const (
	UnknownReject  = "reject"
	UnknownCounter = "counter"
)

// AutoDescription is the description of the events that UnknownCounter declares.
const AutoDescription = "Declared by the ingestion API on first use (ingest.unknown-events = \"counter\")."

// Options configure a Handler.
type Options struct {
	// Catalog holds the events that requests may carry. Required.
	Catalog *events.Catalog
	// Tokens are the accepted bearer tokens. With none, only loopback clients are accepted.
	Tokens []string
	// MaxBody is the largest body accepted, in bytes, compressed and decompressed; 0 means
	// DefaultMaxBody.
	MaxBody int64
	// MaxEvents is the most events one request may carry; 0 means DefaultMaxEvents.
	MaxEvents int
	// MaxLabelValue is the longest label value accepted, in bytes; 0 means
	// DefaultMaxLabelValue.
	MaxLabelValue int
	// UnknownEvents says what an event the catalog does not hold does: UnknownReject ("" too)
	// makes the request invalid; UnknownCounter declares it as a counter with the label keys
	// of its first occurrence, sorted.
	UnknownEvents string
	// MaxAutoEvents is the most events UnknownCounter declares; past it an unknown event is
	// invalid again. 0 or less means events.DefaultCardinalityLimit.
	MaxAutoEvents int
}

// Handler serves the ingestion API. Its methods are safe for concurrent use.
type Handler struct {
	cat           *events.Catalog
	self          *events.Self
	tokens        [][sha256.Size]byte
	maxBody       int64
	maxEvents     int
	maxLabelValue int
	autoDeclare   bool
	maxAuto       int

	applied, dropped, rejected *events.Series // duometer.ingest.events by result

	// known caches the catalog's events by name, copy-on-write under mu, so that a request
	// finds its events without a lock. Only events the catalog holds are cached, and the
	// catalog never forgets one: the cache is never stale and never larger than the catalog.
	known atomic.Pointer[map[string]*eventInfo]
	mu    sync.Mutex   // guards writes to known and the declaration of unknown events
	autos atomic.Int64 // events declared for UnknownCounter

	requests sync.Pool // *request
	gzips    sync.Pool // *gzip.Reader
}

// eventInfo is what a request needs of an event.
type eventInfo struct {
	name string
	ev   *events.Event // nil while an event to declare is pending
	keys []string      // the label keys, in the event's order
	kind events.Kind

	// For an unknown event to declare (UnknownCounter): its definition and the index of its
	// first occurrence in the request.
	def   events.Def
	first int
}

func (e *eventInfo) index(key string) int {
	for i, k := range e.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// NewHandler returns the ingestion API's handler. Wrap it with web.Instrument to count its
// requests in duometer.http.*; it counts them itself in duometer.ingest.requests and
// duometer.ingest.events.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Catalog == nil {
		return nil, errors.New("ingest: Options.Catalog is nil")
	}
	h := &Handler{
		cat:           opts.Catalog,
		self:          opts.Catalog.Self(),
		maxBody:       opts.MaxBody,
		maxEvents:     opts.MaxEvents,
		maxLabelValue: opts.MaxLabelValue,
		maxAuto:       opts.MaxAutoEvents,
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.maxEvents <= 0 {
		h.maxEvents = DefaultMaxEvents
	}
	if h.maxLabelValue <= 0 {
		h.maxLabelValue = DefaultMaxLabelValue
	}
	if h.maxAuto <= 0 {
		h.maxAuto = events.DefaultCardinalityLimit
	}
	switch opts.UnknownEvents {
	case "", UnknownReject:
	case UnknownCounter:
		h.autoDeclare = true
	default:
		return nil, fmt.Errorf("ingest: unknown-events %q: want %q or %q", opts.UnknownEvents, UnknownReject, UnknownCounter)
	}
	for i, t := range opts.Tokens {
		if t == "" {
			return nil, fmt.Errorf("ingest: tokens[%d] is empty", i)
		}
		h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
	}
	h.applied = h.self.IngestEvents.With("applied")
	h.dropped = h.self.IngestEvents.With("dropped")
	h.rejected = h.self.IngestEvents.With("rejected")
	empty := map[string]*eventInfo{}
	h.known.Store(&empty)
	h.requests.New = func() any { return new(request) }
	return h, nil
}

// LoopbackOnly reports whether the handler accepts only loopback clients (no tokens).
func (h *Handler) LoopbackOnly() bool { return len(h.tokens) == 0 }

// request is the state of one request, pooled.
type request struct {
	body  bytes.Buffer
	dec   decode.Decoder
	items []item   // the valid events, in order
	vals  []string // label values of the items, in their events' key order
	seen  []bool

	problems  []string // the first maxProblems problems
	nproblems int      // every problem
	invalid   int      // events with at least one problem
	pending   map[string]*eventInfo
}

// item is a valid event of a request.
type item struct {
	info  *eventInfo
	vals  int32 // index of its first label value in request.vals
	value float64
}

// maxProblems is the most problems listed in a 400 answer.
const maxProblems = 100

func (h *Handler) getRequest() *request {
	r := h.requests.Get().(*request)
	r.dec.MaxEvents = h.maxEvents
	return r
}

func (h *Handler) putRequest(r *request) {
	// The slices keep their substrings of the last body until reused: a pooled request keeps
	// at most one body alive, and the pool drops it within two garbage collections. Clearing
	// them cost 9 % of a request of 1,000 events.
	r.dec.Reset()
	r.items, r.vals = r.items[:0], r.vals[:0]
	r.problems, r.nproblems, r.invalid, r.pending = r.problems[:0], 0, 0, nil
	if r.body.Cap() > 4*DefaultMaxBody {
		r.body = bytes.Buffer{} // do not pool a huge buffer (MaxBody raised)
	}
	r.body.Reset()
	h.requests.Put(r)
}

// ServeHTTP serves one request: POST only, authorized, then decoded, validated and applied
// all or nothing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code := h.serve(w, r)
	h.self.IngestRequests.Inc(web.CodeLabel(code))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writeError(w, http.StatusMethodNotAllowed, "method "+strconv.Quote(r.Method)+" not allowed: POST events to "+Path)
	}
	if code, msg := h.authorize(w, r); code != 0 {
		return writeError(w, code, msg)
	}
	f, ok := contentFormat(r.Header.Get("Content-Type"))
	if !ok {
		w.Header().Set("Accept-Post", "application/json, application/x-ndjson")
		return writeError(w, http.StatusUnsupportedMediaType,
			"unsupported Content-Type "+strconv.Quote(clip(r.Header.Get("Content-Type")))+": want application/json or application/x-ndjson")
	}
	gzipped := false
	switch enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); {
	case enc == "" || strings.EqualFold(enc, "identity"):
	case strings.EqualFold(enc, "gzip") || strings.EqualFold(enc, "x-gzip"):
		gzipped = true
	default:
		w.Header().Set("Accept-Encoding", "gzip")
		return writeError(w, http.StatusUnsupportedMediaType, "unsupported Content-Encoding "+strconv.Quote(clip(enc))+": want gzip or none")
	}
	if r.ContentLength > h.maxBody {
		return writeError(w, http.StatusRequestEntityTooLarge, h.tooLarge(""))
	}

	req := h.getRequest()
	defer h.putRequest(req)
	if code, msg := h.readBody(w, r, req, gzipped); code != 0 {
		return writeError(w, code, msg)
	}
	// One copy of the body as a string: the events' names and label values are substrings of
	// it, and the catalog copies those it keeps.
	if err := req.dec.Decode(req.body.String(), f); err != nil {
		var se *decode.SyntaxError
		if errors.As(err, &se) {
			return writeError(w, http.StatusBadRequest, "invalid JSON: "+se.Error())
		}
		return writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d events in one request", h.maxEvents))
	}
	n := len(req.dec.Events())
	h.validate(req)
	if req.nproblems == 0 && len(req.pending) > 0 {
		h.declare(req)
	}
	if req.nproblems > 0 {
		h.rejected.Emit(float64(n))
		return writeProblems(w, req, n)
	}
	applied, dropped := h.apply(req)
	h.applied.Emit(float64(applied))
	h.dropped.Emit(float64(dropped))
	return writeAccepted(w, applied, dropped)
}

// authorize checks the bearer token, or with no tokens configured that the client is on
// loopback. It returns 0 when the request may go on, else the status and message to answer.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (int, string) {
	if len(h.tokens) == 0 {
		if !isLoopback(r.RemoteAddr) {
			return http.StatusForbidden, "no ingest.tokens are configured, so only loopback clients may post events"
		}
		return 0, ""
	}
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		h.self.AuthFailed.Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="duometer"`)
		return http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>"
	}
	// Hashing first makes the comparison independent of the token's length; every token is
	// compared, with no early exit.
	got := sha256.Sum256([]byte(token))
	match := 0
	for i := range h.tokens {
		match |= subtle.ConstantTimeCompare(got[:], h.tokens[i][:])
	}
	if match != 1 {
		h.self.AuthFailed.Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="duometer"`)
		return http.StatusUnauthorized, "invalid bearer token"
	}
	h.self.AuthSuccess.Inc()
	return 0, ""
}

func isLoopback(remoteAddr string) bool {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().IsLoopback()
	}
	a, err := netip.ParseAddr(remoteAddr)
	return err == nil && a.Unmap().IsLoopback()
}

// contentFormat maps a Content-Type to the body's format.
func contentFormat(ct string) (decode.Format, bool) {
	switch ct { // the common forms, without parsing
	case "application/json", "application/json; charset=utf-8":
		return decode.JSON, true
	case "application/x-ndjson", "application/x-ndjson; charset=utf-8":
		return decode.NDJSON, true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return 0, false
	}
	switch mt {
	case "application/json":
		return decode.JSON, true
	case "application/x-ndjson":
		return decode.NDJSON, true
	}
	return 0, false
}

// readBody reads the body into req.body, at most h.maxBody bytes before and after
// decompression.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, req *request, gzipped bool) (int, string) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, h.maxBody)
	if gzipped {
		zr, _ := h.gzips.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(body)
		} else {
			err = zr.Reset(body)
		}
		if err != nil {
			return readError(err, h)
		}
		defer h.gzips.Put(zr)
		// One byte more than the limit tells a body at the limit from one over it: a gzip
		// bomb is stopped after max-body bytes of output.
		body = io.LimitReader(zr, h.maxBody+1)
	}
	if r.ContentLength > 0 && !gzipped {
		// Room for the body and for ReadFrom's last read, which finds EOF: otherwise the
		// buffer doubles at the very end.
		req.body.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := req.body.ReadFrom(body); err != nil {
		if gzipped && !strings.HasPrefix(err.Error(), "gzip: ") && !strings.HasPrefix(err.Error(), "flate: ") {
			err = fmt.Errorf("gzip: %w", err)
		}
		return readError(err, h)
	}
	if int64(req.body.Len()) > h.maxBody {
		return http.StatusRequestEntityTooLarge, h.tooLarge("decompressed ")
	}
	return 0, ""
}

func readError(err error, h *Handler) (int, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, h.tooLarge("")
	}
	return http.StatusBadRequest, "reading the body: " + err.Error()
}

func (h *Handler) tooLarge(what string) string {
	return fmt.Sprintf("%sbody larger than ingest.max-body (%d bytes)", what, h.maxBody)
}

// validate checks every event of req against the catalog, without changing anything. The
// valid ones go to req.items, the problems of the others to req.problems.
func (h *Handler) validate(req *request) {
	var last *eventInfo // the event of the previous event: batches often repeat one
	for i := range req.dec.Events() {
		before := req.nproblems
		last = h.check(req, i, &req.dec.Events()[i], last)
		if req.nproblems > before {
			req.invalid++
		}
	}
}

// check validates one event; last is the event of the previous one, which check returns for
// this one (nil when unknown).
func (h *Handler) check(req *request, i int, ev *decode.Event, last *eventInfo) *eventInfo {
	if ev.Problem != "" {
		req.problem(i, ev, ev.Problem)
		return last
	}
	if !ev.HasName {
		req.problem(i, ev, `missing "event"`)
		return last
	}
	labels := req.dec.Labels(ev)
	info := last
	if info == nil || info.ev == nil || info.name != ev.Name { // a pending event checks its keys below
		info = h.lookup(ev.Name)
	}
	if info == nil {
		if !h.autoDeclare {
			req.problem(i, ev, "unknown event")
			return nil
		}
		if info = h.pendingEvent(req, i, ev, labels); info == nil {
			return nil
		}
	}
	n := len(info.keys)
	base := len(req.vals)
	req.vals = slices.Grow(req.vals, n)
	vals := req.vals[base : base+n] // within the capacity; req.vals grows over it if ok
	clear(vals)
	if cap(req.seen) < n {
		req.seen = make([]bool, n)
	}
	seen := req.seen[:n]
	clear(seen)
	ok := true
	for _, l := range labels {
		j := info.index(l.Key)
		if j < 0 {
			ok = false
			if n == 0 {
				req.problem(i, ev, fmt.Sprintf("label %s not declared (the event has no labels)", quote(l.Key)))
			} else {
				req.problem(i, ev, fmt.Sprintf("label %s not declared (labels: %s)", quote(l.Key), strings.Join(info.keys, ", ")))
			}
			continue
		}
		if len(l.Value) > h.maxLabelValue {
			ok = false
			req.problem(i, ev, fmt.Sprintf("label %s: value of %d bytes, longer than %d", quote(l.Key), len(l.Value), h.maxLabelValue))
			continue
		}
		vals[j], seen[j] = l.Value, true
	}
	for j, s := range seen {
		if !s {
			ok = false
			req.problem(i, ev, fmt.Sprintf("missing label %s", strconv.Quote(info.keys[j])))
		}
	}
	v := ev.Value
	switch {
	case !ev.HasValue && (info.kind == events.Counter || info.kind == events.UpDownCounter):
		v = 1
	case !ev.HasValue:
		ok = false
		req.problem(i, ev, fmt.Sprintf(`missing "value" (required for %s events)`, info.kind))
	case v < 0 && info.kind == events.Counter:
		ok = false
		req.problem(i, ev, fmt.Sprintf("negative value %v for a counter", v))
	}
	if ok {
		req.vals = req.vals[:base+n]
		req.items = append(req.items, item{info: info, vals: int32(base), value: v})
	}
	return info
}

func (req *request) problem(i int, ev *decode.Event, msg string) {
	req.nproblems++
	if len(req.problems) >= maxProblems {
		return
	}
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strconv.Itoa(i))
	b.WriteString("] ")
	if ev.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(int(ev.Line)))
		b.WriteString(": ")
	}
	if ev.HasName {
		b.WriteString("event ")
		b.WriteString(quote(ev.Name))
		b.WriteString(": ")
	}
	b.WriteString(msg)
	req.problems = append(req.problems, b.String())
}

// lookup returns the event called name, or nil if the catalog has none.
func (h *Handler) lookup(name string) *eventInfo {
	if info := (*h.known.Load())[name]; info != nil {
		return info
	}
	ev := h.cat.Lookup(name)
	if ev == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.remember(ev)
}

// remember adds ev to the cache of known events. h.mu is held.
func (h *Handler) remember(ev *events.Event) *eventInfo {
	old := *h.known.Load()
	if info := old[ev.Name()]; info != nil {
		return info
	}
	d := ev.Def()
	info := &eventInfo{name: d.Name, ev: ev, keys: d.Labels, kind: d.Kind}
	m := make(map[string]*eventInfo, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[ev.Name()] = info // the catalog's copy of the name, not a substring of a body
	h.known.Store(&m)
	return info
}

// pendingEvent returns the event to declare for an unknown name (UnknownCounter), or nil after
// adding a problem. The first occurrence in the request fixes its label keys.
func (h *Handler) pendingEvent(req *request, i int, ev *decode.Event, labels []decode.Label) *eventInfo {
	if p := req.pending[ev.Name]; p != nil {
		same := len(labels) == len(p.keys)
		for _, l := range labels {
			same = same && p.index(l.Key) >= 0
		}
		if !same {
			req.problem(i, ev, fmt.Sprintf("unknown event first given with labels [%s] at [%d]; every occurrence must have the same label keys",
				strings.Join(p.keys, ", "), p.first))
			return nil
		}
		return p
	}
	if p, reserved := events.Reserved(ev.Name); reserved {
		req.problem(i, ev, fmt.Sprintf("unknown event (names starting with %q are reserved)", p))
		return nil
	}
	if int(h.autos.Load())+len(req.pending) >= h.maxAuto {
		req.problem(i, ev, fmt.Sprintf("unknown event, and the %d events that ingest.unknown-events may declare are declared", h.maxAuto))
		return nil
	}
	keys := make([]string, len(labels))
	for j, l := range labels {
		keys[j] = strings.Clone(l.Key)
	}
	slices.Sort(keys)
	d := events.Def{
		Name:        strings.Clone(ev.Name),
		Kind:        events.Counter,
		Labels:      keys,
		Description: AutoDescription,
	}
	if err := d.Validate(); err != nil {
		req.problem(i, ev, "unknown event that cannot be declared: "+defProblems(err))
		return nil
	}
	if req.pending == nil {
		req.pending = map[string]*eventInfo{}
	}
	p := &eventInfo{name: d.Name, keys: keys, kind: events.Counter, def: d, first: i}
	req.pending[d.Name] = p
	return p
}

// declare defines the unknown events of a valid request (UnknownCounter). Another request may
// have declared one of them since validation: with the same label keys it is used, with
// others it is a problem of this request, which then applies nothing.
func (h *Handler) declare(req *request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	before := req.nproblems
	defer func() { req.invalid += req.nproblems - before }()
	for name, p := range req.pending {
		ev := &req.dec.Events()[p.first]
		if existing := h.cat.Lookup(name); existing != nil {
			d := existing.Def()
			if d.Kind == events.Counter && slices.Equal(d.Labels, p.keys) {
				p.ev = existing
				continue
			}
			req.problem(p.first, ev, fmt.Sprintf("unknown event declared meanwhile as a %s with labels [%s]", d.Kind, strings.Join(d.Labels, ", ")))
			continue
		}
		if int(h.autos.Load()) >= h.maxAuto {
			req.problem(p.first, ev, fmt.Sprintf("unknown event, and the %d events that ingest.unknown-events may declare are declared", h.maxAuto))
			continue
		}
		e, err := h.cat.Define(p.def)
		if err != nil {
			var clash *events.NameClashError
			if errors.As(err, &clash) {
				req.problem(p.first, ev, fmt.Sprintf("unknown event whose Prometheus name, %s, is that of %q", clash.PrometheusName, clash.Other))
			} else {
				req.problem(p.first, ev, "unknown event that cannot be declared: "+defProblems(err))
			}
			continue
		}
		h.autos.Add(1)
		p.ev = e
		h.remember(e)
	}
}

// defProblems words the error of an event definition on one line, without the event's name
// (the problem already names it).
func defProblems(err error) string {
	var de *events.DefError
	if !errors.As(err, &de) {
		return err.Error()
	}
	msgs := make([]string, len(de.Problems))
	for i, p := range de.Problems {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// apply emits the valid events of req; those of disabled events are dropped.
func (h *Handler) apply(req *request) (applied, dropped int) {
	var (
		last     *events.Series
		lastInfo *eventInfo
		lastVals []string
	)
	for _, it := range req.items {
		ev := it.info.ev
		if !ev.Enabled() {
			dropped++
			continue
		}
		vals := req.vals[it.vals : int(it.vals)+len(it.info.keys)]
		// Consecutive events of one series, common in a batch, resolve it once.
		if it.info != lastInfo || !slices.Equal(vals, lastVals) {
			last, _ = ev.Resolve(vals...) // the number of values is the event's
			lastInfo, lastVals = it.info, vals
		}
		last.Emit(it.value)
		applied++
	}
	return applied, dropped
}

// Answers.

func writeAccepted(w http.ResponseWriter, applied, dropped int) int {
	var buf [64]byte
	b := append(buf[:0], `{"applied":`...)
	b = strconv.AppendInt(b, int64(applied), 10)
	b = append(b, `,"dropped":`...)
	b = strconv.AppendInt(b, int64(dropped), 10)
	b = append(b, "}\n"...)
	hd := w.Header()
	hd["Content-Type"] = jsonType
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
	return http.StatusAccepted
}

var jsonType = []string{"application/json"}

// errorBody is the body of every answer but 202.
type errorBody struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string) int {
	return writeJSON(w, code, errorBody{Error: msg})
}

func writeProblems(w http.ResponseWriter, req *request, n int) int {
	msg := fmt.Sprintf("%d of %d events invalid; none applied", req.invalid, n)
	if req.nproblems > len(req.problems) {
		msg += fmt.Sprintf(" (first %d of %d problems listed)", len(req.problems), req.nproblems)
	}
	return writeJSON(w, http.StatusBadRequest, errorBody{Error: msg, Problems: req.problems})
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// "<token>" rather than "\u003ctoken\u003e": the answer is JSON, never HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // unreachable: strings only
		b.Reset()
		b.WriteString(`{"error":"internal error"}` + "\n")
	}
	w.Header()["Content-Type"] = jsonType
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
	return code
}
