package pull_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
)

// parseText parses a text exposition into families sorted by name.
func parseText(t *testing.T, text string) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, mf := range m {
		out = append(out, mf)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// encodeText writes families in the text format.
func encodeText(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode %s: %v", mf.GetName(), err)
		}
	}
	return b.String()
}

// rules is an aggregation function over a map; families not in it are summed.
func rules(m map[string]events.Aggregation) func(string) events.Aggregation {
	return func(name string) events.Aggregation { return m[name] }
}

// TestMerge pins the merge of crafted families for each rule and mode. Inputs and
// expectations are text expositions; node a is the answering node.
func TestMerge(t *testing.T) {
	type in struct{ node, text string }
	cases := []struct {
		name  string
		mode  pull.Mode
		rules map[string]events.Aggregation
		nodes []in
		want  string
	}{{
		name: "sum counters, gauges and untyped, labels in any order, series missing on some nodes",
		mode: pull.ModeAggregated,
		nodes: []in{
			{"a", `# HELP c_total Things.
# TYPE c_total counter
c_total{x="1",y="2"} 1
c_total{x="only-a"} 5
# TYPE g gauge
g -1.5
# TYPE u untyped
u 1
`},
			{"b", `# HELP c_total Other help: the first node's wins.
# TYPE c_total counter
c_total{y="2",x="1"} 2
# TYPE g gauge
g 4
`},
			{"c", `# TYPE c_total counter
c_total{x="1",y="2"} 3.25
c_total{x="only-c"} 7
# HELP u The first HELP there is.
# TYPE u untyped
u 2
`},
		},
		want: `# HELP c_total Things.
# TYPE c_total counter
c_total{x="1",y="2"} 6.25
c_total{x="only-a"} 5
c_total{x="only-c"} 7
# TYPE g gauge
g 2.5
# HELP u The first HELP there is.
# TYPE u untyped
u 3
`,
	}, {
		name: "histograms: buckets element-wise with sum and count; bounds only some nodes have are dropped",
		mode: pull.ModeAggregated,
		nodes: []in{
			{"a", `# TYPE h_seconds histogram
h_seconds_bucket{k="x",le="0.1"} 1
h_seconds_bucket{k="x",le="1"} 2
h_seconds_bucket{k="x",le="+Inf"} 3
h_seconds_sum{k="x"} 5.5
h_seconds_count{k="x"} 3
h_seconds_bucket{k="y",le="0.1"} 1
h_seconds_bucket{k="y",le="1"} 1
h_seconds_bucket{k="y",le="+Inf"} 1
h_seconds_sum{k="y"} 0.05
h_seconds_count{k="y"} 1
`},
			{"b", `# TYPE h_seconds histogram
h_seconds_bucket{k="x",le="0.1"} 0
h_seconds_bucket{k="x",le="1"} 4
h_seconds_bucket{k="x",le="+Inf"} 10
h_seconds_sum{k="x"} 20
h_seconds_count{k="x"} 10
h_seconds_bucket{k="y",le="0.1"} 2
h_seconds_bucket{k="y",le="0.5"} 2
h_seconds_bucket{k="y",le="+Inf"} 3
h_seconds_sum{k="y"} 2
h_seconds_count{k="y"} 3
`},
		},
		want: `# TYPE h_seconds histogram
h_seconds_bucket{k="x",le="0.1"} 1
h_seconds_bucket{k="x",le="1"} 6
h_seconds_bucket{k="x",le="+Inf"} 13
h_seconds_sum{k="x"} 25.5
h_seconds_count{k="x"} 13
h_seconds_bucket{k="y",le="0.1"} 3
h_seconds_bucket{k="y",le="+Inf"} 4
h_seconds_sum{k="y"} 2.05
h_seconds_count{k="y"} 4
`,
	}, {
		name: "histograms with float counts stay float",
		mode: pull.ModeAggregated,
		nodes: []in{
			{"a", "# TYPE h histogram\nh_bucket{le=\"1\"} 0.5\nh_bucket{le=\"+Inf\"} 1.5\nh_sum 2\nh_count 1.5\n"},
			{"b", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"},
		},
		want: "# TYPE h histogram\nh_bucket{le=\"1\"} 1.5\nh_bucket{le=\"+Inf\"} 3.5\nh_sum 5\nh_count 3.5\n",
	}, {
		name: "summaries: sum and count add up, quantiles are dropped once two nodes contribute",
		mode: pull.ModeAggregated,
		nodes: []in{
			{"a", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 10\ns_count 4\ns_sum{k=\"solo\"} 1\ns_count{k=\"solo\"} 1\ns{k=\"solo\",quantile=\"0.9\"} 0.7\n"},
			{"b", "# TYPE s summary\ns{quantile=\"0.5\"} 3\ns_sum 5\ns_count 2\n"},
		},
		want: "# TYPE s summary\ns_sum 15\ns_count 6\ns{k=\"solo\",quantile=\"0.9\"} 0.7\ns_sum{k=\"solo\"} 1\ns_count{k=\"solo\"} 1\n",
	}, {
		name:  "logical: 1 only when every node that reports the family reports the series above 0",
		mode:  pull.ModeAggregated,
		rules: map[string]events.Aggregation{"ok": events.Logical, "done_total": events.Logical, "h": events.Logical},
		nodes: []in{
			{"a", `# TYPE ok gauge
ok{job_name="all-up"} 1
ok{job_name="one-down"} 1
ok{job_name="missing-on-c"} 1
ok{job_name="above-one"} 7
ok{job_name="negative"} -1
# TYPE done_total counter
done_total 3
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 1
h_sum 1
h_count 1
`},
			{"b", `# TYPE ok gauge
ok{job_name="all-up"} 1
ok{job_name="one-down"} 0
ok{job_name="missing-on-c"} 1
ok{job_name="above-one"} 0.5
ok{job_name="negative"} 1
# TYPE done_total counter
done_total 1
# TYPE h histogram
h_bucket{le="1"} 0
h_bucket{le="+Inf"} 2
h_sum 4
h_count 2
`},
			{"c", `# TYPE ok gauge
ok{job_name="all-up"} 1
ok{job_name="one-down"} 1
ok{job_name="above-one"} 2
ok{job_name="negative"} 1
`},
			{"d", "# TYPE other gauge\nother 1\n"},
		},
		want: `# TYPE done_total counter
done_total 1
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 3
h_sum 5
h_count 3
# TYPE ok gauge
ok{job_name="above-one"} 1
ok{job_name="all-up"} 1
ok{job_name="missing-on-c"} 0
ok{job_name="negative"} 0
ok{job_name="one-down"} 0
# TYPE other gauge
other 1
`,
	}, {
		name:  "logical: a family only one node reports is that node's truth",
		mode:  pull.ModeAggregated,
		rules: map[string]events.Aggregation{"ok": events.Logical},
		nodes: []in{
			{"a", "# TYPE x gauge\nx 1\n"},
			{"b", "# TYPE ok gauge\nok 3\nok{k=\"zero\"} 0\n"},
		},
		want: "# TYPE ok gauge\nok 1\nok{k=\"zero\"} 0\n# TYPE x gauge\nx 1\n",
	}, {
		name:  "per-node: a node label on each node's series; a node label of their own becomes exported_node",
		mode:  pull.ModeAggregated,
		rules: map[string]events.Aggregation{"go_goroutines": events.PerNode, "cert_expiry_seconds": events.PerNode},
		nodes: []in{
			{"duometer@a", "# TYPE go_goroutines gauge\ngo_goroutines 10\n# TYPE cert_expiry_seconds gauge\ncert_expiry_seconds{file=\"c.pem\",node=\"mine\"} 100\n"},
			{"duometer@b", "# TYPE go_goroutines gauge\ngo_goroutines 12\n"},
			{"10.0.0.3:9464", "# TYPE go_goroutines gauge\ngo_goroutines 7\n# TYPE cert_expiry_seconds gauge\ncert_expiry_seconds{file=\"c.pem\"} 200\n"},
		},
		want: `# TYPE cert_expiry_seconds gauge
cert_expiry_seconds{exported_node="mine",file="c.pem",node="duometer@a"} 100
cert_expiry_seconds{file="c.pem",node="10.0.0.3:9464"} 200
# TYPE go_goroutines gauge
go_goroutines{node="10.0.0.3:9464"} 7
go_goroutines{node="duometer@a"} 10
go_goroutines{node="duometer@b"} 12
`,
	}, {
		name:  "consistent: the first node's that reports the family, as it is; target_info the answering node's",
		mode:  pull.ModeAggregated,
		rules: map[string]events.Aggregation{"peer_up": events.Consistent, "version_info": events.Consistent, "target_info": events.Consistent},
		nodes: []in{
			{"a", "# TYPE peer_up gauge\npeer_up{peer=\"b\"} 1\npeer_up{peer=\"c\"} 0\n# TYPE target_info gauge\ntarget_info{id=\"a\"} 1\n"},
			{"b", "# TYPE peer_up gauge\npeer_up{peer=\"a\"} 1\n# TYPE version_info gauge\nversion_info{v=\"2\"} 1\n# TYPE target_info gauge\ntarget_info{id=\"b\"} 1\n"},
			{"c", "# TYPE version_info gauge\nversion_info{v=\"3\"} 1\n# TYPE target_info gauge\ntarget_info{id=\"c\"} 1\n"},
		},
		want: `# TYPE peer_up gauge
peer_up{peer="b"} 1
peer_up{peer="c"} 0
# TYPE target_info gauge
target_info{id="a"} 1
# TYPE version_info gauge
version_info{v="2"} 1
`,
	}, {
		name:  "unaggregated: every node's series with a node label, but consistent ones",
		mode:  pull.ModeUnaggregated,
		rules: map[string]events.Aggregation{"peer_up": events.Consistent, "target_info": events.Consistent, "ok": events.Logical, "go_goroutines": events.PerNode},
		nodes: []in{
			{"a", "# TYPE c_total counter\nc_total 1\n# TYPE ok gauge\nok 1\n# TYPE go_goroutines gauge\ngo_goroutines 5\n# TYPE peer_up gauge\npeer_up{peer=\"b\"} 1\n# TYPE target_info gauge\ntarget_info{id=\"a\"} 1\n"},
			{"b", "# TYPE c_total counter\nc_total 2\n# TYPE ok gauge\nok 0\n# TYPE go_goroutines gauge\ngo_goroutines 6\n# TYPE peer_up gauge\npeer_up{peer=\"a\"} 0\n# TYPE target_info gauge\ntarget_info{id=\"b\"} 1\n"},
			{"c", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n"},
		},
		want: `# TYPE c_total counter
c_total{node="a"} 1
c_total{node="b"} 2
# TYPE go_goroutines gauge
go_goroutines{node="a"} 5
go_goroutines{node="b"} 6
# TYPE h histogram
h_bucket{node="c",le="1"} 1
h_bucket{node="c",le="+Inf"} 1
h_sum{node="c"} 0.5
h_count{node="c"} 1
# TYPE ok gauge
ok{node="a"} 1
ok{node="b"} 0
# TYPE peer_up gauge
peer_up{peer="b"} 1
# TYPE target_info gauge
target_info{id="a"} 1
`,
	}, {
		name: "a family another node reports with another type is left out for that node",
		mode: pull.ModeAggregated,
		nodes: []in{
			{"a", "# TYPE x_total counter\nx_total 1\n"},
			{"b", "# TYPE x_total gauge\nx_total 100\n"},
			{"c", "# TYPE x_total counter\nx_total 2\n"},
		},
		want: "# TYPE x_total counter\nx_total 3\n",
	}, {
		name:  "a single node merges to itself, sorted",
		mode:  pull.ModeAggregated,
		rules: map[string]events.Aggregation{"go_goroutines": events.PerNode},
		nodes: []in{{"a", "# TYPE z gauge\nz{b=\"2\"} 2\nz{b=\"1\"} 1\nz{a=\"x\"} 0\n# TYPE go_goroutines gauge\ngo_goroutines 3\n"}},
		want:  "# TYPE go_goroutines gauge\ngo_goroutines{node=\"a\"} 3\n# TYPE z gauge\nz{a=\"x\"} 0\nz{b=\"1\"} 1\nz{b=\"2\"} 2\n",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var nodes []pull.NodeFamilies
			for _, n := range c.nodes {
				nodes = append(nodes, pull.NodeFamilies{Node: n.node, Families: parseText(t, n.text)})
			}
			before := make([]string, len(nodes))
			for i, n := range nodes {
				before[i] = encodeText(t, n.Families)
			}
			got, conflicts := pull.Merge(c.mode, nodes, rules(c.rules))
			if s := encodeText(t, got); s != c.want {
				t.Errorf("merged:\n%s\nwant:\n%s", s, c.want)
			}
			for i, n := range nodes {
				if after := encodeText(t, n.Families); after != before[i] {
					t.Errorf("node %s's families were modified:\n%s", n.Node, after)
				}
			}
			if strings.Contains(c.name, "another type") {
				want := pull.Conflict{Family: "x_total", Node: "b", Type: dto.MetricType_GAUGE, Want: dto.MetricType_COUNTER}
				if len(conflicts) != 1 || conflicts[0] != want {
					t.Errorf("conflicts = %v, want [%v]", conflicts, want)
				}
			} else if len(conflicts) > 0 {
				t.Errorf("conflicts: %v", conflicts)
			}
			promtoolCheck(t, c.name, []byte(encodeText(t, got)), true)
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]pull.Mode{
		"": pull.ModeNode, "node": pull.ModeNode, "bogus": pull.ModeNode, "ALL_NODES_AGGREGATED": pull.ModeNode,
		"all_nodes_aggregated": pull.ModeAggregated, "all_nodes_unaggregated": pull.ModeUnaggregated,
	} {
		if got := pull.ParseMode(in); got != want {
			t.Errorf("ParseMode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewClusterPeers(t *testing.T) {
	c, err := pull.NewCluster(pull.ClusterOptions{NodeName: "a@h", Instance: "i", Peers: []string{"http://10.0.0.2:9464", "https://node.example/prefix/", "http://[::1]:9464"}})
	if err != nil {
		t.Fatalf("good peers: %v", err)
	}
	c.Close()

	// Every bad peer is named, by its index, in one error; user information is masked.
	var peers, lines []string
	for _, bad := range []struct{ peer, want string }{
		{"10.0.0.2:9464", `parse "10.0.0.2:9464": first path segment in URL cannot contain colon`},
		{"ftp://x", `"ftp://x" is not an http:// or https:// URL`},
		{"http://", `"http:" has no host`},
		{"http://u:p@h:1", `"http://u:xxxxx@h:1": a base URL takes no user info, query or fragment`},
		{"http://h:1/?q=1", `"http://h:1/?q=1": a base URL takes no user info, query or fragment`},
		{"http://h:1/%zz", `parse "http://h:1/%zz": invalid URL escape "%zz"`},
	} {
		lines = append(lines, fmt.Sprintf("peers[%d]: %s", len(peers), bad.want))
		peers = append(peers, bad.peer)
	}
	_, err = pull.NewCluster(pull.ClusterOptions{NodeName: "a@h", Instance: "i", Peers: peers})
	if want := "cluster: " + strings.Join(lines, "\n"); err == nil || err.Error() != want {
		t.Errorf("bad peers: error\n%v\nwant\n%s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "u:p@") {
		t.Errorf("error shows user info: %v", err)
	}

	_, err = pull.NewCluster(pull.ClusterOptions{NodeName: "a@h", Peers: []string{"http://10.0.0.2:9464"}})
	if want := "cluster: ClusterOptions.Instance is empty"; err == nil || err.Error() != want {
		t.Errorf("no instance: error %v, want %q", err, want)
	}
}

// server is an HTTP server on 127.0.0.1 whose handler is set after it starts (its URL goes
// into the configuration of the handler's node).
type server struct {
	*httptest.Server
	h atomic.Pointer[http.Handler]
}

func newServer2(t *testing.T) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := s.h.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "no handler yet", http.StatusServiceUnavailable)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(h http.Handler) { s.h.Store(&h) }

func (s *server) hostPort() string { return strings.TrimPrefix(s.URL, "http://") }

// clusterAuth is the request headers of a scrape in the text format with the cluster's
// credentials.
var clusterAuth = withAuth(textPlain, clusterUser, clusterSecret)

// clusterClient sends the cluster's credentials to the peers.
var clusterClient = promconfig.HTTPClientConfig{BasicAuth: &promconfig.BasicAuth{Username: clusterUser, Password: clusterSecret}}

const (
	clusterUser   = "prometheus"
	clusterSecret = "s3cret-cluster-unit"
)

// testCluster is n in-process nodes, duometer@a, duometer@b, …, each served over HTTP on
// 127.0.0.1 with basic auth and configured with the others as peers.
type testCluster struct {
	nodes   []*node
	servers []*server
	log     *testutil.SyncBuffer // node a's
}

func startCluster(t *testing.T, n int, timeout time.Duration, runtime bool) *testCluster {
	t.Helper()
	tc := &testCluster{log: &testutil.SyncBuffer{}}
	for range n {
		tc.servers = append(tc.servers, newServer2(t))
	}
	for i := range n {
		var peers []string
		for j, s := range tc.servers {
			if j != i {
				peers = append(peers, s.URL)
			}
		}
		log := slog.New(slog.DiscardHandler)
		if i == 0 {
			log = slog.New(slog.NewTextHandler(tc.log, nil))
		}
		nd := newNode(t, nodeOpts{
			name: "duometer@" + string(rune('a'+i)), runtime: runtime, log: log,
			username: clusterUser, secret: clusterSecret,
			cluster: &pull.ClusterOptions{Peers: peers, Timeout: timeout, HTTPClient: clusterClient},
		})
		tc.servers[i].set(nd.handler)
		tc.nodes = append(tc.nodes, nd)
	}
	return tc
}

// scrapeNode scrapes target (path and query) of nd with the cluster's credentials in the
// text format, requires 200 and returns the families by name.
func scrapeNode(t *testing.T, nd *node, target string) (map[string]*dto.MetricFamily, *httptest.ResponseRecorder) {
	t.Helper()
	rec := nd.get(t, target, clusterAuth)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	checkMetrics(t, target, rec.Body.Bytes())
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("GET %s: parse: %v\n%s", target, err, rec.Body)
	}
	return mfs, rec
}

// series returns the series of family name whose labels include want, as label sets
// rendered {k="v",…} mapped to values (histograms: their count).
func series(mfs map[string]*dto.MetricFamily, name string, want map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mfs[name].GetMetric() {
		labels := map[string]string{}
		var parts []string
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
			parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		ok := true
		for k, v := range want {
			ok = ok && labels[k] == v
		}
		if !ok {
			continue
		}
		slices.Sort(parts)
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue() + float64(m.GetHistogram().GetSampleCount())
		out["{"+strings.Join(parts, ",")+"}"] = v
	}
	return out
}

func wantSeries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: got %v, want %v", what, got, want)
			return
		}
	}
}

// TestClusterModes runs three nodes that fetch one another over HTTP with basic auth.
func TestClusterModes(t *testing.T) {
	tc := startCluster(t, 3, 5*time.Second, true)
	for i, nd := range tc.nodes {
		nd.self.AuthFailed.Emit(float64(i + 1))
		nd.self.CertExpiry.Emit(float64(1e9+i), "cert.pem")
		nd.cat.MustDefine(events.Def{Name: "backup.completed", Kind: events.Counter, Labels: []string{"kind"}, Description: "Backups completed."}).Emit(float64(10*(i+1)), "full")
		nd.cat.MustDefine(events.Def{Name: "backup.ok", Kind: events.Gauge, Aggregation: events.Logical, Description: "Whether the last backup succeeded."}).Emit(1)
		nd.cat.MustDefine(events.Def{Name: "backup.time", Kind: events.Histogram, Unit: "s", Description: "Backup durations."}).Emit(0.2 * float64(i+1))
	}
	// Only node c has the group solo.
	tc.nodes[2].cat.MustDefine(events.Def{Name: "solo.thing", Kind: events.Gauge, Description: "Only on node c."}).Emit(42)
	a := tc.nodes[0]

	mfs, rec := scrapeNode(t, a, pull.Path+"?mode=all_nodes_aggregated")
	if got := rec.Header().Get(pull.NodeHeader); got != "duometer@a" {
		t.Errorf("%s header = %q", pull.NodeHeader, got)
	}
	wantSeries(t, "aggregated duometer_auth_failed_total", series(mfs, "duometer_auth_failed_total", nil), map[string]float64{"{}": 6})
	wantSeries(t, "aggregated backup_completed_total", series(mfs, "backup_completed_total", nil), map[string]float64{`{kind="full"}`: 60})
	wantSeries(t, "aggregated backup_ok (logical)", series(mfs, "backup_ok", nil), map[string]float64{"{}": 1})
	wantSeries(t, "aggregated backup_time_seconds", series(mfs, "backup_time_seconds", nil), map[string]float64{"{}": 3})
	wantSeries(t, "aggregated solo_thing", series(mfs, "solo_thing", nil), map[string]float64{"{}": 42})
	wantSeries(t, "aggregated duometer_tls_cert_expiry_seconds (per-node)", series(mfs, "duometer_tls_cert_expiry_seconds", nil), map[string]float64{
		`{file="cert.pem",node="duometer@a"}`: 1e9, `{file="cert.pem",node="duometer@b"}`: 1e9 + 1, `{file="cert.pem",node="duometer@c"}`: 1e9 + 2})
	wantSeries(t, "aggregated duometer_cluster_peer_up (consistent)", series(mfs, "duometer_cluster_peer_up", nil), map[string]float64{
		fmt.Sprintf("{peer=%q}", tc.servers[1].hostPort()): 1, fmt.Sprintf("{peer=%q}", tc.servers[2].hostPort()): 1})
	if got := series(mfs, "go_goroutines", nil); len(got) != 3 {
		t.Errorf("go_goroutines: %v, want one series per node", got)
	}
	for k := range series(mfs, "go_goroutines", nil) {
		if !strings.HasPrefix(k, `{node="duometer@`) {
			t.Errorf("go_goroutines series %s has no node label", k)
		}
	}
	wantSeries(t, "aggregated target_info", series(mfs, "target_info", nil), map[string]float64{`{service_instance_id="duometer@a",service_name="duometer"}`: 1})
	if mfs["backup_completed_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("backup_completed_total is a %v", mfs["backup_completed_total"].GetType())
	}

	// Logical: one node down to 0 makes the cluster 0.
	tc.nodes[1].cat.Lookup("backup.ok").Emit(0)
	mfs, _ = scrapeNode(t, a, pull.Path+"?mode=all_nodes_aggregated")
	wantSeries(t, "aggregated backup_ok after b reports 0", series(mfs, "backup_ok", nil), map[string]float64{"{}": 0})

	mfs, _ = scrapeNode(t, a, pull.Path+"?mode=all_nodes_unaggregated")
	wantSeries(t, "unaggregated duometer_auth_failed_total", series(mfs, "duometer_auth_failed_total", nil), map[string]float64{
		`{node="duometer@a"}`: 1, `{node="duometer@b"}`: 2, `{node="duometer@c"}`: 3})
	wantSeries(t, "unaggregated backup_ok", series(mfs, "backup_ok", nil), map[string]float64{
		`{node="duometer@a"}`: 1, `{node="duometer@b"}`: 0, `{node="duometer@c"}`: 1})
	wantSeries(t, "unaggregated solo_thing", series(mfs, "solo_thing", nil), map[string]float64{`{node="duometer@c"}`: 42})
	if got := series(mfs, "duometer_cluster_peer_up", nil); len(got) != 2 {
		t.Errorf("unaggregated duometer_cluster_peer_up: %v, want a's two series", got)
	}
	if got := series(mfs, "target_info", nil); len(got) != 1 {
		t.Errorf("unaggregated target_info: %v, want a's only", got)
	}

	// Node mode is this node alone, with or without the parameter.
	for _, q := range []string{"", "?mode=node", "?mode=whatever"} {
		mfs, _ = scrapeNode(t, a, pull.Path+q)
		wantSeries(t, "node mode "+q, series(mfs, "duometer_auth_failed_total", nil), map[string]float64{"{}": 1})
		if _, ok := mfs["solo_thing"]; ok {
			t.Errorf("node mode %q has c's solo_thing", q)
		}
	}

	// Group endpoints in cluster modes.
	mfs, _ = scrapeNode(t, a, pull.Path+"/backup?mode=all_nodes_aggregated")
	var names []string
	for n := range mfs {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"backup_completed_total", "backup_ok", "backup_time_seconds", "target_info"}; !slices.Equal(names, want) {
		t.Errorf("group backup aggregated: families %v, want %v", names, want)
	}
	wantSeries(t, "group backup aggregated", series(mfs, "backup_completed_total", nil), map[string]float64{`{kind="full"}`: 60})
	mfs, _ = scrapeNode(t, a, pull.Path+"/go?mode=all_nodes_unaggregated")
	if got := series(mfs, "go_goroutines", nil); len(got) != 3 {
		t.Errorf("group go unaggregated: go_goroutines %v", got)
	}
	mfs, _ = scrapeNode(t, a, pull.Path+"/solo?mode=all_nodes_aggregated")
	wantSeries(t, "group solo (only on c) aggregated", series(mfs, "solo_thing", nil), map[string]float64{"{}": 42})
	for _, target := range []string{pull.Path + "/solo", pull.Path + "/nope?mode=all_nodes_aggregated", pull.Path + "/nope?mode=all_nodes_unaggregated"} {
		if rec := a.get(t, target, clusterAuth); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "known groups: backup, duometer, go, process") {
			t.Errorf("GET %s: %d %q, want 404 with a's groups", target, rec.Code, rec.Body)
		}
	}
	// Peers that have no such group are up all the same.
	mfs, _ = scrapeNode(t, a, pull.Path+"?mode=all_nodes_aggregated")
	for k, v := range series(mfs, "duometer_cluster_peer_up", nil) {
		if v != 1 {
			t.Errorf("duometer_cluster_peer_up%s = %v after group scrapes, want 1", k, v)
		}
	}
	if s := tc.log.String(); s != "" {
		t.Errorf("node a logged:\n%s", s)
	}
}

func TestClusterNegotiation(t *testing.T) {
	tc := startCluster(t, 2, 5*time.Second, false)
	a := tc.nodes[0]
	tc.nodes[1].self.AuthFailed.Emit(2)
	rec := a.get(t, pull.Path+"/duometer?mode=all_nodes_aggregated", withAuth(http.Header{
		"Accept": {"application/openmetrics-text;version=1.0.0"}, "Accept-Encoding": {"gzip"}}, clusterUser, clusterSecret))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q", ct)
	}
	body := gunzipped(t, rec)
	if !bytes.HasSuffix(body, []byte("# EOF\n")) || !bytes.Contains(body, []byte("duometer_auth_failed_total 2.0")) {
		t.Errorf("OpenMetrics body:\n%s", body)
	}
	// Without credentials a cluster mode is refused like any scrape, and nothing is fetched.
	if rec := a.get(t, pull.Path+"?mode=all_nodes_aggregated", textPlain); rec.Code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", rec.Code)
	}
	if v := tc.nodes[1].self.AuthSuccess.Value(); v != 1 {
		t.Errorf("b counted %v successful fetches, want 1", v)
	}
}

