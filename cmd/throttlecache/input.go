package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// item is one URL to download, with where it came from.
type item struct {
	URL    string
	Path   string // from a "URL<TAB>path" line: relative to -o; "" for a path from the URL
	Source string // "urls.txt:14" for a line of a list, "" for an argument: for messages
}

// maxLine bounds a line of a URL list.
const maxLine = 1 << 20

// readList reads a URL list: one URL a line, optionally followed by a TAB and
// a path; blank lines and lines starting with "#" are skipped; spaces around
// the URL and the path are ignored.
func readList(r io.Reader, name string) ([]item, error) {
	var items []item
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	n := 1
	for ; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff") // a byte-order mark
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		it := item{URL: line, Source: fmt.Sprintf("%s:%d", name, n)}
		if u, p, ok := strings.Cut(line, "\t"); ok {
			it.URL, it.Path = strings.TrimSpace(u), strings.TrimSpace(p)
			if it.Path == "" {
				return nil, usagef("%s: empty path after the TAB", it.Source)
			}
		}
		if strings.ContainsAny(it.URL, " \t") {
			return nil, usagef("%s: %q is not one URL (separate a URL from its path with one TAB)", it.Source, it.URL)
		}
		items = append(items, it)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, usagef("%s:%d: a line longer than %d bytes", name, n, maxLine)
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return items, nil
}

// readInput reads the list named by -i: a file, or standard input for "-".
func readInput(name string, stdin io.Reader) ([]item, error) {
	if name == "-" {
		return readList(stdin, "stdin")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, usagef("-i: %v", err)
	}
	defer f.Close()
	return readList(f, name)
}
