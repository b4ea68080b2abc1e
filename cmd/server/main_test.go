package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
