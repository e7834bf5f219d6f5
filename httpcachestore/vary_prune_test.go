package httpcachestore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/internal/filestore"
	"github.com/throttlecache/throttlecache/rfccache"
)

// rfccache on this store: a response with Vary is stored as a variant.
// Another process pruning the folder (with room to spare) while the body
// downloads must not cost the entry.
func TestVaryDownloadSurvivesPrune(t *testing.T) {
	for _, vary := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "vary"}[vary], func(t *testing.T) {
			half, resume := make(chan struct{}), make(chan struct{})
			first := true
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600")
				if vary {
					w.Header().Set("Vary", "Accept-Language")
				}
				w.Header().Set("Content-Length", "10")
				io.WriteString(w, "hello")
				w.(http.Flusher).Flush()
				if first {
					first = false
					close(half)
					<-resume
				}
				io.WriteString(w, "world")
			}))
			defer srv.Close()
			dir := t.TempDir()
			st, err := httpcachestore.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tr, err := rfccache.New(srv.Client().Transport, st, rfccache.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			c := &http.Client{Transport: tr}
			get := func() (string, string) {
				req, _ := http.NewRequest("GET", srv.URL+"/doc", nil)
				req.Header.Set("Accept-Language", "en")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b), resp.Header.Get("X-Cache")
			}
			done := make(chan string)
			go func() { b, _ := get(); done <- b }()
			<-half
			var des []os.DirEntry
			for deadline := time.Now().Add(5 * time.Second); len(des) == 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				des, _ = os.ReadDir(filepath.Join(dir, ".tmp")) // the download's file
			}
			r, err := filestore.PruneDir(context.Background(), dir, 1<<40)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("temporary files: %d; prune removed %d leftovers", len(des), r.Leftovers)
			close(resume)
			if b := <-done; b != "helloworld" {
				t.Fatalf("first response %q", b)
			}
			tr.Close() // waits for the fill and its commit
			tr2, _ := rfccache.New(srv.Client().Transport, st, rfccache.Options{})
			defer tr2.Close()
			c.Transport = tr2
			if b, xc := get(); xc != "HIT" {
				t.Fatalf("second request: %s %q; want a HIT", xc, b)
			}
		})
	}
}
