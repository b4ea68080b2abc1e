package events

import "time"

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
	// ConfigLoads counts configuration loads (at start and reloads), by result.
	ConfigLoads *Event
	// ConfigLastReloadSuccessful is 1 when the last configuration load succeeded, else 0.
	ConfigLastReloadSuccessful *Series
	// ConfigLastReloadSuccessTime is when the configuration was last loaded successfully,
	// in seconds since the epoch.
	ConfigLastReloadSuccessTime *Series
	// ProcessStartTime is when the process started, in seconds since the epoch.
	ProcessStartTime *Series
	// CatalogSeries is how many series each event holds, overflow series included, by event
	// (set periodically by the server).
	CatalogSeries *Event
	// CatalogLabelValues is the bytes of the label values of all series together, what
	// metrics.max-label-bytes bounds (set periodically by the server).
	CatalogLabelValues *Series
	// CatalogMaxSeries and CatalogMaxLabelValues are the catalog's budgets as configured
	// (metrics.max-series and metrics.max-label-bytes), 0 when off (set periodically by the
	// server).
	CatalogMaxSeries, CatalogMaxLabelValues *Series
	// BuildInfo is 1, labelled with the version, VCS revision and Go version of the binary.
	BuildInfo *Event
	// StorageWrites counts snapshot writes, by result (success or failure).
	StorageWrites *Event
	// StorageRestored counts the series read from the snapshot at start, by result:
	// restored, or skipped (their event is gone or changed).
	StorageRestored *Event
	// CardinalityOverflows counts emissions folded into an event's overflow series because
	// the event had reached its cardinality limit, by event.
	CardinalityOverflows *Event
	// LabelMismatches counts emissions dropped because they gave the wrong number of label
	// values, by event.
	LabelMismatches *Event
	// LimitsReached counts the times a limit on what clients send bit, by limit: the
	// configuration key that sets it ("ingest.max-in-flight", "metrics.max-series", …).
	LimitsReached *Event
	// IngestRequests counts requests to the HTTP ingestion API, by status code.
	IngestRequests *Event
	// IngestEvents counts events received over HTTP, by result: applied, dropped (the event
	// is disabled) or rejected (the request was invalid, so nothing in it was applied).
	IngestEvents *Event
	// ClusterPeerUp is 1 when the last fetch from a peer succeeded, 0 when it failed, by peer.
	ClusterPeerUp *Event
	// TelemetryErrors counts errors of the OpenTelemetry pipeline, by source: "register" (an
	// event's instrument could not be registered, so neither reader exports it) or "sdk" (what
	// the SDK reported to its error handler, failed exports among them).
	TelemetryErrors *Event
	// CertExpiry is the notAfter time of the server's TLS certificate, in seconds since the
	// epoch, by certificate file.
	CertExpiry *Event
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
	{Name: "duometer.config.loads", Kind: Counter, Labels: []string{"result"}, Description: "Configuration loads, at start and by reload, by result (success or failure)."},
	{Name: "duometer.config.last-reload-successful", Kind: Gauge, Aggregation: PerNode, Description: "1 when the last configuration load succeeded, else 0."},
	{Name: "duometer.config.last-reload-success-time", Kind: Gauge, Unit: "s", Aggregation: PerNode, Description: "When the configuration was last loaded successfully, in seconds since the epoch."},
	{Name: "duometer.process.start-time", Kind: Gauge, Unit: "s", Aggregation: PerNode, Description: "When the process started, in seconds since the epoch."},
	{Name: "duometer.catalog.series", Kind: Gauge, Labels: []string{"event"}, CardinalityLimit: -1, Aggregation: PerNode, Description: "Series each event holds, overflow series included, by event (updated every few seconds)."},
	{Name: "duometer.catalog.label-values", Kind: Gauge, Unit: "By", Aggregation: PerNode, Description: "Bytes of the label values of all series together, what metrics.max-label-bytes bounds (updated every few seconds)."},
	{Name: "duometer.catalog.max-series", Kind: Gauge, Aggregation: PerNode, Description: "metrics.max-series as configured: the most series of all events together; 0 when off."},
	{Name: "duometer.catalog.max-label-values", Kind: Gauge, Unit: "By", Aggregation: PerNode, Description: "metrics.max-label-bytes as configured: the most bytes of label values of all series together; 0 when off."},
	{Name: "duometer.build.info", Kind: Gauge, Labels: []string{"version", "revision", "goversion"}, Aggregation: PerNode, Description: "1, labelled with the version, VCS revision and Go version of the running binary."},
	{Name: "duometer.storage.writes", Kind: Counter, Labels: []string{"result"}, Description: "Snapshot writes of every series to storage.path, by result (success or failure)."},
	{Name: "duometer.storage.restored", Kind: Counter, Labels: []string{"result"}, Description: "Series read from the snapshot at start, by result: restored, or skipped (their event is gone or changed)."},
	{Name: "duometer.cardinality.overflows", Kind: Counter, Labels: []string{"event"}, CardinalityLimit: -1, Description: "Emissions folded into an event's overflow series because it had reached its cardinality limit, by event."},
	{Name: "duometer.emit.label-mismatches", Kind: Counter, Labels: []string{"event"}, CardinalityLimit: -1, Description: "Emissions dropped because they gave the wrong number of label values, by event."},
	{Name: "duometer.limits.reached", Kind: Counter, Labels: []string{"limit"}, CardinalityLimit: -1, Description: "Times a limit on what clients send bit, by limit: the configuration key that sets it."},
	{Name: "duometer.ingest.requests", Kind: Counter, Labels: []string{"code"}, Description: "Requests to the HTTP ingestion API, by status code."},
	{Name: "duometer.ingest.events", Kind: Counter, Labels: []string{"result"}, Description: "Events received over HTTP, by result: applied, dropped (disabled event) or rejected (invalid request, nothing applied)."},
	{Name: "duometer.cluster.peer-up", Kind: Gauge, Labels: []string{"peer"}, Aggregation: Consistent, TTL: peerUpTTL, Description: "1 when the last fetch from a cluster peer succeeded, 0 when it failed, by peer; a peer not fetched for 15 minutes (gone from cluster.peers, or no cluster-mode scrape) leaves."},
	{Name: "duometer.telemetry.errors", Kind: Counter, Labels: []string{"source"}, Description: "Errors of the OpenTelemetry pipeline, by source: register (an event's instrument could not be registered) or sdk (reported by the SDK, failed exports among them)."},
	{Name: "duometer.tls.cert-expiry", Kind: Gauge, Unit: "s", Labels: []string{"file"}, Aggregation: PerNode, Description: "When the server's TLS certificate expires (notAfter), in seconds since the epoch, by certificate file."},
}

