package logging

import (
	"log/slog"
	"sync"
	"time"
)

// RateLimited logs a message at most once per interval per key and counts what it held back,
// so that a collector that is down for an hour gives a line a minute, not a line an export.
// It is safe for concurrent use.
type RateLimited struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	keys  map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

// NewRateLimited logs through log at most once per every for each key. A nil log discards.
func NewRateLimited(log *slog.Logger, every time.Duration) *RateLimited {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RateLimited{log: log, every: every, keys: map[string]*limitState{}}
}

// Warn logs msg with args at warning level unless key was logged less than the interval
// ago; a line that follows held-back ones says how many with "suppressed".
func (l *RateLimited) Warn(key, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	st := l.keys[key]
	if st == nil {
		st = &limitState{}
		l.keys[key] = st
	}
	if !st.last.IsZero() && now.Sub(st.last) < l.every {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	n := st.suppressed
	st.last, st.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Warn(msg, args...)
}

// Forget ends the quiet period of key, so that its next warning is logged at once: call it
// when what key warns about has recovered.
func (l *RateLimited) Forget(key string) {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}
