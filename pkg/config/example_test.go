package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/duometer/duometer/pkg/config"
)

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "duometer")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "duometer.toml")
	err = os.WriteFile(path, []byte(`
[metrics.open-telemetry]
transport = "grpc"
endpoint = "http://127.0.0.1:4317"
interval = "15s"
`), 0o600)
	if err != nil {
		panic(err)
	}

	// The environment overrides the file; other variables are ignored.
	cfg, err := config.Load(path, []string{
		"DUOMETER_SERVER__LISTEN=0.0.0.0:9464",
		"DUOMETER_METRICS__OPEN_TELEMETRY__INTERVAL=30s",
		"DUOMETER_METRICS__PROMETHEUS__AUTH__USERNAME=prometheus",
		"DUOMETER_METRICS__PROMETHEUS__AUTH__SECRET=change-me",
		"HOME=/root",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("listen:", cfg.Server.Listen)
	fmt.Println("push:", cfg.Metrics.OpenTelemetry.Transport, cfg.Metrics.OpenTelemetry.Endpoint, "every", cfg.Metrics.OpenTelemetry.Interval)
	fmt.Println("auth:", cfg.Metrics.Prometheus.Auth)
	// Output:
	// listen: 0.0.0.0:9464
	// push: grpc http://127.0.0.1:4317 every 30s
	// auth: {prometheus <redacted>}
}

func ExampleLoad_errors() {
	_, err := config.Load("", []string{
		"DUOMETER_METRICS__PROMETHEUS__ENABLED=false",
		"DUOMETER_METRICS__OPEN_TELEMETRY__TRANSPORT=carrier-pigeon",
		"DUOMETER_METRICS__OPEN_TELEMETRY__INTERVAL=0s",
	})
	fmt.Println(err)
	// Output:
	// metrics.open-telemetry.interval: must be positive, got "0s" (from environment variable DUOMETER_METRICS__OPEN_TELEMETRY__INTERVAL)
	// metrics.open-telemetry.transport: must be one of "grpc", "http", "disable", got "carrier-pigeon" (from environment variable DUOMETER_METRICS__OPEN_TELEMETRY__TRANSPORT)
	// metrics.prometheus.enabled: unknown key (from environment variable DUOMETER_METRICS__PROMETHEUS__ENABLED; did you mean DUOMETER_METRICS__PROMETHEUS__ENABLE?)
}

// A Go program builds the same event catalog as the server from the same
// configuration file, then emits events by name.
func ExampleLoadCatalog() {
	dir, err := os.MkdirTemp("", "duometer")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "duometer.toml")
	err = os.WriteFile(path, []byte(`
[[events]]
name = "backup.completed"
kind = "counter"
labels = ["host", "kind"]

[[events]]
name = "backup.duration"
kind = "histogram"
unit = "s"
labels = ["host"]
buckets = [1, 5, 30, 120, 600, 3600]
`), 0o600)
	if err != nil {
		panic(err)
	}

	cat, err := config.LoadCatalog(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	completed := cat.Lookup("backup.completed")
	completed.Inc("db1", "full")
	completed.Inc("db1", "full")
	cat.Lookup("backup.duration").Emit(42, "db1")

	fmt.Println("backup.completed{db1,full}:", completed.With("db1", "full").Value())
	d := cat.Lookup("backup.duration").Def()
	fmt.Println("backup.duration:", d.Kind, d.Unit, d.Labels, d.Buckets)
	// Output:
	// backup.completed{db1,full}: 2
	// backup.duration: histogram s [host] [1 5 30 120 600 3600]
}
