package main

import (
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	t.Setenv(envUA, "")
	tests := []struct {
		name string
		args []string
		want string // in the one-line error
	}{
		{"unknown command", []string{"fetch"}, `unknown command "fetch"`},
		{"unknown flag", []string{"get", "-nope", "http://x/"}, "flag provided but not defined: -nope"},
		{"missing value", []string{"get", "http://x/", "-o"}, "flag needs an argument: -o"},
		{"bad number", []string{"get", "-rps", "fast", "http://x/"}, `invalid value "fast" for flag -rps`},
		{"zero rate", []string{"get", "-rps", "0", "http://x/"}, "-rps 0"},
		{"no URLs", []string{"get", "-o", "out"}, "no URLs"},
		{"several URLs without -o", []string{"get", "http://x/a", "http://x/b"}, "2 URLs need -o DIR"},
		{"missing list", []string{"get", "-i", "/nonexistent/urls.txt", "-o", "out"}, "-i: open"},
		{"bad cache mode", []string{"get", "-cache-mode", "memory", "http://x/"}, `-cache-mode "memory"`},
		{"cache dir without a cache", []string{"get", "-cache-dir", "c", "http://x/"}, "-cache-dir goes with"},
		{"s3 bucket with filecache", []string{"get", "-cache-mode", "filecache", "-s3-bucket", "b", "http://x/"}, "-s3-bucket and -s3-prefix go with"},
		{"bad progress", []string{"get", "-progress", "fancy", "http://x/"}, `-progress "fancy"`},
		{"edgar without user agent", []string{"get", "-edgar", "http://x/"}, "-edgar needs a User-Agent"},
		{"bad rules", []string{"get", "-rules", "/nonexistent/rules.json", "http://x/"}, "-rules: open"},
		{"cache without command", []string{"cache", "shrink"}, `cache: unknown command "shrink"`},
		{"prune without size", []string{"cache", "prune", "-dir", "d"}, "needs -max-bytes"},
		{"prune bad size", []string{"cache", "prune", "-dir", "d", "-max-bytes", "lots"}, `"lots" is not a size`},
		{"cache bad flag", []string{"cache", "stats", "-size"}, "flag provided but not defined: -size"},
		{"demo argument", []string{"demo", "now"}, `unexpected argument "now"`},
		{"demo bad flag", []string{"demo", "-fast"}, "flag provided but not defined: -fast"},
		{"version argument", []string{"version", "x"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := runInProcess(t, "", tt.args...)
			if o.code != exitUsage {
				t.Errorf("exit status %d, want 2\n%v", o.code, o)
			}
			if strings.Count(o.stderr, "\n") != 1 || !strings.HasPrefix(o.stderr, programName+": ") || !strings.Contains(o.stderr, tt.want) {
				t.Errorf("want one line with %q, got %q", tt.want, o.stderr)
			}
		})
	}
}

func TestUsageOfTheBinary(t *testing.T) {
	t.Parallel()
	o := runTool(t, "", nil)
	if o.code != 2 || !strings.Contains(o.stderr, "Usage:") {
		t.Errorf("no arguments: want the usage and status 2\n%v", o)
	}
	for _, args := range [][]string{{"frobnicate"}, {"get", "-bogus"}, {"get", "-o"}, {"cache", "prune", "-max-bytes"}} {
		o := runTool(t, "", nil, args...)
		if o.code != 2 || strings.Count(o.stderr, "\n") != 1 {
			t.Errorf("%v: want one line and status 2\n%v", args, o)
		}
	}
	o = runTool(t, "", nil, "version")
	if o.code != 0 || !strings.HasPrefix(o.stdout, "throttlecache ") {
		t.Errorf("version:\n%v", o)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args  []string
		flags []string
	}{
		{[]string{"get", "-h"}, []string{"-i", "-o", "-rps", "-concurrency", "-cache-mode", "-cache-dir", "-rules", "-edgar",
			"-user-agent", "-s3-bucket", "-s3-prefix", "-timeout", "-force-http1", "-progress", "-log-every", "-q"}},
		{[]string{"demo", "-h"}, []string{"-keep", "-files", "-rps", "-progress"}},
		{[]string{"cache", "-h"}, []string{"-dir", "-max-bytes"}},
		{[]string{"cache", "prune", "-h"}, []string{"-dir", "-max-bytes"}},
		{[]string{"help", "get"}, []string{"-rps"}},
		{[]string{"help"}, nil},
	}
	for _, tt := range tests {
		o := runInProcess(t, "", tt.args...)
		if o.code != 0 || o.stderr != "" || !strings.Contains(o.stdout, "Usage") {
			t.Errorf("%v: status %d, stderr %q", tt.args, o.code, o.stderr)
			continue
		}
		help, examples, _ := strings.Cut(o.stdout, "Examples:")
		for _, f := range tt.flags {
			i := -1
			for _, end := range []string{" ", "\t", "\n"} {
				if i < 0 {
					i = strings.Index(help, "\n  "+f+end)
				}
			}
			if i < 0 {
				t.Errorf("%v: flag %s is not explained", tt.args, f)
				continue
			}
			// Every flag's text shows an example of its use.
			text := help[i+1:]
			if j := strings.Index(text[3:], "\n  -"); j >= 0 {
				text = text[:j+3]
			}
			if !strings.Contains(text, "e.g. "+f) {
				t.Errorf("%v: flag %s has no example: %q", tt.args, f, text)
			}
		}
		if examples == "" {
			t.Errorf("%v: no examples", tt.args)
		}
	}
}
