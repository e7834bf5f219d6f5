package testserver

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	s := newServer(t)
	text := func(v string) http.Handler { return Status(http.StatusOK, v) }
	s.Handle("/a", text("A"))
	s.HandleFunc("/f", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("F")) })
	s.HandlePrefix("/p/", text("P"))
	s.HandlePrefix("/p/deep/", text("D"))
	s.Handle("/p/exact", text("E"))
	s.HandlePrefix("/p/deep/x", text("X"))

	tests := []struct {
		name, path string
		status     int
		body       string
	}{
		{"exact", "/a", 200, "A"},
		{"exact with query", "/a?x=1&y=2", 200, "A"},
		{"handler func", "/f", 200, "F"},
		{"no exact subpath", "/a/b", 404, "testserver: no handler for /a/b\n"},
		{"prefix", "/p/anything", 200, "P"},
		{"prefix itself", "/p/", 200, "P"},
		{"longest prefix", "/p/deep/thing", 200, "D"},
		{"longer prefix still", "/p/deep/xyz", 200, "X"},
		{"exact beats prefix", "/p/exact", 200, "E"},
		{"prefix needs the slash", "/p", 404, "testserver: no handler for /p\n"},
		{"unrouted", "/nothing", 404, "testserver: no handler for /nothing\n"},
	}
	c := rawClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, c, "GET", s.URL+tt.path)
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
	if got := s.Hits("/nothing"); got != 1 {
		t.Errorf("Hits(/nothing) = %d, want 1: unrouted requests count", got)
	}
}

func TestHandleReplaceAndRemove(t *testing.T) {
	s := newServer(t)
	c := rawClient(t)
	s.Handle("/x", Status(200, "one"))
	s.Handle("/x", Status(200, "two"))
	if _, body := do(t, c, "GET", s.URL+"/x"); string(body) != "two" {
		t.Errorf("after replacing: body %q, want two", body)
	}
	s.Handle("/x", nil)
	if resp, _ := do(t, c, "GET", s.URL+"/x"); resp.StatusCode != 404 {
		t.Errorf("after removing: status %d, want 404", resp.StatusCode)
	}
	s.HandlePrefix("/d/", Status(200, "dir"))
	s.HandlePrefix("/d/", nil)
	if resp, _ := do(t, c, "GET", s.URL+"/d/x"); resp.StatusCode != 404 {
		t.Errorf("after removing prefix: status %d, want 404", resp.StatusCode)
	}
}

