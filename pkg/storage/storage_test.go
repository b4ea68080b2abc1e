package storage_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var defs = []events.Def{
	{Name: "jobs.done", Kind: events.Counter, Labels: []string{"task"}},
	{Name: "jobs.queued", Kind: events.UpDownCounter},
	{Name: "backup.last-success", Kind: events.Gauge, Unit: "s", Labels: []string{"host"}},
	{Name: "jobs.duration", Kind: events.Histogram, Unit: "s", Buckets: []float64{1, 10}},
}

func catalog(t *testing.T, disabled ...string) *events.Catalog {
	t.Helper()
	cat := events.NewCatalog()
	if err := cat.SetDisabled(disabled); err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		cat.MustDefine(d)
	}
	return cat
}

func newStore(t *testing.T, cat *events.Catalog, path string, log *testutil.SyncBuffer, define func(events.Def) (events.Def, bool)) *storage.Store {
	t.Helper()
	o := storage.Options{Path: path, Interval: time.Hour, Catalog: cat, Define: define}
	if log != nil {
		o.Log = slog.New(slog.NewTextHandler(log, nil))
	}
	s, err := storage.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A restart continues every value: counter, up-down counter, gauge, histogram, a disabled
// event's, and duometer's own.
func TestRestartKeepsEveryValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "duometer.snapshot")
	a := catalog(t)
	a.Lookup("jobs.done").Emit(3, "nightly")
	a.Lookup("jobs.done").Emit(0.5, "hourly")
	a.Lookup("jobs.queued").Emit(-2)
	a.Lookup("backup.last-success").Emit(1.7e9, "db1")
	for _, v := range []float64{0.5, 5, 50} {
		a.Lookup("jobs.duration").Emit(v)
	}
	a.Self().AuthFailed.Emit(4)
	a.Self().BuildInfo.Emit(1, "v0.9", "abc", "go1.26")
	if err := newStore(t, a, path, nil, nil).Write(); err != nil {
		t.Fatal(err)
	}

	b := catalog(t, "jobs.queued") // disabled now: it keeps its stored value all the same
	res, err := newStore(t, b, path, nil, nil).Restore()
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 0 || res.Restored == 0 || res.Corrupt != "" {
		t.Errorf("Restore = %+v", res)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"jobs.done", []string{"nightly"}, 3},
		{"jobs.done", []string{"hourly"}, 0.5},
		{"backup.last-success", []string{"db1"}, 1.7e9},
		{"jobs.queued", nil, -2},
		{"duometer.auth.failed", nil, 4},
	} {
		if got := b.Lookup(c.name).With(c.labels...).Value(); got != c.want {
			t.Errorf("%s%v = %v after restart, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(b.Self().BuildInfo.Series()); n != 0 {
		t.Errorf("duometer.build.info restored (%d series): the new process sets its own", n)
	}
	counts := make([]uint64, 3)
	if n, sum := b.Lookup("jobs.duration").With().HistogramInto(counts); n != 3 || sum != 55.5 || counts[2] != 1 {
		t.Errorf("histogram after restart: count %d, sum %v, buckets %v", n, sum, counts)
	}
	if got := b.Self().StorageRestored.With("restored").Value(); got != float64(res.Restored) {
		t.Errorf("duometer.storage.restored{restored} = %v, want %d", got, res.Restored)
	}
	b.Lookup("jobs.done").Inc("nightly")
	if got := b.Lookup("jobs.done").With("nightly").Value(); got != 4 {
		t.Errorf("after restart and Inc: %v, want 4", got)
	}
}

// The snapshot keeps the service.instance.id it was written with: the store that restores it
// writes it from then on, and says so, so that the next process exports under the same
// identity. A snapshot without one (written before it was kept) leaves the store's own.
func TestRestoreKeepsInstanceID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "duometer.snapshot")
	a := catalog(t)
	st, err := storage.New(storage.Options{Path: path, Interval: time.Hour, Catalog: a, InstanceID: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	b := catalog(t)
	st, err = storage.New(storage.Options{Path: path, Interval: time.Hour, Catalog: b, InstanceID: "second"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if res.InstanceID != "first" || st.InstanceID() != "first" {
		t.Errorf("after Restore: Result.InstanceID %q, Store.InstanceID() %q; want the snapshot's, first", res.InstanceID, st.InstanceID())
	}
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), `"instance_id":"first"`) {
		t.Errorf("the next snapshot does not keep the instance id:\n%.300s", data)
	}

	// A snapshot of the format before the id was kept.
	st, err = storage.New(storage.Options{Path: path, Interval: time.Hour, Catalog: catalog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "instance_id") {
		t.Fatalf("a store without an instance id wrote one:\n%.300s", data)
	}
	st, err = storage.New(storage.Options{Path: path, Interval: time.Hour, Catalog: catalog(t), InstanceID: "third"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := st.Restore(); err != nil || res.InstanceID != "" || res.Restored == 0 || st.InstanceID() != "third" {
		t.Errorf("Restore of a snapshot without an id = %+v, %v, Store.InstanceID() %q; want its values restored and third kept", res, err, st.InstanceID())
	}
}

// Events whose kind, labels or buckets changed are skipped with a warning naming them; the
// rest is restored; events no longer defined are skipped unless Define says otherwise.
func TestRestoreIncompatibleCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap")
	a := catalog(t)
	a.Lookup("jobs.done").Inc("x")
	a.Lookup("jobs.queued").Emit(5)
	a.Lookup("jobs.duration").Emit(2)
	a.MustDefine(events.Def{Name: "auto.one", Kind: events.Counter, Labels: []string{"k"}}).Emit(7, "v")
	a.MustDefine(events.Def{Name: "gone.event", Kind: events.Counter}).Inc()
	if err := newStore(t, a, path, nil, nil).Write(); err != nil {
		t.Fatal(err)
	}

	b := events.NewCatalog()
	b.MustDefine(events.Def{Name: "jobs.done", Kind: events.Counter, Labels: []string{"task", "zone"}})
	b.MustDefine(events.Def{Name: "jobs.queued", Kind: events.Gauge})
	b.MustDefine(events.Def{Name: "jobs.duration", Kind: events.Histogram, Unit: "s", Buckets: []float64{1, 5, 10}})
	b.MustDefine(events.Def{Name: "backup.last-success", Kind: events.Gauge, Unit: "s", Labels: []string{"host"}})
	var log testutil.SyncBuffer
	res, err := newStore(t, b, path, &log, func(d events.Def) (events.Def, bool) {
		d.TTL = time.Hour
		return d, strings.HasPrefix(d.Name, "auto.")
	}).Restore()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"jobs.done: its labels changed from [task] to [task, zone]",
		"jobs.queued: its kind changed from updown to gauge",
		"jobs.duration: its buckets changed from [1 10] to [1 5 10]",
		"gone.event: no longer defined",
	} {
		found := false
		for _, got := range res.SkippedEvents {
			found = found || got == want
		}
		if !found {
			t.Errorf("skipped events %q lack %q", res.SkippedEvents, want)
		}
		if name, _, _ := strings.Cut(want, ":"); !strings.Contains(log.String(), "event="+name) {
			t.Errorf("no warning names %s:\n%s", name, log.String())
		}
	}
	if ev := b.Lookup("auto.one"); ev == nil || ev.With("v").Value() != 7 || ev.Def().TTL != time.Hour {
		t.Errorf("auto.one not defined again with its value and today's TTL: %v", ev)
	}
	if b.Lookup("gone.event") != nil {
		t.Error("gone.event was defined again")
	}
	if res.Skipped != 4 || b.Self().StorageRestored.With("skipped").Value() != 4 {
		t.Errorf("skipped %d series (counted %v), want 4", res.Skipped, b.Self().StorageRestored.With("skipped").Value())
	}
}

// A corrupt, truncated or foreign snapshot never stops the start: it is moved aside and
// nothing is restored.
func TestRestoreCorruptSnapshot(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	a := catalog(t)
	a.Lookup("jobs.done").Emit(9, "x")
	if err := newStore(t, a, good, nil, nil).Write(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"truncated": whole[:len(whole)/2],
		"altered":   []byte(strings.Replace(string(whole), `"i":9`, `"i":8`, 1)),
		"garbage":   []byte("\x00\x01 not a snapshot"),
		"empty":     {},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			b := catalog(t)
			var log testutil.SyncBuffer
			res, err := newStore(t, b, path, &log, nil).Restore()
			if err != nil {
				t.Fatal(err)
			}
			if res.Corrupt == "" || res.Restored != 0 || b.Lookup("jobs.done").With("x").Value() != 0 {
				t.Errorf("Restore = %+v", res)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the corrupt file is still at %s", path)
			}
			if kept, err := os.ReadFile(res.Corrupt); err != nil || string(kept) != string(content) {
				t.Errorf("moved-aside file %s: %v", res.Corrupt, err)
			}
			if !strings.Contains(log.String(), "unreadable") {
				t.Errorf("no warning:\n%s", log.String())
			}
		})
	}
	if res, err := newStore(t, catalog(t), filepath.Join(dir, "missing"), nil, nil).Restore(); err != nil || res.Restored != 0 {
		t.Errorf("no snapshot yet: %+v, %v", res, err)
	}
}

