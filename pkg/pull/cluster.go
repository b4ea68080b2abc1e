package pull

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/logging"
)

// Mode is what a pull endpoint answers for, from its ?mode= parameter.
type Mode string

// The modes.
const (
	// ModeNode answers for this node alone. The default, and what an unknown mode means.
	ModeNode Mode = "node"
	// ModeAggregated answers for the cluster: every node's series merged by the
	// aggregation of their event (sum, logical, per-node, consistent).
	ModeAggregated Mode = "all_nodes_aggregated"
	// ModeUnaggregated answers with every node's series apart, each with a node label,
	// but those of consistent events, which are the answering node's.
	ModeUnaggregated Mode = "all_nodes_unaggregated"
)

// ParseMode returns the mode called s; anything else is ModeNode.
func ParseMode(s string) Mode {
	switch m := Mode(s); m {
	case ModeAggregated, ModeUnaggregated:
		return m
	}
	return ModeNode
}

const (
	// NodeHeader carries the answering node's name (cluster.node-name) on every pull
	// response, so that a node that fetches a peer knows what to label its series with.
	NodeHeader = "X-Duometer-Node"
	// InstanceHeader carries a token drawn at random when the process starts. A node that
	// gets its own token back from a peer address has reached itself (a DNS name that
	// resolves to every node, itself included) and leaves that answer out; two addresses
	// that answer with the same token are one process, counted once.
	InstanceHeader = "X-Duometer-Instance"
	// NodeLabel is the label that tells the nodes' series apart.
	NodeLabel = "node"
	// exportedNodeLabel is what a series' own node label is renamed to when NodeLabel is
	// added, as Prometheus renames a scraped label that collides with a target label.
	exportedNodeLabel = "exported_node"
	// DefaultClusterTimeout bounds the fetches of the peers when the options give none.
	DefaultClusterTimeout = 5 * time.Second
	// maxPeerBody is the most of a peer's answer that is read.
	maxPeerBody = 256 << 20
	// peerAccept asks a peer for delimited protobuf, which is exact and quick to parse,
	// and takes the text format too.
	peerAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"
)

// Resolver looks up the addresses of a host name; net.DefaultResolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// ClusterOptions configure a Cluster.
type ClusterOptions struct {
	// NodeName is this node's name: the node label of its series in cluster modes.
	NodeName string
	// Peers are the base URLs of the other nodes (http:// or https://, host, optional port
	// and path prefix). A host name that resolves to several addresses stands for a node at
	// each of them.
	Peers []string
	// Timeout bounds the fetches of all peers for one scrape; 0 means DefaultClusterTimeout.
	Timeout time.Duration
	// HTTPClient configures the client that fetches the peers, as Prometheus configures its
	// own: the basic-auth credentials of their pull endpoint and TLS for https:// peers.
	// Redirects are not followed and no proxy is used unless it says so.
	HTTPClient promconfig.HTTPClientConfig
	// Instance is this process's InstanceHeader token: random, drawn once per process
	// (telemetry.NewInstanceID), never configured, so that no two nodes share it. Required.
	Instance string
	// Self counts duometer.cluster.peer-up.
	Self *events.Self
	// Log receives a rate-limited warning for each peer that fails.
	Log *slog.Logger
	// Resolver expands peer host names; nil means net.DefaultResolver.
	Resolver Resolver
}

// Cluster fetches the other nodes' pull endpoints for the cluster modes.
type Cluster struct {
	nodeName string
	instance string
	peers    []*url.URL
	timeout  time.Duration
	self     *events.Self
	warn     *logging.RateLimited
	log      *slog.Logger
	client   *http.Client
	resolver Resolver
}

