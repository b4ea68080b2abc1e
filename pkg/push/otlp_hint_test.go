package push_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/push"
)

const pathHint = "the OTLP endpoint answered 404 Not Found: check the endpoint's path; " +
	"an endpoint without a path gets /v1/metrics appended, one with a path is used as given"

// A receiver like Prometheus's own, which takes OTLP at /api/v1/otlp/v1/metrics only.
func prometheusLikeReceiver(t *testing.T) *httptest.Server {
	t.Helper()
	col := &httpCollector{values: map[string]float64{}}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/otlp/v1/metrics", col)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// pushes starts an OTLP/HTTP reader to endpoint, pushing every 20ms, lets it push until it
// has counted n exports (successes and failures), and returns what it logged.
func pushes(t *testing.T, endpoint string, n float64) (log string, ok, failed float64) {
	t.Helper()
	var buf testutil.SyncBuffer
	self, tel := startOTLP(t, push.OTLPOptions{
		Transport: "http", Endpoint: endpoint, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	defer func() { _ = tel.Shutdown(context.Background()) }()
	exports, failures := self.PushExports.With("otlp"), self.PushFailures.With("otlp")
	testutil.WaitFor(t, 10*time.Second, func() bool { return exports.Value()+failures.Value() >= n })
	return buf.String(), exports.Value(), failures.Value()
}

// An endpoint without a path gets /v1/metrics, which Prometheus's receiver does not serve: the
// 404 is logged with a hint about the path, once however many pushes fail (the limit is one a
// minute).
func TestOTLPHTTP404LogsAPathHintOnce(t *testing.T) {
	srv := prometheusLikeReceiver(t)
	log, ok, failed := pushes(t, srv.URL, 4)
	if ok != 0 || failed < 4 {
		t.Fatalf("exports %v, failures %v; want every push to fail", ok, failed)
	}
	if n := strings.Count(log, pathHint); n != 1 {
		t.Fatalf("the hint was logged %d times over %v failed pushes, want once:\n%s", n, failed, log)
	}
	for _, want := range []string{"level=WARN", "endpoint=" + srv.URL + " ", "url=" + srv.URL + "/v1/metrics"} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the hint:\n%s", want, log)
		}
	}
}

// The endpoint with Prometheus's path is used as given: the pushes go through, no hint.
func TestOTLPHTTPEndpointWithPathNoHint(t *testing.T) {
	srv := prometheusLikeReceiver(t)
	log, ok, failed := pushes(t, srv.URL+"/api/v1/otlp/v1/metrics", 2)
	if ok < 2 || failed != 0 {
		t.Fatalf("exports %v, failures %v; want every push to go through", ok, failed)
	}
	if strings.Contains(log, "404") {
		t.Errorf("a hint was logged for pushes that went through:\n%s", log)
	}
}

// Other failures are not about the path: no hint.
func TestOTLPHTTPOtherFailureNoHint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	log, _, failed := pushes(t, srv.URL, 2)
	if failed < 2 {
		t.Fatalf("failures %v, want 2", failed)
	}
	if strings.Contains(log, pathHint) {
		t.Errorf("the path hint was logged for a 400:\n%s", log)
	}
}

// The OTLP/HTTP exporter has a transport of its own (the one that watches for 404s): its idle
// connections are closed when the reader shuts down, as a reload does to the old one.
func TestOTLPHTTPShutdownClosesIdleConnections(t *testing.T) {
	var mu sync.Mutex
	states := map[http.ConnState]int{}
	srv := httptest.NewUnstartedServer(&httpCollector{values: map[string]float64{}})
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		states[s]++
		mu.Unlock()
	}
	srv.Start()
	defer srv.Close()
	self, tel := startOTLP(t, push.OTLPOptions{Transport: "http", Endpoint: srv.URL, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second})
	testutil.WaitFor(t, 10*time.Second, func() bool { return self.PushExports.With("otlp").Value() >= 2 })
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return states[http.StateNew] > 0 && states[http.StateClosed] == states[http.StateNew]
	})
}
