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
	"math"
	"mime"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest/internal/decode"
	"github.com/duometer/duometer/pkg/web"
)

// Path is where the ingestion API is served.
const Path = "/api/v1/events"

// Defaults of Options: those of the configuration keys of the same names (ingest.*).
const (
	DefaultMaxBody       = 1 << 20 // bytes, after decompression too
	DefaultMaxEvents     = 100_000
	DefaultMaxLabelValue = 256 // bytes, as Prometheus's label_value_length_limit would cut
	DefaultMaxInFlight   = 64
	DefaultReadTimeout   = 10 * time.Second
	DefaultMaxAutoEvents = 100
	DefaultMaxAutoLabels = 8
)

// The limits the handler enforces, by the configuration key that sets each: the label
// values of duometer.limits.reached, which counts every time one bites (once per request
// it refuses).
const (
	LimitMaxInFlight         = "ingest.max-in-flight"
	LimitReadTimeout         = "ingest.read-timeout"
	LimitMaxBody             = "ingest.max-body"
	LimitMaxEvents           = "ingest.max-events"
	LimitMaxLabelValueLength = "ingest.max-label-value-length"
	LimitMaxAutoEvents       = "ingest.max-auto-events"
	LimitMaxAutoLabels       = "ingest.max-auto-labels"
	// LimitFiniteValues is not a key: it counts the requests refused because an increment
	// would have made a counter's value infinite, under the label pkg/events counts the
	// emissions it drops for that reason.
	LimitFiniteValues = events.LimitFiniteValues
)

// limitKeys are the limits in the order of the bits of request.limits.
var limitKeys = [...]string{LimitMaxInFlight, LimitReadTimeout, LimitMaxBody, LimitMaxEvents,
	LimitMaxLabelValueLength, LimitMaxAutoEvents, LimitMaxAutoLabels, LimitFiniteValues}

// limit is the index of a limit in limitKeys.
type limit uint8

const (
	limitInFlight limit = iota
	limitReadTimeout
	limitBody
	limitEvents
	limitLabelValue
	limitAutoEvents
	limitAutoLabels
	limitFinite
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
	// MaxBody is the largest body accepted, in bytes, compressed and decompressed
	// (ingest.max-body); 0 means DefaultMaxBody.
	MaxBody int64
	// MaxEvents is the most events one request may carry (ingest.max-events); 0 means
	// DefaultMaxEvents.
	MaxEvents int
	// MaxLabelValue is the longest label value accepted, in bytes
	// (ingest.max-label-value-length); 0 means DefaultMaxLabelValue.
	MaxLabelValue int
	// MaxInFlight is the most requests served at once (ingest.max-in-flight): past it a
	// request is answered 429 at once, its body unread. 0 means DefaultMaxInFlight.
	MaxInFlight int
	// ReadTimeout bounds the time a request's body takes to arrive, from the moment the
	// handler takes the request (ingest.read-timeout): it replaces the server's read deadline
	// for the body, and a body not complete in time is answered 408. 0 means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// UnknownEvents says what an event the catalog does not hold does: UnknownReject ("" too)
	// makes the request invalid; UnknownCounter declares it as a counter with the label keys
	// of its first occurrence, sorted.
	UnknownEvents string
	// MaxAutoEvents is the most events UnknownCounter declares (ingest.max-auto-events),
	// those the catalog already holds from an earlier handler included; past it an unknown
	// event is invalid again. 0 means DefaultMaxAutoEvents.
	MaxAutoEvents int
	// MaxAutoLabels is the most label keys of an event UnknownCounter declares
	// (ingest.max-auto-labels); 0 means DefaultMaxAutoLabels.
	MaxAutoLabels int
	// AutoTTL is the TTL (events.Def.TTL) of the events UnknownCounter declares
	// (ingest.auto-ttl): their series expire when not updated for that long. 0 means never.
	AutoTTL time.Duration
}

