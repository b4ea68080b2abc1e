package config_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
)

// Markers, on the line before a ```yaml block of docs/deployment.md, saying how the block is
// checked. .ci/run extracts the blocks after promtoolMarker and runs promtool check config
// on each; notCheckedMarker says, in the page's source, why a block is not checked.
const (
	promtoolMarker   = "<!-- check: promtool check config -->"
	notCheckedMarker = "<!-- not checked: "
)

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	lang   string
	line   int    // of the opening fence, from 1
	marker string // the line before the opening fence, trimmed
	text   string
}

// docBlocks returns the fenced code blocks of the Markdown file at path. A fence may be
// indented (a block in a list item): the indentation is removed from its lines.
func docBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out            []docBlock
		cur            *docBlock
		indent, prev   string
		body           strings.Builder
		n              int
		fenceRE        = regexp.MustCompile("^([ \t]*)```([A-Za-z0-9_-]*)[ \t]*$")
		closingFenceRE = regexp.MustCompile("^[ \t]*```[ \t]*$")
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil:
			if m := fenceRE.FindStringSubmatch(line); m != nil {
				cur, indent = &docBlock{lang: m[2], line: n, marker: strings.TrimSpace(prev)}, m[1]
				body.Reset()
			}
		case closingFenceRE.MatchString(line):
			cur.text = body.String()
			out = append(out, *cur)
			cur = nil
		default:
			body.WriteString(strings.TrimPrefix(line, indent) + "\n")
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block never closed", path, cur.line)
	}
	return out
}

// stateDir is the systemd unit's StateDirectory, which this machine need not have.
const stateDir = "/var/lib/duometer"

// loadDocConfig loads a configuration from a document with config.Load, as duometer would,
// without its environment. A storage.path in stateDir is accepted when the directory is
// missing here (systemd makes it); any other problem fails the test.
func loadDocConfig(t *testing.T, where, toml string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "duometer.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, nil)
	if err == nil {
		return
	}
	_, statErr := os.Stat(stateDir)
	missing := "storage.path: directory " + stateDir + " does not exist"
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != missing || !errors.Is(statErr, fs.ErrNotExist) {
			t.Errorf("%s: config.Load:\n%v\nof:\n%s", where, err, toml)
			return
		}
	}
	// Only the missing state directory: load again with it replaced, to see the rest is valid.
	if _, err := config.Load(path, []string{"DUOMETER_STORAGE__PATH=" + filepath.Join(t.TempDir(), "duometer.snapshot")}); err != nil {
		t.Errorf("%s: config.Load with storage.path in a directory that exists:\n%v\nof:\n%s", where, err, toml)
	}
}

// Every duometer configuration shown in docs/deployment.md and the README loads.
func TestDeploymentDocConfigs(t *testing.T) {
	for file, atLeast := range map[string]int{"../../docs/deployment.md": 4, "../../README.md": 2} {
		var n int
		for _, b := range docBlocks(t, file) {
			if b.lang == "toml" {
				n++
				loadDocConfig(t, fmt.Sprintf("%s:%d", file, b.line), b.text)
			}
		}
		if n < atLeast {
			t.Errorf("%s: %d toml blocks, want at least %d: is the parser still finding them?", file, n, atLeast)
		}
	}
}

// Every yaml block of docs/deployment.md says how it is checked: by promtool in .ci/run (at
// least one is), or not, and why.
func TestDeploymentDocYAMLMarked(t *testing.T) {
	var promtool int
	for _, b := range docBlocks(t, "../../docs/deployment.md") {
		if b.lang != "yaml" {
			continue
		}
		switch {
		case b.marker == promtoolMarker:
			promtool++
			if !strings.Contains(b.text, "scrape_configs:") {
				t.Errorf("docs/deployment.md:%d: marked for promtool check config but is no Prometheus configuration:\n%s", b.line, b.text)
			}
		case strings.HasPrefix(b.marker, notCheckedMarker) && strings.HasSuffix(b.marker, "-->"):
		default:
			t.Errorf("docs/deployment.md:%d: yaml block without %q or %q…-->: say how it is checked", b.line, promtoolMarker, notCheckedMarker)
		}
	}
	if promtool == 0 {
		t.Error("docs/deployment.md: no yaml block marked for promtool check config")
	}
}

// The example configuration of the systemd unit loads, and the two agree: the unit runs it
// from /etc/duometer/duometer.toml, its snapshot is in the unit's state directory, and the
// unit waits for the shutdown longer than the configuration takes.
func TestSystemdUnitAndItsConfig(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/systemd/duometer.toml")
	if err != nil {
		t.Fatal(err)
	}
	loadDocConfig(t, "deploy/systemd/duometer.toml", string(raw))
	cfg, err := config.Load("../../deploy/systemd/duometer.toml", []string{"DUOMETER_STORAGE__PATH=" + filepath.Join(t.TempDir(), "s")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "\npath = \""+stateDir+"/duometer.snapshot\"\n") {
		t.Errorf("deploy/systemd/duometer.toml: storage.path is not %s/duometer.snapshot", stateDir)
	}

	unit := map[string][]string{}
	b, err := os.ReadFile("../../deploy/systemd/duometer.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	one := func(key string) string {
		if len(unit[key]) != 1 {
			t.Fatalf("duometer.service: %s set %d times, want once", key, len(unit[key]))
		}
		return unit[key][0]
	}
	if got, want := one("ExecStart"), "/usr/local/bin/duometer -config /etc/duometer/duometer.toml"; got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	if got := one("StateDirectory"); "/var/lib/"+got != stateDir {
		t.Errorf("StateDirectory=%s, but storage.path is in %s", got, stateDir)
	}
	if got := one("ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%s", got)
	}
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	// The shutdown takes server.shutdown-timeout, then at most 5s for the last snapshot.
	if need := cfg.Server.ShutdownTimeout + 5*time.Second; stop <= need {
		t.Errorf("TimeoutStopSec=%v, want more than server.shutdown-timeout + 5s = %v", stop, need)
	}
	if d := config.DefaultConfig().Server.ShutdownTimeout; stop <= d+5*time.Second {
		t.Errorf("TimeoutStopSec=%v, want more than the default server.shutdown-timeout (%v) + 5s", stop, d)
	}
}
