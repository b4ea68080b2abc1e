package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// redacted replaces a secret value wherever it would be printed.
const redacted = "<redacted>"

// Secret is a string that never prints. String, GoString, MarshalText,
// MarshalJSON and LogValue all give "<redacted>", or "" when the secret is
// empty. Use Reveal to get the value.
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

// MarshalJSON implements [json.Marshaler]. (encoding/json escapes the result
// to "\u003credacted\u003e" when it is part of a larger value.)
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.masked() + `"`), nil }

// LogValue implements [slog.LogValuer].
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.masked()) }

// openTelemetryView is OpenTelemetry without its methods, so that Format and
// MarshalJSON can print a redacted copy without recursing.
type openTelemetryView OpenTelemetry

// redactedView returns a copy of o with every header value (and any password
// in the endpoint URL) redacted.
func (o OpenTelemetry) redactedView() openTelemetryView {
	v := openTelemetryView(o)
	v.Endpoint = redactURL(o.Endpoint)
	v.Headers = redactHeaders(o.Headers)
	return v
}

// Format implements [fmt.Formatter] so that every verb (%v, %+v, %#v, %s...)
// prints o with its header values redacted.
func (o OpenTelemetry) Format(f fmt.State, verb rune) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), o.redactedView())
	if f.Flag('#') {
		s = strings.Replace(s, "config.openTelemetryView{", "config.OpenTelemetry{", 1)
	}
	_, _ = f.Write([]byte(s))
}

// MarshalJSON implements [json.Marshaler]; header values are redacted.
func (o OpenTelemetry) MarshalJSON() ([]byte, error) {
	return json.Marshal(o.redactedView())
}

// pushgatewayView is Pushgateway without its methods; see openTelemetryView.
type pushgatewayView Pushgateway

// redactedView returns a copy of p with every header value (and any password
// in the URL) redacted.
func (p Pushgateway) redactedView() pushgatewayView {
	v := pushgatewayView(p)
	v.URL = redactURL(p.URL)
	v.Headers = redactHeaders(p.Headers)
	return v
}

// Format implements [fmt.Formatter] so that every verb (%v, %+v, %#v, %s...)
// prints p with its header values redacted.
func (p Pushgateway) Format(f fmt.State, verb rune) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), p.redactedView())
	if f.Flag('#') {
		s = strings.Replace(s, "config.pushgatewayView{", "config.Pushgateway{", 1)
	}
	_, _ = f.Write([]byte(s))
}

// MarshalJSON implements [json.Marshaler]; header values are redacted.
func (p Pushgateway) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.redactedView())
}

// redactHeaders returns a copy of h with every value redacted.
func redactHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for name, value := range h {
		out[name] = Secret(value).masked()
	}
	return out
}

// redactURLs applies redactURL to every item of urls.
func redactURLs(urls []string) []string {
	if urls == nil {
		return nil
	}
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = redactURL(u)
	}
	return out
}

// redactURL hides the credentials (user info) of a URL. Strings that do not
// parse have everything between "://" and the last "@" hidden.
func redactURL(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	if u, err := url.Parse(raw); err == nil {
		if u.User == nil {
			return raw
		}
		u.User = nil
		scheme, rest, ok := strings.Cut(u.String(), "//")
		if !ok {
			return redacted
		}
		return scheme + "//" + redacted + "@" + rest
	}
	start := strings.Index(raw, "://")
	if start < 0 {
		start = 0
	} else {
		start += len("://")
	}
	at := strings.LastIndex(raw, "@")
	if at < start {
		return raw
	}
	return raw[:start] + redacted + raw[at:]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
