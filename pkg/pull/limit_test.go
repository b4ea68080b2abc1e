package pull

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/duometer/duometer/pkg/events"
)

// A ScrapeLimit serves max scrapes at once; the next is answered 503 at once, with
// Retry-After, naming the limit, and counted; a place freed serves again.
func TestScrapeLimit(t *testing.T) {
	cat := events.NewCatalog()
	reached := cat.Self().LimitsReached.With(LimitMaxScrapesInFlight)
	l := NewScrapeLimit(2, reached)
	block, entered := make(chan struct{}), make(chan struct{}, 2)
	h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-block
		_, _ = w.Write([]byte("ok"))
	}))
	scrape := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
		return rec
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { codes[i] = scrape().Code })
	}
	<-entered
	<-entered
	for range 3 {
		rec := scrape()
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
			!strings.Contains(rec.Body.String(), "metrics.prometheus.max-in-flight") {
			t.Errorf("a third scrape at once: %d, Retry-After %q, %q; want 503, 1 and the limit named",
				rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
	}
	if got := reached.Value(); got != 3 {
		t.Errorf(`duometer.limits.reached{limit="metrics.prometheus.max-in-flight"} = %v, want 3`, got)
	}
	close(block)
	wg.Wait()
	if codes[0] != http.StatusOK || codes[1] != http.StatusOK {
		t.Errorf("the scrapes in flight answered %v, want 200", codes)
	}
	if rec := scrape(); rec.Code != http.StatusOK {
		t.Errorf("a scrape once the places are free: %d", rec.Code)
	}
	<-entered

	if l := NewScrapeLimit(0, nil); cap(l.slots) != DefaultMaxScrapesInFlight {
		t.Errorf("NewScrapeLimit(0) serves %d at once, want %d", cap(l.slots), DefaultMaxScrapesInFlight)
	}
}
