package ingest

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest/internal/decode/decodetest"
)

// FuzzHandler feeds arbitrary bodies to the whole handler: it must answer 202, 400 or 413,
// never panic. internal/decode's FuzzDecode checks the decoder alone against encoding/json.
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 30s ./pkg/ingest/
func FuzzHandler(f *testing.F) {
	for _, s := range decodetest.Seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	cat := testCatalog(f)
	h, err := NewHandler(Options{Catalog: cat, UnknownEvents: UnknownCounter, MaxAutoEvents: 50})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		ctype := "application/json"
		if ndjson {
			ctype = "application/x-ndjson"
		}
		a := do(h, call{ctype: ctype, body: body})
		switch a.code {
		case http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for body %q: %s", a.code, body, a.body)
		}
	})
}

// FuzzCatalogConfig feeds arbitrary TOML to config.Load; a configuration that loads must
// define its events in a new catalog without panicking or failing, and every [[events]]
// entry must then be in the catalog.
//
//	go test -run '^$' -fuzz FuzzCatalogConfig -fuzztime 30s ./pkg/ingest/
func FuzzCatalogConfig(f *testing.F) {
	if b, err := os.ReadFile("../../configs/user-events.toml"); err == nil {
		f.Add(string(b))
	}
	for _, s := range []string{
		"[[events]]\nname = \"backup.completed\"\nkind = \"counter\"\nlabels = [\"host\", \"kind\"]\n",
		"[[events]]\nname = \"job.duration\"\nkind = \"histogram\"\nunit = \"s\"\nbuckets = [1, 2.5, 10]\ncardinality-limit = 5\n",
		"[[events]]\nname = \"job.duration\"\nkind = \"histogram\"\nbuckets = [10, 1]\n",
		"[[events]]\nname = \"a.b\"\nkind = \"gauge\"\naggregation = \"per-node\"\n[[events]]\nname = \"a.b\"\nkind = \"counter\"\n",
		"[[events]]\nname = \"duometer.auth.failed\"\nkind = \"counter\"\n",
		"[[events]]\nname = \"a.b-c\"\nkind = \"counter\"\n[[events]]\nname = \"a.b_c\"\nkind = \"counter\"\n",
		"[[events]]\nname = \"x\"\nkind = \"nope\"\nlabels = [\"le\", \"le\", \"bad-key\"]\n",
		"[metrics]\ncardinality-limit = -1\ndisabled-events = [\"a.*\"]\n[[events]]\nname = \"a.b\"\nkind = \"updown\"\n",
		"[metrics]\ncardinality-limit = 0\n",
		"[ingest]\nenable = false\nmax-body = \"2MiB\"\nunknown-events = \"counter\"\n",
		"events = 3\n",
		"[[events]]\n",
		"",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, nil)
		if err != nil {
			return
		}
		// Load validated the entries as DefineEvents does: on a new catalog it must succeed.
		cat := events.NewCatalog()
		if err := cfg.DefineEvents(cat); err != nil {
			t.Fatalf("config.Load accepted what DefineEvents refuses: %v\nconfig:\n%s", err, text)
		}
		for _, e := range cfg.Events {
			if cat.Lookup(e.Name) == nil {
				t.Fatalf("DefineEvents succeeded but %q is not in the catalog\nconfig:\n%s", e.Name, text)
			}
		}
	})
}