// NewCluster checks the peer URLs and returns the cluster they make with this node.
func NewCluster(o ClusterOptions) (*Cluster, error) {
	c := &Cluster{
		nodeName: o.NodeName, timeout: o.Timeout,
		self: o.Self, resolver: o.Resolver, instance: o.Instance,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultClusterTimeout
	}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.warn, c.log = logging.NewRateLimited(log, time.Minute), log
	if c.instance == "" {
		return nil, errors.New("cluster: ClusterOptions.Instance is empty")
	}
	var errs []error
	for i, p := range o.Peers {
		u, err := url.Parse(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("peers[%d]: %w", i, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("peers[%d]: %q is not an http:// or https:// URL", i, u.Redacted()))
		case u.Host == "" || u.Hostname() == "":
			errs = append(errs, fmt.Errorf("peers[%d]: %q has no host", i, u.Redacted()))
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("peers[%d]: %q: a base URL takes no user info, query or fragment", i, u.Redacted()))
		default:
			u.Path = strings.TrimSuffix(u.Path, "/")
			u.RawPath = ""
			c.peers = append(c.peers, u)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cc := o.HTTPClient
	cc.FollowRedirects, cc.EnableHTTP2 = false, true
	client, err := promconfig.NewClientFromConfig(cc, "cluster")
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.client = client
	return c, nil
}

// Close closes the idle connections to the peers. Fetches after Close open new ones.
func (c *Cluster) Close() { c.client.CloseIdleConnections() }

// NodeName returns this node's name.
func (c *Cluster) NodeName() string { return c.nodeName }

// peerResult is what one peer address gave.
type peerResult struct {
	order    int    // index of the configured peer it comes from
	label    string // host:port, the peer label of duometer.cluster.peer-up
	node     string // the name it reported (NodeHeader), or label
	instance string // its InstanceHeader
	families []*dto.MetricFamily
	found    bool // it answered 200 (not 404: it has no such group)
	err      error
}

// fetchAll fetches path?mode=node from every peer address at once, within the cluster's
// timeout, and records duometer.cluster.peer-up for each. The results are in the order of
// the configured peers, the addresses of one peer sorted.
func (c *Cluster) fetchAll(parent context.Context, path string) []*peerResult {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()

	// Expand host names first, so that two peers that resolve to one address are fetched once.
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		results []*peerResult
		targets = make([][]*url.URL, len(c.peers))
	)
	for i, p := range c.peers {
		wg.Go(func() {
			ts, err := c.expand(ctx, p)
			if err != nil {
				mu.Lock()
				results = append(results, &peerResult{order: i, label: p.Host, err: c.describe(err)})
				mu.Unlock()
				return
			}
			targets[i] = ts
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, ts := range targets {
		for _, t := range ts {
			if seen[t.Host] {
				continue
			}
			seen[t.Host] = true
			r := &peerResult{order: i, label: t.Host}
			results = append(results, r)
			wg.Go(func() { c.fetch(ctx, t, path, r) })
		}
	}
	wg.Wait()
	if parent.Err() != nil {
		return nil // the scraper has gone: the peers are not to blame
	}
	slices.SortStableFunc(results, func(a, b *peerResult) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.label, b.label))
	})

	names := map[string]bool{c.nodeName: true}
	instances := map[string]bool{}
	for _, r := range results {
		c.log.Debug("cluster peer fetch", "peer", r.label, "path", path, "node", r.node, "families", len(r.families), "err", r.err)
		if r.err != nil {
			c.self.ClusterPeerUp.Emit(0, r.label)
			c.warn.Warn("cluster peer "+r.label, "cluster peer failed; its series are left out",
				"peer", r.label, "err", r.err)
			continue
		}
		c.self.ClusterPeerUp.Emit(1, r.label)
		switch {
		case r.instance == c.instance:
			r.families, r.found = nil, false // this node itself, reached through a peer address
			continue
		case r.instance != "" && instances[r.instance]:
			r.families, r.found = nil, false // a node already fetched through another address
			continue
		}
		instances[r.instance] = true
		r.node = uniqueName(names, r.node, r.label)
		names[r.node] = true
	}
	return results
}

// uniqueName returns the first of name, label, label#2, label#3, … that is not taken.
func uniqueName(taken map[string]bool, name, label string) string {
	if name != "" && !taken[name] {
		return name
	}
	if !taken[label] {
		return label
	}
	for i := 2; ; i++ {
		if n := label + "#" + strconv.Itoa(i); !taken[n] {
			return n
		}
	}
}

// expand returns the URLs of peer p: p itself when its host is an IP address, else one per
// address its host name resolves to, with the same port, sorted.
func (c *Cluster) expand(ctx context.Context, p *url.URL) ([]*url.URL, error) {
	host := p.Hostname()
	if net.ParseIP(host) != nil {
		return []*url.URL{p}, nil
	}
	addrs, err := c.resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s resolves to no address", host)
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	out := make([]*url.URL, len(addrs))
	for i, a := range addrs {
		u := *p
		if port := p.Port(); port != "" {
			u.Host = net.JoinHostPort(a, port)
		} else if strings.Contains(a, ":") {
			u.Host = "[" + a + "]"
		} else {
			u.Host = a
		}
		out[i] = &u
	}
	return out, nil
}