// Handler serves the ingestion API. Its methods are safe for concurrent use.
type Handler struct {
	cat           *events.Catalog
	self          *events.Self
	tokens        [][sha256.Size]byte
	maxBody       int64
	maxEvents     int
	maxLabelValue int
	maxInFlight   int64
	readTimeout   time.Duration
	autoDeclare   bool
	maxAuto       int
	maxAutoLabels int
	autoTTL       time.Duration

	inFlight atomic.Int64 // requests being served, past the checks of their headers

	applied, dropped, rejected *events.Series // duometer.ingest.events by result
	limits                     [len(limitKeys)]*events.Series

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
		maxBody:       orDefault(opts.MaxBody, DefaultMaxBody),
		maxEvents:     orDefault(opts.MaxEvents, DefaultMaxEvents),
		maxLabelValue: orDefault(opts.MaxLabelValue, DefaultMaxLabelValue),
		maxInFlight:   int64(orDefault(opts.MaxInFlight, DefaultMaxInFlight)),
		readTimeout:   orDefault(opts.ReadTimeout, DefaultReadTimeout),
		maxAuto:       orDefault(opts.MaxAutoEvents, DefaultMaxAutoEvents),
		maxAutoLabels: orDefault(opts.MaxAutoLabels, DefaultMaxAutoLabels),
		autoTTL:       max(opts.AutoTTL, 0),
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
	// Every limit's series exists from the start, at 0, so that a rate over it is defined
	// before the limit first bites.
	for i, key := range limitKeys {
		h.limits[i] = h.self.LimitsReached.With(key)
	}
	// The events declared on first use that the catalog holds (by an earlier handler, before
	// a reload, or restored from storage) count in max-auto-events.
	for _, ev := range h.cat.Events() {
		if IsAutoDeclared(ev.Def()) {
			h.autos.Add(1)
		}
	}
	empty := map[string]*eventInfo{}
	h.known.Store(&empty)
	h.requests.New = func() any { return new(request) }
	return h, nil
}

// IsAutoDeclared reports whether d is the definition of an event that UnknownCounter
// declared, and could declare today: not one whose name is reserved (events.Reserved),
// which a snapshot written before the name was reserved may hold.
func IsAutoDeclared(d events.Def) bool {
	_, reserved := events.Reserved(d.Name)
	return d.Kind == events.Counter && d.Description == AutoDescription && !reserved
}

// orDefault returns v, or def when v is 0 or less.
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// LoopbackOnly reports whether the handler accepts only loopback clients (no tokens).
func (h *Handler) LoopbackOnly() bool { return len(h.tokens) == 0 }

// request is the state of one request, pooled.
type request struct {
	body  []byte // grows with what arrives, never with what Content-Length announces
	dec   decode.Decoder
	items []item   // the valid events, in order
	vals  []string // label values of the items, in their events' key order
	seen  []bool

	problems  []string // the first maxProblems problems
	nproblems int      // every problem
	invalid   int      // events with at least one problem
	pending   map[string]*eventInfo
	limits    uint16 // the limits that bit, a bit per limit
	// sums holds, once an increment large enough to overflow a sum has been met, the value
	// each counter and up-down counter series of the request will have after the items so
	// far: see finite.
	sums map[string]float64
}

