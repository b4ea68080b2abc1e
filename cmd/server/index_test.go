package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
)

// newIndexServer builds (does not run) a server on cfg, shut down at the end of the test.
func newIndexServer(t *testing.T, cfg config.Config) *server {
	t.Helper()
	cfg.Server.Listen = "127.0.0.1:0"
	s, err := newServer(cfg, source{}, slog.New(slog.DiscardHandler), new(slog.LevelVar))
	must(t, err)
	t.Cleanup(func() { must(t, s.parts.shutdown(time.Now().Add(5*time.Second))) })
	return s
}

func getIndex(t *testing.T, s *server, accept string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / with Accept %q: %d %s", accept, rec.Code, rec.Body.String())
	}
	if rec.Header().Get("Vary") != "Accept" {
		t.Errorf("GET / with Accept %q: Vary %q, want Accept", accept, rec.Header().Get("Vary"))
	}
	return rec
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// Clients that do not ask for HTML (curl sends */*) get the plain text of old, naming what
// this configuration serves.
func TestIndexPlainText(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Cluster.NodeName = "duometer@db-1"
	s := newIndexServer(t, cfg)
	for _, accept := range []string{"", "*/*", "text/plain", "text/*", "text/html;q=0", "application/json"} {
		rec := getIndex(t, s, accept)
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Accept %q: Content-Type %q, want text/plain", accept, ct)
		}
		want := "duometer " + s.build.Version + " (node duometer@db-1)\n\n" +
			"GET  /metrics/prometheus           Prometheus exposition, ?mode=node|all_nodes_aggregated|all_nodes_unaggregated\n" +
			"GET  /metrics/prometheus/{group}   one group of events (404 lists the groups)\n" +
			"POST /api/v1/events                ingestion API (JSON or NDJSON)\n" +
			"GET  /-/healthy                    liveness\n" +
			"GET  /-/ready                      readiness\n"
		if got := rec.Body.String(); got != want {
			t.Errorf("Accept %q: body\n%s\nwant\n%s", accept, got, want)
		}
	}

	cfg.Metrics.Prometheus.Enable = false
	cfg.Ingest.Enable = false
	cfg.Server.EnableLifecycle = true
	body := getIndex(t, newIndexServer(t, cfg), "*/*").Body.String()
	for _, want := range []string{"POST /-/reload", "GET  /-/healthy", "GET  /-/ready"} {
		if !strings.Contains(body, want) {
			t.Errorf("pull and ingest off, lifecycle on: no %q in\n%s", want, body)
		}
	}
	for _, absent := range []string{"/metrics/prometheus", "/api/v1/events"} {
		if strings.Contains(body, absent) {
			t.Errorf("pull and ingest off: %q listed in\n%s", absent, body)
		}
	}
}

// A browser gets HTML: a link for every GET endpoint of the configuration, the POST ones
// named, the cluster modes with peers, the groups known now, and every value escaped.
func TestIndexHTML(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Cluster.NodeName = `duo"<b>meter</b>@db-1&x`
	cfg.Cluster.Peers = []string{"http://10.0.0.2:9464"}
	cfg.Server.EnableLifecycle = true
	cfg.Metrics.DisabledEvents = []string{"process.*"}
	s := newIndexServer(t, cfg)
	s.cat.MustDefine(events.Def{Name: "backup.completed", Kind: events.Counter}).Inc()
	s.cat.MustDefine(events.Def{Name: "idle.never", Kind: events.Counter, Labels: []string{"x"}}) // no series

	for _, accept := range []string{browserAccept, "text/html", "TEXT/HTML; charset=utf-8", "application/json, text/html;q=0.5"} {
		rec := getIndex(t, s, accept)
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("Accept %q: Content-Type %q, want text/html", accept, ct)
		}
		body := rec.Body.String()
		for _, want := range []string{
			"<!DOCTYPE html>",
			`<a href="/metrics/prometheus"><code>/metrics/prometheus</code></a>`,
			`<a href="/metrics/prometheus?mode=all_nodes_aggregated">mode=all_nodes_aggregated</a>`,
			`<a href="/metrics/prometheus?mode=all_nodes_unaggregated">mode=all_nodes_unaggregated</a>`,
			`<a href="/metrics/prometheus/backup">backup</a>`,
			`<a href="/metrics/prometheus/duometer">duometer</a>`,
			`<a href="/metrics/prometheus/go">go</a>`,
			`<td>POST</td><td><code>/api/v1/events</code>`,
			`<td>POST</td><td><code>/-/reload</code>`,
			`<a href="/-/healthy"><code>/-/healthy</code></a>`,
			`<a href="/-/ready"><code>/-/ready</code></a>`,
			"Version <code>" + s.build.Version + "</code>",
			"node <code>duo&#34;&lt;b&gt;meter&lt;/b&gt;@db-1&amp;x</code>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("Accept %q: no %s in\n%s", accept, want, body)
			}
		}
		for _, absent := range []string{"<b>meter", `href="/metrics/prometheus/process"`, `href="/metrics/prometheus/idle"`,
			`href="/metrics/prometheus/{group}"`, `href="/-/reload"`} {
			if strings.Contains(body, absent) {
				t.Errorf("Accept %q: %s in\n%s", accept, absent, body)
			}
		}
	}
}

func TestAcceptsHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                        false,
		"*/*":                     false,
		"text/*":                  false,
		"text/plain":              false,
		"text/html":               true,
		"text/html;q=0":           false,
		"text/html;q=0.001":       true,
		"text/html;q=abc":         false,
		"application/xhtml+xml":   false,
		browserAccept:             true,
		"text/plain, text/html":   true,
		"text/plain;q=1,,garbage": false,
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept", accept)
		if got := acceptsHTML(req); got != want {
			t.Errorf("acceptsHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestWholeGroupDisabled(t *testing.T) {
	for _, tc := range []struct {
		patterns []events.Pattern
		want     bool
	}{
		{nil, false},
		{[]events.Pattern{"*"}, true},
		{[]events.Pattern{"go.*"}, true},
		{[]events.Pattern{"g*"}, true},
		{[]events.Pattern{"go.memory.*"}, false},
		{[]events.Pattern{"gopher.*"}, false},
		{[]events.Pattern{"*.used"}, false},
		{[]events.Pattern{"go.goroutine.count"}, false},
	} {
		if got := wholeGroupDisabled(tc.patterns, "go"); got != tc.want {
			t.Errorf("wholeGroupDisabled(%q, go) = %v, want %v", tc.patterns, got, tc.want)
		}
	}
}
