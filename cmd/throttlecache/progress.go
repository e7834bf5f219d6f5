package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/throttlecache/throttlecache"
)

// progressMode says how a batch shows its progress.
type progressMode int

const (
	progressNone  progressMode = iota // nothing until the summary
	progressBar                       // a live bar: for a terminal
	progressLines                     // one line per item and periodic summaries: for logs
)

// parseProgress reads the -progress flag; "auto" picks the bar when w is a
// terminal and plain lines otherwise.
func parseProgress(s string, w io.Writer) (progressMode, error) {
	switch s {
	case "auto":
		if isTerminal(w) {
			return progressBar, nil
		}
		return progressLines, nil
	case "bar":
		return progressBar, nil
	case "lines":
		return progressLines, nil
	case "none":
		return progressNone, nil
	}
	return 0, usagef("-progress %q: use auto, bar, lines or none", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// reporter shows a batch's progress on w. Its methods are safe for
// concurrent use.
type reporter struct {
	mode    progressMode
	w       io.Writer
	every   time.Duration // progressLines: how often to print a summary line
	network func() int64  // requests that reached the network so far
	start   time.Time

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	last    throttlecache.Progress
	printed int // items announced before the batch (failed up front)
	stop    chan struct{}
	stopped sync.WaitGroup
}

// newReporter starts showing a batch of total items.
func newReporter(mode progressMode, w io.Writer, total int, every time.Duration, network func() int64) *reporter {
	r := &reporter{mode: mode, w: w, every: every, network: network, start: time.Now(), stop: make(chan struct{})}
	r.last.Total = total
	var tick time.Duration
	switch mode {
	case progressBar:
		if total > 0 {
			r.bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(r.describe()),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("files"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionSetWidth(24),
				progressbar.OptionThrottle(50*time.Millisecond),
				progressbar.OptionSetRenderBlankState(true),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			)
			tick = 250 * time.Millisecond
		}
	case progressLines:
		tick = every
	}
	if tick > 0 {
		r.stopped.Add(1)
		go r.tick(tick)
	}
	return r
}

func (r *reporter) tick(d time.Duration) {
	defer r.stopped.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.mu.Lock()
			if r.bar != nil {
				r.bar.Describe(r.describe())
			} else if r.mode == progressLines {
				fmt.Fprintln(r.w, r.summaryLine())
			}
			r.mu.Unlock()
		}
	}
}

// failedEarly shows an item that failed before the batch started.
func (r *reporter) failedEarly(source, url string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == progressNone {
		return
	}
	r.printed++
	if source != "" {
		url += " (" + source + ")"
	}
	fmt.Fprintf(r.w, "FAIL  %s: %v\n", url, err)
}

// update is the batch's WithProgress callback.
func (r *reporter) update(p throttlecache.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last.Done, r.last.Failed, r.last.Bytes = p.Done, p.Failed, p.Bytes
	switch {
	case r.bar != nil:
		r.bar.Describe(r.describe())
		if p.Index >= 0 {
			if p.Result.Err != nil && !canceled(p.Result.Err) {
				progressbar.Bprintln(r.bar, "FAIL  "+p.Result.URL+": "+reason(p.Result.Err))
			}
			r.bar.Add(1)
		}
	case r.mode == progressLines && p.Index >= 0:
		res := p.Result
		width := len(fmt.Sprint(p.Total))
		switch {
		case res.Err != nil && canceled(res.Err):
			fmt.Fprintf(r.w, "[%*d/%d] STOPPED  %s\n", width, p.Done, p.Total, res.URL)
			return
		case res.Err != nil:
			fmt.Fprintf(r.w, "[%*d/%d] FAIL  %s: %s\n", width, p.Done, p.Total, res.URL, reason(res.Err))
			return
		}
		fmt.Fprintf(r.w, "[%*d/%d] %-11s %9s  %s -> %s\n", width, p.Done, p.Total,
			cacheLabel(res.Cache), formatBytes(res.Bytes), res.URL, res.Path)
	}
}

// describe returns the bar's description: bytes and byte rate.
func (r *reporter) describe() string {
	el := time.Since(r.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(r.last.Bytes) / el
	}
	return fmt.Sprintf("%s %s/s", formatBytes(r.last.Bytes), formatBytes(int64(rate)))
}

// summaryLine is the periodic summary of the plain-lines mode.
func (r *reporter) summaryLine() string {
	el := time.Since(r.start)
	p := r.last
	line := fmt.Sprintf("progress: %d/%d finished", p.Done, p.Total)
	if p.Failed > 0 {
		line += fmt.Sprintf(" (%d failed)", p.Failed)
	}
	line += fmt.Sprintf(", %s, %s elapsed", formatBytes(p.Bytes), formatDuration(el))
	if r.network != nil && el > 0 {
		line += fmt.Sprintf(", %.1f requests/s", float64(r.network())/el.Seconds())
	}
	if p.Done > 0 && p.Done < p.Total {
		left := time.Duration(float64(el) / float64(p.Done) * float64(p.Total-p.Done))
		line += ", about " + formatDuration(left) + " left"
	}
	return line
}

// close stops the display. The bar is left as it is, on its own line.
func (r *reporter) close() {
	close(r.stop)
	r.stopped.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil && !r.bar.IsFinished() {
		r.bar.Describe(r.describe())
		r.bar.Exit() // prints the newline
	}
}

// cacheLabel shows an item's X-Cache value: HIT, MISS, REVALIDATED, STALE
// or BYPASS.
func cacheLabel(status string) string {
	if status == "" {
		return "-"
	}
	return status
}
