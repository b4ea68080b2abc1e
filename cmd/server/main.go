// Command server is duometer's binary: it loads the configuration, assembles the server from
// its components (see server.go) and runs it until a signal, reloading its configuration on
// SIGHUP, then shuts down in order.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/duometer/duometer/pkg/config"
	"github.com/duometer/duometer/pkg/logging"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the start failed, serving failed, or a second signal cut the shutdown short
	exitConfig = 2 // the configuration or the command line is invalid
)

const usageText = `Usage: duometer [-config FILE] [-check-config] [-version]

duometer turns events into metrics and exports them both ways at once: Prometheus
scrapes (/metrics/prometheus) and pushes (OTLP, Pushgateway).

Flags:
%s
Configuration: built-in defaults, then the TOML file of -config, then environment
variables DUOMETER_<KEY>, where "__" separates levels and "_" stands for "-", e.g.
DUOMETER_METRICS__OPEN_TELEMETRY__ENDPOINT=http://127.0.0.1:4317.

Signals: SIGHUP reloads the configuration; SIGINT or SIGTERM shuts down in order,
and a second one exits at once.

Documentation: docs/configuration.md (every key), docs/operations.md (signals,
reload, storage, exit codes), https://github.com/duometer/duometer
`

func run(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("duometer", flag.ContinueOnError)
	configPath := fs.String("config", "", "path to a TOML configuration file (default: built-in defaults)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit: 0 if valid, 2 if not")
	showVersion := fs.Bool("version", false, "print the version and exit")
	usage := func(w io.Writer) {
		var flags strings.Builder
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		fmt.Fprintf(w, usageText, flags.String())
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return exitOK
	} else if err != nil {
		fmt.Fprintf(stderr, "duometer: %v\n\n", err)
		usage(stderr)
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "duometer: unexpected argument %q: name the configuration file with -config\n\n", fs.Arg(0))
		usage(stderr)
		return exitConfig
	}
	if *showVersion {
		b := buildInfo()
		fmt.Fprintf(stdout, "duometer %s (revision %s, %s)\n", b.Version, b.Revision, b.GoVersion)
		return exitOK
	}
	cfg, err := config.Load(*configPath, environ)
	if err != nil {
		fmt.Fprintln(stderr, "duometer: invalid configuration:")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "  "+line)
		}
		return exitConfig
	}
	if *checkConfig {
		fmt.Fprintln(stdout, "configuration OK")
		return exitOK
	}
	level := new(slog.LevelVar)
	if l, err := logging.ParseLevel(cfg.Server.LogLevel); err == nil {
		level.Set(l)
	}
	log := logging.New(stderr, cfg.Server.LogFormat, level)

	// Signals are read by the server's loop itself, so that SIGHUP reloads and a second
	// SIGINT or SIGTERM during the shutdown is seen.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	s, err := newServer(cfg, source{path: *configPath, environ: environ}, log, level)
	if err != nil {
		log.Error("duometer did not start", "err", err)
		return exitFailed
	}
	return s.run(signals)
}

// source is where the configuration comes from, to load it again on reload.
type source struct {
	path    string
	environ []string
}

func (c source) load() (config.Config, error) { return config.Load(c.path, c.environ) }
