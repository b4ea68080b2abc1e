package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	prompush "github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/logging"
)

// PushgatewayExporter is the exporter label of the duometer.push.* events for Pushgateway
// pushes.
const PushgatewayExporter = "pushgateway"

// DefaultJobName is the default job-name template: job "<name>", grouping label
// instance="<name>~<host>", as EMQX's.
const DefaultJobName = "${name}/instance/${name}~${host}"

// PushgatewayOptions configure a Pushgateway pusher.
type PushgatewayOptions struct {
	// URL is the Pushgateway's base URL (http:// or https://), without /metrics/job/…. User
	// information in it (http://user:pass@host) is used as basic auth when Username is empty,
	// and is never sent in the URL or logged.
	URL string
	// Interval is the delay between the end of one push and the start of the next; the first
	// push happens one interval after Start.
	Interval time.Duration
	// Timeout bounds one push's request: connecting, sending and the answer.
	Timeout time.Duration
	// Method is "put" (the push replaces the whole group) or "post" (it replaces only the
	// metric families it carries). Empty means "put".
	Method string
	// JobName is the job-name template: a job name, then label/value pairs of the grouping
	// key, all separated by '/'. Empty means DefaultJobName. See RenderJobName.
	JobName string
	// Vars are the template's variables: name, host (see NodeName) and cluster.
	Vars map[string]string
	// Headers are sent with every push. Basic auth, when set, wins over an Authorization
	// header; Content-Type is always the protobuf exposition format.
	Headers map[string]string
	// Username and Password, when Username is not empty, are sent as HTTP basic auth.
	Username, Password string
	// Gatherer is what is pushed: the pull reader's registry (pull.Reader.Registry), so that
	// the Pushgateway holds what the scrape endpoint serves. Labels that would clash with
	// the grouping key (job and the grouping label names) are renamed exported_<name>.
	Gatherer prometheus.Gatherer
	// Self counts pushes in duometer.push.* with exporter="pushgateway".
	Self *events.Self
	// Log receives failed pushes (at most one line a minute) and recoveries. Nil discards.
	Log *slog.Logger
}

// Pushgateway pushes a gatherer's metrics to a Prometheus Pushgateway on a fixed delay, and
// once more at Shutdown. Each push is one attempt bounded by the timeout: a failed push is
// counted and logged, and the next one is whole again (every value is cumulative).
type Pushgateway struct {
	url, job  string
	grouping  map[string]string
	reserved  map[string]bool
	method    string
	header    http.Header
	user, pw  string
	useAuth   bool
	interval  time.Duration
	timeout   time.Duration
	gatherer  prometheus.Gatherer
	transport *http.Transport
	client    *http.Client
	log       *slog.Logger
	rl        *logging.RateLimited

	ok, failed, took *events.Series

	pushMu  sync.Mutex // serializes pushes; guards failing
	failing int        // consecutive failed pushes

	mu       sync.Mutex // guards started, cancel and done
	started  bool
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// NewPushgateway checks the options and returns a pusher that has not started.
func NewPushgateway(o PushgatewayOptions) (*Pushgateway, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pushgateway url %q: must be an http:// or https:// URL", redact(o.URL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("pushgateway url %q: must have no query or fragment", redact(o.URL))
	}
	user, pw, useAuth := o.Username, o.Password, o.Username != ""
	if u.User != nil {
		if !useAuth {
			user, useAuth = u.User.Username(), true
			pw, _ = u.User.Password()
		}
		u.User = nil
	}
	method := strings.ToLower(o.Method)
	switch method {
	case "":
		method = "put"
	case "put", "post":
	default:
		return nil, fmt.Errorf("pushgateway method %q: must be put or post", o.Method)
	}
	if o.Interval <= 0 || o.Timeout <= 0 {
		return nil, fmt.Errorf("pushgateway interval %v and timeout %v: must be positive", o.Interval, o.Timeout)
	}
	if o.Gatherer == nil || o.Self == nil {
		return nil, errors.New("pushgateway: Gatherer and Self are required")
	}
	tmpl := o.JobName
	if tmpl == "" {
		tmpl = DefaultJobName
	}
	job, grouping, err := RenderJobName(tmpl, o.Vars)
	if err != nil {
		return nil, err
	}
	reserved := map[string]bool{"job": true}
	for k := range grouping {
		reserved[k] = true
	}
	header := http.Header{}
	for k, v := range o.Headers {
		header.Set(k, v)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &Pushgateway{
		url: strings.TrimSuffix(u.String(), "/"), job: job, grouping: grouping, reserved: reserved,
		method: method, header: header, user: user, pw: pw, useAuth: useAuth,
		interval: o.Interval, timeout: o.Timeout, gatherer: o.Gatherer,
		transport: tr, client: &http.Client{Transport: tr, Timeout: o.Timeout},
		log: log, rl: logging.NewRateLimited(log, time.Minute),
		ok:     o.Self.PushExports.With(PushgatewayExporter),
		failed: o.Self.PushFailures.With(PushgatewayExporter),
		took:   o.Self.PushExportTime.With(PushgatewayExporter),
	}, nil
}

// URL returns the base URL pushed to, without user information.
func (p *Pushgateway) URL() string { return p.url }

// Job returns the job name and the grouping labels that identify the pushed group.
func (p *Pushgateway) Job() (job string, grouping map[string]string) {
	return p.job, maps.Clone(p.grouping)
}

// Start pushes in a goroutine of its own: the first push one interval from now, then one
// interval after the previous push ended. Shutdown ends the goroutine. Start may be called
// once.
func (p *Pushgateway) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go p.loop(ctx)
}

