package pull

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeServer serves snapshots of a Gatherer as promhttp.HandlerFor serves a registry with
// handlerOpts: same negotiation of format and compression, same bytes. The samples of
// counter, gauge and untyped families are written from what each series keeps from one
// scrape to the next (its labels, escaped once, in the text formats) and their values; every
// other family, format or answer (errors, protobuf, OpenMetrics 2.0, names an escaping
// scheme would change) is left to expfmt and promhttp.
type scrapeServer struct {
	log   *slog.Logger
	probe http.Handler // promhttp over no metrics: it sets the headers promhttp would set
}

func newScrapeServer(log *slog.Logger) *scrapeServer {
	empty := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, nil })
	return &scrapeServer{log: log, probe: promhttp.HandlerFor(empty, handlerOpts(log))}
}

// serve answers r with the families of s whose name keep accepts (every family when keep is
// nil), and releases s.
func (h *scrapeServer) serve(w http.ResponseWriter, r *http.Request, s *snapshot, keep func(string) bool) {
	if s.slow {
		h.promhttp(w, r, s, keep)
		return
	}
	// promhttp's answer to r with no metrics sets the Content-Type and Content-Encoding it
	// would answer r with (and logs a failed negotiation as it would): that is its
	// negotiation, not a copy of it. The formats the fast path does not write go to promhttp
	// before that, so that a failed negotiation is not logged twice.
	om, ok := fastFormat(expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...))
	if !ok {
		h.promhttp(w, r, s, keep)
		return
	}
	h.probe.ServeHTTP(headerOnly{w.Header()}, r)
	format := expfmt.Format(w.Header().Get("Content-Type"))
	if o, ok := fastFormat(format); !ok || o != om {
		h.promhttp(w, r, s, keep)
		return
	}
	enc := w.Header().Get("Content-Encoding")
	if enc != "" && enc != "gzip" {
		h.promhttp(w, r, s, keep)
		return
	}

	if r.URL != nil {
		if names := r.URL.Query()["name[]"]; len(names) > 0 { // promhttp's filter by name
			k := keep
			keep = func(name string) bool { return slices.Contains(names, name) && (k == nil || k(name)) }
		}
	}
	out := chunkPool.Get().(*chunkWriter)
	var gz *gzip.Writer
	if enc == "gzip" {
		gz = gzipPool.Get().(*gzip.Writer)
		gz.Reset(w)
		out.w = gz
	} else {
		out.w = w
	}
	h.encode(out, s, om, format.ToEscapingScheme(), keep)
	s.release()
	out.flush()
	if gz != nil && out.err == nil {
		out.err = gz.Close()
	}
	if out.err != nil { // as promhttp logs a failed write
		promLogger{h.log}.Println("error encoding and sending metric family:", out.err)
	}
	if gz != nil {
		gzipPool.Put(gz)
	}
	out.w, out.err, out.b = nil, nil, out.b[:0]
	chunkPool.Put(out)
}

// chunkWriter gathers an answer in chunks of about chunkSize bytes, each written in one
// piece.
type chunkWriter struct {
	w   io.Writer
	b   []byte
	err error
}

const chunkSize = 64 << 10

// full writes the chunk out once it is big enough.
func (c *chunkWriter) full() {
	if len(c.b) >= chunkSize {
		c.flush()
	}
}

func (c *chunkWriter) flush() {
	if c.err == nil && len(c.b) > 0 {
		_, c.err = c.w.Write(c.b)
	}
	c.b = c.b[:0]
}

var chunkPool = sync.Pool{New: func() any { return &chunkWriter{b: make([]byte, 0, chunkSize+4<<10)} }}

// fastFormat reports whether the fast path writes format, and whether it is OpenMetrics
// (1.0 or 0.0.1) rather than the text format.
func fastFormat(format expfmt.Format) (om, ok bool) {
	switch format.FormatType() {
	case expfmt.TypeTextPlain:
		return false, true
	case expfmt.TypeOpenMetrics:
		_, params, err := mime.ParseMediaType(string(format))
		return true, err == nil && params["version"] != expfmt.OpenMetricsVersion_2_0_0
	}
	return false, false
}

// promhttp serves the families of s with promhttp itself (keep filters them first, as the
// group endpoint filtered the registry's families; promhttp applies name[] itself).
func (h *scrapeServer) promhttp(w http.ResponseWriter, r *http.Request, s *snapshot, keep func(string) bool) {
	promhttp.HandlerForTransactional(txGatherer{s: s, keep: keep}, handlerOpts(h.log)).ServeHTTP(w, r)
}

