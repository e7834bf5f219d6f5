// Command benchtable measures throttlecache against its baselines in one run
// on one machine and prints a single markdown table with ratios: cache-hit
// cost, miss throughput, peak heap for a large body, origin requests for a
// stampede, limiter precision and GetBatch against an errgroup loop.
//
//	go run ./scripts/benchtable            # or: make bench
//	go run ./scripts/benchtable -quick     # shorter runs, for a smoke test
//
// It uses a real S3 server when THROTTLECACHE_TEST_S3 names one (with
// THROTTLECACHE_TEST_S3_KEY and THROTTLECACHE_TEST_S3_SECRET) and an
// in-process one otherwise; a real Redis server when THROTTLECACHE_TEST_REDIS
// names one and an in-process one otherwise.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// row is one line of the table.
type row struct {
	section, subject, result, ratio string
}

// table collects the rows in the order they were measured.
type table struct {
	rows []row
}

func (t *table) add(section, subject, result, ratio string) {
	t.rows = append(t.rows, row{section, subject, result, ratio})
	log.Printf("%s | %s | %s | %s", section, subject, result, ratio)
}

func (t *table) print(w io.Writer, started time.Time, notes []string) {
	fmt.Fprintf(w, "Measured %s on %s/%s, %d CPUs, %s, in %v.\n",
		started.UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.Version(), time.Since(started).Round(time.Second))
	fmt.Fprintln(w, "Numbers are noisy: one run, on a shared machine, origin and client on loopback in one process.")
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measurement | subject | result | ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	last := ""
	for _, r := range t.rows {
		sec := r.section
		if sec == last {
			sec = ""
		}
		last = r.section
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", sec, r.subject, r.result, r.ratio)
	}
}

func main() {
	testing.Init()
	quick := flag.Bool("quick", false, "shorter runs (a smoke test, not a measurement)")
	benchtime := flag.String("benchtime", "1s", "run time of each testing.Benchmark measurement")
	only := flag.String("only", "", "comma-separated sections to run: hit,s3hit,miss,s3miss,heap,stampede,limit,fleet,batch (default all)")
	flag.Parse()
	if *quick && *benchtime == "1s" {
		*benchtime = "100ms"
	}
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		log.Fatalf("-benchtime %q: %v", *benchtime, err)
	}
	if child := os.Getenv(childEnv); child != "" {
		runChild(child)
		return
	}
	log.SetFlags(0)
	log.SetPrefix("benchtable: ")
	want := func(s string) bool {
		return *only == "" || strings.Contains(","+*only+",", ","+s+",")
	}

	started := time.Now()
	var t table
	var notes []string
	s3, err := newS3()
	if err != nil {
		log.Fatal(err)
	}
	defer s3.close()
	notes = append(notes, "RFCS3 runs on "+s3.describe()+".")

	if want("hit") {
		benchHits(&t, *quick)
	}
	if want("s3hit") {
		benchS3Hits(&t, s3, *quick)
	}
	if want("miss") {
		benchMiss(&t, *quick)
	}
	if want("s3miss") {
		benchS3Miss(&t, s3, *quick)
	}
	if want("heap") {
		benchHeap(&t, s3, *quick)
	}
	if want("stampede") {
		benchStampede(&t, s3)
	}
	if want("limit") {
		notes = append(notes, benchLimiters(&t, *quick)...)
	}
	if want("fleet") {
		notes = append(notes, benchFleet(&t, s3))
	}
	if want("batch") {
		benchBatch(&t, *quick)
	}
	t.print(os.Stdout, started, notes)
}

// ratio formats a/b as "×1.23".
func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("×%.2f", a/b)
}

// formatNs formats nanoseconds per operation with a unit that fits.
func formatNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms/op", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs/op", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns/op", ns)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
