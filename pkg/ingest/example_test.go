package ingest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/ingest"
)

// A batch of events posted to the handler is applied to the catalog; a batch with a bad event
// is refused whole.
func ExampleNewHandler() {
	cat := events.NewCatalog()
	backups := cat.MustDefine(events.Def{Name: "backup.completed", Kind: events.Counter, Labels: []string{"host", "kind"}})
	h, err := ingest.NewHandler(ingest.Options{Catalog: cat}) // no tokens: loopback clients only
	if err != nil {
		panic(err)
	}
	post := func(body string) {
		req := httptest.NewRequest(http.MethodPost, ingest.Path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:50000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}

	post(`[{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}},
	       {"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}, "value": 2}]`)
	post(`[{"event": "backup.completed", "labels": {"host": "db1", "kind": "full"}},
	       {"event": "backup.complete", "labels": {"host": "db1"}}]`)
	fmt.Println("backup.completed{db1,full} =", backups.With("db1", "full").Value())
	// Output:
	// 202 {"applied":2,"dropped":0}
	// 400 {"error":"1 of 2 events invalid; none applied","problems":["[1] event \"backup.complete\": unknown event"]}
	// backup.completed{db1,full} = 3
}
