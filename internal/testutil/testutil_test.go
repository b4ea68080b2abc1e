package testutil_test

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/duometer/duometer/internal/testutil"
	"github.com/duometer/duometer/pkg/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTB records the failure of a helper under test; Fatal ends the goroutine, as testing's.
type fakeTB struct {
	testing.TB
	failure string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) { f.failure = fmt.Sprint(args...); runtime.Goexit() }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs fn on a goroutine of its own and returns how it failed the test ("" if not).
func failure(fn func(tb testing.TB)) string {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.failure
}

func TestWaitUntil(t *testing.T) {
	n := 0
	testutil.WaitUntil(t, 5*time.Second, time.Millisecond, "three polls", func() (bool, string) { n++; return n == 3, "" })
	if n != 3 {
		t.Errorf("cond ran %d times, want 3", n)
	}
	got := failure(func(tb testing.TB) {
		testutil.WaitUntil(tb, 30*time.Millisecond, time.Millisecond, "the impossible", func() (bool, string) { return false, "still no" })
	})
	if want := "the impossible not met within 30ms; last: still no"; got != want {
		t.Errorf("failure %q, want %q", got, want)
	}
	got = failure(func(tb testing.TB) { testutil.WaitFor(tb, 30*time.Millisecond, func() bool { return false }) })
	if want := "condition not met within 30ms"; got != want {
		t.Errorf("WaitFor failure %q, want %q", got, want)
	}
}

func TestGzip(t *testing.T) {
	const s = "hello, gzip"
	if got := string(testutil.Gunzip(t, bytes.NewReader(testutil.Gzip(t, s)))); got != s {
		t.Errorf("round trip = %q, want %q", got, s)
	}
	if got := failure(func(tb testing.TB) { testutil.Gunzip(tb, strings.NewReader(s)) }); got != "gunzip: gzip: invalid header" {
		t.Errorf("Gunzip of plain text: failure %q", got)
	}
}

func TestCatalog(t *testing.T) {
	defs := []events.Def{
		{Name: "a.counter", Kind: events.Counter, Labels: []string{"k"}},
		{Name: "a.gauge", Kind: events.Gauge},
	}
	cat := testutil.Catalog(t, defs...)
	for _, d := range defs {
		if ev := cat.Lookup(d.Name); ev == nil || ev.Def().Kind != d.Kind {
			t.Errorf("%s: %v", d.Name, ev)
		}
	}
	evs := testutil.Define(t, cat, events.Def{Name: "b.counter", Kind: events.Counter})
	if len(evs) != 1 || evs[0] != cat.Lookup("b.counter") {
		t.Errorf("Define returned %v", evs)
	}
	got := failure(func(tb testing.TB) { testutil.Define(tb, cat, events.Def{Name: "c.ok", Kind: events.Gauge}, defs[0]) })
	if !strings.HasPrefix(got, "define a.counter: ") {
		t.Errorf("defining a.counter twice: failure %q", got)
	}
	if cat.Lookup("c.ok") == nil {
		t.Error("the definitions before the refused one were not made")
	}
}

func TestIngestHeader(t *testing.T) {
	for _, c := range []struct {
		ctype, encoding, auth string
		want                  string
	}{
		{"", "", "", "map[Content-Type:[application/json]]"},
		{"-", "gzip", "Bearer x", "map[Authorization:[Bearer x] Content-Encoding:[gzip]]"},
		{"text/plain", "", "", "map[Content-Type:[text/plain]]"},
	} {
		if got := fmt.Sprint(testutil.IngestHeader(c.ctype, c.encoding, c.auth)); got != c.want {
			t.Errorf("IngestHeader(%q, %q, %q) = %s, want %s", c.ctype, c.encoding, c.auth, got, c.want)
		}
	}
}

func TestConcurrently(t *testing.T) {
	var sum, calls atomic.Int64
	testutil.Concurrently(8, func(w int) { sum.Add(int64(w)); calls.Add(1) })
	if calls.Load() != 8 || sum.Load() != 28 {
		t.Errorf("%d calls, workers summing to %d; want 8 and 28", calls.Load(), sum.Load())
	}
}

func TestSyncBuffer(t *testing.T) {
	var b testutil.SyncBuffer
	testutil.Concurrently(4, func(int) {
		for range 100 {
			_, _ = b.Write([]byte("x"))
			_ = b.String()
		}
	})
	if n := len(b.String()); n != 400 {
		t.Errorf("%d bytes, want 400", n)
	}
}

func TestSelfSigned(t *testing.T) {
	notAfter := time.Now().Add(time.Hour).Truncate(time.Second)
	certFile, keyFile, cert := testutil.SelfSigned(t, notAfter)
	if !cert.NotAfter.Equal(notAfter) || cert.VerifyHostname("127.0.0.1") != nil || cert.VerifyHostname("localhost") != nil {
		t.Errorf("certificate for %v %v until %v", cert.IPAddresses, cert.DNSNames, cert.NotAfter)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Errorf("the certificate does not verify against itself: %v", err)
	}
	for _, f := range []string{certFile, keyFile} {
		if b, err := os.ReadFile(f); err != nil || !bytes.HasPrefix(b, []byte("-----BEGIN ")) {
			t.Errorf("%s: %v, %.20q", f, err, b)
		}
	}
}
