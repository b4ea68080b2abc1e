// Package config loads, layers and validates duometer's configuration; docs/configuration.md
// describes every key.
//
// [Load] builds a [Config] from the built-in defaults ([DefaultConfig]), then an optional TOML
// file, then the environment variables whose names start with DUOMETER_, each layer
// overriding the one before, and checks the result with [Config.Validate]. Every config
// struct has a Validate method of its own.
//
// # Keys
//
// A key path joins TOML table names and a key with dots: "metrics.open-telemetry.endpoint".
// The known keys are the koanf struct tags of [Config]; any other key is an error, except
// below metrics.open-telemetry.headers and metrics.pushgateway.headers, whose keys are header
// names. The array of tables [[events]] declares events, one [Event] each; their problems
// read "events[i].key: ..." (counting from 0). [Config.DefineEvents] defines them in an
// [events.Catalog], and [LoadCatalog] makes a catalog from a file as the server does.
//
// # Environment variables
//
// DUOMETER_<NAME>=<value> sets the key derived from <NAME>: "__" separates levels, "_"
// becomes "-", and letters are lowercased, so DUOMETER_SERVER__LOG_FORMAT sets
// server.log-format. The value is read as the key's type: booleans are "true" or "false",
// durations "30s", sizes "2MiB", and lists (headers included, as "Name: Value" items) are
// comma-separated. DUOMETER_..._HEADERS__<NAME> sets one header. A DUOMETER_ variable that
// names no key, or [[events]], is an error; other variables are ignored.
//
// # Errors
//
// [Load] and the Validate methods report every problem at once, joined with [errors.Join],
// one per line, sorted by key path, each starting with its key path:
//
//	metrics.open-telemetry.interval: invalid duration "abc"
//	metrics.prometheus.enabled: unknown key (did you mean metrics.prometheus.enable?)
//
// A problem with a value from the environment ends with "(from environment variable NAME)";
// a TOML syntax error reads "path:line:column: message".
//
// # Secrets
//
// [Secret] values (metrics.prometheus.auth.secret, metrics.pushgateway.auth.secret,
// ingest.tokens and header values) never appear in the output of fmt, encoding/json or
// log/slog, nor in error messages; [Secret.Reveal] returns the value.
package config
