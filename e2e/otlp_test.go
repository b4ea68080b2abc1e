package e2e

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed exports
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/gRPC metrics receiver that records every export.
type otlpReceiver struct {
	colmetricspb.UnimplementedMetricsServiceServer

	addr string // host:port
	srv  *grpc.Server

	mu      sync.Mutex
	exports []receivedExport
}

type receivedExport struct {
	at  time.Time
	req *colmetricspb.ExportMetricsServiceRequest
}

// startReceiver starts a receiver on 127.0.0.1:port (port 0 picks a free
// one). It is stopped at test cleanup.
func startReceiver(t *testing.T, port int) *otlpReceiver {
	t.Helper()
	l, err := net.Listen("tcp", localAddr(port))
	if err != nil {
		t.Fatalf("otlp receiver listen: %v", err)
	}
	return serveReceiver(t, l)
}

// startReceiverAgain starts a receiver on addr (host:port), on which another one ran a
// moment ago, retrying the bind for up to 10 s.
func startReceiverAgain(t *testing.T, addr string) *otlpReceiver {
	t.Helper()
	var l net.Listener
	waitUntil(t, 10*time.Second, "binding "+addr+" again", func() (bool, string) {
		var err error
		l, err = net.Listen("tcp", addr)
		return err == nil, fmt.Sprint(err)
	})
	return serveReceiver(t, l)
}

// serveReceiver serves a receiver on l until the test ends.
func serveReceiver(t *testing.T, l net.Listener) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{addr: l.Addr().String(), srv: grpc.NewServer()}
	colmetricspb.RegisterMetricsServiceServer(r.srv, r)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = r.srv.Serve(l)
	}()
	t.Cleanup(func() {
		stopped := make(chan struct{})
		go func() { r.srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			r.srv.Stop()
		}
		<-served
		if t.Failed() {
			t.Logf("---- otlp receiver (%s) ----\n%s---- end of otlp receiver ----", r.addr, r.summary())
		}
	})
	return r
}

// stop stops the receiver at once, closing its listener and connections, as a collector that
// goes down.
func (r *otlpReceiver) stop() { r.srv.Stop() }

// endpoint is the URL to configure as the server's OTLP endpoint.
func (r *otlpReceiver) endpoint() string { return "http://" + r.addr }

func (r *otlpReceiver) Export(_ context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	c := proto.Clone(req).(*colmetricspb.ExportMetricsServiceRequest)
	r.mu.Lock()
	r.exports = append(r.exports, receivedExport{at: time.Now(), req: c})
	r.mu.Unlock()
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

// snapshot returns the exports received so far.
func (r *otlpReceiver) snapshot() []receivedExport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedExport(nil), r.exports...)
}

func (r *otlpReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.exports)
}

// metricsNamed returns every metric with the given name in one export.
func metricsNamed(req *colmetricspb.ExportMetricsServiceRequest, name string) []*metricspb.Metric {
	var out []*metricspb.Metric
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() == name {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// numberPoints returns the number data points of a Sum or Gauge metric.
func numberPoints(m *metricspb.Metric) []*metricspb.NumberDataPoint {
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Sum:
		return d.Sum.GetDataPoints()
	case *metricspb.Metric_Gauge:
		return d.Gauge.GetDataPoints()
	}
	return nil
}

func pointValue(p *metricspb.NumberDataPoint) float64 {
	switch v := p.GetValue().(type) {
	case *metricspb.NumberDataPoint_AsDouble:
		return v.AsDouble
	case *metricspb.NumberDataPoint_AsInt:
		return float64(v.AsInt)
	}
	return 0
}

func anyValueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	}
	return v.String()
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyValueString(kv.GetValue())
	}
	return m
}

// sameAttrs reports whether kvs is exactly the attribute set want.
func sameAttrs(kvs []*commonpb.KeyValue, want map[string]string) bool {
	if len(kvs) != len(want) {
		return false
	}
	got := attrMap(kvs)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// valueIn returns the sum of the points of metric name with exactly the
// attribute set attrs in one export; found is false if there are none.
func valueIn(req *colmetricspb.ExportMetricsServiceRequest, name string, attrs map[string]string) (v float64, found bool) {
	for _, m := range metricsNamed(req, name) {
		for _, p := range numberPoints(m) {
			if sameAttrs(p.GetAttributes(), attrs) {
				v += pointValue(p)
				found = true
			}
		}
	}
	return v, found
}

// latest returns the value of metric name with exactly the attribute set
// attrs in the most recent export that has such points.
func (r *otlpReceiver) latest(name string, attrs map[string]string) (v float64, found bool) {
	ex := r.snapshot()
	for i := len(ex) - 1; i >= 0; i-- {
		if v, ok := valueIn(ex[i].req, name, attrs); ok {
			return v, true
		}
	}
	return 0, false
}

// waitLatest waits until the latest value of metric name with attrs is want.
func (r *otlpReceiver) waitLatest(t *testing.T, timeout time.Duration, name string, attrs map[string]string, want float64) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("OTLP %s%v == %v", name, attrs, want), func() (bool, string) {
		v, ok := r.latest(name, attrs)
		if !ok {
			return false, fmt.Sprintf("not received yet (%d exports)", r.count())
		}
		return v == want, fmt.Sprintf("latest %v (%d exports)", v, r.count())
	})
}

// seen reports whether any export so far carried a metric named name.
func (r *otlpReceiver) seen(name string) bool {
	for _, e := range r.snapshot() {
		if len(metricsNamed(e.req, name)) > 0 {
			return true
		}
	}
	return false
}

// resourceAttrs returns the resource attributes of the latest export.
func (r *otlpReceiver) resourceAttrs() map[string]string {
	ex := r.snapshot()
	if len(ex) == 0 {
		return nil
	}
	rms := ex[len(ex)-1].req.GetResourceMetrics()
	if len(rms) == 0 {
		return nil
	}
	return attrMap(rms[0].GetResource().GetAttributes())
}

// summary describes the received exports for failure diagnostics: per
// export the metric names and, for number metrics, their points.
func (r *otlpReceiver) summary() string {
	var b strings.Builder
	for i, e := range r.snapshot() {
		fmt.Fprintf(&b, "export %d at %s:\n", i, e.at.Format("15:04:05.000"))
		for _, rm := range e.req.GetResourceMetrics() {
			fmt.Fprintf(&b, "  resource %v\n", attrMap(rm.GetResource().GetAttributes()))
			for _, sm := range rm.GetScopeMetrics() {
				var names []string
				for _, m := range sm.GetMetrics() {
					desc := m.GetName()
					if pts := numberPoints(m); len(pts) > 0 {
						var ps []string
						for _, p := range pts {
							ps = append(ps, fmt.Sprintf("%v=%v", attrMap(p.GetAttributes()), pointValue(p)))
						}
						desc += "[" + strings.Join(ps, " ") + "]"
					}
					names = append(names, desc)
				}
				sort.Strings(names)
				fmt.Fprintf(&b, "  scope %q: %s\n", sm.GetScope().GetName(), strings.Join(names, ", "))
			}
		}
	}
	return b.String()
}
