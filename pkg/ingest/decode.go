package ingest

import "github.com/duometer/duometer/pkg/ingest/internal/decode"

// The request decoder is in internal/decode, where the module internal/decodebench can
// measure it beside other JSON libraries. Messages about a client's strings are shortened as
// the decoder shortens them.

// clip shortens s for a message: a client's name may be a megabyte long.
func clip(s string) string { return decode.Clip(s) }

// quote quotes a client's string for a message, shortened by clip.
func quote(s string) string { return decode.Quote(s) }
