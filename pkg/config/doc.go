// Package config loads, layers and validates duometer's configuration.
//
// # Layers
//
// [Load] builds a [Config] from three layers, each overriding the one
// before it:
//
//  1. the built-in defaults ([DefaultConfig]);
//  2. a TOML file (optional);
//  3. environment variables whose names start with DUOMETER_.
//
// The result is then checked with [Config.Validate].
//
// # Keys
//
// Every setting has a key path made of its TOML table names and key, joined
// with dots, for example "metrics.open-telemetry.endpoint" for
//
//	[metrics.open-telemetry]
//	endpoint = "http://127.0.0.1:4317"
//
// The known keys are exactly the koanf struct tags of [Config]; any other key
// is an error. Keys under metrics.open-telemetry.headers and
// metrics.pushgateway.headers are header names and may be anything.
//
// # Events
//
// The TOML array of tables [[events]] declares events, one [Event] per
// entry; a problem in an entry is reported as "events[i].key: ...", counting
// from 0. [Config.DefineEvents] defines them in an [events.Catalog], and
// [LoadCatalog] loads a file into a new catalog: a Go program builds the
// same catalog as the server from the same file. [[events]] cannot be set
// from the environment.
//
// # Environment variables
//
// An environment variable DUOMETER_<NAME>=<value> sets the key derived from
// <NAME> as follows: "__" (double underscore) separates levels, a single "_"
// becomes "-", and the result is lowercased:
//
//	DUOMETER_SERVER__LISTEN                     -> server.listen
//	DUOMETER_SERVER__LOG_FORMAT                 -> server.log-format
//	DUOMETER_METRICS__OPEN_TELEMETRY__ENDPOINT  -> metrics.open-telemetry.endpoint
//	DUOMETER_METRICS__PROMETHEUS__AUTH__SECRET  -> metrics.prometheus.auth.secret
//
// Values are parsed according to the key's type: booleans are "true" or
// "false", durations use Go syntax ("30s", "1m30s"), sizes
// (ingest.max-body) are a number of bytes with an optional unit ("2MiB"),
// and lists (metrics.disabled-events, ingest.tokens, cluster.peers, and
// headers in list form, "Name: Value,Name: Value") are comma-separated, with
// spaces around items ignored; an empty value means an empty list. A single header can also be set
// with DUOMETER_METRICS__OPEN_TELEMETRY__HEADERS__<NAME>, where <NAME> maps to
// the header name by the same rules (X_API_KEY -> x-api-key); this is the way
// to pass a header value that contains a comma.
//
// A DUOMETER_ variable that does not map to a known key is an error, and so
// is any DUOMETER_EVENTS variable. Other environment variables are ignored.
//
// # Errors
//
// [Load] and [Config.Validate] report every problem at once, joined with
// [errors.Join], one per line. Each problem starts with its key path, for
// example:
//
//	metrics.open-telemetry.interval: invalid duration "abc"
//	metrics.prometheus.enabled: unknown key (did you mean metrics.prometheus.enable?)
//
// Problems caused by an environment variable end with
// "(from environment variable NAME)". A TOML file that does not parse is
// reported as "path:line:column: message".
//
// # Secrets
//
// [Secret] values (metrics.prometheus.auth.secret,
// metrics.pushgateway.auth.secret, ingest.tokens) and header values (OTLP
// and Pushgateway) never appear in the output of fmt, encoding/json or
// log/slog of the configuration, nor in error messages. Use [Secret.Reveal]
// to get the value.
package config