// describe words a timeout as such.
func (c *Cluster) describe(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within cluster.timeout (%v)", c.timeout)
	}
	return err
}

// fetch gets target's path in node mode into r.
func (c *Cluster) fetch(ctx context.Context, target *url.URL, path string, r *peerResult) {
	u := *target
	u.Path += path
	u.RawQuery = "mode=" + string(ModeNode)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		r.err = err
		return
	}
	req.Header.Set("Accept", peerAccept)
	resp, err := c.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which the log line already has as the peer.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		r.err = c.describe(err)
		return
	}
	defer resp.Body.Close()
	r.node = resp.Header.Get(NodeHeader)
	r.instance = resp.Header.Get(InstanceHeader)
	switch {
	case resp.StatusCode == http.StatusNotFound && path != Path:
		// The peer is up but has no series of this group.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return
	case resp.StatusCode != http.StatusOK:
		r.err = fmt.Errorf("%s answered %s", u.Redacted(), resp.Status)
		return
	}
	format := expfmt.ResponseFormat(resp.Header)
	if format == expfmt.FmtUnknown {
		r.err = fmt.Errorf("%s answered Content-Type %q, not the Prometheus text or protobuf format",
			u.Redacted(), resp.Header.Get("Content-Type"))
		return
	}
	dec := expfmt.NewDecoder(io.LimitReader(resp.Body, maxPeerBody), format)
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			r.err = fmt.Errorf("%s: parse: %w", u.Redacted(), err)
			r.families = nil
			return
		}
		r.families = append(r.families, mf)
	}
	r.found = true
}

// serveCluster answers a scrape in a cluster mode: it fetches every peer's path (Path or
// Path/group) in node mode, gathers this node's families, merges them all and serves the
// result as a node-mode scrape would be served.
func (e *Endpoints) serveCluster(w http.ResponseWriter, r *http.Request, mode Mode, group string) {
	path := Path
	if group != "" {
		path += "/" + group
	}
	peers := e.cluster.fetchAll(r.Context(), path)
	// Gathered after the fetches, so that duometer.cluster.peer-up tells of this scrape's.
	all, gatherErr := e.gatherer.Gather()
	local, found := all, true
	if group != "" {
		local, found = e.index.FilterGroup(all, group)
	}
	nodes := []NodeFamilies{{Node: e.cluster.nodeName, Families: local}}
	for _, p := range peers {
		if p.err == nil && p.found {
			nodes = append(nodes, NodeFamilies{Node: p.node, Families: p.families})
			found = true
		}
	}
	if !found {
		e.unknownGroup(w, group, all)
		return
	}
	merged, conflicts := Merge(mode, nodes, e.index.Aggregation)
	for _, c := range conflicts {
		e.cluster.warn.Warn("cluster conflict "+c.Family, "cluster merge left series out", "err", c)
	}
	serveFamilies(w, r, merged, gatherErr, e.log)
}

// NodeFamilies are the metric families one node reported, with the node's name.
type NodeFamilies struct {
	Node     string
	Families []*dto.MetricFamily
}

// Conflict is a family that a node reports with another type than the node that reported
// it first; that node's series of it are left out of the merge.
type Conflict struct {
	Family, Node string
	Type, Want   dto.MetricType
}

func (c Conflict) Error() string {
	return fmt.Sprintf("node %s reports %s as a %s, not a %s as the node that reported it first; its series are left out",
		c.Node, c.Family, strings.ToLower(c.Type.String()), strings.ToLower(c.Want.String()))
}

