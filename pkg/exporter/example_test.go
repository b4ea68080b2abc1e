package exporter_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/exporter"
	"github.com/duometer/duometer/pkg/pull"
)

// Define an event, emit it, and scrape it as Prometheus would.
func Example() {
	exp, err := exporter.New(exporter.Options{ServiceName: "shop"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	orders := exp.Catalog().MustDefine(events.Def{Name: "shop.orders", Kind: events.Counter, Labels: []string{"status"}})
	orders.Inc("paid")
	orders.Inc("paid")
	orders.Inc("refunded")

	rec := httptest.NewRecorder()
	exp.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pull.Path, nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "shop_orders_total") {
			fmt.Println(line)
		}
	}
	fmt.Println(strings.Contains(rec.Body.String(), `service_name="shop"`))
	// Output:
	// shop_orders_total{status="paid"} 2
	// shop_orders_total{status="refunded"} 1
	// true
}

// Scraped at /metrics/prometheus and pushed over OTLP/gRPC to a collector every minute, and
// once more at exit.
func ExampleNew() {
	exp, err := exporter.New(exporter.Options{ServiceName: "shop", OTLPEndpoint: "http://127.0.0.1:4317"})
	if err != nil {
		log.Fatal(err)
	}
	orders := exp.Catalog().MustDefine(events.Def{Name: "shop.orders", Kind: events.Counter, Labels: []string{"status"}})
	http.Handle(pull.Path, exp.Handler())
	defer func() { _ = exp.Shutdown(context.Background()) }()
	orders.Inc("paid")
}
