package pull_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/pull"
	"github.com/duometer/duometer/pkg/telemetry"
	"github.com/duometer/duometer/pkg/web"
)

// nodeOpts describe an in-process duometer node: the real pull path (catalog →
// MeterProvider → Prometheus reader → Endpoints) behind the server's routes.
type nodeOpts struct {
	name             string // resource service.instance.id and, in a cluster, the node name
	runtime          bool   // go_* and process_* instruments
	disabled         []string
	username, secret string               // basic auth when set
	cluster          *pull.ClusterOptions // nil: no cluster
	log              *slog.Logger
}

type node struct {
	cat     *events.Catalog
	self    *events.Self
	handler http.Handler // the server's pull routes
	cluster *pull.Cluster
}

func newNode(t *testing.T, o nodeOpts) *node {
	t.Helper()
	if o.name == "" {
		o.name = "golden"
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	cat := events.NewCatalog()
	if err := cat.SetDisabled(o.disabled); err != nil {
		t.Fatal(err)
	}
	r := startReader(t, cat, o.name, o.runtime)
	n := &node{cat: cat, self: cat.Self()}
	if o.cluster != nil {
		co := *o.cluster
		co.Self, co.Log, co.Instance = n.self, o.log, telemetry.NewInstanceID()
		if co.NodeName == "" {
			co.NodeName = o.name
		}
		var err error
		if n.cluster, err = pull.NewCluster(co); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.cluster.Close)
	}
	ep := pull.NewEndpoints(r, pull.NewIndex(cat), n.cluster, nil, o.log)
	protect := func(h http.Handler) http.Handler {
		if o.username != "" {
			return web.BasicAuth(o.username, o.secret, n.self, h)
		}
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+pull.Path, protect(ep.Main()))
	mux.Handle("GET "+pull.GroupPattern, protect(ep.Group()))
	n.handler = mux
	return n
}

// get serves one GET of target (path and query) with the given headers.
func (n *node) get(t *testing.T, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	return serve(t, n.handler, target, header)
}

var textPlain = http.Header{"Accept": {"text/plain"}}

// groupsCatalog emits deterministic values in four groups of events: duometer's own, backup,
// queue and label (odd label values), and leaves a fifth group, empty, without series.
func groupsCatalog(cat *events.Catalog) {
	emitSamples(cat)
	self := cat.Self()
	self.HTTPRequests.Inc("prometheus_group", "404")
	self.ClusterPeerUp.Emit(1, "10.0.0.2:9464")
	self.CertExpiry.Emit(1.8e9, "/etc/duometer/cert.pem")
	cat.MustDefine(events.Def{Name: "backup.completed", Kind: events.Counter, Labels: []string{"kind"},
		Description: "Backups completed."}).Emit(2, "full")
	cat.MustDefine(events.Def{Name: "backup.ok", Kind: events.Gauge, Aggregation: events.Logical,
		Description: "1 when the last backup succeeded."}).Emit(1)
	cat.MustDefine(events.Def{Name: "empty.things", Kind: events.Counter, Labels: []string{"x"}, Description: "Never emitted."})
}

// runtimeValue matches the value of a sample line (there are no timestamps).
var runtimeValue = regexp.MustCompile(`(?m)^((?:go|process)_.*) \S+$`)