// encode writes the exposition of s's families in the text format (om false) or
// OpenMetrics 1.0 to out, as promhttp's encoder writes them family by family.
func (h *scrapeServer) encode(out *chunkWriter, s *snapshot, om bool, scheme model.EscapingScheme, keep func(string) bool) {
	for k := range s.fams {
		fs := &s.fams[k]
		if keep != nil && !keep(fs.name) {
			continue
		}
		if !fs.fast || om && fs.exemplars {
			out.b = h.encodeFamily(out.b, s.family(k), om, scheme)
			out.full()
			continue
		}
		head, name, appendValue := fs.head.text, fs.name, appendTextFloat
		if om {
			head, name, appendValue = fs.head.om, fs.head.omName, appendOpenMetricsFloat
		}
		out.b = append(out.b, head...)
		b, start := out.b, int32(0)
		for i, v := range s.svals[fs.from:fs.to] {
			b = append(b, name...)
			b = append(b, fs.text[start:fs.ends[i]]...)
			start = fs.ends[i]
			b = append(b, ' ')
			b = appendValue(b, v)
			b = append(b, '\n')
			if len(b) >= chunkSize {
				out.b = b
				out.flush()
				b = out.b
			}
		}
		out.b = b
	}
	if om {
		out.b = append(out.b, "# EOF\n"...)
	}
}

// encodeFamily appends mf as expfmt's encoder writes it; an error is logged as promhttp logs
// it, and the scrape goes on.
func (h *scrapeServer) encodeFamily(b []byte, mf *dto.MetricFamily, om bool, scheme model.EscapingScheme) []byte {
	w := bytes.NewBuffer(b)
	mf = model.EscapeMetricFamily(mf, scheme)
	var err error
	if om {
		_, err = expfmt.MetricFamilyToOpenMetrics(w, mf)
	} else {
		_, err = expfmt.MetricFamilyToText(w, mf)
	}
	if err != nil {
		promLogger{h.log}.Println("error encoding and sending metric family:", err)
	}
	return w.Bytes()
}

// appendTextFloat appends f as the text format writes a sample value (expfmt's writeFloat).
func appendTextFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, "-1"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendOpenMetricsFloat appends f as OpenMetrics 1.0 writes a sample value (expfmt's
// writeOpenMetricsFloat): whole numbers with ".0".
func appendOpenMetricsFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, "1.0"...)
	case f == 0:
		return append(b, "0.0"...)
	case f == -1:
		return append(b, "-1.0"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if !bytes.ContainsAny(b[n:], "e.") {
		b = append(b, '.', '0')
	}
	return b
}

// appendEscaped appends a label value escaped as both text formats escape it: backslash,
// double quote and newline.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// heads are a family's header lines (HELP, TYPE and, in OpenMetrics, UNIT) in the text
// format and in OpenMetrics 1.0, and the name OpenMetrics writes its samples with (a
// counter's family is named without _total there, its samples with).
type heads struct {
	text, om []byte
	omName   string
}

// newHeads writes the header lines of a family with expfmt itself, from a family of one
// sample without labels, whose line it then cuts off. It returns nil if that fails.
func newHeads(name, help, unit string, typ dto.MetricType) *heads {
	m := &dto.Metric{}
	zero := 0.0
	setValue(m, typ, &zero)
	mf := &dto.MetricFamily{Name: &name, Help: &help, Type: &typ, Metric: []*dto.Metric{m}}
	if unit != "" {
		mf.Unit = &unit
	}
	var text, om bytes.Buffer
	if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
		return nil
	}
	if _, err := expfmt.MetricFamilyToOpenMetrics(&om, mf); err != nil {
		return nil
	}
	h := &heads{}
	var ok bool
	if h.text, _, ok = cutSample(text.Bytes(), " 0\n"); !ok {
		return nil
	}
	if h.om, h.omName, ok = cutSample(om.Bytes(), " 0.0\n"); !ok {
		return nil
	}
	return h
}

// cutSample splits an encoded family of one sample without labels into its header lines and
// the name of its sample, whose line ends with tail.
func cutSample(b []byte, tail string) (head []byte, name string, ok bool) {
	if !bytes.HasSuffix(b, []byte(tail)) {
		return nil, "", false
	}
	i := bytes.LastIndexByte(b[:len(b)-1], '\n') + 1
	name = string(b[i : len(b)-len(tail)])
	if !model.LegacyValidation.IsValidMetricName(name) {
		return nil, "", false
	}
	return bytes.Clone(b[:i]), name, true
}

// headerOnly is a ResponseWriter that sets headers on another's and drops everything else.
type headerOnly struct{ h http.Header }

func (w headerOnly) Header() http.Header       { return w.h }
func (headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (headerOnly) WriteHeader(int)             {}

var gzipPool = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
