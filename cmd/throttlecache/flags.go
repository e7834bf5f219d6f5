package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns a flag set that reports errors to its caller instead of
// printing them, so that every bad flag gives one line and status 2.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// errHelp is returned by parseFlags when -h or -help was given.
var errHelp = flag.ErrHelp

// parseFlags parses args with fs, allowing flags after positional arguments
// ("get URL -o out" works as "get -o out URL"); "--" ends the flags. It
// returns the positional arguments.
func parseFlags(fs *flag.FlagSet, cmd string, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usagef("%s: %v (see %s %s -h)", cmd, err, programName, cmd)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" && !valueOf(fs, args[:consumed-1]) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// helpText renders a command's help: its synopsis, every flag with its
// default, and examples.
func helpText(fs *flag.FlagSet, synopsis, examples string) string {
	var b bytes.Buffer
	b.WriteString(strings.TrimLeft(synopsis, "\n"))
	b.WriteString("\nFlags:\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if examples != "" {
		b.WriteString("\nExamples:\n")
		b.WriteString(strings.TrimLeft(examples, "\n"))
	}
	return b.String()
}

// printHelp writes a command's help to w and returns status 0.
func printHelp(w io.Writer, fs *flag.FlagSet, synopsis, examples string) int {
	fmt.Fprint(w, helpText(fs, synopsis, examples))
	return exitOK
}

// valueOf reports whether the argument after before is the value of the
// flag that ends before ("-user-agent --"), not the end of the flags.
func valueOf(fs *flag.FlagSet, before []string) bool {
	if len(before) == 0 {
		return false
	}
	name, ok := strings.CutPrefix(before[len(before)-1], "-")
	name = strings.TrimPrefix(name, "-")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, isBool := f.Value.(interface{ IsBoolFlag() bool })
	return !isBool || !b.IsBoolFlag()
}
