package telemetry

import (
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
)

// RateLimitedLogger logs a message at most once per interval per key and counts what it
// held back, so that a collector that is down for an hour gives a line a minute, not a line
// an export. It is safe for concurrent use.
type RateLimitedLogger struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	keys  map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

// NewRateLimitedLogger logs through log at most once per every for each key.
func NewRateLimitedLogger(log *slog.Logger, every time.Duration) *RateLimitedLogger {
	return &RateLimitedLogger{log: log, every: every, keys: map[string]*limitState{}}
}

// Warn logs msg with args at warning level unless key was logged less than the interval
// ago; a line that follows held-back ones says how many with "suppressed".
func (l *RateLimitedLogger) Warn(key, msg string, args ...any) {
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

// HandleOTelErrors routes the errors the OpenTelemetry SDK reports (failed exports among
// them) to log, at most one line per interval.
func HandleOTelErrors(log *slog.Logger, every time.Duration) {
	rl := NewRateLimitedLogger(log, every)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		rl.Warn("otel", "OpenTelemetry SDK error", "err", err)
	}))
}
