package throttlecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/storetest"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// Fault injection through the public API. Every test asserts that the
// caller gets a correct, complete body or a clear error, and that nothing
// wrong is stored and served later, by a fresh Manager on the same storage.

// faultRules cache everything under /f/ for ever, in every mode.
var faultRules = rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{{Match: `/f/`, MaxAge: rules.Forever}}}}

// faultMode is a cache mode with its storage; cfg can build any number of
// Managers over that same storage.
type faultMode struct {
	mode   CacheMode
	cfg    Config
	bucket *storetest.S3 // RFCS3 only
}

// faultModes returns the caching modes, each on fresh storage. RFCS3 uses
// one bucket for all tests of t, under a prefix of its own.
func faultModes(t *testing.T) []faultMode {
	t.Helper()
	bucket := storetest.NewS3(t)
	return []faultMode{
		{mode: FileCache, cfg: Config{CacheMode: FileCache, CacheDir: t.TempDir(), Rules: faultRules, DisableRateLimit: true, Retry: fastRetry}},
		{mode: RFCFile, cfg: Config{CacheMode: RFCFile, CacheDir: t.TempDir(), Rules: faultRules, DisableRateLimit: true, Retry: fastRetry}},
		{mode: RFCS3, bucket: bucket, cfg: Config{CacheMode: RFCS3, S3Client: bucket.Client(), S3Bucket: bucket.Bucket,
			S3Prefix: fmt.Sprintf("%s-%d/", t.Name(), time.Now().UnixNano()), Rules: faultRules, DisableRateLimit: true, Retry: fastRetry}},
	}
}

// fetch GETs url through c with ctx and reads the whole body. err is the
// request's error or the body's.
func fetch(ctx context.Context, c *http.Client, url string) (status int, cache string, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(CacheStatusHeader), body, err
}

// mustGet GETs url and fails t unless it answers 200 with want. It returns
// the X-Cache value.
func mustGet(t *testing.T, c *http.Client, url string, want []byte) string {
	t.Helper()
	status, cache, body, err := fetch(context.Background(), c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if status != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("GET %s: %d %s, %d bytes, want 200 with the %d bytes of the origin (wrong bytes served)", url, status, cache, len(body), len(want))
	}
	return cache
}

func generatedBody(size, seed int64) []byte {
	b, _ := io.ReadAll(testserver.GeneratedReader(size, seed))
	return b
}

// TestFaultBrokenBodies: a connection reset mid-body, a body shorter than
// its Content-Length and a body slower than the caller's deadline all give
// the caller an error, and leave nothing that a later request is served.
func TestFaultBrokenBodies(t *testing.T) {
	const size = 1 << 20
	body := generatedBody(size, 42)
	good := testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600"))
	cases := []struct {
		name     string
		fault    http.Handler
		deadline time.Duration
		wantErr  error // nil: any error
	}{
		{name: "reset mid-body", fault: testserver.ResetAfter(body, 300<<10)},
		{name: "short body", fault: testserver.Short(body, size-1)},
		{name: "slow body past deadline", fault: testserver.SlowBody(body, 64<<10, 100*time.Millisecond),
			deadline: 300 * time.Millisecond, wantErr: context.DeadlineExceeded},
		{name: "slow headers past deadline", fault: testserver.Slow(good, 5*time.Second),
			deadline: 200 * time.Millisecond, wantErr: context.DeadlineExceeded},
	}
	for _, fm := range faultModes(t) {
		for i, tc := range cases {
			t.Run(string(fm.mode)+"/"+tc.name, func(t *testing.T) {
				srv := testserver.New()
				defer srv.Close()
				path := fmt.Sprintf("/f/broken/%d", i)
				srv.Handle(path, testserver.Sequence(tc.fault, good))
				m := newManager(t, fm.cfg)

				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				t0 := time.Now()
				_, _, got, err := fetch(ctx, m.Client(), srv.URL+path)
				if err == nil {
					t.Fatalf("the caller got %d bytes and no error from a broken body", len(got))
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want one that wraps %v", err, tc.wantErr)
				}
				if tc.deadline > 0 && time.Since(t0) > tc.deadline+time.Second {
					t.Errorf("the deadline of %v ended the request only after %v", tc.deadline, time.Since(t0))
				}

				// Nothing of the broken answer is served: not by this
				// Manager, not by a new one on the same storage.
				m2 := newManager(t, fm.cfg)
				if c := mustGet(t, m2.Client(), srv.URL+path, body); c == CacheHit {
					t.Errorf("a broken body left an entry that was served as a HIT")
				}
				if c := mustGet(t, m.Client(), srv.URL+path, body); c != CacheHit {
					t.Errorf("after a good answer: X-Cache %s, want HIT", c)
				}
			})
		}
	}
}

