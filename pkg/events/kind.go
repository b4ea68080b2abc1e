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

// Aggregation says how a node that answers for a cluster merges an event's series from
// every node.
type Aggregation uint8

// The aggregations.
const (
	// Sum adds series with identical labels (histogram buckets element-wise). The default.
	Sum Aggregation = iota
	// Logical reports 1 when every node reports more than 0, else 0.
	Logical
	// PerNode keeps every node's series apart, with a node label (resource usage).
	PerNode
	// Consistent takes the answering node's series as they are (the same on every node).
	Consistent
)

var aggregationNames = [...]string{Sum: "sum", Logical: "logical", PerNode: "per-node", Consistent: "consistent"}

// String returns the aggregation's name as written in configuration.
func (a Aggregation) String() string {
	if int(a) < len(aggregationNames) {
		return aggregationNames[a]
	}
	return fmt.Sprintf("Aggregation(%d)", a)
}

// ParseAggregation is the inverse of Aggregation.String; "" is Sum.
func ParseAggregation(s string) (Aggregation, error) {
	if s == "" {
		return Sum, nil
	}
	for a, n := range aggregationNames {
		if n == s {
			return Aggregation(a), nil
		}
	}
	return 0, fmt.Errorf("unknown aggregation %q (want sum, logical, per-node or consistent)", s)
}
