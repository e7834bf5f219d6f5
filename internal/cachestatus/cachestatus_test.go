package cachestatus

import (
	"net/http"
	"sync"
	"testing"
)

func TestCounters(t *testing.T) {
	var c Counters
	var wg sync.WaitGroup
	for _, s := range []string{Hit, Hit, Miss, Revalidated, Stale, Bypass, Bypass, Bypass, "other", ""} {
		wg.Go(func() { c.Count(s) })
	}
	wg.Wait()
	want := Snapshot{Hits: 2, Misses: 1, Revalidated: 1, Stale: 1, Bypass: 3}
	if got := c.Load(); got != want {
		t.Fatalf("Load() = %+v, want %+v", got, want)
	}
}

func TestSet(t *testing.T) {
	resp := &http.Response{}
	Set(resp, Miss)
	if resp.Header.Get(Header) != Miss || resp.Body == nil {
		t.Fatalf("header %v, body %v", resp.Header, resp.Body)
	}
	Set(resp, Hit)
	if v := resp.Header.Values(Header); len(v) != 1 || v[0] != Hit {
		t.Fatalf("X-Cache %v after a second Set", v)
	}
}
