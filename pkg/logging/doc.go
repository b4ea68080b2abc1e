// Package logging builds duometer's structured loggers (log/slog) and keeps repeated
// warnings, such as a push failing every interval, down to one line a minute.
package logging
