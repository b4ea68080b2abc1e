package events

// Self holds the handles of the events duometer emits about itself. They are all named
// "duometer.*" so that they never collide with a user's events, and are exported as
// duometer_* in Prometheus, as statsd_exporter_* and pushgateway_* are.
type Self struct {
	// AuthSuccess counts requests to a credential-checked endpoint whose credentials passed.
	AuthSuccess *Series
	// AuthFailed counts requests whose credentials were wrong or missing.
	AuthFailed *Series
	// HTTPRequests counts HTTP requests served, by handler and status code.
	HTTPRequests *Event
	// HTTPRequestTime observes how long HTTP requests took to serve, by handler.
	HTTPRequestTime *Event
	// PushExports counts push exports that succeeded, by exporter.
	PushExports *Event
	// PushFailures counts push exports that failed, by exporter.
	PushFailures *Event
	// PushExportTime observes how long push exports took, successful or not, by exporter.
	PushExportTime *Event
	// ConfigLoads counts configuration loads, by result.
	ConfigLoads *Event
	// CardinalityOverflows counts emissions folded into an event's overflow series because
	// the event had reached its cardinality limit, by event.
	CardinalityOverflows *Event
}

// SelfDefs are the definitions of duometer's own events.
var SelfDefs = []Def{
	{Name: "duometer.auth.success", Kind: Counter, Description: "Requests to a protected endpoint whose credentials passed the check."},
	{Name: "duometer.auth.failed", Kind: Counter, Description: "Requests to a protected endpoint with wrong or missing credentials."},
	{Name: "duometer.http.requests", Kind: Counter, Labels: []string{"handler", "code"}, Description: "HTTP requests served, by handler and status code."},
	{Name: "duometer.http.request-time", Kind: Histogram, Unit: "s", Labels: []string{"handler"}, Description: "Time taken to serve HTTP requests, by handler."},
	{Name: "duometer.push.exports", Kind: Counter, Labels: []string{"exporter"}, Description: "Push exports that succeeded, by exporter."},
	{Name: "duometer.push.failures", Kind: Counter, Labels: []string{"exporter"}, Description: "Push exports that failed, by exporter."},
	{Name: "duometer.push.export-time", Kind: Histogram, Unit: "s", Labels: []string{"exporter"}, Description: "Time taken by push exports, successful or not, by exporter."},
	{Name: "duometer.config.loads", Kind: Counter, Labels: []string{"result"}, Description: "Configuration loads, by result (success or failure)."},
	{Name: "duometer.cardinality.overflows", Kind: Counter, Labels: []string{"event"}, CardinalityLimit: -1, Description: "Emissions folded into an event's overflow series because it had reached its cardinality limit, by event."},
}

func defineSelf(c *Catalog) *Self {
	ev := make([]*Event, len(SelfDefs))
	for i, d := range SelfDefs {
		ev[i] = c.MustDefine(d)
	}
	return &Self{
		AuthSuccess:     ev[0].With(),
		AuthFailed:      ev[1].With(),
		HTTPRequests:    ev[2],
		HTTPRequestTime: ev[3],
		PushExports:     ev[4],
		PushFailures:    ev[5],
		PushExportTime:  ev[6],
		ConfigLoads:     ev[7],

		CardinalityOverflows: ev[8],
	}
}