func (p *Pushgateway) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTimer(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = p.Push(ctx)
		t.Reset(p.interval)
	}
}

// Shutdown stops the push loop (a push in flight is cancelled, and not counted), then pushes
// once more with the latest values, within ctx and the timeout, and returns that push's
// error. Only the first call does anything; Start after Shutdown does nothing.
func (p *Pushgateway) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		cancel, done := p.cancel, p.done
		p.started = true // no Start after Shutdown
		p.mu.Unlock()
		if cancel != nil {
			cancel()
			<-done
		}
		if err := p.Push(ctx); err != nil {
			p.stopErr = fmt.Errorf("pushgateway: final push: %w", err)
		}
		p.transport.CloseIdleConnections()
	})
	return p.stopErr
}

// Push gathers and pushes once, within ctx and the timeout. It is counted (exports,
// failures, export time, exporter="pushgateway") unless ctx was cancelled, and a failure is
// logged at most once a minute.
func (p *Pushgateway) Push(ctx context.Context) error {
	p.pushMu.Lock()
	defer p.pushMu.Unlock()
	start := time.Now()
	err := p.push(ctx)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return err // stopping: neither a push nor a failure
	}
	p.took.Emit(time.Since(start).Seconds())
	if err != nil {
		p.failed.Inc()
		p.failing++
		p.rl.Warn("pushgateway", "Pushgateway push failed", "url", p.url, "err", err)
		return err
	}
	p.ok.Inc()
	if p.failing > 0 {
		p.log.Info("Pushgateway push succeeded again", "url", p.url, "failed_pushes", p.failing)
		p.failing = 0
	}
	return nil
}

func (p *Pushgateway) push(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	pusher := prompush.New(p.url, p.job).
		Gatherer(relabel{g: p.gatherer, reserved: p.reserved, log: p.rl}).
		Client(p.client).
		Header(p.header.Clone()) // the pusher adds Content-Type and Authorization to it
	for k, v := range p.grouping {
		pusher.Grouping(k, v)
	}
	if p.useAuth {
		pusher.BasicAuth(p.user, p.pw)
	}
	if p.method == "post" {
		return pusher.AddContext(ctx)
	}
	return pusher.PushContext(ctx)
}

