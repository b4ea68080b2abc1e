package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
)

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-version"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "duometer ") {
		t.Errorf("version output %q", out.String())
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	must(t, os.WriteFile(good, []byte("[server]\nlisten = \"127.0.0.1:0\"\n"), 0o600))
	must(t, os.WriteFile(bad, []byte(`
[metrics.prometheus]
enabled = true
[metrics.prometheus.auth]
username = "u"
secret = "hunter2-very-secret"
[metrics.open-telemetry]
transport = "pigeon"
interval = "soon"
`), 0o600))

	var out, errb bytes.Buffer
	if code := run([]string{"-check-config", "-config", good}, nil, &out, &errb); code != exitOK {
		t.Errorf("good config: exit %d, stderr %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	code := run([]string{"-check-config", "-config", bad}, nil, &out, &errb)
	if code != exitConfig {
		t.Errorf("bad config: exit %d, want %d", code, exitConfig)
	}
	for _, key := range []string{"metrics.prometheus.enabled", "metrics.open-telemetry.transport", "metrics.open-telemetry.interval"} {
		if !strings.Contains(errb.String(), key) {
			t.Errorf("stderr does not name %s:\n%s", key, errb.String())
		}
	}
	if strings.Contains(errb.String()+out.String(), "hunter2") {
		t.Error("the secret was printed")
	}
	errb.Reset()
	if code := run([]string{"-check-config", "-config", filepath.Join(dir, "missing.toml")}, nil, &out, &errb); code != exitConfig {
		t.Errorf("missing file: exit %d, want %d", code, exitConfig)
	}
	if code := run([]string{"-no-such-flag"}, nil, &out, &errb); code != exitConfig {
		t.Errorf("unknown flag: exit %d, want %d", code, exitConfig)
	}
}

// With Prometheus pull off and the Pushgateway on, the Prometheus reader is made (the
// Pushgateway pushes what it gathers) but not served; with both off, none is made.
func TestPushgatewayWithoutPrometheusEndpoint(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Metrics.Prometheus.Enable = false
	cfg.Metrics.Pushgateway.Enable = true
	s, err := newServer(cfg, source{}, slog.New(slog.DiscardHandler), new(slog.LevelVar))
	must(t, err)
	// Never started, the pusher still makes a final push at shutdown: to nothing here.
	defer func() { _ = s.parts.shutdown(time.Now().Add(time.Second)) }()
	if p := s.parts; p.metrics.prometheus == nil || p.pushgateway == nil || p.pull != nil {
		t.Fatalf("Prometheus reader %v, pusher %v, pull endpoints %v; want the reader and the pusher only",
			p.metrics.prometheus, p.pushgateway, p.pull)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/prometheus", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/metrics/prometheus answered %d with pull off, want 404", rec.Code)
	}

	cfg.Metrics.Pushgateway.Enable = false
	b, err := newServer(cfg, source{}, slog.New(slog.DiscardHandler), new(slog.LevelVar))
	must(t, err)
	defer func() { must(t, b.parts.shutdown(time.Now().Add(time.Second))) }()
	if b.parts.metrics.prometheus != nil || b.parts.pushgateway != nil {
		t.Error("Prometheus reader or pusher made with neither Prometheus nor the Pushgateway on")
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"-h"}, exitOK, "DUOMETER_", ""},
		{[]string{"-help"}, exitOK, "docs/configuration.md", ""},
		{[]string{"configs/both.toml"}, exitConfig, "", `unexpected argument "configs/both.toml": name the configuration file with -config`},
		{[]string{"-config", "x.toml", "extra"}, exitConfig, "", `unexpected argument "extra"`},
		{[]string{"-no-such-flag"}, exitConfig, "", "flag provided but not defined: -no-such-flag"},
		{[]string{"-version"}, exitOK, "duometer ", ""},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, nil, &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
		}
		if tc.code == exitConfig && !strings.Contains(errb.String(), "Usage: duometer") {
			t.Errorf("%q: no usage on stderr", tc.args)
		}
	}
	var out bytes.Buffer
	run([]string{"-version"}, nil, &out, &out)
	b := buildInfo()
	if want := fmt.Sprintf("duometer %s (revision %s, %s)\n", b.Version, b.Revision, runtime.Version()); out.String() != want {
		t.Errorf("-version printed %q, want %q", out.String(), want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