// Merge merges the families several nodes report, the answering node first, for mode
// (ModeAggregated or ModeUnaggregated). aggregation gives the rule of each family by name
// (Index.Aggregation):
//
//   - Sum: series with identical labels are added up; histograms bucket by bucket (over the
//     bounds every node has), with their sums and counts; summaries by sum and count.
//   - Logical: a series is 1 when every node that reports the family reports it above 0,
//     else 0. A histogram or summary is summed instead.
//   - PerNode: every node's series, each with a node label.
//   - Consistent: the series of the first node that reports the family, as they are.
//
// In ModeUnaggregated every rule but Consistent is PerNode. The result is sorted by family
// name and, within a family, by labels, whose pairs are sorted by name. The families given
// are not modified; the result may share parts of them.
func Merge(mode Mode, nodes []NodeFamilies, aggregation func(family string) events.Aggregation) ([]*dto.MetricFamily, []Conflict) {
	accs := map[string]*familyAcc{}
	var conflicts []Conflict
	for ni, n := range nodes {
		for _, mf := range n.Families {
			if len(mf.GetMetric()) == 0 {
				continue
			}
			name := mf.GetName()
			a := accs[name]
			switch {
			case a == nil:
				a = newFamilyAcc(mf, mode, aggregation(name), ni)
				accs[name] = a
			case a.rule == events.Consistent && ni != a.first:
				continue // taken whole from the first node that reports it
			case mf.GetType() != a.mf.GetType():
				conflicts = append(conflicts, Conflict{Family: name, Node: n.Node, Type: mf.GetType(), Want: a.mf.GetType()})
				continue
			case a.mf.GetHelp() == "" && mf.GetHelp() != "":
				a.mf.Help = mf.Help
			}
			a.nodes++
			for _, m := range mf.GetMetric() {
				a.add(m, n.Node, ni)
			}
		}
	}
	out := make([]*dto.MetricFamily, 0, len(accs))
	for _, a := range accs {
		out = append(out, a.result())
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, conflicts
}

// familyAcc accumulates one family over the nodes.
type familyAcc struct {
	mf     *dto.MetricFamily // name, help and type of the first node's
	rule   events.Aggregation
	first  int // index of the first node that reported the family
	nodes  int // nodes whose series were taken
	series map[string]*seriesAcc
}

type seriesAcc struct {
	labels []*dto.LabelPair
	metric *dto.Metric // PerNode, Consistent: the node's series
	value  float64     // Sum: the sum; Logical: the nodes that reported it above 0
	last   int         // Logical: 1 + the index of the last node counted
	hist   *histAcc
	sum    *summaryAcc
}

func newFamilyAcc(mf *dto.MetricFamily, mode Mode, rule events.Aggregation, node int) *familyAcc {
	if mode == ModeUnaggregated && rule != events.Consistent {
		rule = events.PerNode
	}
	switch mf.GetType() {
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM, dto.MetricType_SUMMARY:
		if rule == events.Logical {
			rule = events.Sum
		}
	}
	if rule > events.Consistent {
		rule = events.Sum
	}
	return &familyAcc{
		mf:   &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit},
		rule: rule, first: node, series: map[string]*seriesAcc{},
	}
}

func (a *familyAcc) add(m *dto.Metric, node string, ni int) {
	labels := sortedLabels(m.GetLabel(), a.rule == events.PerNode, node)
	key := signature(labels)
	s := a.series[key]
	if s == nil {
		s = &seriesAcc{labels: labels}
		a.series[key] = s
	} else if a.rule == events.PerNode || a.rule == events.Consistent {
		return // a duplicate series: the first is kept
	}
	switch a.rule {
	case events.PerNode, events.Consistent:
		s.metric = &dto.Metric{Label: labels, Counter: m.Counter, Gauge: m.Gauge, Untyped: m.Untyped,
			Summary: m.Summary, Histogram: m.Histogram, TimestampMs: m.TimestampMs}
	case events.Logical:
		if s.last != ni+1 && scalar(m) > 0 {
			s.value++
		}
		s.last = ni + 1
	default:
		switch a.mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			if h := newHistAcc(m.GetHistogram()); s.hist == nil {
				s.hist = h
			} else {
				s.hist.add(h)
			}
		case dto.MetricType_SUMMARY:
			if s.sum == nil {
				s.sum = &summaryAcc{quantiles: m.GetSummary().GetQuantile()}
			} else {
				s.sum.quantiles = nil // quantiles do not add up
			}
			s.sum.count += m.GetSummary().GetSampleCount()
			s.sum.sum += m.GetSummary().GetSampleSum()
		default:
			s.value += scalar(m)
		}
	}
}

func (a *familyAcc) result() *dto.MetricFamily {
	mf := a.mf
	mf.Metric = make([]*dto.Metric, 0, len(a.series))
	for _, s := range a.series {
		m := s.metric
		if m == nil {
			m = &dto.Metric{Label: s.labels}
			v := s.value
			if a.rule == events.Logical {
				v = 0
				if s.value == float64(a.nodes) {
					v = 1
				}
			}
			switch a.mf.GetType() {
			case dto.MetricType_COUNTER:
				m.Counter = &dto.Counter{Value: proto.Float64(v)}
			case dto.MetricType_GAUGE:
				m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				m.Histogram = s.hist.proto()
			case dto.MetricType_SUMMARY:
				m.Summary = &dto.Summary{SampleCount: proto.Uint64(s.sum.count), SampleSum: proto.Float64(s.sum.sum), Quantile: s.sum.quantiles}
			default:
				m.Untyped = &dto.Untyped{Value: proto.Float64(v)}
			}
		}
		mf.Metric = append(mf.Metric, m)
	}
	slices.SortFunc(mf.Metric, func(x, y *dto.Metric) int { return compareLabels(x.GetLabel(), y.GetLabel()) })
	return mf
}

