package filecache

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/throttlecache/throttlecache/internal/testserver"
)

// A small entry's body is kept in memory after its first hit and served
// from there while the body file is the one its sidecar describes.
func TestSmallBodyServedFromMemory(t *testing.T) {
	e := newEnv(t)
	body := []byte("small and hot")
	e.srv.Handle("/s", testserver.NewResource(body))
	u := e.srv.URL + "/s"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, body)
	expect(t, get(t, e.tr, "GET", u), 200, Hit, body)
	l := e.locFor(t, u)
	c, ok := e.tr.metas.peek(l.key)
	if !ok || !bytes.Equal(c.body, body) {
		t.Fatalf("body not kept in memory: %q", c.body)
	}
	expect(t, getCopy(t, e.tr, u), 200, Hit, body)
	expect(t, get(t, e.tr, "GET", u), 200, Hit, body)

	// Large bodies stay on disk.
	big := bytes.Repeat([]byte("x"), hotBodyMax+1)
	e.srv.Handle("/big", testserver.NewResource(big))
	get(t, e.tr, "GET", e.srv.URL+"/big")
	expect(t, get(t, e.tr, "GET", e.srv.URL+"/big"), 200, Hit, big)
	if c, _ := e.tr.metas.peek(e.locFor(t, e.srv.URL+"/big").key); c.body != nil {
		t.Fatal("a body over hotBodyMax was kept in memory")
	}
}

// Another process replacing or removing the entry is seen at once: the
// body in memory is served only while the file is unchanged.
func TestSmallBodyInMemoryFollowsTheDisk(t *testing.T) {
	e := newEnv(t)
	res := testserver.NewResource([]byte("version one"))
	e.srv.Handle("/s", res)
	u := e.srv.URL + "/s"
	get(t, e.tr, "GET", u)
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("version one"))

	other := e.reopen(t)
	res.Set([]byte("version two, longer"))
	expect(t, get(t, other, "GET", u, "Cache-Control", "no-cache"), 200, Miss, []byte("version two, longer"))
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("version two, longer"))

	// Same length, other bytes: the file's identity still changes.
	res.Set([]byte("version 3, longer!!"))
	expect(t, get(t, other, "GET", u, "Cache-Control", "no-cache"), 200, Miss, []byte("version 3, longer!!"))
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("version 3, longer!!"))

	// Removed by the other process: a miss, not the bytes in memory.
	if _, err := other.RoundTrip(newRequest(t, "DELETE", u)); err != nil {
		t.Fatal(err)
	}
	before := e.srv.Hits("/s")
	expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("version 3, longer!!"))
	if e.srv.Hits("/s") != before+1 {
		t.Fatal("served from memory after the entry was removed")
	}
}

// The bodies kept in memory stay within hotBytesMax however many small
// entries are hit.
func TestBodiesInMemoryAreBounded(t *testing.T) {
	e := newEnv(t)
	const n = hotBytesMax/hotBodyMax + 20
	body := bytes.Repeat([]byte("b"), hotBodyMax)
	for i := range n {
		path := fmt.Sprintf("/e%d", i)
		e.srv.Handle(path, testserver.NewResource(body))
		get(t, e.tr, "GET", e.srv.URL+path)
		expect(t, get(t, e.tr, "GET", e.srv.URL+path), 200, Hit, body)
	}
	e.tr.metas.mu.Lock()
	total, kept := e.tr.metas.bodyBytes, 0
	var sum int64
	for _, c := range e.tr.metas.m {
		if c.body != nil {
			kept++
			sum += int64(len(c.body))
		}
	}
	e.tr.metas.mu.Unlock()
	if total != sum || total > hotBytesMax || kept == 0 {
		t.Fatalf("%d bodies kept, %d bytes counted, %d bytes held, budget %d", kept, total, sum, hotBytesMax)
	}
}
