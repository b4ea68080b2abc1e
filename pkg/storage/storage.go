// Package storage keeps the catalog's values across restarts: it writes a snapshot of every
// series to one file, atomically, on an interval and at shutdown, and restores it at start.
package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/duometer/duometer/pkg/events"
)

// formatVersion is the version of the snapshot format; a file of another version is treated
// as corrupt.
const formatVersion = 1

// snapshot is the file's content, before its checksum line.
type snapshot struct {
	Version    int          `json:"version"`
	Time       time.Time    `json:"time"`
	InstanceID string       `json:"instance_id,omitempty"` // absent from files of older versions
	Events     []eventState `json:"events"`
}

// eventState is one event: enough of its definition to tell whether its series still fit
// the catalog (and to define it again when Options.Define says so), and its series.
type eventState struct {
	Name             string         `json:"name"`
	Kind             string         `json:"kind"`
	Unit             string         `json:"unit,omitempty"`
	Description      string         `json:"description,omitempty"`
	Labels           []string       `json:"labels,omitempty"`
	Buckets          []float64      `json:"buckets,omitempty"`
	Aggregation      string         `json:"aggregation,omitempty"`
	CardinalityLimit int            `json:"cardinality_limit,omitempty"`
	TTL              time.Duration  `json:"ttl,omitempty"`
	Series           []events.State `json:"series"`
}

func (e eventState) def() (events.Def, error) {
	kind, err := events.ParseKind(e.Kind)
	if err != nil {
		return events.Def{}, err
	}
	agg, err := events.ParseAggregation(e.Aggregation)
	if err != nil {
		return events.Def{}, err
	}
	return events.Def{Name: e.Name, Kind: kind, Unit: e.Unit, Description: e.Description, Labels: e.Labels,
		Buckets: e.Buckets, Aggregation: agg, CardinalityLimit: e.CardinalityLimit, TTL: e.TTL}, nil
}

// checksumPrefix starts the file's last line, which holds the CRC-32 (Castagnoli) of
// everything before it: a truncated or altered file is detected before it is parsed.
const checksumPrefix = "# crc32c "

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure a Store.
type Options struct {
	// Path is the snapshot file. Its directory must exist and be writable: the snapshot is
	// written to a temporary file there, synced and renamed over Path.
	Path string
	// Interval is the time between two snapshots once started.
	Interval time.Duration
	// Catalog is what is snapshot and restored. Required.
	Catalog *events.Catalog
	// Define says whether an event found in the snapshot but not in the catalog is defined
	// again, with its series, rather than skipped: for instance the events the ingestion API
	// declared on first use. It is given the definition in the snapshot and returns the one
	// to define (with today's TTL, say). Nil defines none.
	Define func(events.Def) (events.Def, bool)
	// InstanceID is the service.instance.id written in every snapshot, so that the process
	// that restores it can go on under the identity its values were exported with. Restore
	// replaces it with the snapshot's, when the snapshot has one (see Store.InstanceID).
	InstanceID string
	// Log receives a warning for every event skipped at restore and for failed writes (at
	// most one a minute). Nil discards.
	Log *slog.Logger
}

// Store writes and restores the snapshot. Its methods are safe for concurrent use.
type Store struct {
	o        Options
	writeMu  sync.Mutex // one write at a time
	failing  bool       // the last write failed (guarded by writeMu)
	ok, fail *events.Series
	mu       sync.Mutex // guards the loop's state and o.InstanceID
	cancel   context.CancelFunc
	done     chan struct{}
}

