package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

const (
	missSize  = 64 << 20
	missBatch = 3 // downloads per timed run
)

// benchMiss measures the throughput of 64 MiB downloads that miss the
// cache (and are stored), for two kinds of caller: io.Copy, and a loop of
// Read calls with a 32 KiB buffer. Beside them stand the two physical
// limits, measured in the same rounds: the same downloads through a bare
// transport (the network) and a raw write of the same bytes to new files
// in the folder the caches use, each synced once as a commit syncs (the
// disk). A timed run is missBatch downloads of new URLs one after
// another, as in a bulk job, and ends when the last entry is committed:
// large bodies are committed after the caller's EOF, so a commit may
// overlap the next download but is never left out. Each round measures
// the network once and, just before each mode, the disk: a disk that
// slows as it fills (some virtual disks do) slows the raw write beside
// each mode alike. A mode's ratio is the median, over the rounds, of its
// throughput against the slower limit of its round, which the table
// names; each row's throughput is its best round.
func benchMiss(t *table, quick bool) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.Handle("/big", testserver.Generated(missSize, 64, testserver.WithoutValidators(),
		testserver.WithHeader("Cache-Control", "max-age=3600")))

	type subject struct {
		name   string
		c      *http.Client
		m      *throttlecache.Manager
		write  bool // the raw write, not a download
		best   time.Duration
		stores bool      // a caching mode, bound by the disk too
		ratios []float64 // per round, against the limit measured just before
	}
	rawDir, err := os.MkdirTemp("", "benchtable-raw-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(rawDir)
	body, _ := io.ReadAll(testserver.GeneratedReader(missSize, 64))
	bare := http.DefaultTransport.(*http.Transport).Clone()
	defer bare.CloseIdleConnections()
	subjects := []*subject{{name: "bare http.Transport (the network)", c: &http.Client{Transport: bare}},
		{name: "raw write of the bytes, synced (the disk)", write: true}}
	for _, mode := range []throttlecache.CacheMode{throttlecache.Disabled, throttlecache.FileCache, throttlecache.RFCFile} {
		m, done := newManager(mode, nil)
		defer done()
		subjects = append(subjects, &subject{name: "throttlecache " + string(mode), c: m.Client(), m: m,
			stores: mode != throttlecache.Disabled})
	}
	rounds := 5
	if quick {
		rounds = 1
	}
	buf := make([]byte, 32<<10)
	styles := []struct {
		name string
		read func(r io.Reader) (int64, error)
	}{
		{"io.Copy", func(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }},
		{"Read, 32 KiB buffer", func(r io.Reader) (int64, error) {
			var n int64
			for {
				k, err := r.Read(buf)
				n += int64(k)
				if err == io.EOF {
					return n, nil
				}
				if err != nil {
					return n, err
				}
			}
		}},
	}
	mbps := func(d time.Duration) float64 { return missBatch * missSize / d.Seconds() / (1 << 20) }
	urls := 0
	// run times one run of s: missBatch downloads (or raw writes), until
	// the last entry is committed.
	run := func(s *subject, read func(io.Reader) (int64, error)) time.Duration {
		var stored int64
		if s.m != nil {
			stored = s.m.Stats().Cache.Stored
		}
		t0 := time.Now()
		for range missBatch {
			urls++
			if s.write {
				rawWrite(filepath.Join(rawDir, fmt.Sprint("f", urls)), body)
				continue
			}
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/big?n=%d", srv.URL, urls), nil)
			resp, err := s.c.Do(req)
			if err != nil {
				log.Fatalf("%s: %v", s.name, err)
			}
			n, err := read(resp.Body)
			resp.Body.Close()
			if err != nil || n != missSize {
				log.Fatalf("%s: %d bytes, %v", s.name, n, err)
			}
		}
		if s.m != nil && s.m.Stats().Cache.StoredBytes > 0 {
			// The mode stores: wait for this run's last commit.
			for s.m.Stats().Cache.Stored < stored+missBatch {
				time.Sleep(100 * time.Microsecond)
			}
		}
		d := time.Since(t0)
		if s.best == 0 || d < s.best {
			s.best = d
		}
		return d
	}
	network, disk := subjects[0], subjects[1]
	for _, style := range styles {
		for _, s := range subjects {
			s.best, s.ratios = 0, nil
		}
		diskBound, paired := 0, 0
		for range rounds {
			net := mbps(run(network, style.read))
			for _, s := range subjects[2:] {
				limit := net
				if s.stores { // a raw write just before: the disk as the mode finds it
					paired++
					if limit = min(net, mbps(run(disk, style.read))); limit < net {
						diskBound++
					}
				}
				s.ratios = append(s.ratios, mbps(run(s, style.read))/limit)
			}
		}
		section := fmt.Sprintf("miss, %d × 64 MiB, %s (throughput: best of %d rounds; ratio: median, each round against its own limits)",
			missBatch, style.name, rounds)
		bound := "network"
		if 2*diskBound > paired {
			bound = "disk"
		}
		t.add(section, network.name, fmt.Sprintf("%.0f MiB/s", mbps(network.best)), "limit: "+bound)
		t.add(section, disk.name, fmt.Sprintf("%.0f MiB/s", mbps(disk.best)), "")
		for _, s := range subjects[2:] {
			of := bound
			if !s.stores {
				of = "network"
			}
			t.add(section, s.name, fmt.Sprintf("%.0f MiB/s", mbps(s.best)),
				fmt.Sprintf("×%.2f of the %s", median(s.ratios), of))
		}
	}
	for _, s := range subjects[2:] {
		if st := s.m.Stats(); st.Network.Requests != int64(2*rounds*missBatch) {
			log.Fatalf("%s: %d network requests in %d downloads", s.name, st.Network.Requests, 2*rounds*missBatch)
		}
	}
}

// rawWrite writes body to a new file at path in chunks of 256 KiB and syncs
// it once: what storing it costs the disk at the least. The file stays, as
// a cache entry does, so that the disk writes new blocks for both (some
// virtual disks write blocks already used much faster than new ones).
func rawWrite(path string, body []byte) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	for p := body; len(p) > 0; p = p[min(len(p), 256<<10):] {
		if _, err := f.Write(p[:min(len(p), 256<<10)]); err != nil {
			log.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	f.Close()
}