// TestFault5xxStorm: while the origin answers every request with a 5xx,
// concurrent callers get those responses (not errors); none is cached, and
// the first good answer after the storm is served and stored.
func TestFault5xxStorm(t *testing.T) {
	body := generatedBody(64<<10, 5)
	good := testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600"))
	statuses := []int{500, 502, 503, 504}
	for _, fm := range faultModes(t) {
		t.Run(string(fm.mode), func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			var down atomic.Bool
			var n atomic.Int64
			down.Store(true)
			srv.Handle("/f/storm", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() {
					code := statuses[n.Add(1)%int64(len(statuses))]
					// No freshness of its own: the /f/ rule applies to
					// 200s, not to errors. (RFC modes do keep a 5xx that
					// carries an explicit max-age, as RFC 9111 allows.)
					http.Error(w, "storm", code)
					return
				}
				good.ServeHTTP(w, r)
			}))
			m := newManager(t, fm.cfg)
			var wg sync.WaitGroup
			for range 3 {
				for range 40 {
					wg.Go(func() {
						status, _, got, err := fetch(context.Background(), m.Client(), srv.URL+"/f/storm")
						if err != nil {
							t.Errorf("a 5xx became an error: %v", err)
							return
						}
						if status < 500 || bytes.Equal(got, body) {
							t.Errorf("during the storm: %d, %d bytes", status, len(got))
						}
					})
				}
				wg.Wait()
			}
			down.Store(false)
			if c := mustGet(t, newManager(t, fm.cfg).Client(), srv.URL+"/f/storm", body); c == CacheHit {
				t.Errorf("first good answer after the storm: X-Cache HIT")
			}
			if c := mustGet(t, m.Client(), srv.URL+"/f/storm", body); c != CacheHit {
				t.Errorf("after the storm: X-Cache %s, want HIT", c)
			}
		})
	}
}

// corruptions damage one stored file or object.
var corruptions = []struct {
	name string
	f    func([]byte) []byte
}{
	{"flip a byte in the middle", func(b []byte) []byte {
		if len(b) == 0 {
			return b
		}
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0x55
		return b
	}},
	{"flip the last byte", func(b []byte) []byte {
		if len(b) == 0 {
			return b
		}
		b = bytes.Clone(b)
		b[len(b)-1] ^= 0x01
		return b
	}},
	{"truncate to half", func(b []byte) []byte { return b[:len(b)/2] }},
	{"empty", func([]byte) []byte { return nil }},
	{"garbage", func([]byte) []byte { return []byte("{\"not\": an entry\x00\xff") }},
	{"append bytes", func(b []byte) []byte { return append(bytes.Clone(b), "trailing"...) }},
}

