package events

import "github.com/prometheus/otlptranslator"

// namer names metrics as the OpenTelemetry Prometheus exporter does by default; baseNamer
// does the same without the unit and type suffixes.
var (
	namer     = otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	baseNamer = otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithoutSuffixes)
)

// PrometheusName returns the name the OpenTelemetry Prometheus exporter gives the event:
// dots and dashes become underscores, a unit suffix ("s" → _seconds, "ms" →
// _milliseconds, "By" → _bytes) and, for counters, "_total" follow. It returns "" for a
// definition the exporter could not name.
func PrometheusName(d Def) string {
	m := otlptranslator.Metric{Name: d.Name, Unit: d.Unit}
	switch d.Kind {
	case Counter:
		m.Type = otlptranslator.MetricTypeMonotonicCounter
	case UpDownCounter:
		m.Type = otlptranslator.MetricTypeNonMonotonicCounter
	case Gauge:
		m.Type = otlptranslator.MetricTypeGauge
	case Histogram:
		m.Type = otlptranslator.MetricTypeHistogram
	}
	n, err := namer.Build(m)
	if err != nil {
		return ""
	}
	return n
}

// PrometheusBaseName is the name the exporter gives an event before its unit and type
// suffixes: dots and dashes become underscores. Two events of one catalog never share it
// (Catalog.Define refuses the second), since their families would collide in a scrape.
func PrometheusBaseName(name string) string {
	n, err := baseNamer.Build(otlptranslator.Metric{Name: name, Type: otlptranslator.MetricTypeGauge})
	if err != nil {
		return name
	}
	return n
}
