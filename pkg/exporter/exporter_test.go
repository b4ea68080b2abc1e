package exporter_test

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/exporter"
	"github.com/duometer/duometer/pkg/pull"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// receiver is an in-process OTLP/gRPC metrics receiver on 127.0.0.1.
type receiver struct {
	colmetricpb.UnimplementedMetricsServiceServer
	mu   sync.Mutex
	reqs []*colmetricpb.ExportMetricsServiceRequest
}

func (r *receiver) Export(_ context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, proto.Clone(req).(*colmetricpb.ExportMetricsServiceRequest))
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (r *receiver) requests() []*colmetricpb.ExportMetricsServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*colmetricpb.ExportMetricsServiceRequest(nil), r.reqs...)
}

// startReceiver returns the receiver and its endpoint URL, stopped at the end of the test.
func startReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	srv := grpc.NewServer()
	colmetricpb.RegisterMetricsServiceServer(srv, rcv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return rcv, "http://" + lis.Addr().String()
}

// pushed is what one export request says: the resource's attributes, and the sum points by
// metric name and the values of their attributes joined with ",".
type pushed struct {
	resource map[string]string
	sums     map[string]map[string]float64
}

func decode(req *colmetricpb.ExportMetricsServiceRequest) pushed {
	p := pushed{resource: map[string]string{}, sums: map[string]map[string]float64{}}
	for _, rm := range req.ResourceMetrics {
		for _, kv := range rm.GetResource().GetAttributes() {
			p.resource[kv.Key] = kv.Value.GetStringValue()
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.GetSum() == nil {
					continue
				}
				points := map[string]float64{}
				for _, dp := range m.GetSum().DataPoints {
					points[labelValues(dp)] = dp.GetAsDouble() + float64(dp.GetAsInt())
				}
				p.sums[m.Name] = points
			}
		}
	}
	return p
}

func labelValues(dp *metricpb.NumberDataPoint) string {
	var vs []string
	for _, kv := range dp.Attributes {
		vs = append(vs, kv.Value.GetStringValue())
	}
	return strings.Join(vs, ",")
}

// With an endpoint and an interval longer than the test, nothing is pushed until Shutdown,
// which pushes the latest values, once, with the program's own service.name.
func TestShutdownFlushesTheLastPush(t *testing.T) {
	rcv, endpoint := startReceiver(t)
	exp, err := exporter.New(exporter.Options{
		ServiceName: "shop", ServiceVersion: "1.4.0", InstanceID: "shop-1",
		OTLPEndpoint: endpoint, PushInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	orders := exp.Catalog().MustDefine(events.Def{Name: "shop.orders", Kind: events.Counter, Labels: []string{"status"}})
	orders.Inc("paid")
	orders.Inc("paid")
	orders.Emit(3, "refunded")
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("%d pushes before Shutdown with a one-hour interval, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d pushes after Shutdown, want exactly the final one", len(reqs))
	}
	got := decode(reqs[0])
	if want := map[string]float64{"paid": 2, "refunded": 3}; !maps.Equal(got.sums["shop.orders"], want) {
		t.Errorf("pushed shop.orders = %v, want %v", got.sums["shop.orders"], want)
	}
	for k, v := range map[string]string{"service.name": "shop", "service.version": "1.4.0", "service.instance.id": "shop-1"} {
		if got.resource[k] != v {
			t.Errorf("pushed resource %s = %q, want %q", k, got.resource[k], v)
		}
	}
}

// Pushes happen every interval while the program runs, and the scrape handler serves the same
// values; both carry the instance id generated when none is given.
func TestPushesAndScrapeAgree(t *testing.T) {
	rcv, endpoint := startReceiver(t)
	exp, err := exporter.New(exporter.Options{ServiceName: "shop", OTLPEndpoint: endpoint, OTLPTransport: "grpc",
		PushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	exp.Catalog().MustDefine(events.Def{Name: "shop.carts", Kind: events.Counter}).Emit(7)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, r := range rcv.requests() {
			if decode(r).sums["shop.carts"][""] == 7 {
				return true
			}
		}
		return false
	})
	id := decode(rcv.requests()[0]).resource["service.instance.id"]
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("generated service.instance.id = %q, want 32 hexadecimal digits", id)
	}
	rec := httptest.NewRecorder()
	exp.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pull.Path, nil))
	body := rec.Body.String()
	for _, want := range []string{"\nshop_carts_total 7\n", `service_instance_id="` + id + `"`, `service_name="shop"`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape has no %q:\n%s", want, body)
		}
	}
}

// Over http, the endpoint's path is used as given (here, Prometheus's receiver path).
func TestPushOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	exp, err := exporter.New(exporter.Options{OTLPEndpoint: srv.URL + "/api/v1/otlp/v1/metrics", OTLPTransport: "http", PushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/api/v1/otlp/v1/metrics" {
		t.Errorf("pushed to %q, want once to /api/v1/otlp/v1/metrics", paths)
	}
}

// Without an endpoint nothing is pushed, and the handler serves the events and the MeterProvider's
// own instruments.
func TestPullOnly(t *testing.T) {
	exp, err := exporter.New(exporter.Options{ServiceName: "shop", Runtime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	exp.Catalog().MustDefine(events.Def{Name: "shop.latency", Kind: events.Histogram, Unit: "s"}).Emit(0.2)
	c, err := exp.MeterProvider().Meter("shop").Int64Counter("shop.direct")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 4)
	rec := httptest.NewRecorder()
	exp.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pull.Path, nil))
	body := rec.Body.String()
	for _, want := range []string{"\nshop_latency_seconds_count 1\n", "shop_direct_total", "\ngo_goroutines ", "process_cpu_time_seconds_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape has no %q:\n%s", want, body)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o    exporter.Options
		want string
	}{
		{exporter.Options{OTLPEndpoint: "127.0.0.1:4317"}, `exporter: otlp endpoint "127.0.0.1:4317": must be an http:// or https:// URL`},
		{exporter.Options{OTLPEndpoint: "http://127.0.0.1:4317", OTLPTransport: "pigeon"}, `exporter: otlp transport "pigeon": must be grpc or http`},
		{exporter.Options{OTLPTransport: "http"}, `exporter: OTLP transport "http" without an OTLP endpoint`},
		{exporter.Options{PushInterval: -time.Second}, "exporter: push interval -1s and timeout 0s must not be negative"},
	} {
		exp, err := exporter.New(tc.o)
		if err == nil {
			_ = exp.Shutdown(context.Background())
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}
