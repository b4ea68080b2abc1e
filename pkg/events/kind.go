package events

import "fmt"

// Kind says how an event's values are aggregated and exported.
type Kind uint8

// The kinds of event.
const (
	// Counter sums non-negative values; exported as a monotonic sum (Prometheus counter).
	Counter Kind = iota + 1
	// UpDownCounter sums values of either sign; exported as a non-monotonic sum (Prometheus gauge).
	UpDownCounter
	// Gauge keeps the last value set; exported as a gauge.
	Gauge
	// Histogram counts values into explicit buckets and sums them; exported as a histogram.
	Histogram
)

var kindNames = [...]string{Counter: "counter", UpDownCounter: "updown", Gauge: "gauge", Histogram: "histogram"}

// String returns the kind's name as written in configuration: counter, updown, gauge or histogram.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n != "" && n == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown kind %q (want counter, updown, gauge or histogram)", s)
}
