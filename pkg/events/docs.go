package events

import (
	"fmt"
	"strings"
)

// Markdown renders the catalog's events as the reference page docs/metrics.md.
func Markdown(events []*Event) string {
	var b strings.Builder
	b.WriteString("# Metrics reference\n\n")
	b.WriteString("<!-- Generated from the event catalog (pkg/events) by `go test ./pkg/events -run TestMetricsDoc -update`. Do not edit. -->\n\n")
	b.WriteString("Every event below is exported both ways: by its OpenTelemetry name in OTLP pushes, by its\n")
	b.WriteString("Prometheus name at `/metrics/prometheus`. Disable any of them with `metrics.disabled-events`.\n\n")
	b.WriteString("| Event (OTLP) | Prometheus | Kind | Unit | Labels | Cluster aggregation | Description |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, e := range events {
		d := e.Def()
		labels := "—"
		if len(d.Labels) > 0 {
			labels = "`" + strings.Join(d.Labels, "`, `") + "`"
		}
		unit := d.Unit
		if unit == "" {
			unit = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | %s | %s |\n", d.Name, PrometheusName(d), d.Kind, unit, labels, d.Aggregation, d.Description)
	}
	b.WriteString("\nHistograms have the buckets `")
	b.WriteString(strings.Trim(fmt.Sprint(DefaultSecondsBuckets), "[]"))
	b.WriteString("` (seconds) unless defined otherwise.\n\n")
	b.WriteString("## Runtime and process\n\n")
	b.WriteString("From `go.opentelemetry.io/contrib/instrumentation/runtime` and `.../host` (process part only):\n")
	b.WriteString("`go.memory.used`, `go.memory.allocated`, `go.memory.allocations`, `go.memory.gc.goal`,\n")
	b.WriteString("`go.goroutine.count` (exported as `go.goroutines` / `go_goroutines`), `go.processor.limit`,\n")
	b.WriteString("`go.config.gogc`, `process.cpu.time`. The same disabled-events patterns apply to them (`go.*`).\n")
	return b.String()
}
