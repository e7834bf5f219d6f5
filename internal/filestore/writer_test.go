package filestore

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// sizedFile records the size of every write to a temporary body.
type sizedFile struct {
	*os.File
	mu     *sync.Mutex
	writes *[]int
	fail   *bool
}

func (f sizedFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *f.fail {
		return 0, errors.New("disk on fire")
	}
	*f.writes = append(*f.writes, len(p))
	return f.File.Write(p)
}

func recordingStore(t *testing.T) (s *Store, writes func() []int, fail func()) {
	var mu sync.Mutex
	var sizes []int
	var failing bool
	s = newStore(t, t.TempDir(), Options{CreateTemp: func(dir, pattern string) (File, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil || !strings.HasSuffix(pattern, ".part") { // bodies only
			return f, err
		}
		return sizedFile{File: f, mu: &mu, writes: &sizes, fail: &failing}, nil
	}})
	return s, func() []int {
			mu.Lock()
			defer mu.Unlock()
			return append([]int(nil), sizes...)
		}, func() {
			mu.Lock()
			failing = true
			mu.Unlock()
		}
}

// A body that arrives in network-sized pieces reaches the file in pieces
// of writeChunk at multiples of it, and every byte written is readable at
// once, from the buffer or the file, by readers on other goroutines.
func TestWriterWritesLargePiecesAndReadsBack(t *testing.T) {
	s, writes, _ := recordingStore(t)
	body := make([]byte, 1<<20+12345)
	for i := range body {
		body[i] = byte(i * 7 / 5)
	}
	k := urlKey(t, "http://example.com/large")
	m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Size: int64(len(body))}
	w, err := s.Create(context.Background(), k, m)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	var written sync.Map // the count of bytes written so far, as Write returned
	written.Store("n", 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(r), 1))
			buf := make([]byte, 40<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, _ := written.Load("n")
				n := v.(int)
				if n == 0 {
					continue
				}
				off := rnd.IntN(n)
				want := min(len(buf), n-off)
				k, err := w.ReadAt(buf[:want], int64(off))
				if k != want || (err != nil && err != io.EOF) {
					t.Errorf("ReadAt(%d bytes at %d) of %d written = %d, %v", want, off, n, k, err)
					return
				}
				if !bytes.Equal(buf[:k], body[off:off+k]) {
					t.Errorf("ReadAt at %d of %d written: wrong bytes", off, n)
					return
				}
			}
		})
	}
	rnd := rand.New(rand.NewPCG(9, 9))
	for n := 0; n < len(body); {
		piece := min(1+rnd.IntN(64<<10), len(body)-n)
		if n > 300<<10 && n < 600<<10 {
			piece = min(writeChunk+rnd.IntN(writeChunk), len(body)-n) // larger than a piece, not aligned
		}
		if _, err := w.Write(body[n : n+piece]); err != nil {
			t.Fatal(err)
		}
		n += piece
		written.Store("n", n)
		time.Sleep(20 * time.Microsecond)
	}
	close(stop)
	wg.Wait()

	// Reads that straddle the end of the file and the buffer, and past the end.
	buf := make([]byte, 100)
	if k, err := w.ReadAt(buf, int64(len(body)-50)); k != 50 || err != io.EOF || !bytes.Equal(buf[:50], body[len(body)-50:]) {
		t.Fatalf("ReadAt over the end = %d, %v", k, err)
	}
	m.SetSum(int64(len(body)), crc32.Checksum(body, cache.Castagnoli))
	if err := w.Commit(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	sizes := writes()
	total := 0
	for i, n := range sizes {
		total += n
		if i < len(sizes)-1 && (n == 0 || total%writeChunk != 0) {
			t.Errorf("write %d of %d (%d bytes) ends at %d, not at a multiple of %d", i, len(sizes), n, total, writeChunk)
		}
	}
	if total != len(body) {
		t.Errorf("wrote %d bytes in %v, want %d", total, sizes, len(body))
	}
	mustLookup(t, s, k, body)
}

// A write to the file that fails fails the Write that caused it and the
// commit, and the bytes written before stay readable.
func TestWriterFailedFlushKeepsBytes(t *testing.T) {
	s, _, fail := recordingStore(t)
	k := urlKey(t, "http://example.com/failing")
	m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Size: 3 * writeChunk}
	w, err := s.Create(context.Background(), k, m)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	piece := bytes.Repeat([]byte("x"), writeChunk-10)
	if _, err := w.Write(piece); err != nil {
		t.Fatal(err)
	}
	fail()
	if _, err := w.Write(piece); err == nil {
		t.Fatal("Write that filled the buffer over a failing disk succeeded")
	}
	got := make([]byte, len(piece))
	if k, err := w.ReadAt(got, 0); k != len(piece) || err != nil || !bytes.Equal(got, piece) {
		t.Fatalf("ReadAt after the failure = %d, %v", k, err)
	}
	if err := w.Commit(context.Background(), m); err == nil {
		t.Fatal("Commit after a failed write succeeded")
	}
	if _, err := lookup(s, k); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Lookup after the failed commit: %v, want ErrNotFound", err)
	}
	w.Close()
	if _, err := w.ReadAt(got, 0); err == nil {
		t.Fatal("ReadAt after Close succeeded")
	}
}

// One failed write is one store error. A tail that waited in the buffer
// and fails when Commit flushes it is counted once, not also as a failed
// commit.
func TestWriterFailedFlushAtCommitCountsOneError(t *testing.T) {
	s, _, fail := recordingStore(t)
	k := urlKey(t, "http://example.com/tail")
	m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Size: 100}
	w, err := s.Create(context.Background(), k, m)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fail()
	w.Write(bytes.Repeat([]byte("x"), 100)) // buffered now; before, it failed here
	if err := w.Commit(context.Background(), m); err == nil {
		t.Fatal("Commit over a failing disk succeeded")
	}
	if n := s.Stats().Errors; n != 1 {
		t.Fatalf("one failed write counted as %d store errors", n)
	}
}
