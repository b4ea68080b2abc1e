// Package ingest serves the HTTP ingestion API: it decodes, validates and applies batches of
// events to the catalog.
//
// A client POSTs to /api/v1/events a JSON event object, a JSON array of them, or one object
// per line (NDJSON), optionally gzipped:
//
//	{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 1}
//
// A request is applied all or nothing: every event is checked against the catalog first (known
// event, exactly its declared label keys, a value of the right sign), and if any is wrong the
// answer is 400 with one line per problem and nothing is applied. Otherwise the answer is 202
// with the number of events applied and of those dropped because their event is disabled.
// Bearer tokens guard the API; without any it accepts only loopback clients. No client may
// post duometer's own events (events.Reserved: by their names or their Prometheus names),
// nor make a sum infinite. Memory stays bounded whatever a client sends: requests read at once (429 past
// them), the time a body takes to arrive (408), the body size (checked after decompression
// too; the buffer grows with what arrives, not with what Content-Length announces), events
// per request, labels per event, label value length, auto-declared events and their labels,
// and, in the catalog, series per event and in all. Each limit that bites is named by its
// configuration key in the answer and counted in duometer.limits.reached{limit}.
//
// The decoder is the hot path: a single-pass JSON parser for the request's shape that takes
// names and label values as substrings of the body and allocates nothing per event; see
// docs/ingest.md for the API and docs/performance.md for its throughput.
package ingest