// New returns a store that has neither restored nor started.
func New(o Options) (*Store, error) {
	switch {
	case o.Catalog == nil:
		return nil, errors.New("storage: Options.Catalog is nil")
	case o.Path == "":
		return nil, errors.New("storage: Options.Path is empty")
	case o.Interval <= 0:
		return nil, fmt.Errorf("storage: interval %v must be positive", o.Interval)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	self := o.Catalog.Self()
	return &Store{o: o, ok: self.StorageWrites.With("success"), fail: self.StorageWrites.With("failure")}, nil
}

// Result says what Restore did.
type Result struct {
	// Restored and Skipped count series.
	Restored, Skipped int
	// SkippedEvents name the events whose series were skipped, with why.
	SkippedEvents []string
	// Corrupt is where an unreadable snapshot was moved, if one was.
	Corrupt string
	// Taken is when the restored snapshot was written.
	Taken time.Time
	// InstanceID is the snapshot's service.instance.id, "" when it holds none.
	InstanceID string
}

// Restore reads the snapshot, if there is one, and restores every series that still fits
// the catalog (events.Event.Restore): an event of the same name, kind, labels and, for a
// histogram, buckets. The others are skipped with a warning naming them. A snapshot that
// is corrupt, truncated or of another format is moved aside to <path>.corrupt-<time> and
// nothing is restored. Restore never fails the start because of the file's content; it
// returns an error only when the file exists but cannot be read or moved aside. Call it
// before anything emits: it overwrites the cells. Restored and skipped series are counted
// in duometer.storage.restored.
func (s *Store) Restore() (Result, error) {
	var res Result
	data, err := os.ReadFile(s.o.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("storage: %w", err)
	}
	snap, err := decode(data)
	if err != nil {
		res.Corrupt = fmt.Sprintf("%s.corrupt-%s", s.o.Path, time.Now().UTC().Format("20060102T150405Z"))
		s.o.Log.Warn("the storage snapshot is unreadable; starting without it and keeping it aside",
			"path", s.o.Path, "moved_to", res.Corrupt, "err", err)
		if err := os.Rename(s.o.Path, res.Corrupt); err != nil {
			return res, fmt.Errorf("storage: moving the unreadable snapshot aside: %w", err)
		}
		return res, nil
	}
	res.Taken, res.InstanceID = snap.Time, snap.InstanceID
	if snap.InstanceID != "" {
		s.mu.Lock()
		s.o.InstanceID = snap.InstanceID
		s.mu.Unlock()
	}
	cat := s.o.Catalog
	for _, es := range snap.Events {
		if why := s.restoreEvent(cat, es, &res); why != "" {
			res.Skipped += len(es.Series)
			res.SkippedEvents = append(res.SkippedEvents, es.Name+": "+why)
			s.o.Log.Warn("storage: series of an event skipped", "event", es.Name, "series", len(es.Series), "reason", why)
		}
	}
	self := cat.Self()
	self.StorageRestored.Emit(float64(res.Restored), "restored")
	self.StorageRestored.Emit(float64(res.Skipped), "skipped")
	return res, nil
}

// restoreEvent restores the series of one event, or says why it skipped them all.
func (s *Store) restoreEvent(cat *events.Catalog, es eventState, res *Result) string {
	ev := cat.Lookup(es.Name)
	if ev == nil {
		d, err := es.def()
		if err != nil {
			return err.Error()
		}
		ok := false
		if s.o.Define != nil {
			d, ok = s.o.Define(d)
		}
		if !ok {
			return "no longer defined"
		}
		if ev, err = cat.Define(d); err != nil {
			return err.Error()
		}
	}
	d := ev.Def()
	switch {
	case d.Kind.String() != es.Kind:
		return fmt.Sprintf("its kind changed from %s to %s", es.Kind, d.Kind)
	case !slices.Equal(d.Labels, es.Labels):
		return fmt.Sprintf("its labels changed from [%s] to [%s]", strings.Join(es.Labels, ", "), strings.Join(d.Labels, ", "))
	case d.Kind == events.Histogram && !slices.Equal(d.Buckets, es.Buckets):
		return fmt.Sprintf("its buckets changed from %v to %v", es.Buckets, d.Buckets)
	}
	for _, st := range es.Series {
		if err := ev.Restore(st); err != nil {
			res.Skipped++
			s.o.Log.Warn("storage: series skipped", "event", es.Name, "err", err)
			continue
		}
		res.Restored++
	}
	return ""
}

// InstanceID returns the service.instance.id the store writes: Options.InstanceID, or the
// snapshot's after a Restore that found one.
func (s *Store) InstanceID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.o.InstanceID
}

// decode checks the checksum line and parses the snapshot.
func decode(data []byte) (*snapshot, error) {
	i := bytes.LastIndex(data, []byte("\n"+checksumPrefix))
	if i < 0 {
		return nil, errors.New("no checksum line: the file is truncated or not a snapshot")
	}
	body, line := data[:i+1], strings.TrimSpace(string(data[i+1+len(checksumPrefix):]))
	if want := fmt.Sprintf("%08x", crc32.Checksum(body, castagnoli)); line != want {
		return nil, fmt.Errorf("checksum %q does not match the content (%s): the file is truncated or altered", line, want)
	}
	var snap snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		return nil, err
	}
	if snap.Version != formatVersion {
		return nil, fmt.Errorf("format version %d, want %d", snap.Version, formatVersion)
	}
	return &snap, nil
}

// encode snapshots every series of the catalog, disabled events' included, but duometer's
// own gauges: they describe the running process (its build, its certificate, its peers, its
// last reload), which the next one sets anew.
func encode(cat *events.Catalog, instanceID string, now time.Time) ([]byte, error) {
	snap := snapshot{Version: formatVersion, Time: now, InstanceID: instanceID}
	for _, ev := range cat.Events() {
		series := ev.Series()
		d := ev.Def()
		if len(series) == 0 || d.Kind == events.Gauge && strings.HasPrefix(d.Name, "duometer.") {
			continue
		}
		es := eventState{Name: d.Name, Kind: d.Kind.String(), Unit: d.Unit, Description: d.Description,
			Labels: d.Labels, Aggregation: d.Aggregation.String(), CardinalityLimit: d.CardinalityLimit, TTL: d.TTL,
			Series: make([]events.State, len(series))}
		if d.Kind == events.Histogram {
			es.Buckets = d.Buckets
		}
		for i, sr := range series {
			es.Series[i] = sr.State()
		}
		snap.Events = append(snap.Events, es)
	}
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(snap); err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "%s%08x\n", checksumPrefix, crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes(), nil
}

// Write writes a snapshot now: to a temporary file in the same directory, synced, then
// renamed over the path and the directory synced, so that the path always holds a whole
// snapshot, the last one or the one before. It is counted in duometer.storage.writes.
func (s *Store) Write() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.write()
	if err != nil {
		s.fail.Inc()
		if !s.failing {
			s.o.Log.Error("storage: writing the snapshot failed; values since the last snapshot would be lost by a crash", "path", s.o.Path, "err", err)
		}
		s.failing = true
		return err
	}
	s.ok.Inc()
	if s.failing {
		s.o.Log.Info("storage: writing the snapshot succeeded again", "path", s.o.Path)
		s.failing = false
	}
	return nil
}

func (s *Store) write() (err error) {
	data, err := encode(s.o.Catalog, s.InstanceID(), time.Now())
	if err != nil {
		return err
	}
	dir, base := filepath.Split(s.o.Path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), s.o.Path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; not every file system supports it
		_ = d.Close()
	}
	return nil
}

// Start writes a snapshot every interval, in a goroutine of its own, until Shutdown.
func (s *Store) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.o.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = s.Write()
			}
		}
	}()
}

// Shutdown stops the periodic writes and writes a last snapshot, which it returns the error
// of. ctx bounds the wait for a write in progress.
func (s *Store) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Write()
}
