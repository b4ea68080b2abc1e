package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// Formats of New.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// New returns a logger that writes to w in format (FormatText, the default, or FormatJSON)
// at the level that level holds: changing level changes what the logger writes.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == FormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ParseLevel parses "debug", "info", "warn" or "error" (any case).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}