// relabel renames the labels the Pushgateway refuses in pushed metrics (job and the
// grouping key's names) to exported_<name>, as Prometheus does for scraped labels that clash
// with target labels, and keeps what gathered when some collector failed (the rest is
// pushed, as the scrape endpoint serves it).
type relabel struct {
	g        prometheus.Gatherer
	reserved map[string]bool
	log      *logging.RateLimited
}

func (r relabel) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := r.g.Gather()
	if err != nil {
		if len(mfs) == 0 {
			return nil, err
		}
		r.log.Warn("pushgateway-gather", "gathering metrics for the Pushgateway partly failed; pushing the rest", "err", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return r.reserved[l.GetName()] }) {
				continue
			}
			// A collector may share its label pairs with what it gathers (const metrics do):
			// rename in copies, never in place.
			labels := make([]*dto.LabelPair, len(m.Label))
			taken := make(map[string]bool, len(m.Label))
			for _, l := range m.Label {
				taken[l.GetName()] = true
			}
			for i, l := range m.Label {
				labels[i] = l
				if r.reserved[l.GetName()] {
					name := l.GetName()
					for r.reserved[name] || taken[name] {
						name = "exported_" + name
					}
					taken[name] = true
					labels[i] = &dto.LabelPair{Name: &name, Value: l.Value}
				}
			}
			slices.SortFunc(labels, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
			m.Label = labels
		}
	}
	return mfs, nil
}

// NodeName splits a node name ("duometer@host") at its first '@' into the job-name
// template's ${name} and ${host}. A name without '@' is all ${name}, and ${host} is
// fallbackHost.
func NodeName(node, fallbackHost string) (name, host string) {
	if n, h, ok := strings.Cut(node, "@"); ok {
		return n, h
	}
	return node, fallbackHost
}

var jobVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// RenderJobName renders a job-name template into the job name and the grouping labels, as
// the Pushgateway reads its URL path /metrics/job/J/k1/v1/k2/v2: the template is split at
// '/' into the job name and label/value pairs first, then ${var} is replaced by vars[var]
// in every component, so a value holding '/' stays within its component (it is
// base64-encoded in the push URL). An unknown variable, an unterminated "${", an empty job
// name, a missing value, an invalid, repeated or "job" label name is an error.
func RenderJobName(template string, vars map[string]string) (job string, grouping map[string]string, err error) {
	parts := strings.Split(template, "/")
	var errs []error
	for i, part := range parts {
		if strings.Contains(jobVar.ReplaceAllString(part, ""), "${") {
			errs = append(errs, fmt.Errorf(`unterminated "${" in %q`, part))
		}
		parts[i] = jobVar.ReplaceAllStringFunc(part, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := vars[name]
			if !ok {
				errs = append(errs, fmt.Errorf("unknown variable ${%s}", name))
			}
			return v
		})
	}
	if len(errs) == 0 {
		job, grouping, err = splitParts(parts)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return "", nil, fmt.Errorf("pushgateway job-name %q: %w", template, err)
	}
	return job, grouping, nil
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func splitParts(parts []string) (string, map[string]string, error) {
	if len(parts)%2 == 0 {
		return "", nil, errors.New("must be a job name followed by label/value pairs, all separated by '/'")
	}
	if parts[0] == "" {
		return "", nil, errors.New("the job name is empty")
	}
	grouping := map[string]string{}
	for i := 1; i < len(parts); i += 2 {
		k, v := parts[i], parts[i+1]
		switch {
		case !labelName.MatchString(k) || strings.HasPrefix(k, "__"):
			return "", nil, fmt.Errorf("grouping label name %q: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __", k)
		case k == "job":
			return "", nil, errors.New(`"job" cannot be a grouping label: it is the first component`)
		}
		if _, dup := grouping[k]; dup {
			return "", nil, fmt.Errorf("grouping label %q appears twice", k)
		}
		grouping[k] = v
	}
	return parts[0], grouping, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable>"
	}
	return u.Redacted()
}