// TestGroupGolden pins the exposition of every group endpoint. Regenerate with
// go test ./pkg/pull -run TestGroupGolden -update. The values of the runtime groups (go,
// process) change from run to run and are written as 0.
func TestGroupGolden(t *testing.T) {
	n := newNode(t, nodeOpts{runtime: true, disabled: []string{"duometer.config.*"}})
	groupsCatalog(n.cat)

	all := n.get(t, pull.Path, textPlain)
	if all.Code != http.StatusOK {
		t.Fatalf("main endpoint: %d", all.Code)
	}
	mainFamilies := familyNames(t, all.Body.Bytes())
	groups := []string{"backup", "duometer", "go", "label", "process", "queue"}
	seen := map[string]string{} // family → group
	for _, g := range groups {
		rec := n.get(t, pull.Path+"/"+g, textPlain)
		if rec.Code != http.StatusOK {
			t.Fatalf("group %s: status %d: %s", g, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("group %s: Content-Type %q", g, ct)
		}
		got := rec.Body.Bytes()
		if g == "go" || g == "process" {
			got = runtimeValue.ReplaceAll(got, []byte("$1 0"))
		}
		checkGolden(t, "group "+g, filepath.Join("testdata", "groups", g+".prom"), got)
		for _, f := range familyNames(t, rec.Body.Bytes()) {
			if f == pull.TargetInfo {
				continue
			}
			if prev, dup := seen[f]; dup {
				t.Errorf("family %s is in groups %s and %s", f, prev, g)
			}
			seen[f] = g
			if want := strings.SplitN(f, "_", 2)[0]; want != g {
				t.Errorf("family %s served in group %s", f, g)
			}
		}
		if !bytes.Contains(rec.Body.Bytes(), []byte("\ntarget_info{")) {
			t.Errorf("group %s lacks target_info", g)
		}
		checkMetrics(t, "group "+g, rec.Body.Bytes())
	}
	// Together the groups serve what the main endpoint serves, each family once.
	for _, f := range mainFamilies {
		if _, ok := seen[f]; !ok && f != pull.TargetInfo {
			t.Errorf("family %s of the main endpoint is in no group", f)
		}
	}
	if len(seen)+1 != len(mainFamilies) {
		t.Errorf("groups serve %d families, the main endpoint %d (target_info aside)", len(seen), len(mainFamilies)-1)
	}
}

// familyNames parses an exposition and returns its family names, sorted.
func familyNames(t *testing.T, body []byte) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	var names []string
	for n := range mfs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// checkMetrics runs promtool check metrics on body when promtool is installed.
func checkMetrics(t *testing.T, what string, body []byte) {
	t.Helper()
	promtoolCheck(t, what, body, false)
}

// promtoolCheck runs promtool check metrics on body when promtool is installed. With
// allowNoHelp, the lint finding "no help text" (crafted families without HELP) is accepted.
func promtoolCheck(t *testing.T, what string, body []byte, allowNoHelp bool) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	if allowNoHelp && cmd.ProcessState.ExitCode() == 3 {
		other := false
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			other = other || !strings.HasSuffix(l, "no help text")
		}
		if !other {
			return
		}
	}
	t.Errorf("%s: promtool check metrics: %v\n%s\n--- body\n%s", what, err, out, body)
}

func TestGroupUnknown(t *testing.T) {
	n := newNode(t, nodeOpts{runtime: true, disabled: []string{"queue.*"}})
	groupsCatalog(n.cat)
	for _, g := range []string{"nope", "queue", "empty", "target", "target_info", "Duometer", "duometer.auth"} {
		rec := n.get(t, pull.Path+"/"+g, textPlain)
		if rec.Code != http.StatusNotFound {
			t.Errorf("group %q: status %d, want 404", g, rec.Code)
			continue
		}
		body := rec.Body.String()
		if !strings.Contains(body, "known groups: backup, duometer, go, label, process\n") {
			t.Errorf("group %q: 404 body does not list the known groups: %q", g, body)
		}
		if strings.Contains(body, "# TYPE") {
			t.Errorf("group %q: 404 body carries metrics", g)
		}
	}
	// A group appears once it has a series, and an unknown mode is node mode.
	n.cat.Lookup("empty.things").Inc("x")
	if rec := n.get(t, pull.Path+"/empty?mode=bogus", textPlain); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), `empty_things_total{x="x"} 1`) {
		t.Errorf("group empty after an emission: %d\n%s", rec.Code, rec.Body)
	}
}

func TestGroupAuth(t *testing.T) {
	const secret = "correct horse battery staple"
	n := newNode(t, nodeOpts{username: "prometheus", secret: secret})
	groupsCatalog(n.cat)
	for i, target := range []string{pull.Path + "/duometer", pull.Path + "/backup", pull.Path + "/nope", pull.Path + "/backup?mode=all_nodes_aggregated"} {
		rec := n.get(t, target, textPlain)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", target, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "backup_") || strings.Contains(rec.Body.String(), "known groups") {
			t.Errorf("%s: the 401 body leaks metrics or groups: %q", target, rec.Body)
		}
		rec = n.get(t, target, withAuth(textPlain, "prometheus", "wrong"))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong secret: %d, want 401", target, rec.Code)
		}
		if got, want := n.self.AuthFailed.Value(), float64(3+2*(i+1)); got != want {
			t.Errorf("%s: duometer.auth.failed = %v, want %v", target, got, want)
		}
	}
	rec := n.get(t, pull.Path+"/backup", withAuth(textPlain, "prometheus", secret))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `backup_completed_total{kind="full"} 2`) {
		t.Errorf("right credentials: %d\n%s", rec.Code, rec.Body)
	}
	if n.self.AuthSuccess.Value() != 1 {
		t.Errorf("duometer.auth.success = %v, want 1", n.self.AuthSuccess.Value())
	}
}

