package push

import (
	"context"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/duometer/duometer/pkg/events"
)

// seriesStarts wraps an exporter so that every cumulative sum of a catalog event carries the
// start of its series (events.Series.StartTime) rather than the start the SDK gives an
// observable instrument, which is when its MeterProvider was built. A series restored from
// a snapshot after a restart, or read by the MeterProvider a reload built, then keeps the
// start it has had since it was first created: a collector sees one unbroken cumulative
// series, not a reset.
type seriesStarts struct {
	sdkmetric.Exporter
	cat *events.Catalog
}

func (e seriesStarts) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	for i := range rm.ScopeMetrics {
		for _, m := range rm.ScopeMetrics[i].Metrics {
			sum, ok := m.Data.(metricdata.Sum[float64])
			if !ok || sum.Temporality != metricdata.CumulativeTemporality {
				continue
			}
			ev := e.cat.Lookup(m.Name)
			if ev == nil {
				continue
			}
			for j := range sum.DataPoints { // the slice is shared with m.Data
				if s := ev.Find(sum.DataPoints[j].Attributes); s != nil {
					sum.DataPoints[j].StartTime = s.StartTime()
				}
			}
		}
	}
	return e.Exporter.Export(ctx, rm)
}
