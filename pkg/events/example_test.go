package events_test

import (
	"fmt"

	"github.com/duometer/duometer/pkg/events"
)

func Example() {
	cat := events.NewCatalog()
	delivered := cat.MustDefine(events.Def{
		Name:        "delivery.completed",
		Kind:        events.Counter,
		Description: "Messages delivered.",
		Labels:      []string{"queue"},
	})

	local := delivered.With("local") // resolve once, emit many times
	local.Inc()
	local.Inc()
	delivered.Inc("remote") // or give the label values per call

	for _, s := range delivered.Series() {
		fmt.Println(s.LabelValues(), s.Value())
	}
	// Output:
	// [local] 2
	// [remote] 1
}

func ExampleCatalog_SetDisabled() {
	cat := events.NewCatalog()
	if err := cat.SetDisabled([]string{"duometer.http.*", "duometer.auth.success"}); err != nil {
		panic(err)
	}
	for _, name := range []string{"duometer.http.requests", "duometer.auth.success", "duometer.auth.failed"} {
		fmt.Println(name, cat.Lookup(name).Enabled())
	}
	// Output:
	// duometer.http.requests false
	// duometer.auth.success false
	// duometer.auth.failed true
}

func ExampleSeries_HistogramInto() {
	cat := events.NewCatalog()
	took := cat.MustDefine(events.Def{Name: "backup.duration", Kind: events.Histogram, Unit: "s",
		Buckets: []float64{1, 10, 60}}).With()
	took.Emit(0.5)
	took.Emit(30)
	counts := make([]uint64, 4) // one per bound, then +Inf
	n, sum := took.HistogramInto(counts)
	fmt.Println(counts, n, sum)
	// Output: [1 0 1 0] 2 30.5
}

func ExamplePrometheusName() {
	for _, d := range []events.Def{
		{Name: "duometer.auth.failed", Kind: events.Counter},
		{Name: "duometer.http.request-time", Kind: events.Histogram, Unit: "s"},
		{Name: "backup.lag", Kind: events.Gauge, Unit: "ms"},
		{Name: "queue.size", Kind: events.UpDownCounter, Unit: "By"},
	} {
		fmt.Println(events.PrometheusName(d))
	}
	// Output:
	// duometer_auth_failed_total
	// duometer_http_request_time_seconds
	// backup_lag_milliseconds
	// queue_size_bytes
}
