package push_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/push"
)

// flaky fails the exports it is told to.
type flaky struct {
	sdkmetric.Exporter
	fail bool
}

func (f *flaky) Export(context.Context, *metricdata.ResourceMetrics) error {
	if f.fail {
		return errors.New("collector unavailable")
	}
	return nil
}

// Exports are counted and timed; the first success after failures is logged once.
func TestCountedLogsRecoveryOnce(t *testing.T) {
	self := events.NewCatalog().Self()
	var log testutil.SyncBuffer
	exp := &flaky{fail: true}
	c := push.Counted("otlp", exp, self, slog.New(slog.NewTextHandler(&log, nil)))
	ctx := context.Background()
	for range 3 {
		if err := c.Export(ctx, &metricdata.ResourceMetrics{}); err == nil || !strings.Contains(err.Error(), "collector unavailable") {
			t.Fatalf("failing export: %v", err)
		}
	}
	exp.fail = false
	for range 2 {
		if err := c.Export(ctx, &metricdata.ResourceMetrics{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(log.String(), "push exports succeed again"); n != 1 || !strings.Contains(log.String(), "failed_exports=3") {
		t.Errorf("%d recovery lines, want 1 saying 3 failed exports:\n%s", n, log.String())
	}
	ok, failed := self.PushExports.With("otlp").Value(), self.PushFailures.With("otlp").Value()
	n, _ := self.PushExportTime.With("otlp").HistogramInto(make([]uint64, len(events.DefaultSecondsBuckets)+1))
	if ok != 2 || failed != 3 || n != 5 {
		t.Errorf("exports %v, failures %v, timed %d; want 2, 3, 5", ok, failed, n)
	}
}