// peerUpTTL is how long duometer.cluster.peer-up keeps a peer that is no longer fetched.
const peerUpTTL = 15 * time.Minute

func defineSelf(c *Catalog) *Self {
	ev := make(map[string]*Event, len(SelfDefs))
	for _, d := range SelfDefs {
		ev[d.Name] = c.MustDefine(d)
	}
	// The limits counted here have their series from the start, at 0, so that an alert on
	// their increase sees the first time they bite.
	ev["duometer.limits.reached"].With(LimitMaxSeries)
	ev["duometer.limits.reached"].With(LimitMaxLabelBytes)
	ev["duometer.limits.reached"].With(LimitFiniteValues)
	return &Self{
		AuthSuccess:     ev["duometer.auth.success"].With(),
		AuthFailed:      ev["duometer.auth.failed"].With(),
		HTTPRequests:    ev["duometer.http.requests"],
		HTTPRequestTime: ev["duometer.http.request-time"],
		PushExports:     ev["duometer.push.exports"],
		PushFailures:    ev["duometer.push.failures"],
		PushExportTime:  ev["duometer.push.export-time"],
		ConfigLoads:     ev["duometer.config.loads"],

		ConfigLastReloadSuccessful:  ev["duometer.config.last-reload-successful"].With(),
		ConfigLastReloadSuccessTime: ev["duometer.config.last-reload-success-time"].With(),
		BuildInfo:                   ev["duometer.build.info"],
		ProcessStartTime:            ev["duometer.process.start-time"].With(),
		CatalogSeries:               ev["duometer.catalog.series"],
		CatalogLabelValues:          ev["duometer.catalog.label-values"].With(),
		CatalogMaxSeries:            ev["duometer.catalog.max-series"].With(),
		CatalogMaxLabelValues:       ev["duometer.catalog.max-label-values"].With(),
		StorageWrites:               ev["duometer.storage.writes"],
		StorageRestored:             ev["duometer.storage.restored"],

		CardinalityOverflows: ev["duometer.cardinality.overflows"],
		LimitsReached:        ev["duometer.limits.reached"],
		LabelMismatches:      ev["duometer.emit.label-mismatches"],
		IngestRequests:       ev["duometer.ingest.requests"],
		IngestEvents:         ev["duometer.ingest.events"],
		ClusterPeerUp:        ev["duometer.cluster.peer-up"],
		TelemetryErrors:      ev["duometer.telemetry.errors"],
		CertExpiry:           ev["duometer.tls.cert-expiry"],
	}
}
