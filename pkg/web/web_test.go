package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/duometer/duometer/pkg/events"
	"github.com/duometer/duometer/pkg/web"
)

func TestInstrumentAndHealth(t *testing.T) {
	cat := events.NewCatalog()
	self := cat.Self()
	mux := http.NewServeMux()
	health := &web.Health{}
	health.Register(mux)
	mux.Handle("GET /teapot", web.Instrument(self, "teapot", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})))
	get := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if get("/-/ready") != http.StatusServiceUnavailable {
		t.Error("ready before SetReady(true)")
	}
	health.SetReady(true)
	if get("/-/ready") != http.StatusOK || get("/-/healthy") != http.StatusOK {
		t.Error("health endpoints not OK")
	}
	get("/teapot")
	get("/teapot")
	if v := self.HTTPRequests.With("teapot", "418").Value(); v != 2 {
		t.Errorf("duometer.http.requests{teapot,418} = %v, want 2", v)
	}
	c := make([]uint64, len(events.DefaultSecondsBuckets)+1)
	if n, _ := self.HTTPRequestTime.With("teapot").HistogramInto(c); n != 2 {
		t.Errorf("duometer.http.request-time count = %d, want 2", n)
	}
	health.SetReady(false)
	if get("/-/ready") != http.StatusServiceUnavailable {
		t.Error("ready after SetReady(false)")
	}
}

func TestBasicAuth(t *testing.T) {
	self := events.NewCatalog().Self()
	const secret = "correct horse battery staple"
	h := web.BasicAuth("prometheus", secret, self, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("inside"))
	}))
	for i, c := range []struct {
		name       string
		user, pass string
		set        bool
	}{
		{"missing", "", "", false},
		{"wrong secret", "prometheus", "wrong", true},
		{"wrong user", "grafana", secret, true},
		{"secret prefix", "prometheus", secret[:5], true},
		{"empty secret", "prometheus", "", true},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if c.set {
			req.SetBasicAuth(c.user, c.pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "inside") {
			t.Errorf("%s: status %d, body %q; want 401 without the content", c.name, rec.Code, rec.Body.String())
		}
		if got := rec.Header().Get("WWW-Authenticate"); got != `Basic realm="duometer", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, got)
		}
		if strings.Contains(rec.Body.String(), secret) {
			t.Errorf("%s: the 401 body leaks the secret", c.name)
		}
		if got := self.AuthFailed.Value(); got != float64(i+1) {
			t.Errorf("%s: duometer.auth.failed = %v, want %d", c.name, got, i+1)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("prometheus", secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "inside" || self.AuthSuccess.Value() != 1 {
		t.Errorf("right credentials: status %d, body %q, duometer.auth.success %v", rec.Code, rec.Body.String(), self.AuthSuccess.Value())
	}
}

func TestCodeLabel(t *testing.T) {
	for code, want := range map[int]string{200: "200", 202: "202", 418: "418", 599: "599", 600: "600", 99: "99", -1: "-1"} {
		if got := web.CodeLabel(code); got != want {
			t.Errorf("CodeLabel(%d) = %q, want %q", code, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = web.CodeLabel(503) }); n != 0 {
		t.Errorf("CodeLabel(503) allocates %v times", n)
	}
}
