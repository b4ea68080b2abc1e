package config_test

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/events"
)

const userEvents = `
[[events]]
name = "backup.completed"
kind = "counter"
description = "Backups that completed."
labels = ["host", "kind"]

[[events]]
name = "backup.duration"
kind = "histogram"
unit = "s"
labels = ["host"]
buckets = [1, 2.5, 30, 120]
cardinality-limit = 3
aggregation = "per-node"
ttl = "1h30m"
`

func TestLoadEvents(t *testing.T) {
	c, err := config.Load(writeFile(t, userEvents), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Event{{
		Name:        "backup.completed",
		Kind:        "counter",
		Description: "Backups that completed.",
		Labels:      []string{"host", "kind"},
	}, {
		Name:             "backup.duration",
		Kind:             "histogram",
		Unit:             "s",
		Labels:           []string{"host"},
		Buckets:          []float64{1, 2.5, 30, 120},
		CardinalityLimit: 3,
		Aggregation:      "per-node",
		TTL:              90 * time.Minute,
	}}
	if !reflect.DeepEqual(c.Events, want) {
		t.Errorf("events =\n%+v\nwant\n%+v", c.Events, want)
	}

	t.Run("inline array of tables", func(t *testing.T) {
		c, err := config.Load(writeFile(t, `events = [{ name = "a.b", kind = "gauge" }, { name = "a.c", kind = "updown" }]`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Events) != 2 || c.Events[0].Name != "a.b" || c.Events[1].Kind != "updown" {
			t.Errorf("events = %+v", c.Events)
		}
	})
	t.Run("empty", func(t *testing.T) {
		c, err := config.Load(writeFile(t, `events = []`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Events != nil {
			t.Errorf("events = %#v, want nil", c.Events)
		}
	})
	t.Run("environment keeps the file's events", func(t *testing.T) {
		c, err := config.Load(writeFile(t, userEvents), []string{"DUOMETER_SERVER__LOG_LEVEL=debug"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Events, want) {
			t.Errorf("events = %+v", c.Events)
		}
	})
}

func TestLoadEventErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		want    []string
	}{{
		name: "unknown keys and wrong types",
		file: `
[[events]]
name = "a.b"
kind = "counter"
colour = "red"
lables = ["x"]

[[events]]
name = 3
kind = "histogram"
labels = "x"
buckets = [1, "2", true]
cardinality-limit = 1.5

[[events]]
name = "a.c"
kind = "histogram"
buckets = "1,2"
`,
		want: []string{
			`events[0].colour: unknown key`,
			`events[0].lables: unknown key (did you mean events[0].labels?)`,
			`events[1].buckets[1]: expected a number, got a string`,
			`events[1].buckets[2]: expected a number, got a boolean`,
			`events[1].cardinality-limit: expected an integer, got a float`,
			`events[1].labels: expected an array of strings, got a string`,
			`events[1].name: expected a string, got an integer`,
			`events[2].buckets: expected an array of numbers, got a string`,
		},
	}, {
		name: "not an array of tables",
		file: `events = "backup.completed"`,
		want: []string{`events: expected an array of tables ([[events]]), got a string`},
	}, {
		name: "a table instead of an array of tables",
		file: "[events]\nname = \"a.b\"\n",
		want: []string{`events: expected an array of tables ([[events]]), got a table`},
	}, {
		name: "entry not a table",
		file: `events = [{ name = "a.b", kind = "gauge" }, 3]`,
		want: []string{`events[1]: expected a table, got an integer`},
	}, {
		name: "validation",
		file: `
[[events]]
name = "backup.completed"
kind = "counter"

[[events]]
name = "backup.duration"
kind = "histogram"
buckets = [1, 5, 5]

[[events]]
name = "duometer.http.requests"
kind = "counter"

[[events]]
name = "backup.completed"
kind = "gauge"

[[events]]
name = "duometer.mine"
kind = "count"
aggregation = "avg"
labels = ["ok", "le", "ok", "bad-label"]
cardinality-limit = -2

[[events]]
kind = "counter"
buckets = [1]

[[events]]
name = "Backup"

[[events]]
name = "backup.last-size"
kind = "gauge"

[[events]]
name = "backup.last_size"
kind = "gauge"
`,
		want: []string{
			`events[1].buckets: must be increasing`,
			`events[2].name: "duometer.http.requests" is reserved for duometer's own events`,
			`events[3].name: "backup.completed" is already defined by events[0]`,
			`events[4].aggregation: unknown aggregation "avg" (want sum, logical, per-node or consistent)`,
			`events[4].cardinality-limit: must be positive, 0 (metrics.cardinality-limit) or -1 (no limit), got -2`,
			`events[4].kind: unknown kind "count" (want counter, updown, gauge or histogram)`,
			`events[4].labels[1]: "le" is reserved by Prometheus`,
			`events[4].labels[2]: "ok" appears twice`,
			`events[4].labels[3]: "bad-label" is not a label key (letters, digits, underscores)`,
			`events[4].name: "duometer.mine" is reserved for duometer's own events`,
			`events[5].buckets: only histograms have buckets`,
			`events[5].name: is required, e.g. "backup.completed"`,
			`events[6].kind: is required: counter, updown, gauge or histogram`,
			`events[6].name: "Backup" is not a dotted lower-case name like "group.event-name"`,
			`events[8].name: "backup.last_size" has the same Prometheus name, backup_last_size, as "backup.last-size"`,
		},
	}, {
		name: "same Prometheus name as a built-in event",
		file: "[[events]]\nname = \"duometer_auth.success\"\nkind = \"counter\"\n",
		want: []string{`events[0].name: "duometer_auth.success" is reserved for duometer's own events`},
	}, {
		name: "bad value suppresses the matching validation problem",
		file: "[[events]]\nname = \"a.b\"\nkind = 1\n",
		want: []string{`events[0].kind: expected a string, got an integer`},
	}, {
		name: "environment",
		file: userEvents + "\n[[events]]\nname = \"x\"\nkind = \"counter\"\n",
		environ: []string{
			"DUOMETER_EVENTS=backup.completed",
			"DUOMETER_EVENTS__0__NAME=other.name",
		},
		want: []string{
			`events: cannot be set from the environment: declare [[events]] in the configuration file (from environment variable DUOMETER_EVENTS)`,
			`events: cannot be set from the environment: declare [[events]] in the configuration file (from environment variable DUOMETER_EVENTS__0__NAME)`,
			`events[2].name: "x" is not a dotted lower-case name like "group.event-name"`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(writeFile(t, tt.file), tt.environ)
			if got := problems(err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load() error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if err != nil && !reflect.DeepEqual(cfg, config.Config{}) {
				t.Errorf("Load() returned a non-zero Config with an error: %+v", cfg)
			}
		})
	}
}

func TestEventDef(t *testing.T) {
	e := config.Event{
		Name:             "backup.duration",
		Kind:             "histogram",
		Unit:             "s",
		Description:      "d",
		Labels:           []string{"host"},
		Buckets:          []float64{1, 5},
		CardinalityLimit: -1,
		Aggregation:      "consistent",
		TTL:              time.Hour,
	}
	got, err := e.Def()
	if err != nil {
		t.Fatal(err)
	}
	want := events.Def{
		Name:             "backup.duration",
		Kind:             events.Histogram,
		Unit:             "s",
		Description:      "d",
		Labels:           []string{"host"},
		Buckets:          []float64{1, 5},
		CardinalityLimit: -1,
		Aggregation:      events.Consistent,
		TTL:              time.Hour,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Def() = %+v, want %+v", got, want)
	}

	for kind, want := range map[string]events.Kind{
		"counter": events.Counter, "updown": events.UpDownCounter, "gauge": events.Gauge, "histogram": events.Histogram,
	} {
		if d, err := (config.Event{Name: "a.b", Kind: kind}).Def(); err != nil || d.Kind != want || d.Aggregation != events.Sum {
			t.Errorf("kind %q: Def() = %v, %v", kind, d, err)
		}
	}
	for agg, want := range map[string]events.Aggregation{
		"": events.Sum, "sum": events.Sum, "logical": events.Logical, "per-node": events.PerNode, "consistent": events.Consistent,
	} {
		if d, err := (config.Event{Name: "a.b", Kind: "gauge", Aggregation: agg}).Def(); err != nil || d.Aggregation != want {
			t.Errorf("aggregation %q: Def() = %v, %v", agg, d, err)
		}
	}

	_, err = config.Event{Name: "a.b", Kind: "Counter", Aggregation: "max"}.Def()
	wantLines := []string{
		`kind: unknown kind "Counter" (want counter, updown, gauge or histogram)`,
		`aggregation: unknown aggregation "max" (want sum, logical, per-node or consistent)`,
	}
	if got := problems(err); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("Def() error = %q, want %q", got, wantLines)
	}
}

// defineFromFile loads content and defines its events in a new catalog.
func defineFromFile(t *testing.T, content string) *events.Catalog {
	t.Helper()
	c, err := config.Load(writeFile(t, content), nil)
	if err != nil {
		t.Fatal(err)
	}
	cat := events.NewCatalog()
	if err := c.DefineEvents(cat); err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestDefineEvents(t *testing.T) {
	cat := defineFromFile(t, userEvents+`
[[events]]
name = "backup.size"
kind = "gauge"
unit = "By"
labels = ["host"]

[[events]]
name = "backup.default-buckets"
kind = "histogram"
unit = "s"

[metrics]
cardinality-limit = 2
disabled-events = ["backup.size", "duometer.http.*"]
`)

	completed := cat.Lookup("backup.completed")
	if completed == nil {
		t.Fatal("backup.completed not defined")
	}
	if d := completed.Def(); d.Kind != events.Counter || !slices.Equal(d.Labels, []string{"host", "kind"}) || d.Description != "Backups that completed." {
		t.Errorf("backup.completed = %+v", d)
	}
	duration := cat.Lookup("backup.duration")
	if duration == nil {
		t.Fatal("backup.duration not defined")
	}
	if d := duration.Def(); d.Kind != events.Histogram || d.Unit != "s" || !slices.Equal(d.Buckets, []float64{1, 2.5, 30, 120}) ||
		d.Aggregation != events.PerNode || d.CardinalityLimit != 3 {
		t.Errorf("backup.duration = %+v", d)
	}
	if d := cat.Lookup("backup.default-buckets").Def(); !slices.Equal(d.Buckets, events.DefaultSecondsBuckets) {
		t.Errorf("backup.default-buckets buckets = %v, want the default seconds buckets", d.Buckets)
	}

	// Disabled patterns apply to user events and built-in ones alike.
	for name, enabled := range map[string]bool{
		"backup.completed":       true,
		"backup.size":            false,
		"duometer.http.requests": false,
		"duometer.auth.success":  true,
	} {
		if e := cat.Lookup(name); e == nil || e.Enabled() != enabled {
			t.Errorf("%s: event %v, want enabled = %v", name, e, enabled)
		}
	}
	if got := cat.Disabled(); len(got) != 2 {
		t.Errorf("Disabled() = %q", got)
	}

	// metrics.cardinality-limit: 2 label sets, then the overflow series.
	for _, host := range []string{"a", "b", "c", "d"} {
		completed.Inc(host, "full")
	}
	if n := len(completed.Series()); n != 3 {
		t.Errorf("backup.completed has %d series after 4 label sets with a limit of 2, want 2 and the overflow series", n)
	}
	// The event's own limit wins.
	for _, host := range []string{"a", "b", "c", "d", "e"} {
		duration.Emit(1, host)
	}
	if n := len(duration.Series()); n != 4 {
		t.Errorf("backup.duration has %d series after 5 label sets with its limit of 3, want 3 and the overflow series", n)
	}

	t.Run("no limit", func(t *testing.T) {
		cat := defineFromFile(t, userEvents+"\n[metrics]\ncardinality-limit = -1\n")
		e := cat.Lookup("backup.completed")
		for i := range 2100 {
			e.Inc(strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i/26), "k")
		}
		if n := len(e.Series()); n != 2100 {
			t.Errorf("%d series with no limit, want 2100", n)
		}
	})

	t.Run("ttl", func(t *testing.T) {
		if got := duration.Def().TTL; got != 90*time.Minute {
			t.Errorf("backup.duration TTL = %v, want 1h30m", got)
		}
		if got := completed.Def().TTL; got != 0 {
			t.Errorf("backup.completed TTL = %v, want 0 (never)", got)
		}
	})

	t.Run("max series", func(t *testing.T) {
		// Built-in events hold series from the start: a budget of 1 is spent already, and
		// every new label set of a user event goes to the event's overflow series.
		cat := defineFromFile(t, userEvents+"\n[metrics]\nmax-series = 1\n")
		e := cat.Lookup("backup.completed")
		for _, host := range []string{"a", "b", "c"} {
			e.Inc(host, "full")
		}
		if s := e.Series(); len(s) != 1 || s[0].LabelValues() != nil || s[0].Value() != 3 {
			t.Errorf("backup.completed has %d series past metrics.max-series, want only the overflow series with 3", len(s))
		}
		if v := cat.Self().LimitsReached.With("metrics.max-series").Value(); v != 3 {
			t.Errorf(`duometer.limits.reached{limit="metrics.max-series"} = %v, want 3`, v)
		}

		cat = defineFromFile(t, userEvents+"\n[metrics]\nmax-series = -1\ncardinality-limit = -1\n")
		e = cat.Lookup("backup.completed")
		for i := range config.DefaultMaxSeries + 10 {
			e.Inc(strconv.Itoa(i), "k")
		}
		if n := len(e.Series()); n != config.DefaultMaxSeries+10 {
			t.Errorf("%d series with metrics.max-series = -1, want %d", n, config.DefaultMaxSeries+10)
		}
	})

	t.Run("default limit", func(t *testing.T) {
		cat := defineFromFile(t, userEvents)
		e := cat.Lookup("backup.completed")
		for i := range events.DefaultCardinalityLimit + 10 {
			e.Inc(strings.Repeat("h", i+1), "k")
		}
		if n := len(e.Series()); n != events.DefaultCardinalityLimit+1 {
			t.Errorf("%d series, want %d and the overflow series", n, events.DefaultCardinalityLimit)
		}
	})

	t.Run("invalid configuration leaves the catalog alone", func(t *testing.T) {
		c := config.DefaultConfig()
		c.Metrics.DisabledEvents = []string{"backup.*"}
		c.Events = []config.Event{{Name: "backup.ok", Kind: "counter"}, {Name: "backup.bad", Kind: "histogram", Buckets: []float64{2, 1}}}
		cat := events.NewCatalog()
		err := c.DefineEvents(cat)
		if got, want := problems(err), []string{"events[1].buckets: must be increasing"}; !reflect.DeepEqual(got, want) {
			t.Errorf("DefineEvents() = %q, want %q", got, want)
		}
		if cat.Lookup("backup.ok") != nil || len(cat.Disabled()) != 0 {
			t.Error("DefineEvents changed the catalog despite an error")
		}

		c.Events = nil
		c.Metrics.CardinalityLimit = 0
		if got, want := problems(c.DefineEvents(cat)), []string{"metrics.cardinality-limit: must be positive or -1, got 0"}; !reflect.DeepEqual(got, want) {
			t.Errorf("DefineEvents() = %q, want %q", got, want)
		}
	})

	t.Run("name already in the catalog", func(t *testing.T) {
		c := config.DefaultConfig()
		c.Events = []config.Event{{Name: "app.one", Kind: "counter"}, {Name: "app.two", Kind: "gauge"}}
		cat := events.NewCatalog()
		cat.MustDefine(events.Def{Name: "app.one", Kind: events.Counter})
		err := c.DefineEvents(cat)
		if err == nil || !strings.HasPrefix(err.Error(), `events[0]: event "app.one": already defined`) {
			t.Errorf("DefineEvents() = %v", err)
		}
		if cat.Lookup("app.two") == nil {
			t.Error("app.two not defined after app.one failed")
		}
	})
}

func TestLoadCatalog(t *testing.T) {
	path := writeFile(t, userEvents+"\n[metrics]\ndisabled-events = [\"backup.duration\"]\n")
	cat, err := config.LoadCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	if cat.Lookup("backup.completed") == nil || cat.Lookup("duometer.http.requests") == nil || cat.Self() == nil {
		t.Error("catalog lacks the user's or duometer's own events")
	}
	if cat.Lookup("backup.duration").Enabled() {
		t.Error("backup.duration is enabled despite disabled-events")
	}

	t.Run("ignores the environment", func(t *testing.T) {
		t.Setenv("DUOMETER_METRICS__DISABLED_EVENTS", "backup.completed")
		t.Setenv("DUOMETER_NOT_A_KEY", "x")
		cat, err := config.LoadCatalog(writeFile(t, userEvents))
		if err != nil {
			t.Fatal(err)
		}
		if !cat.Lookup("backup.completed").Enabled() {
			t.Error("the environment disabled backup.completed")
		}
	})

	t.Run("errors", func(t *testing.T) {
		cat, err := config.LoadCatalog(writeFile(t, "[[events]]\nname = \"a.b\"\nkind = \"counter\"\nbuckets = [1]\n"))
		if cat != nil || err == nil || err.Error() != "events[0].buckets: only histograms have buckets" {
			t.Errorf("LoadCatalog() = %v, %v", cat, err)
		}
		if _, err := config.LoadCatalog(writeFile(t, "[[events]]\nname = \"a.b\"\n")); err == nil {
			t.Error("LoadCatalog accepted an event without a kind")
		}
	})
}