func TestGroupNegotiation(t *testing.T) {
	n := newNode(t, nodeOpts{})
	groupsCatalog(n.cat)
	om := n.get(t, pull.Path+"/backup", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
	if ct := om.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics content type = %q", ct)
	}
	if !strings.HasSuffix(om.Body.String(), "# EOF\n") || !strings.Contains(om.Body.String(), "backup_completed_total{kind=\"full\"} 2") {
		t.Errorf("OpenMetrics body:\n%s", om.Body)
	}
	if strings.Contains(om.Body.String(), "duometer_") {
		t.Errorf("group backup serves duometer_ families:\n%s", om.Body)
	}
	body := gunzipped(t, n.get(t, pull.Path+"/backup", http.Header{"Accept": {"text/plain"}, "Accept-Encoding": {"gzip"}}))
	if !bytes.Contains(body, []byte(`backup_completed_total{kind="full"} 2`)) {
		t.Errorf("gzipped body:\n%s", body)
	}
	// The name[] filter of promhttp applies as on the main endpoint.
	f := n.get(t, pull.Path+"/backup?name[]=backup_ok", textPlain)
	if names := familyNames(t, f.Body.Bytes()); !slices.Equal(names, []string{"backup_ok"}) {
		t.Errorf("name[]=backup_ok serves %v", names)
	}
}

// TestIndex checks that the index maps every family the exporter writes for every kind and
// unit of event back to its event, and gives the runtime families their group and rule.
func TestIndex(t *testing.T) {
	n := newNode(t, nodeOpts{runtime: true})
	groupsCatalog(n.cat)
	for _, k := range []events.Kind{events.Counter, events.UpDownCounter, events.Gauge, events.Histogram} {
		for i, u := range []string{"", "s", "By", "1", "ms", "{request}"} {
			name := "kinds." + k.String() + "-" + strconv.Itoa(i)
			n.cat.MustDefine(events.Def{Name: name, Kind: k, Unit: u, Aggregation: events.PerNode}).Emit(1)
		}
	}
	x := pull.NewIndex(n.cat)
	names := familyNames(t, n.get(t, pull.Path, textPlain).Body.Bytes())
	for _, f := range names {
		switch {
		case f == pull.TargetInfo:
			if x.Group(f) != "" || x.Aggregation(f) != events.Consistent {
				t.Errorf("target_info: group %q, aggregation %v", x.Group(f), x.Aggregation(f))
			}
		case strings.HasPrefix(f, "go_") || strings.HasPrefix(f, "process_"):
			if _, ok := x.Event(f); ok {
				t.Errorf("%s is taken for an event", f)
			}
			if g := x.Group(f); g != strings.SplitN(f, "_", 2)[0] {
				t.Errorf("%s: group %q", f, g)
			}
			if a := x.Aggregation(f); a != events.PerNode {
				t.Errorf("%s: aggregation %v, want per-node", f, a)
			}
		default:
			d, ok := x.Event(f)
			if !ok {
				t.Errorf("family %s maps to no event", f)
				continue
			}
			if x.Group(f) != d.Group() || x.Aggregation(f) != d.Aggregation {
				t.Errorf("%s: group %q aggregation %v, want %q %v", f, x.Group(f), x.Aggregation(f), d.Group(), d.Aggregation)
			}
		}
	}
	for f, want := range map[string]events.Aggregation{
		"duometer_cluster_peer_up":         events.Consistent,
		"duometer_tls_cert_expiry_seconds": events.PerNode,
		"duometer_auth_failed_total":       events.Sum,
		"backup_ok":                        events.Logical,
		"unknown_family_total":             events.Sum,
	} {
		if got := x.Aggregation(f); got != want {
			t.Errorf("Aggregation(%s) = %v, want %v", f, got, want)
		}
	}
	if g := x.Group("unknown_family_total"); g != "unknown" {
		t.Errorf("Group(unknown_family_total) = %q", g)
	}
	// Events defined after the index are indexed too.
	n.cat.MustDefine(events.Def{Name: "late.event", Kind: events.Gauge, Aggregation: events.Consistent})
	if got := x.Aggregation("late_event"); got != events.Consistent {
		t.Errorf("an event defined after NewIndex: aggregation %v", got)
	}
}
