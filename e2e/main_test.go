// Package e2e holds end-to-end tests for duometer: the real server binary,
// a real Prometheus server scraping it, and an OTLP gRPC receiver it pushes to.
//
// Run from the repository root:
//
//	go test -race -count=1 ./e2e/
//
// Prometheus and promtool must be on PATH (Debian: apt-get install prometheus).
// Without them the tests that need them are skipped, unless the environment
// variable CI is set, in which case they fail.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	// serverBin is the path of the duometer binary built by TestMain.
	serverBin string
	// buildErr is set when the server could not be built; tests that need
	// the binary fail with it, harness self-tests still run.
	buildErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "duometer-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	serverBin = filepath.Join(dir, "duometer")
	// Tests run in e2e/, the module root is its parent.
	cmd := exec.Command("go", "build", "-o", serverBin, "./cmd/server")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build ./cmd/server: %w\n%s", err, out)
		fmt.Fprintln(os.Stderr, "e2e:", buildErr)
	}
	return m.Run()
}

// requireServer fails the test when the server binary could not be built.
func requireServer(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("server binary not available: %v", buildErr)
	}
}