// hit records that limit l bit for this request.
func (req *request) hit(l limit) { req.limits |= 1 << l }

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
	r.problems, r.nproblems, r.invalid, r.pending, r.sums = r.problems[:0], 0, 0, nil, nil
	for i, s := range h.limits {
		if r.limits&(1<<i) != 0 {
			s.Inc()
		}
	}
	r.limits = 0
	if cap(r.body) > 4*DefaultMaxBody {
		r.body = nil // do not pool a huge buffer (MaxBody raised)
	}
	r.body = r.body[:0]
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
		h.limits[limitBody].Inc()
		closeAfter(w, r)
		return writeError(w, http.StatusRequestEntityTooLarge, h.tooLarge(""))
	}
	// Past the headers, a request holds memory while its body arrives: at most maxInFlight
	// of them at once. The others are answered at once, their bodies unread.
	if h.inFlight.Add(1) > h.maxInFlight {
		h.inFlight.Add(-1)
		h.limits[limitInFlight].Inc()
		w.Header().Set("Retry-After", "1")
		closeAfter(w, r)
		return writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"too many requests in flight: ingest.max-in-flight (%d) are being served; retry later", h.maxInFlight))
	}
	defer h.inFlight.Add(-1)
	// The body must arrive within readTimeout, however slowly the client sends it. Writers
	// that cannot take a deadline (httptest's recorder) are served without one.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.readTimeout))

	req := h.getRequest()
	defer h.putRequest(req)
	if code, msg := h.readBody(w, r, req, gzipped); code != 0 {
		if code != http.StatusBadRequest {
			closeAfter(w, r)
		}
		return writeError(w, code, msg)
	}
	// One copy of the body as a string: the events' names and label values are substrings of
	// it, and the catalog copies those it keeps.
	if err := req.dec.Decode(string(req.body), f); err != nil {
		var se *decode.SyntaxError
		if errors.As(err, &se) {
			return writeError(w, http.StatusBadRequest, "invalid JSON: "+se.Error())
		}
		req.hit(limitEvents)
		return writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than ingest.max-events (%d) events in one request", h.maxEvents))
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

// closeAfter asks an HTTP/1 server to close the connection after the answer, for an
// answer given before the body was read whole: the server would otherwise read the rest to
// reuse the connection. HTTP/2 ends the stream alone.
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// minBodyBuffer is the smallest body buffer: a single event fits.
const minBodyBuffer = 512

// readBody reads the body into req.body, at most h.maxBody bytes before and after
// decompression. The buffer grows with the bytes that arrive (doubling, from the capacity
// the pooled request has), never past Content-Length and one byte: a client that announces
// a megabyte and sends a few bytes holds a few bytes. It returns 0, or the status and
// message to answer, having recorded the limit that bit.
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
			return h.readError(req, err)
		}
		defer h.gzips.Put(zr)
		// One byte more than the limit tells a body at the limit from one over it: a gzip
		// bomb is stopped after max-body bytes of output.
		body = io.LimitReader(zr, h.maxBody+1)
	}
	// The buffer never needs more than the limit and a byte (the readers stop there), nor,
	// for a body whose length is announced, more than that length and a byte: room for the
	// last read, which finds EOF.
	hard := h.maxBody + 1
	soft := hard
	if r.ContentLength > 0 && !gzipped {
		soft = min(soft, r.ContentLength+1)
	}
	buf := req.body[:0]
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= hard {
				break // only after a decompressed body over the limit
			}
			size := int64(max(2*cap(buf), minBodyBuffer))
			if int64(len(buf)) < soft {
				size = min(size, soft)
			}
			// Not slices.Grow: append's growth would go past the size asked for.
			grown := make([]byte, len(buf), min(size, hard))
			copy(grown, buf)
			buf = grown
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF { //nolint:errorlint // io.Reader returns io.EOF itself
			break
		}
		if err != nil {
			req.body = buf
			if gzipped && !strings.HasPrefix(err.Error(), "gzip: ") && !strings.HasPrefix(err.Error(), "flate: ") {
				err = fmt.Errorf("gzip: %w", err)
			}
			return h.readError(req, err)
		}
	}
	req.body = buf
	if int64(len(buf)) > h.maxBody {
		req.hit(limitBody)
		return http.StatusRequestEntityTooLarge, h.tooLarge("decompressed ")
	}
	return 0, ""
}

