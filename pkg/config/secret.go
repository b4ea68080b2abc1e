package config

import "log/slog"

// redacted replaces a secret value wherever it would be printed.
const redacted = "<redacted>"

// Secret is a string that never prints: String, GoString, MarshalText, MarshalJSON and
// LogValue all give "<redacted>", or "" when the secret is empty, so that a struct holding
// secrets (a whole [Config] included) prints and logs safely with fmt, encoding/json and
// log/slog. Reveal returns the value.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) masked() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String implements [fmt.Stringer].
func (s Secret) String() string { return s.masked() }

// GoString implements [fmt.GoStringer], used by %#v.
func (s Secret) GoString() string { return s.masked() }

// MarshalText implements [encoding.TextMarshaler].
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.masked()), nil }

// MarshalJSON implements [encoding/json.Marshaler]. (encoding/json escapes the result to
// "\u003credacted\u003e" when it is part of a larger value.)
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.masked() + `"`), nil }

// LogValue implements [slog.LogValuer].
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.masked()) }
