package throttlecache

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// smallDisk mounts a tmpfs of size bytes on a new folder and unmounts it at
// the end of the test. It skips t unless the test runs as root on Linux and
// the mount works: elsewhere the packages' own tests cover a full disk with
// a failing file hook.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("a full disk needs a tmpfs mount: root on Linux only (filecache and httpcachestore test it with failing hooks)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): skipped", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// usedBytes sums the sizes of the regular files under dir.
func usedBytes(t *testing.T, dir string) (n int64, files []string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			if fi, err := de.Info(); err == nil {
				n += fi.Size()
				files = append(files, fmt.Sprintf("%s (%d)", p, fi.Size()))
			}
		}
		return nil
	})
	return n, files
}

// TestFaultDiskFull fills a 1 MiB disk mid-write: the caller still gets the
// whole 3 MiB body, the failure is counted, no partial file stays behind to
// hold the space, and small entries are still stored afterwards.
func TestFaultDiskFull(t *testing.T) {
	big := generatedBody(3<<20, 11)
	small := generatedBody(8<<10, 12)
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			dir := smallDisk(t, "1m")
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/f/big", testserver.NewResource(big, testserver.WithHeader("Cache-Control", "max-age=3600")))
			srv.Handle("/f/small", testserver.NewResource(small, testserver.WithHeader("Cache-Control", "max-age=3600")))
			cfg := Config{CacheMode: mode, CacheDir: dir, Rules: faultRules, DisableRateLimit: true}
			m := newManager(t, cfg)
			for range 2 {
				if c := mustGet(t, m.Client(), srv.URL+"/f/big", big); c == CacheHit {
					t.Fatal("a body larger than the disk was served as a HIT")
				}
			}
			if s := m.Stats(); s.Cache.StoreErrors == 0 {
				t.Errorf("the disk filled and no store error was counted: %+v", s)
			}
			if used, files := usedBytes(t, dir); used > 256<<10 {
				t.Errorf("%d bytes left on the full disk after the failed writes: %s", used, strings.Join(files, ", "))
			}
			mustGet(t, m.Client(), srv.URL+"/f/small", small)
			if c := mustGet(t, m.Client(), srv.URL+"/f/small", small); c != CacheHit {
				t.Errorf("after the full disk, a small entry: X-Cache %s, want HIT", c)
			}
			if c := mustGet(t, newManager(t, cfg).Client(), srv.URL+"/f/big", big); c == CacheHit {
				t.Error("a new Manager served the big body as a HIT")
			}
		})
	}
}

// readOnly makes dir read-only: a tmpfs remounted read-only as root (root
// ignores permission bits), chmod otherwise. It returns dir's state back.
func readOnly(t *testing.T, dir string, mounted bool) func() {
	t.Helper()
	if mounted {
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v: %s", err, out)
		}
		return func() { exec.Command("mount", "-o", "remount,rw", dir).Run() }
	}
	var dirs []string
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil && de.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, d := range dirs {
		os.Chmod(d, 0o555)
	}
	return func() {
		for _, d := range dirs {
			os.Chmod(d, 0o755)
		}
	}
}

// TestFaultReadOnlyCacheDir: a folder that turns read-only under a running
// Manager keeps serving its entries and passes new ones through (counted as
// store errors); New on a read-only folder fails and names the field.
func TestFaultReadOnlyCacheDir(t *testing.T) {
	stored := generatedBody(100<<10, 21)
	fresh := generatedBody(100<<10, 22)
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			var dir string
			mounted := runtime.GOOS == "linux" && os.Geteuid() == 0
			if mounted {
				dir = smallDisk(t, "16m")
			} else {
				dir = t.TempDir()
			}
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/f/stored", testserver.NewResource(stored, testserver.WithHeader("Cache-Control", "max-age=3600")))
			srv.Handle("/f/fresh", testserver.NewResource(fresh, testserver.WithHeader("Cache-Control", "max-age=3600")))
			cfg := Config{CacheMode: mode, CacheDir: dir, Rules: faultRules, DisableRateLimit: true}
			m := newManager(t, cfg)
			mustGet(t, m.Client(), srv.URL+"/f/stored", stored)

			restore := readOnly(t, dir, mounted)
			defer restore()
			if !mounted {
				if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
					f.Close()
					t.Skip("the folder is still writable after chmod: skipped")
				}
			}
			if c := mustGet(t, m.Client(), srv.URL+"/f/stored", stored); c != CacheHit {
				t.Errorf("a stored entry in a read-only folder: X-Cache %s, want HIT", c)
			}
			for range 2 {
				mustGet(t, m.Client(), srv.URL+"/f/fresh", fresh)
			}
			if s := m.Stats(); s.Cache.StoreErrors == 0 {
				t.Errorf("writes to a read-only folder failed silently: %+v", s)
			}
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Config.CacheDir") {
				t.Errorf("New on a read-only folder: %v, want an error that names Config.CacheDir", err)
			}
			restore()
			mustGet(t, m.Client(), srv.URL+"/f/fresh", fresh)
			if c := mustGet(t, m.Client(), srv.URL+"/f/fresh", fresh); c != CacheHit {
				t.Errorf("writable again: X-Cache %s, want HIT", c)
			}
		})
	}
}

// TestFaultStartsOnFullDisk: a disk that is already full when the Manager
// starts is a failing store like any other: New succeeds, every request
// passes through whole, and the failures are counted; once space is freed
// entries are stored again.
func TestFaultStartsOnFullDisk(t *testing.T) {
	body := generatedBody(64<<10, 31)
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			dir := smallDisk(t, "1m")
			filler := filepath.Join(dir, "filler")
			f, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 64<<10)
			for {
				if _, err := f.Write(chunk); err != nil {
					break // ENOSPC: the disk is full
				}
			}
			f.Close()
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/f/x", testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600")))
			m, err := New(Config{CacheMode: mode, CacheDir: dir, Rules: faultRules, DisableRateLimit: true})
			if err != nil {
				t.Fatalf("New on a full disk: %v", err)
			}
			defer m.Close()
			for range 2 {
				if c := mustGet(t, m.Client(), srv.URL+"/f/x", body); c == CacheHit {
					t.Fatal("a HIT from a full disk")
				}
			}
			if s := m.Stats(); s.Cache.StoreErrors == 0 || srv.Hits("/f/x") != 2 {
				t.Errorf("full disk: %d store errors, %d origin hits; want some, and 2", s.Cache.StoreErrors, srv.Hits("/f/x"))
			}
			os.Remove(filler)
			mustGet(t, m.Client(), srv.URL+"/f/x", body)
			if c := mustGet(t, m.Client(), srv.URL+"/f/x", body); c != CacheHit {
				t.Errorf("space freed: X-Cache %s, want HIT", c)
			}
		})
	}
}
