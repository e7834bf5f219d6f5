// Command throttlecache downloads lists of URLs politely and only once: under
// a strict request-rate limit, through a cache, with a progress bar.
//
//	throttlecache demo                           # offline: see the limit and the cache at work
//	throttlecache get -o out -i urls.txt         # download a list of URLs into out/
//	throttlecache get -edgar -user-agent "Example Corp admin@example.com" -o out URL...
//	throttlecache cache stats                    # size, entries, oldest and newest entry
//	throttlecache cache prune -max-bytes 2G      # evict least recently used entries
//
// Exit status: 0 when everything succeeded, 1 when something failed, 2 for
// bad usage or configuration, 128+N when stopped by signal N (130 for Ctrl-C).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitSignal  = 128 // plus the signal number
	exitSIGINT  = exitSignal + 2
	envUA       = "THROTTLECACHE_USER_AGENT"
	programName = "throttlecache"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		// A second signal gets the default action: an immediate stop.
		signal.Stop(sigs)
		cancel(&interrupted{sig: s})
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel(nil)
	os.Exit(code)
}

// interrupted is the cause of the context's end when a signal stopped the
// program.
type interrupted struct{ sig os.Signal }

func (i *interrupted) Error() string { return "interrupted by " + i.sig.String() }

// interruptStatus returns the exit status for a run that ctx ended early:
// 128 plus the signal's number, as shells report, or 130 by default.
func interruptStatus(ctx context.Context) int {
	var in *interrupted
	if errors.As(context.Cause(ctx), &in) {
		if s, ok := in.sig.(syscall.Signal); ok && int(s) > 0 && int(s) < 64 {
			return exitSignal + int(s)
		}
	}
	return exitSIGINT
}

// usageError is bad usage: the message is printed on one line and the
// status is 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

const mainUsage = `throttlecache downloads URLs politely and only once: under a strict
request-rate limit, through a cache, with a progress bar.

Usage:
  throttlecache demo [flags]                     offline demonstration (about 5 seconds)
  throttlecache get [flags] [URL...]             download URLs (arguments and/or -i FILE)
  throttlecache cache stats [-dir DIR]           size, entries, oldest and newest entry
  throttlecache cache prune -max-bytes N [-dir DIR]
                                                 evict least recently used entries
  throttlecache version                          print the version
  throttlecache help [COMMAND]                   explain a command and its flags

Examples:
  throttlecache demo
  throttlecache get -o out -i urls.txt
  throttlecache get -edgar -user-agent "Example Corp admin@example.com" \
      -o filings https://www.sec.gov/Archives/edgar/data/320193/000032019323000106/aapl-20230930.htm

Exit status: 0 when everything succeeded, 1 when something failed, 2 for bad
usage, 130 after Ctrl-C (128 + the signal number).
Run "throttlecache COMMAND -h" for a command's flags.
`

// run runs the command line args (without the program name) and returns the
// exit status. ctx ending means the user asked to stop.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "get":
		return runGet(ctx, rest, stdin, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "cache":
		return runCache(ctx, rest, stdout, stderr)
	case "version":
		if len(rest) > 0 {
			err = usagef("version takes no arguments")
			break
		}
		fmt.Fprintf(stdout, "%s %s (%s %s/%s)\n", programName, version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && cmd == "help" {
			return run(ctx, []string{rest[0], "-h"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	default:
		err = usagef("unknown command %q; commands: demo, get, cache, version, help", cmd)
	}
	return report(stderr, err)
}

// report prints err, if any, and returns the matching exit status.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.code // already explained
	}
	fmt.Fprintf(stderr, "%s: %v\n", programName, err)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// version returns the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