// corruptStorage applies f to every stored file (FileCache, RFCFile) or
// object (RFCS3) and returns how many it changed. FileCache's credential
// key (.key) is left alone: TestFaultCorruptKey covers it.
func corruptStorage(t *testing.T, fm faultMode, f func([]byte) []byte) int {
	t.Helper()
	n := 0
	if fm.mode == RFCS3 {
		c := fm.bucket.Client()
		ctx := context.Background()
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &fm.bucket.Bucket, Prefix: &fm.cfg.S3Prefix})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &fm.bucket.Bucket, Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &fm.bucket.Bucket, Key: o.Key, Body: bytes.NewReader(f(data))}); err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	err := filepath.WalkDir(fm.cfg.CacheDir, func(p string, de os.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() || p == filepath.Join(fm.cfg.CacheDir, ".key") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		return os.WriteFile(p, f(data), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFaultCorruptStorage damages every stored file or object in several
// ways: the next request, by a fresh Manager, gets the origin's bytes. RFCS3
// also runs on the in-process server, which ignores If-Match (in CI too).
func TestFaultCorruptStorage(t *testing.T) {
	body := generatedBody(200<<10, 77)
	modes := faultModes(t)
	if s3m := modes[2]; s3m.bucket.Real {
		b := storetest.NewInProcessS3(t)
		s3m.bucket, s3m.cfg.S3Client, s3m.cfg.S3Bucket = b, b.Client(), b.Bucket
		modes = append(modes, s3m)
	}
	for _, base := range modes {
		name := string(base.mode)
		if base.bucket != nil && !base.bucket.Real {
			name += " ignoring If-Match"
		}
		for i, cr := range corruptions {
			t.Run(name+"/"+cr.name, func(t *testing.T) {
				fm := base
				switch fm.mode {
				case RFCS3:
					fm.cfg.S3Prefix = fmt.Sprintf("%scorrupt-%d/", base.cfg.S3Prefix, i)
				default:
					fm.cfg.CacheDir = t.TempDir()
				}
				srv := testserver.New()
				defer srv.Close()
				srv.Handle("/f/entry", testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600")))
				m := newManager(t, fm.cfg)
				mustGet(t, m.Client(), srv.URL+"/f/entry", body)
				if c := mustGet(t, m.Client(), srv.URL+"/f/entry", body); c != CacheHit {
					t.Fatalf("before the damage: X-Cache %s, want HIT", c)
				}
				m.Close()
				if n := corruptStorage(t, fm, cr.f); n == 0 {
					t.Fatal("nothing stored to damage")
				}
				m2 := newManager(t, fm.cfg)
				mustGet(t, m2.Client(), srv.URL+"/f/entry", body)
				mustGet(t, m2.Client(), srv.URL+"/f/entry", body)
				m3 := newManager(t, fm.cfg)
				mustGet(t, m3.Client(), srv.URL+"/f/entry", body)
			})
		}
	}
}

// TestFaultCorruptKey damages FileCache's credential key: New refuses the
// folder with an error that names the file, rather than serving entries
// keyed by another secret.
func TestFaultCorruptKey(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{CacheMode: FileCache, CacheDir: dir, Rules: faultRules}
	newManager(t, cfg).Close()
	key := filepath.Join(dir, ".key")
	if _, err := os.Stat(key); err != nil {
		t.Skipf("no credential key file in this layout: %v", err)
	}
	if err := os.WriteFile(key, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg)
	if err == nil {
		m.Close()
		t.Fatal("New accepted a damaged credential key")
	}
	if !strings.Contains(err.Error(), "Config.CacheDir") || !strings.Contains(err.Error(), ".key") {
		t.Errorf("error %q does not name the field and the file", err)
	}
}

// TestFaultS3DownMidRun stops the S3 server in the middle of a batch: every
// result is still complete and correct, and the failures are counted.
func TestFaultS3DownMidRun(t *testing.T) {
	fake := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer fake.Close()
	bucket := &storetest.S3{Endpoint: fake.URL, AccessKey: "k", SecretKey: "s", Bucket: "fault-down"}
	client := bucket.Client()
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket.Bucket}); err != nil {
		t.Fatal(err)
	}
	srv := testserver.New()
	defer srv.Close()
	const n = 60
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/f/item/%d", srv.URL, i)
	}
	srv.HandlePrefix("/f/item/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(itemBody(r.URL.Path))
	}))
	m := newManager(t, Config{CacheMode: RFCS3, S3Client: client, S3Bucket: bucket.Bucket, Rules: faultRules,
		DisableRateLimit: true, S3Timeout: time.Second})

	// Half the items go in while S3 is up.
	for _, r := range m.GetBatch(context.Background(), urls[:n/2]) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	var once sync.Once
	results := m.GetBatch(context.Background(), urls, WithConcurrency(4), WithProgress(func(p Progress) {
		if p.Done >= n/2+5 {
			once.Do(func() { fake.CloseClientConnections(); go fake.Close() })
		}
	}))
	for i, r := range results {
		if r.Err != nil || !bytes.Equal(r.Body, itemBody(fmt.Sprintf("/f/item/%d", i))) {
			t.Errorf("%s: %d bytes, %v", r.URL, len(r.Body), r.Err)
		}
	}
	s := m.Stats()
	if s.Cache.StoreErrors == 0 {
		t.Errorf("S3 went down and no store error was counted: %+v", s)
	}
	t.Logf("stats after S3 went down: hits %d, misses %d, store errors %d", s.Cache.Hits, s.Cache.Misses, s.Cache.StoreErrors)
	mustGet(t, m.Client(), urls[0], itemBody("/f/item/0"))
}

func itemBody(path string) []byte {
	return bytes.Repeat([]byte(path+";"), 2000)
}
