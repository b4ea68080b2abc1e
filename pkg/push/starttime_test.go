package push

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/duometer/duometer/pkg/events"
)

type capture struct {
	sdkmetric.Exporter
	got *metricdata.ResourceMetrics
}

func (c *capture) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	c.got = rm
	return nil
}

// Cumulative sums of catalog events carry their series' start time, a restored one's
// included; other metrics are left as the SDK made them.
func TestSeriesStarts(t *testing.T) {
	cat := events.NewCatalog()
	ev := cat.MustDefine(events.Def{Name: "jobs.done", Kind: events.Counter, Labels: []string{"task"}})
	restored := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := ev.Restore(events.State{Labels: []string{"old"}, Start: restored, Int: 7}); err != nil {
		t.Fatal(err)
	}
	ev.Inc("new")
	sdkStart := time.Now().Add(time.Hour)
	point := func(task string) metricdata.DataPoint[float64] {
		return metricdata.DataPoint[float64]{Attributes: attribute.NewSet(attribute.String("task", task)), StartTime: sdkStart}
	}
	rm := &metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{
		{Name: "jobs.done", Data: metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[float64]{point("old"), point("new"), point("unknown")}}},
		{Name: "go.memory.used", Data: metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality,
			DataPoints: []metricdata.DataPoint[float64]{{StartTime: sdkStart}}}},
	}}}}
	c := &capture{}
	if err := (seriesStarts{Exporter: c, cat: cat}).Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
	dps := c.got.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[float64]).DataPoints
	if !dps[0].StartTime.Equal(restored) {
		t.Errorf("restored series start %v, want %v", dps[0].StartTime, restored)
	}
	if want := ev.With("new").StartTime(); !dps[1].StartTime.Equal(want) {
		t.Errorf("new series start %v, want its creation %v", dps[1].StartTime, want)
	}
	if !dps[2].StartTime.Equal(sdkStart) {
		t.Error("a point without a series got another start time")
	}
	if other := c.got.ScopeMetrics[0].Metrics[1].Data.(metricdata.Sum[float64]).DataPoints[0]; !other.StartTime.Equal(sdkStart) {
		t.Error("a metric outside the catalog got another start time")
	}
}
