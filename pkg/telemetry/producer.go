package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/duometer/duometer/pkg/events"
)

// Producer hands the histogram events of a catalog to a reader at collection time, as
// cumulative explicit-bucket histograms read from their cells. It is registered on every
// reader (sdkmetric.WithProducer, prometheus.WithProducer): the OpenTelemetry metric API has
// no asynchronous histogram, and a synchronous one costs twenty times an atomic add per
// observation. The contrib runtime instrumentation takes the same route for its scheduler
// latency histogram (which duometer leaves out: 150 buckets of little use to its users).
//
// Produce is safe for concurrent use; each call allocates its own result.
type Producer struct {
	cat *events.Catalog
}

var _ sdkmetric.Producer = (*Producer)(nil)

// NewProducer returns the producer of cat's histograms.
func NewProducer(cat *events.Catalog) *Producer {
	return &Producer{cat: cat}
}

// Produce implements sdkmetric.Producer.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	var ms []metricdata.Metrics
	for _, e := range p.cat.Events() {
		d := e.Def()
		if d.Kind != events.Histogram || !e.Enabled() {
			continue
		}
		series := e.Series()
		if len(series) == 0 {
			continue
		}
		nb := len(d.Buckets) + 1
		counts := make([]uint64, nb*len(series))
		points := make([]metricdata.HistogramDataPoint[float64], len(series))
		for i, s := range series {
			c := counts[i*nb : (i+1)*nb : (i+1)*nb]
			count, sum := s.HistogramInto(c)
			points[i] = metricdata.HistogramDataPoint[float64]{
				Attributes:   s.Attributes(),
				StartTime:    s.StartTime(),
				Time:         now,
				Count:        count,
				Bounds:       d.Buckets,
				BucketCounts: c,
				Sum:          sum,
			}
		}
		ms = append(ms, metricdata.Metrics{
			Name:        d.Name,
			Description: d.Description,
			Unit:        d.Unit,
			Data: metricdata.Histogram[float64]{
				DataPoints:  points,
				Temporality: metricdata.CumulativeTemporality,
			},
		})
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: ScopeName}, Metrics: ms}}, nil
}