func TestHandleWhileServing(t *testing.T) {
	s := newServer(t)
	c := rawClient(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				s.Handle("/r", Status(200, "v"))
				s.HandlePrefix("/pre/", Status(200, "p"))
				req, _ := http.NewRequest("GET", s.URL+"/r", nil)
				if i%2 == 1 {
					req, _ = http.NewRequest("GET", s.URL+"/pre/"+string(rune('a'+j)), nil)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if got := s.TotalHits(); got != 80 {
		t.Errorf("TotalHits = %d, want 80", got)
	}
}

func TestHitsAndLog(t *testing.T) {
	s := newServer(t)
	s.Handle("/a", Status(200, "a"))
	c := rawClient(t)
	before := time.Now()
	do(t, c, "GET", s.URL+"/a?x=1", "X-Test", "one")
	do(t, c, "POST", s.URL+"/a")
	do(t, c, "HEAD", s.URL+"/a?y=2")
	do(t, c, "GET", s.URL+"/missing")

	if got := s.Hits("/a"); got != 3 {
		t.Errorf("Hits(/a) = %d, want 3", got)
	}
	if got := s.Hits("/missing"); got != 1 {
		t.Errorf("Hits(/missing) = %d, want 1", got)
	}
	if got := s.Hits("/never"); got != 0 {
		t.Errorf("Hits(/never) = %d, want 0", got)
	}
	if got := s.TotalHits(); got != 4 {
		t.Errorf("TotalHits = %d, want 4", got)
	}

	log := s.Requests()
	want := []struct{ method, path, query string }{
		{"GET", "/a", "x=1"},
		{"POST", "/a", ""},
		{"HEAD", "/a", "y=2"},
		{"GET", "/missing", ""},
	}
	if len(log) != len(want) {
		t.Fatalf("log has %d entries, want %d", len(log), len(want))
	}
	for i, w := range want {
		e := log[i]
		if e.Method != w.method || e.Path != w.path || e.RawQuery != w.query {
			t.Errorf("log[%d] = %s %s ?%s, want %s %s ?%s", i, e.Method, e.Path, e.RawQuery, w.method, w.path, w.query)
		}
		if e.At.Before(before) || e.At.After(time.Now()) {
			t.Errorf("log[%d].At = %v, outside the test", i, e.At)
		}
	}
	if got := log[0].Header.Get("X-Test"); got != "one" {
		t.Errorf("log[0] X-Test = %q, want one", got)
	}
	log[0].Header.Set("X-Test", "changed")
	if got := s.Requests()[0].Header.Get("X-Test"); got != "one" {
		t.Errorf("the log shares its headers with callers: X-Test = %q", got)
	}

	s.Reset()
	if s.TotalHits() != 0 || s.Hits("/a") != 0 || len(s.Requests()) != 0 || len(s.ArrivalTimes()) != 0 {
		t.Errorf("after Reset: total %d, /a %d, log %d", s.TotalHits(), s.Hits("/a"), len(s.Requests()))
	}
	do(t, c, "GET", s.URL+"/a")
	if s.TotalHits() != 1 || s.Hits("/a") != 1 {
		t.Errorf("after Reset and one request: total %d, /a %d", s.TotalHits(), s.Hits("/a"))
	}
}

func TestArrivalTimesMonotonic(t *testing.T) {
	s := newServer(t)
	s.Handle("/a", Status(200, "a"))
	c := rawClient(t)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				resp, err := c.Get(s.URL + "/a")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	end := time.Now()
	times := s.ArrivalTimes()
	if len(times) != 200 {
		t.Fatalf("got %d arrival times, want 200", len(times))
	}
	if !slices.IsSortedFunc(times, time.Time.Compare) {
		t.Error("arrival times are not in order")
	}
	if times[0].Before(start) || times[len(times)-1].After(end) {
		t.Errorf("arrival times [%v, %v] outside the test [%v, %v]", times[0], times[len(times)-1], start, end)
	}
	for i, r := range s.Requests() {
		if !r.At.Equal(times[i]) {
			t.Fatalf("Requests()[%d].At = %v, ArrivalTimes()[%d] = %v", i, r.At, i, times[i])
		}
	}
}

func TestSetMaxLog(t *testing.T) {
	s := newServer(t)
	s.Handle("/a", Status(200, "a"))
	c := rawClient(t)
	s.SetMaxLog(3)
	for i := range 10 {
		do(t, c, "GET", s.URL+"/a?i="+string(rune('0'+i)))
		log := s.Requests()
		if want := min(i+1, 3); len(log) != want {
			t.Fatalf("after %d requests the log has %d entries, want %d", i+1, len(log), want)
		}
		if got, want := log[len(log)-1].RawQuery, "i="+string(rune('0'+i)); got != want {
			t.Fatalf("newest entry %q, want %q", got, want)
		}
	}
	if s.TotalHits() != 10 || s.Hits("/a") != 10 {
		t.Errorf("counters with a bounded log: total %d, /a %d, want 10", s.TotalHits(), s.Hits("/a"))
	}
	if got := len(s.ArrivalTimes()); got != 3 {
		t.Errorf("ArrivalTimes has %d entries, want 3", got)
	}
}

func TestOnRequest(t *testing.T) {
	s := newServer(t)
	var mu sync.Mutex
	var seen []string
	s.OnRequest(func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, "hook "+r.URL.Path)
	})
	s.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, "handler "+r.URL.Path)
	})
	c := rawClient(t)
	do(t, c, "GET", s.URL+"/a")
	do(t, c, "GET", s.URL+"/b")
	want := []string{"hook /a", "handler /a", "hook /b"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, want) {
		t.Errorf("calls = %q, want %q", seen, want)
	}
}

