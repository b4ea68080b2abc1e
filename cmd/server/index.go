package main

import (
	"bytes"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest"
	"github.com/duometer/duometer/pkg/pull"
)

// index serves GET /: the endpoints this configuration serves, the version and the node
// name. A client that accepts text/html (a browser) gets a page of links, as the landing
// page of exporter-toolkit gives Prometheus exporters; any other (curl, scripts) plain text.
func (s *server) index(w http.ResponseWriter, r *http.Request) {
	cfg := s.current.Load()
	w.Header().Set("Vary", "Accept")
	if !acceptsHTML(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		s.indexText(w, cfg)
		return
	}
	var b bytes.Buffer
	if err := landingPage.Execute(&b, s.landing(cfg)); err != nil {
		s.log.Error("landing page", "err", err)
		http.Error(w, "landing page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// endpoint is one route of the landing page.
type endpoint struct {
	Method, Path, What string
	// Link is the path a browser may follow: set for GET routes without a wildcard.
	Link string
	// More are links to variants of the route: the cluster modes, the groups known now.
	More []link
}

type link struct{ Name, Href string }

// endpoints lists what cfg serves, in the order of the plain-text page.
func endpoints(cfg *config.Config) []endpoint {
	var out []endpoint
	add := func(method, path, what string) *endpoint {
		e := endpoint{Method: method, Path: path, What: what}
		if method == http.MethodGet && !strings.Contains(path, "{") {
			e.Link = path
		}
		out = append(out, e)
		return &out[len(out)-1]
	}
	if cfg.Metrics.Prometheus.Enable {
		add(http.MethodGet, pull.Path, "Prometheus exposition, ?mode=node|all_nodes_aggregated|all_nodes_unaggregated")
		add(http.MethodGet, pull.Path+"/{group}", "one group of events (404 lists the groups)")
	}
	if cfg.Ingest.Enable {
		add(http.MethodPost, ingest.Path, "ingestion API (JSON or NDJSON)")
	}
	if cfg.Server.EnableLifecycle {
		add(http.MethodPost, reloadPath, "reload the configuration")
	}
	add(http.MethodGet, "/-/healthy", "liveness")
	add(http.MethodGet, "/-/ready", "readiness")
	return out
}

// indexText is the plain-text landing page.
func (s *server) indexText(w http.ResponseWriter, cfg *config.Config) {
	fmt.Fprintf(w, "duometer %s (node %s)\n\n", s.build.Version, cfg.Cluster.NodeName)
	for _, e := range endpoints(cfg) {
		fmt.Fprintf(w, "%-5s%-30s%s\n", e.Method, e.Path, e.What)
	}
}

// landingData is what the HTML landing page shows.
type landingData struct {
	Version, Revision, Node string
	Endpoints               []endpoint
}

func (s *server) landing(cfg *config.Config) landingData {
	eps := endpoints(cfg)
	for i := range eps {
		switch eps[i].Path {
		case pull.Path:
			if len(cfg.Cluster.Peers) > 0 {
				for _, m := range []pull.Mode{pull.ModeAggregated, pull.ModeUnaggregated} {
					eps[i].More = append(eps[i].More, link{Name: "mode=" + string(m), Href: pull.Path + "?mode=" + string(m)})
				}
			}
		case pull.Path + "/{group}":
			for _, g := range knownGroups(s.cat) {
				eps[i].More = append(eps[i].More, link{Name: g, Href: pull.Path + "/" + g})
			}
		}
	}
	return landingData{Version: s.build.Version, Revision: s.build.Revision, Node: cfg.Cluster.NodeName, Endpoints: eps}
}

// knownGroups are the groups a group endpoint serves now, near enough for links: those of
// the enabled events that have a series, and the runtime and process groups unless a
// disabled-events pattern takes them whole. (The group endpoint's 404 lists the exact ones.)
func knownGroups(cat *events.Catalog) []string {
	seen := map[string]bool{}
	for _, e := range cat.Events() {
		if e.Enabled() && len(e.Series()) > 0 {
			seen[e.Def().Group()] = true
		}
	}
	disabled := cat.Disabled()
	for _, g := range []string{pull.GroupGo, pull.GroupProcess} {
		if !wholeGroupDisabled(disabled, g) {
			seen[g] = true
		}
	}
	out := make([]string, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

// wholeGroupDisabled reports whether a pattern disables every event of group: "*", or a
// prefix pattern ("go.*", "g*") whose prefix starts the group's names.
func wholeGroupDisabled(patterns []events.Pattern, group string) bool {
	for _, p := range patterns {
		prefix, ok := strings.CutSuffix(string(p), "*")
		if ok && strings.HasPrefix(group+".", prefix) {
			return true
		}
	}
	return false
}

// acceptsHTML reports whether the request's Accept header names text/html with a quality
// above 0. A wildcard (*/*, text/*) does not count: curl sends */* and keeps getting text.
func acceptsHTML(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept") {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/html" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// landingPage escapes every value it is given (html/template).
var landingPage = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>duometer</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: .3em 1em .3em 0; }
.more a { margin-right: .8em; }
footer { margin-top: 2em; color: #555; }
</style>
</head>
<body>
<header>
<h1>duometer</h1>
<p>Events turned into metrics, exported both ways at once: scraped by Prometheus, pushed over OTLP and to a Pushgateway.</p>
<p>Version <code>{{.Version}}</code> (revision <code>{{.Revision}}</code>), node <code>{{.Node}}</code>.</p>
</header>
<main>
<h2>Endpoints</h2>
<table>
<tr><th>Method</th><th>Path</th><th>What</th></tr>
{{- range .Endpoints}}
<tr><td>{{.Method}}</td><td>{{if .Link}}<a href="{{.Link}}"><code>{{.Path}}</code></a>{{else}}<code>{{.Path}}</code>{{end}}
{{- if .More}}<div class="more">{{range .More}}<a href="{{.Href}}">{{.Name}}</a>{{end}}</div>{{end -}}
</td><td>{{.What}}</td></tr>
{{- end}}
</table>
</main>
<footer><a href="https://github.com/duometer/duometer">Documentation</a></footer>
</body>
</html>
`))