// TestClusterPeerDown: a peer that is down, one that does not answer and one that refuses
// the credentials never fail the scrape; duometer.cluster.peer-up says which, and each is
// logged once a minute at most. Only the peer that does not answer needs the short cluster
// timeout; the healthy peer is checked beside the peers that fail at once (down, refusing)
// in a cluster whose timeout a loaded machine cannot miss, so that its fetch never races the
// short deadline.
func TestClusterPeerDown(t *testing.T) {
	down := newServer2(t)
	down.Close()
	slow := newServer2(t)
	release := make(chan struct{})
	slow.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	refusing := newServer2(t)
	refusing.set(newNode(t, nodeOpts{name: "r@x", username: clusterUser, secret: "another-secret", cluster: &pull.ClusterOptions{}}).handler)
	up := newServer2(t)
	upNode := newNode(t, nodeOpts{name: "duometer@up", username: clusterUser, secret: clusterSecret, cluster: &pull.ClusterOptions{}})
	upNode.self.AuthFailed.Emit(5)
	up.set(upNode.handler)

	for _, c := range []struct {
		name    string
		timeout time.Duration
		failing []*server // peers that must be down and logged
		healthy *server   // a peer that must be up and merged, or nil
		maxTook time.Duration
		logs    []string // in a's log
	}{
		{"hanging peer given up at the timeout", 400 * time.Millisecond, []*server{down, slow, refusing}, nil,
			400*time.Millisecond + time.Second, []string{"connection refused", "no answer within cluster.timeout (400ms)", "401 Unauthorized"}},
		{"healthy peer merged beside failing ones", 30 * time.Second, []*server{down, refusing}, up,
			0, []string{"connection refused", "401 Unauthorized"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			peers := []string{}
			wantUp := map[string]float64{}
			for _, p := range c.failing {
				peers = append(peers, p.URL)
				wantUp[fmt.Sprintf("{peer=%q}", p.hostPort())] = 0
			}
			wantAuth := map[pull.Mode]map[string]float64{
				pull.ModeAggregated:   {"{}": 1},
				pull.ModeUnaggregated: {`{node="duometer@a"}`: 1},
			}
			if c.healthy != nil {
				peers = append(peers, c.healthy.URL)
				wantUp[fmt.Sprintf("{peer=%q}", c.healthy.hostPort())] = 1
				wantAuth = map[pull.Mode]map[string]float64{
					pull.ModeAggregated:   {"{}": 6},
					pull.ModeUnaggregated: {`{node="duometer@a"}`: 1, `{node="duometer@up"}`: 5},
				}
			}
			log := &testutil.SyncBuffer{}
			a := newNode(t, nodeOpts{name: "duometer@a", username: clusterUser, secret: clusterSecret, log: slog.New(slog.NewTextHandler(log, nil)),
				cluster: &pull.ClusterOptions{Peers: peers, Timeout: c.timeout, HTTPClient: clusterClient}})
			a.self.AuthFailed.Emit(1)
			for i, mode := range []pull.Mode{pull.ModeAggregated, pull.ModeUnaggregated, pull.ModeAggregated} {
				start := time.Now()
				mfs, _ := scrapeNode(t, a, pull.Path+"?mode="+string(mode))
				if d := time.Since(start); c.maxTook > 0 && d > c.maxTook {
					t.Errorf("%s took %v with timeout %v", mode, d, c.timeout)
				}
				wantSeries(t, string(mode)+" duometer_cluster_peer_up", series(mfs, "duometer_cluster_peer_up", nil), wantUp)
				wantSeries(t, string(mode)+" duometer_auth_failed_total", series(mfs, "duometer_auth_failed_total", nil), wantAuth[mode])
				out := log.String()
				for _, p := range c.failing {
					if n := strings.Count(out, "peer="+p.hostPort()); n != 1 {
						t.Errorf("scrape %d: peer %s logged %d times, want once:\n%s", i, p.hostPort(), n, out)
					}
				}
				if (c.healthy != nil && strings.Contains(out, c.healthy.hostPort())) || strings.Contains(out, clusterSecret) {
					t.Errorf("log names the peer that is up or the secret:\n%s", out)
				}
			}
			out := log.String()
			for _, want := range c.logs {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// fakeResolver resolves names from a map.
type fakeResolver map[string][]string

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &netError{host}
}

type netError struct{ host string }

func (e *netError) Error() string { return "lookup " + e.host + ": no such host" }

// TestClusterPeerAddresses: host names expand to every address they resolve to, an address
// is fetched once, and a node that reaches itself (or one node twice) counts it once.
func TestClusterPeerAddresses(t *testing.T) {
	bSrv, bAlias, aSrv := newServer2(t), newServer2(t), newServer2(t)
	b := newNode(t, nodeOpts{name: "duometer@b", username: clusterUser, secret: clusterSecret, cluster: &pull.ClusterOptions{}})
	b.self.AuthFailed.Emit(2)
	bSrv.set(b.handler)
	bAlias.set(b.handler) // the same node on a second address
	_, bPort, _ := strings.Cut(bSrv.hostPort(), ":")
	_, aPort, _ := strings.Cut(aSrv.hostPort(), ":")
	resolver := fakeResolver{
		"nodes.test": {"127.0.0.2", "127.0.0.1"}, // b on .1; nothing listens on .2
		"b.test":     {"127.0.0.1"},
		"self.test":  {"127.0.0.1"},
	}
	a := newNode(t, nodeOpts{name: "duometer@a", username: clusterUser, secret: clusterSecret, cluster: &pull.ClusterOptions{
		Peers: []string{
			"http://nodes.test:" + bPort,
			"http://b.test:" + bPort + "/", // the same address again
			bAlias.URL,                     // the same node on another address
			"http://self.test:" + aPort,    // this node itself
			"http://nxdomain.test:9464",
		},
		Timeout: 2 * time.Second, HTTPClient: clusterClient, Resolver: resolver,
	}})
	aSrv.set(a.handler)
	a.self.AuthFailed.Emit(1)
	mfs, _ := scrapeNode(t, a, pull.Path+"?mode=all_nodes_aggregated")
	wantSeries(t, "duometer_auth_failed_total", series(mfs, "duometer_auth_failed_total", nil), map[string]float64{"{}": 3})
	wantSeries(t, "duometer_cluster_peer_up", series(mfs, "duometer_cluster_peer_up", nil), map[string]float64{
		`{peer="127.0.0.1:` + bPort + `"}`: 1, `{peer="127.0.0.2:` + bPort + `"}`: 0, `{peer="127.0.0.1:` + aPort + `"}`: 1,
		fmt.Sprintf("{peer=%q}", bAlias.hostPort()): 1, `{peer="nxdomain.test:9464"}`: 0})
	mfs, _ = scrapeNode(t, a, pull.Path+"?mode=all_nodes_unaggregated")
	wantSeries(t, "unaggregated duometer_auth_failed_total", series(mfs, "duometer_auth_failed_total", nil), map[string]float64{
		`{node="duometer@a"}`: 1, `{node="duometer@b"}`: 2})
	if v := b.self.AuthSuccess.Value(); v != 4 {
		t.Errorf("b was fetched %v times in two scrapes, want 4 (two addresses each)", v)
	}
}

// TestClusterForeignPeers: a peer that gives no node name is labeled by its address, as is
// one that gives a name already taken; a peer that serves the text format is parsed; a
// family of another type on a peer is left out and logged.
func TestClusterForeignPeers(t *testing.T) {
	text := func(node, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("mode") != "node" {
				http.Error(w, "want mode=node", http.StatusBadRequest)
				return
			}
			if node != "" {
				w.Header().Set(pull.NodeHeader, node)
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = io.WriteString(w, body)
		})
	}
	anon, dup, conflicting := newServer2(t), newServer2(t), newServer2(t)
	anon.set(text("", "# HELP go_goroutines Goroutines.\n# TYPE duometer_auth_failed_total counter\nduometer_auth_failed_total 10\n# TYPE go_goroutines gauge\ngo_goroutines 3\n"))
	dup.set(text("duometer@a", "# TYPE duometer_auth_failed_total counter\nduometer_auth_failed_total 100\n# TYPE go_goroutines gauge\ngo_goroutines 4\n"))
	conflicting.set(text("duometer@z", "# TYPE duometer_auth_failed_total gauge\nduometer_auth_failed_total 1000\n# TYPE go_goroutines gauge\ngo_goroutines 5\n"))
	log := &testutil.SyncBuffer{}
	a := newNode(t, nodeOpts{name: "duometer@a", log: slog.New(slog.NewTextHandler(log, nil)), cluster: &pull.ClusterOptions{
		Peers: []string{anon.URL, dup.URL, conflicting.URL}}})
	a.self.AuthFailed.Emit(1)
	mfs, _ := scrapeNode(t, a, pull.Path+"?mode=all_nodes_aggregated")
	wantSeries(t, "duometer_auth_failed_total", series(mfs, "duometer_auth_failed_total", nil), map[string]float64{"{}": 111})
	goroutines := series(mfs, "go_goroutines", map[string]string{})
	for _, want := range []string{anon.hostPort(), dup.hostPort(), "duometer@z"} {
		if _, ok := goroutines[fmt.Sprintf("{node=%q}", want)]; !ok {
			t.Errorf("go_goroutines has no series for node %s: %v", want, goroutines)
		}
	}
	if !strings.Contains(log.String(), "duometer@z reports duometer_auth_failed_total as a gauge, not a counter") {
		t.Errorf("the type conflict is not logged:\n%s", log.String())
	}
}

func TestClusterNoPeers(t *testing.T) {
	a := newNode(t, nodeOpts{name: "duometer@solo", runtime: true, cluster: &pull.ClusterOptions{}})
	a.self.AuthFailed.Emit(4)
	mfs, _ := scrapeNode(t, a, pull.Path+"?mode=all_nodes_aggregated")
	wantSeries(t, "duometer_auth_failed_total", series(mfs, "duometer_auth_failed_total", nil), map[string]float64{"{}": 4})
	if got := series(mfs, "go_goroutines", nil); len(got) != 1 || got[`{node="duometer@solo"}`] == 0 {
		t.Errorf("go_goroutines %v", got)
	}
	if _, ok := mfs["duometer_cluster_peer_up"]; ok {
		t.Error("duometer_cluster_peer_up without peers")
	}
}

// TestClusterScraperGone: when the scraper gives up before the peers answer, the peers are
// not marked down nor logged: they are not to blame.
func TestClusterScraperGone(t *testing.T) {
	slow := newServer2(t)
	release := make(chan struct{})
	slow.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	log := &testutil.SyncBuffer{}
	a := newNode(t, nodeOpts{name: "duometer@a", log: slog.New(slog.NewTextHandler(log, nil)), cluster: &pull.ClusterOptions{
		Peers: []string{slow.URL}, Timeout: 5 * time.Second}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, pull.Path+"?mode=all_nodes_aggregated", nil)
	start := time.Now()
	a.handler.ServeHTTP(httptest.NewRecorder(), req)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the scrape went on for %v after its client had gone", d)
	}
	if s := a.self.ClusterPeerUp.Series(); len(s) != 0 {
		t.Errorf("duometer.cluster.peer-up has %d series after an abandoned scrape", len(s))
	}
	if log.String() != "" {
		t.Errorf("logged:\n%s", log.String())
	}
}