// Writes replace the file whole, leave no temporary file, and a failing write is counted
// and logged once until one succeeds.
func TestWriteAtomicAndCounted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap")
	cat := catalog(t)
	var log testutil.SyncBuffer
	s := newStore(t, cat, path, &log, nil)
	for i := range 3 {
		cat.Lookup("jobs.done").Inc("x")
		if err := s.Write(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after 3 writes, want 1", len(entries))
	}
	if got := cat.Self().StorageWrites.With("success").Value(); got != 3 {
		t.Errorf("duometer.storage.writes{success} = %v, want 3", got)
	}

	bad := newStore(t, cat, filepath.Join(dir, "no-such-dir", "snap"), &log, nil)
	for range 2 {
		if err := bad.Write(); err == nil {
			t.Fatal("write into a missing directory succeeded")
		}
	}
	if got := cat.Self().StorageWrites.With("failure").Value(); got != 2 {
		t.Errorf("duometer.storage.writes{failure} = %v, want 2", got)
	}
	if n := strings.Count(log.String(), "writing the snapshot failed"); n != 1 {
		t.Errorf("%d error lines for 2 failures in a row, want 1", n)
	}
}

// Start writes on the interval; Shutdown stops the loop and writes the last values.
func TestPeriodicWritesAndShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap")
	cat := catalog(t)
	s, err := storage.New(storage.Options{Path: path, Interval: 20 * time.Millisecond, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	testutil.WaitFor(t, 5*time.Second, func() bool { return cat.Self().StorageWrites.With("success").Value() >= 2 })
	cat.Lookup("jobs.done").Emit(11, "last")
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := catalog(t)
	if _, err := newStore(t, b, path, nil, nil).Restore(); err != nil {
		t.Fatal(err)
	}
	if got := b.Lookup("jobs.done").With("last").Value(); got != 11 {
		t.Errorf("value emitted before Shutdown restored as %v, want 11", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o    storage.Options
		want string
	}{
		{storage.Options{Path: "x", Interval: time.Second}, "storage: Options.Catalog is nil"},
		{storage.Options{Catalog: events.NewCatalog(), Interval: time.Second}, "storage: Options.Path is empty"},
		{storage.Options{Catalog: events.NewCatalog(), Path: "x"}, "storage: interval 0s must be positive"},
	} {
		if _, err := storage.New(tc.o); err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}
