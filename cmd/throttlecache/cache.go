package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/filecache"
)

const cacheSynopsis = `
Usage:
  throttlecache cache stats [-dir DIR]
  throttlecache cache prune -max-bytes N [-dir DIR]

Looks after a filecache folder (the one "get -cache-mode filecache" and
"get -edgar" use). stats prints its size, number of entries, and the oldest
and newest entry. prune removes the least recently used entries until the
folder holds at most N bytes, and the leftovers of interrupted downloads; it
is safe while other programs use the folder.
`

const cacheExamples = `
  throttlecache cache stats
  throttlecache cache stats -dir ~/.cache/edgar
  throttlecache cache prune -max-bytes 2G
  throttlecache cache prune -max-bytes 500M -dir ~/.cache/edgar
  throttlecache cache prune -max-bytes 0          # empty the cache
`

func runCache(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var dir, maxBytes string
	fs := newFlagSet("cache")
	fs.StringVar(&dir, "dir", "", "the filecache `DIR`, e.g. -dir ~/.cache/edgar (default: "+defaultCacheHint()+string(filepath.Separator)+string(throttlecache.FileCache)+")")
	fs.StringVar(&maxBytes, "max-bytes", "", "prune: keep at most `N` bytes, with a suffix K, M, G or T (powers of 1024), e.g. -max-bytes 500M")
	help := func() int { return printHelp(stdout, fs, cacheSynopsis, cacheExamples) }
	if len(args) == 0 {
		fmt.Fprint(stderr, helpText(fs, cacheSynopsis, cacheExamples))
		return exitUsage
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		return help()
	case "stats", "prune":
	default:
		return report(stderr, usagef("cache: unknown command %q; use stats or prune (see %s cache -h)", sub, programName))
	}
	pos, err := parseFlags(fs, "cache "+sub, args[1:])
	if errors.Is(err, errHelp) {
		return help()
	}
	if err != nil {
		return report(stderr, err)
	}
	if len(pos) > 0 {
		return report(stderr, usagef("cache %s: unexpected argument %q (the folder goes in -dir)", sub, pos[0]))
	}
	if dir == "" {
		d, err := defaultCacheDir(throttlecache.FileCache)
		if err != nil {
			return report(stderr, err)
		}
		dir = d
	}
	switch sub {
	case "stats":
		if maxBytes != "" {
			return report(stderr, usagef("cache stats: -max-bytes goes with prune"))
		}
		return report(stderr, cacheStats(dir, stdout))
	default:
		if maxBytes == "" {
			return report(stderr, usagef("cache prune needs -max-bytes N, e.g. -max-bytes 2G (0 empties the cache)"))
		}
		n, err := parseSize(maxBytes)
		if err != nil {
			return report(stderr, usagef("-max-bytes: %v", err))
		}
		return report(stderr, cachePrune(ctx, dir, n, stdout))
	}
}

// checkCacheDir refuses folders that are not filecache folders, so that a
// mistyped -dir cannot make prune delete someone's files.
func checkCacheDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	for _, marker := range []string{".locks", ".tmp"} {
		if fi, err := os.Stat(filepath.Join(dir, marker)); err == nil && fi.IsDir() {
			return nil
		}
	}
	return fmt.Errorf("%s is not a filecache folder (it has no .locks or .tmp folder)", dir)
}

func cacheStats(dir string, w io.Writer) error {
	if err := checkCacheDir(dir); err != nil {
		return err
	}
	s, err := filecache.Inspect(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "folder:   %s\n", s.Dir)
	fmt.Fprintf(w, "entries:  %d\n", s.Entries)
	fmt.Fprintf(w, "size:     %s (%d bytes)\n", formatBytes(s.Bytes), s.Bytes)
	if s.Entries > 0 {
		fmt.Fprintf(w, "oldest:   %s  %s\n", formatTime(s.Oldest.Fetched), s.Oldest.URL)
		fmt.Fprintf(w, "newest:   %s  %s\n", formatTime(s.Newest.Fetched), s.Newest.URL)
	}
	if s.Damaged > 0 {
		fmt.Fprintf(w, "damaged:  %d (ignored; prune removes what they leave)\n", s.Damaged)
	}
	if s.Pending > 0 {
		fmt.Fprintf(w, "pending:  %d temporary files (downloads in progress, or left by a crash)\n", s.Pending)
	}
	return nil
}

func cachePrune(ctx context.Context, dir string, maxBytes int64, w io.Writer) error {
	if err := checkCacheDir(dir); err != nil {
		return err
	}
	r, err := filecache.PruneDir(ctx, dir, maxBytes)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "removed:  %d %s, %s freed\n", r.Removed, plural(r.Removed, "entry", "entries"), formatBytes(r.FreedBytes))
	fmt.Fprintf(w, "left:     %d %s, %s (limit %s)\n", r.Entries, plural(r.Entries, "entry", "entries"), formatBytes(r.Bytes), formatBytes(maxBytes))
	if r.Busy > 0 {
		fmt.Fprintf(w, "busy:     %d entries being written were kept\n", r.Busy)
	}
	if r.Leftovers > 0 {
		fmt.Fprintf(w, "cleaned:  %d leftovers of interrupted downloads\n", r.Leftovers)
	}
	if r.ReadFailures > 0 {
		return fmt.Errorf("%d files could not be examined", r.ReadFailures)
	}
	return nil
}

// formatTime shows a time with how long ago it was.
func formatTime(t time.Time) string {
	return fmt.Sprintf("%s (%s ago)", t.Local().Format("2006-01-02 15:04:05"), formatDuration(time.Since(t).Round(time.Second)))
}
