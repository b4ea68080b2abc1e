package main

import (
	"runtime"
	"runtime/debug"
)

// version and revision are set at build time with
// -ldflags "-X main.version=v1.2.3 -X main.revision=abc123"; otherwise they come from the
// binary's build information (the module version, and the VCS revision when it was built
// from a checkout without -buildvcs=false).
var version, revision string

// build describes the running binary: what -version prints and duometer_build_info says.
type build struct {
	Version, Revision, GoVersion string
}

func buildInfo() build {
	b := build{Version: version, Revision: revision, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok && b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if ok && b.Revision == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				b.Revision = s.Value
			}
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.modified" && s.Value == "true" && b.Revision != "" {
				b.Revision += "-dirty"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

func buildVersion() string { return buildInfo().Version }
