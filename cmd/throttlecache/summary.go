package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache"
)

// summary counts the outcome of a get or of one pass of the demo.
type summary struct {
	Items       int
	Downloaded  int // fetched from the origin (X-Cache MISS or BYPASS)
	Cached      int // served from the cache without a request (HIT)
	Revalidated int // confirmed by the origin with a 304 (REVALIDATED)
	Stale       int // served stale from the cache because the origin failed
	Duplicates  int // the same URL again: downloaded once
	Failed      int
	Canceled    int // stopped or never started because of an interrupt
	Bytes       int64
	Network     int64 // requests that reached the network
	Elapsed     time.Duration
	Interrupted bool
	Failures    []failure
}

type failure struct{ URL, Source, Reason string }

// add counts one result.
func (s *summary) add(r throttlecache.BatchResult, source string) {
	s.Items++
	switch {
	case r.Err != nil && canceled(r.Err):
		s.Canceled++
	case r.Err != nil:
		s.Failed++
		s.Failures = append(s.Failures, failure{URL: r.URL, Source: source, Reason: reason(r.Err)})
	default:
		s.Bytes += r.Bytes
		switch r.Cache {
		case throttlecache.CacheHit:
			s.Cached++
		case throttlecache.CacheRevalidated:
			s.Revalidated++
		case throttlecache.CacheStale:
			s.Stale++
		default:
			s.Downloaded++
		}
	}
}

// ok reports whether every item succeeded.
func (s *summary) ok() bool { return s.Failed == 0 && s.Canceled == 0 && !s.Interrupted }

// rate is the effective request rate: network requests per second.
func (s *summary) rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Network) / s.Elapsed.Seconds()
}

// print writes the summary and the list of failures.
func (s *summary) print(w io.Writer) {
	verb := "Finished in"
	if s.Interrupted {
		verb = "Interrupted after"
	}
	parts := []string{
		fmt.Sprintf("%d downloaded", s.Downloaded),
		fmt.Sprintf("%d from the cache", s.Cached),
		fmt.Sprintf("%d revalidated", s.Revalidated),
	}
	if s.Stale > 0 {
		parts = append(parts, fmt.Sprintf("%d stale from the cache", s.Stale))
	}
	if s.Duplicates > 0 {
		parts = append(parts, fmt.Sprintf("%d duplicate URLs (fetched once)", s.Duplicates))
	}
	parts = append(parts, fmt.Sprintf("%d failed", s.Failed))
	if s.Canceled > 0 {
		parts = append(parts, fmt.Sprintf("%d not finished", s.Canceled))
	}
	fmt.Fprintf(w, "%s %s: %d %s: %s.\n", verb, formatDuration(s.Elapsed), s.Items, plural(s.Items, "item", "items"),
		strings.Join(parts, ", "))
	fmt.Fprintf(w, "%s written; %d network %s, %.1f requests/s.\n",
		formatBytes(s.Bytes), s.Network, plural(int(s.Network), "request", "requests"), s.rate())
	if len(s.Failures) > 0 {
		fmt.Fprintf(w, "Failures (%d):\n", len(s.Failures))
		for _, f := range s.Failures {
			if f.Source != "" {
				fmt.Fprintf(w, "  %s (%s): %s\n", f.URL, f.Source, f.Reason)
			} else {
				fmt.Fprintf(w, "  %s: %s\n", f.URL, f.Reason)
			}
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// canceled reports whether err ended an item because the run was stopped.
func canceled(err error) bool {
	var in *interrupted
	return errors.Is(err, context.Canceled) || errors.As(err, &in)
}

// reason describes an item's error briefly: the status for a non-2xx
// answer, the error text (without the package prefix) otherwise.
func reason(err error) string {
	var se *throttlecache.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	msg := strings.TrimPrefix(err.Error(), "throttlecache: ")
	if errors.Is(err, context.DeadlineExceeded) {
		msg += " (the -timeout for one request ran out)"
	}
	return msg
}

// formatBytes writes n in IEC units: 999 B, 1.5 KiB, 12.3 MiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// formatDuration rounds d for people: 850ms, 3.2s, 1m5s.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