// scalar is the value of a counter, gauge or untyped series.
func scalar(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// sortedLabels returns labels sorted by name, with node as NodeLabel when withNode (a label
// of that name already there is renamed exportedNodeLabel).
func sortedLabels(labels []*dto.LabelPair, withNode bool, node string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(labels)+1)
	for _, l := range labels {
		if withNode && l.GetName() == NodeLabel {
			l = &dto.LabelPair{Name: proto.String(exportedNodeLabel), Value: l.Value}
		}
		out = append(out, l)
	}
	if withNode {
		out = append(out, &dto.LabelPair{Name: proto.String(NodeLabel), Value: proto.String(node)})
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

func signature(labels []*dto.LabelPair) string {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString(l.GetName())
		b.WriteByte(0xff)
		b.WriteString(l.GetValue())
		b.WriteByte(0xff)
	}
	return b.String()
}

func compareLabels(a, b []*dto.LabelPair) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmp.Or(strings.Compare(a[i].GetName(), b[i].GetName()), strings.Compare(a[i].GetValue(), b[i].GetValue())); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// histAcc is a classic histogram being summed: finite bounds, ascending, with their
// cumulative counts (+Inf is the count).
type histAcc struct {
	bounds, counts []float64
	count, sum     float64
}

func newHistAcc(h *dto.Histogram) *histAcc {
	a := &histAcc{count: h.GetSampleCountFloat(), sum: h.GetSampleSum()}
	if a.count == 0 {
		a.count = float64(h.GetSampleCount())
	}
	bs := slices.Clone(h.GetBucket())
	slices.SortStableFunc(bs, func(x, y *dto.Bucket) int { return cmp.Compare(x.GetUpperBound(), y.GetUpperBound()) })
	for _, b := range bs {
		if ub := b.GetUpperBound(); !math.IsInf(ub, 1) && !math.IsNaN(ub) {
			n := b.GetCumulativeCountFloat()
			if n == 0 {
				n = float64(b.GetCumulativeCount())
			}
			a.bounds = append(a.bounds, ub)
			a.counts = append(a.counts, n)
		}
	}
	return a
}

// add adds b. Where the bounds differ only those both have are kept: a cumulative count is
// exact only at a bound every node counts at.
func (a *histAcc) add(b *histAcc) {
	a.count += b.count
	a.sum += b.sum
	if slices.Equal(a.bounds, b.bounds) {
		for i := range a.counts {
			a.counts[i] += b.counts[i]
		}
		return
	}
	var bounds, counts []float64
	for i, j := 0, 0; i < len(a.bounds) && j < len(b.bounds); {
		switch {
		case a.bounds[i] < b.bounds[j]:
			i++
		case a.bounds[i] > b.bounds[j]:
			j++
		default:
			bounds = append(bounds, a.bounds[i])
			counts = append(counts, a.counts[i]+b.counts[j])
			i++
			j++
		}
	}
	a.bounds, a.counts = bounds, counts
}

func (a *histAcc) proto() *dto.Histogram {
	whole := isWhole(a.count)
	for _, n := range a.counts {
		whole = whole && isWhole(n)
	}
	h := &dto.Histogram{SampleSum: proto.Float64(a.sum)}
	if whole {
		h.SampleCount = proto.Uint64(uint64(a.count))
	} else {
		h.SampleCountFloat = proto.Float64(a.count)
	}
	for i, ub := range a.bounds {
		b := &dto.Bucket{UpperBound: proto.Float64(ub)}
		if whole {
			b.CumulativeCount = proto.Uint64(uint64(a.counts[i]))
		} else {
			b.CumulativeCountFloat = proto.Float64(a.counts[i])
		}
		h.Bucket = append(h.Bucket, b)
	}
	return h
}

func isWhole(v float64) bool { return v >= 0 && v < 1<<53 && v == math.Trunc(v) }

type summaryAcc struct {
	count     uint64
	sum       float64
	quantiles []*dto.Quantile // kept while one node has contributed
}