// readError words an error reading the body, and records the limit that bit.
func (h *Handler) readError(req *request, err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		req.hit(limitBody)
		return http.StatusRequestEntityTooLarge, h.tooLarge("")
	case errors.Is(err, os.ErrDeadlineExceeded):
		req.hit(limitReadTimeout)
		return http.StatusRequestTimeout, fmt.Sprintf("the body did not arrive within ingest.read-timeout (%v)", h.readTimeout)
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
		// duometer's own events are in the catalog, but no client may write them: Go code
		// that embeds the packages keeps that to itself.
		if rule, reserved := events.Reserved(ev.Name); reserved {
			req.problem(i, ev, fmt.Sprintf("event name is reserved for duometer's own metrics (%s cannot be posted)", rule))
			return nil
		}
		info = h.lookup(ev.Name)
	}
	// Label values are bounded for every event, known or not: each limit that an event
	// passes is counted, not only the first.
	ok := true
	for _, l := range labels {
		if len(l.Value) > h.maxLabelValue {
			ok = false
			req.hit(limitLabelValue)
			req.problem(i, ev, fmt.Sprintf("label %s: value of %d bytes, longer than ingest.max-label-value-length (%d)",
				quote(l.Key), len(l.Value), h.maxLabelValue))
		}
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
	if ok && hasSum(info.kind) && (req.sums != nil || math.Abs(v) >= mayOverflow) {
		// Only an increment this large can make a finite sum infinite: check it against
		// the series' value, and from now on follow every sum of the request.
		if _, finite := h.finite(req, info, vals, v); !finite {
			ok = false
			req.hit(limitFinite)
			what := "value"
			if info.kind == events.Histogram {
				what = "sum"
			}
			req.problem(i, ev, fmt.Sprintf("value %v would make the %s's %s infinite", v, kindWord(info.kind), what))
		}
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

// hasSum reports whether events of kind k add their values into a sum that must stay finite:
// counters, up-down counters and histograms (whose Value is the sum of the observations).
func hasSum(k events.Kind) bool { return k != events.Gauge }

func kindWord(k events.Kind) string {
	if k == events.UpDownCounter {
		return "up-down counter"
	}
	return k.String()
}

// mayOverflow is the smallest increment that can make a finite float64 infinite: the sum of
// x and v, both finite, rounds to ±Inf only if it is at least MaxFloat64 and half a unit in
// the last place of it (2^1024 - 2^970) in magnitude, so |v| must be at least 2^970
// (about 1e292). Smaller increments never need the check.
const mayOverflow = 0x1p970

// finite reports whether adding v to the series of info with label values vals, after the
// items of the request before it, keeps the series finite, and returns what the sum would
// be. It keeps the sums of the request's counter, up-down counter and histogram series in
// req.sums, which it fills from the items so far on first use; a series starts at its value
// in the catalog (a histogram's: the sum of its observations; 0 when it has none yet).
func (h *Handler) finite(req *request, info *eventInfo, vals []string, v float64) (float64, bool) {
	if req.sums == nil {
		req.sums = map[string]float64{}
		for _, it := range req.items {
			if hasSum(it.info.kind) {
				req.addSum(it.info, req.vals[it.vals:int(it.vals)+len(it.info.keys)], it.value)
			}
		}
	}
	return req.addSum(info, vals, v)
}

// addSum adds v to the sum of a series in req.sums unless the result is not finite, and
// returns the result.
func (req *request) addSum(info *eventInfo, vals []string, v float64) (float64, bool) {
	key := seriesKey(info.name, vals)
	sum, ok := req.sums[key]
	if !ok && info.ev != nil {
		clean := vals
		for _, s := range vals {
			if !utf8.ValidString(s) { // the catalog keeps the series of the cleaned values
				clean = make([]string, len(vals))
				for j, s := range vals {
					clean[j] = strings.ToValidUTF8(s, "\uFFFD")
				}
				break
			}
		}
		sum, _ = info.ev.Value(clean...)
	}
	sum += v
	if math.IsInf(sum, 0) || math.IsNaN(sum) {
		return sum, false
	}
	req.sums[key] = sum
	return sum, true
}

// seriesKey identifies a series in request.sums: the event's name and its label values,
// each followed by a byte that no JSON string decodes to alone (0xff is not UTF-8; a label
// value with it is not valid and is cleaned, but keeps its bytes here).
func seriesKey(name string, vals []string) string {
	n := len(name) + 1
	for _, v := range vals {
		n += len(v) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(name)
	b.WriteByte(0xff)
	for _, v := range vals {
		b.WriteString(v)
		b.WriteByte(0xff)
	}
	return b.String()
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
	tooMany := len(labels) > h.maxAutoLabels
	if tooMany {
		req.hit(limitAutoLabels)
		req.problem(i, ev, fmt.Sprintf("unknown event not declared: %d labels, more than ingest.max-auto-labels (%d)", len(labels), h.maxAutoLabels))
	}
	full := int(h.autos.Load())+len(req.pending) >= h.maxAuto
	if full {
		req.hit(limitAutoEvents)
		req.problem(i, ev, h.autoEventsFull())
	}
	if tooMany || full {
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
		TTL:         h.autoTTL,
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

func (h *Handler) autoEventsFull() string {
	return fmt.Sprintf("unknown event not declared: the ingest.max-auto-events (%d) events that ingest.unknown-events may declare are declared", h.maxAuto)
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
			req.hit(limitAutoEvents)
			req.problem(p.first, ev, h.autoEventsFull())
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