func TestMustNotHit(t *testing.T) {
	s := newServer(t)
	s.Handle("/cached", Status(200, "c"))
	s.Handle("/other", Status(200, "o"))
	c := rawClient(t)
	do(t, c, "GET", s.URL+"/cached") // before MustNotHit: allowed

	fake := &fakeTB{}
	s.MustNotHit(fake, "/cached")
	do(t, c, "GET", s.URL+"/other")
	do(t, c, "GET", s.URL+"/cached/sub")
	if errs := fake.errors(); len(errs) != 0 {
		t.Fatalf("errors for other paths: %q", errs)
	}
	do(t, c, "GET", s.URL+"/cached?q=1")
	do(t, c, "HEAD", s.URL+"/cached")
	errs := fake.errors()
	want := "testserver: unexpected request for /cached (a cache hit reached the origin)"
	if len(errs) != 2 || errs[0] != want || errs[1] != want {
		t.Errorf("errors = %q, want twice %q", errs, want)
	}
}

func TestMustNotHitEndsWithTest(t *testing.T) {
	s := newServer(t)
	s.Handle("/cached", Status(200, "c"))
	c := rawClient(t)
	fake := &cleanupTB{}
	s.MustNotHit(fake, "/cached")
	do(t, c, "GET", s.URL+"/cached")
	fake.finish()
	do(t, c, "GET", s.URL+"/cached")
	if errs := fake.errors(); len(errs) != 1 {
		t.Errorf("got %d errors, want 1: the check must end with the test", len(errs))
	}
}

func TestCloseIdempotent(t *testing.T) {
	s := New()
	s.Handle("/a", Status(200, "a"))
	c := rawClient(t)
	do(t, c, "GET", s.URL+"/a")
	s.Close()
	s.Close()
	if _, err := c.Get(s.URL + "/a"); err == nil {
		t.Error("request after Close succeeded")
	}
	if s.Hits("/a") != 1 || len(s.Requests()) != 1 {
		t.Errorf("after Close: hits %d, log %d, want 1 and 1", s.Hits("/a"), len(s.Requests()))
	}
}

func TestCloseEndsHungHandlers(t *testing.T) {
	s := New()
	arrived := make(chan struct{}, 2)
	s.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	s.Handle("/slow", Slow(Status(200, "late"), time.Hour))
	s.OnRequest(func(r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
		}
	})
	c := rawClient(t)
	errs := make(chan error, 2)
	for _, p := range []string{"/hang", "/slow"} {
		go func() {
			resp, err := c.Get(s.URL + p)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	<-arrived
	<-arrived

	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while handlers waited on their context")
	}
	for range 2 {
		if err := <-errs; err == nil {
			t.Error("a request cut by Close succeeded")
		}
	}
}

func TestNoGoroutinesAfterClose(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New()
	s.Handle("/gen", Generated(1<<20, 1))
	s.Handle("/slow", SlowBody([]byte("0123456789"), 1, time.Hour))
	s.Handle("/reset", ResetAfter([]byte("0123456789"), 3))
	s.Handle("/res", NewResource([]byte("r"), WithGzip()))
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	for _, p := range []string{"/gen", "/reset", "/res", "/404"} {
		if resp, err := c.Get(s.URL + p); err == nil {
			drain(resp)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/slow", nil)
	if resp, err := c.Do(req); err == nil {
		drain(resp)
	}
	cancel()
	s.Close()
	tr.CloseIdleConnections()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func drain(resp *http.Response) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
}

func TestNotFoundBody(t *testing.T) {
	s := newServer(t)
	resp, body := do(t, rawClient(t), "GET", s.URL+"/x/y")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "/x/y") {
		t.Errorf("unrouted: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("unrouted Content-Type %q, want text/plain", ct)
	}
}
