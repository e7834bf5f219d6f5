// Command batchtofiles downloads a set of files offline, from an embedded
// origin, into a folder: each file appears only when it is complete, and a
// failed download leaves nothing behind.
//
//	go run ./examples/batchtofiles [DIR]
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func main() {
	dir := ""
	if len(os.Args) > 1 {
		dir = os.Args[1]
	} else {
		d, err := os.MkdirTemp("", "batchtofiles")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := run(os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, dir string) error {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/reports/2024.bin", testserver.Generated(8<<20, 2024))
	srv.Handle("/reports/2025.bin", testserver.Generated(8<<20, 2025))
	srv.Handle("/reports/broken.bin", testserver.ResetAfter(make([]byte, 1<<20), 4096))

	m, err := throttlecache.New(throttlecache.Config{UserAgent: "Example Corp admin@example.com"})
	if err != nil {
		return err
	}
	defer m.Close()

	var targets []throttlecache.Target
	for _, name := range []string{"2024.bin", "2025.bin", "broken.bin"} {
		targets = append(targets, throttlecache.Target{
			URL:  srv.URL + "/reports/" + name,
			Path: filepath.Join(dir, "reports", name),
		})
	}
	results := m.GetBatchToFiles(context.Background(), targets,
		throttlecache.WithProgress(func(p throttlecache.Progress) {
			if p.Index >= 0 {
				fmt.Fprintf(w, "[%d/%d] %s\n", p.Done, p.Total, filepath.Base(p.Result.Path))
			}
		}))
	for _, r := range results {
		_, statErr := os.Stat(r.Path)
		switch {
		case r.Err != nil:
			fmt.Fprintf(w, "%s: failed, file left behind: %v (%v)\n", filepath.Base(r.Path), statErr == nil, r.Err)
		default:
			fmt.Fprintf(w, "%s: %d bytes\n", filepath.Base(r.Path), r.Bytes)
		}
	}
	return nil
}
