package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	prompush "github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	promconfig "github.com/prometheus/common/config"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/logging"
)

// PushgatewayExporter is the exporter label of the duometer.push.* events for Pushgateway
// pushes.
const PushgatewayExporter = "pushgateway"

// PushgatewayOptions configure a Pushgateway pusher.
type PushgatewayOptions struct {
	// URL is the Pushgateway's base URL (http:// or https://), without /metrics/job/…, user
	// information, query or fragment.
	URL string
	// Interval is the delay between the end of one push and the start of the next; the first
	// push happens one interval after Start.
	Interval time.Duration
	// Timeout bounds one push's request: connecting, sending and the answer.
	Timeout time.Duration
	// Method is "put" (the push replaces the whole group) or "post" (it replaces only the
	// metric families it carries). Empty means "put".
	Method string
	// Job and Grouping name the pushed group, /metrics/job/<Job>/<label>/<value>/…
	// (config.RenderJobName renders them from a job-name template). Job is required.
	Job      string
	Grouping map[string]string
	// Headers are sent with every push. Basic auth, when set, wins over an Authorization
	// header; Content-Type is always the protobuf exposition format.
	Headers map[string]string
	// HTTPClient configures the client as Prometheus configures its own: basic auth and TLS
	// (certificate files are re-read when they change). Redirects are not followed.
	HTTPClient promconfig.HTTPClientConfig
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
	url, job string
	grouping map[string]string
	reserved map[string]bool
	method   string
	header   http.Header
	interval time.Duration
	timeout  time.Duration
	gatherer prometheus.Gatherer
	client   *http.Client
	log      *slog.Logger
	rl       *logging.RateLimited

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
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("pushgateway url %q: must have no user information, query or fragment", redact(o.URL))
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
	if o.Job == "" {
		return nil, errors.New("pushgateway: the job name is empty")
	}
	reserved := map[string]bool{"job": true}
	for k := range o.Grouping {
		reserved[k] = true
	}
	cc := o.HTTPClient
	cc.FollowRedirects = false
	client, err := promconfig.NewClientFromConfig(cc, "pushgateway")
	if err != nil {
		return nil, fmt.Errorf("pushgateway client: %w", err)
	}
	client.Timeout = o.Timeout
	header := http.Header{}
	for k, v := range o.Headers {
		header.Set(k, v)
	}
	if o.HTTPClient.BasicAuth != nil {
		header.Del("Authorization") // basic auth wins; the client would not override it
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pushgateway{
		url: strings.TrimSuffix(u.String(), "/"), job: o.Job, grouping: maps.Clone(o.Grouping), reserved: reserved,
		method: method, header: header,
		interval: o.Interval, timeout: o.Timeout, gatherer: o.Gatherer, client: client,
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
		p.client.CloseIdleConnections()
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
	p.log.Debug("Pushgateway push", "url", p.url, "took", time.Since(start).Round(time.Millisecond).String())
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

func redact(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw // no user information to hide
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable>"
	}
	return u.Redacted()
}
