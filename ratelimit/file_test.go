package ratelimit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// runChild is what a re-executed test binary does (see TestMain).
func runChild(mode string) error {
	path := os.Getenv("RATELIMIT_TEST_STATE")
	switch mode {
	case "hammer":
		n, _ := strconv.Atoi(os.Getenv("RATELIMIT_TEST_N"))
		per, _ := time.ParseDuration(os.Getenv("RATELIMIT_TEST_PER"))
		start, _ := strconv.ParseInt(os.Getenv("RATELIMIT_TEST_START"), 10, 64)
		stop, _ := strconv.ParseInt(os.Getenv("RATELIMIT_TEST_STOP"), 10, 64)
		l, err := NewFileLimiter(path, n, per, nil)
		if err != nil {
			return err
		}
		time.Sleep(time.Until(time.Unix(0, start)))
		return hammer(context.Background(), l, os.Getenv("RATELIMIT_TEST_URL"), 3, time.Unix(0, stop))
	case "hold":
		l, err := NewFileLimiter(path, 1, time.Second, nil)
		if err != nil {
			return err
		}
		if err := fileOf(l).lockCtx(context.Background()); err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(time.Hour)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// child starts this test binary in the given mode.
func child(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// fileOf returns the state file store of a limiter made by NewFileLimiter.
func fileOf(l *SharedWindow) *fileStore { return l.store.(*fileStore) }

func newFakeFile(t *testing.T, n int, per time.Duration) (*SharedWindow, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	c.Set(0)
	l, err := NewFileLimiter(filepath.Join(t.TempDir(), "limit"), n, per, &Options{Guard: noGuard, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

func TestNewFileLimiterValidates(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		n    int
		per  time.Duration
	}{
		{"zero requests", filepath.Join(dir, "a"), 0, time.Second},
		{"zero period", filepath.Join(dir, "a"), 10, 0},
		{"missing directory", filepath.Join(dir, "no", "such", "dir"), 10, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewFileLimiter(tt.path, tt.n, tt.per, nil); err == nil {
				t.Fatal("NewFileLimiter accepted a bad configuration")
			}
		})
	}
}

// TestFileLimiterAdmission drives the admission rule with a fake clock.
func TestFileLimiterAdmission(t *testing.T) {
	type step struct {
		at   time.Duration
		want bool
		next time.Duration // when refused: when to try again
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"idle burst of n", []step{{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, time.Second}, {999 * time.Millisecond, false, time.Second}}},
		{"slot frees after per", []step{{0, true, 0}, {0, true, 0}, {0, true, 0}, {time.Second, true, 0}, {time.Second, true, 0}, {time.Second, true, 0}, {time.Second, false, 2 * time.Second}}},
		{"spread starts", []step{
			{0, true, 0}, {300 * time.Millisecond, true, 0}, {600 * time.Millisecond, true, 0},
			{999 * time.Millisecond, false, time.Second}, {time.Second, true, 0},
			{1200 * time.Millisecond, false, 1300 * time.Millisecond}, {1300 * time.Millisecond, true, 0},
		}},
		{"long idle resets", []step{{0, true, 0}, {0, true, 0}, {0, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, false, time.Hour + time.Second}}},
		{"clock stepped back far", []step{{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, {0, true, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := newFakeFile(t, 3, time.Second)
			base := c.Now()
			for i, s := range tt.steps {
				c.Set(s.at)
				ok, at, _, err := fileOf(l).try(context.Background(), false)
				if err != nil {
					t.Fatal(err)
				}
				if ok != s.want || (!ok && at.Sub(base) != s.next) {
					t.Fatalf("step %d at %v: admitted %v, retry at %v; want %v, %v", i, s.at, ok, at.Sub(base), s.want, s.next)
				}
			}
		})
	}
}

func TestFileLimiterMaxWaitAndDeadline(t *testing.T) {
	l, _ := newFakeFile(t, 1, time.Hour)
	bounded := WithMaxWait(l, time.Second)
	if err := bounded.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := bounded.Wait(context.Background()); !errors.Is(err, ErrMaxWait) {
		t.Fatalf("Wait = %v, want ErrMaxWait", err)
	}
	l2, _ := newFakeFile(t, 1, time.Hour)
	l2.Wait(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l2.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want a deadline error", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("Wait slept before refusing; it should fail at once")
	}
	if s := l.Stats(); s.Admitted != 1 || s.Refused != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestFileLimiterCancel checks that a cancelled wait returns promptly, both
// while sleeping for the window and while in line behind another goroutine.
func TestFileLimiterCancel(t *testing.T) {
	l, err := NewFileLimiter(filepath.Join(t.TempDir(), "limit"), 1, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- l.Wait(ctx) }()
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled Wait = %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("a cancelled Wait did not return promptly")
		}
	}
}

func TestFileLimiterCorruptState(t *testing.T) {
	tests := []struct {
		name, content string
	}{
		{"garbage", "\x00\x01 not json at all"},
		{"truncated", `{"version":1,"n":3,"span_ns":1000000000,"starts":[17000`},
		{"unknown version", `{"version":99,"starts":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "limit")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			l, err := NewFileLimiter(path, 3, time.Second, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if err := l.Wait(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if l.Stats().Resets != 1 || !strings.Contains(logs.String(), "corrupt") {
				t.Fatalf("resets %d, log %q: want one reset with a warning", l.Stats().Resets, logs.String())
			}
			ok, _, _, err := fileOf(l).try(context.Background(), false)
			if err != nil || ok {
				t.Fatalf("after the reset: admitted %v, %v; the state was not written back", ok, err)
			}
		})
	}
}

// TestFileLimiterLeftoverBytes checks that a state followed by bytes left
// from an interrupted truncation still reads.
func TestFileLimiterLeftoverBytes(t *testing.T) {
	l, c := newFakeFile(t, 2, time.Second)
	l.Wait(context.Background())
	data, _ := os.ReadFile(fileOf(l).path)
	os.WriteFile(fileOf(l).path, append(data, `"starts":[1,2,3]}`...), 0o644)
	c.Set(100 * time.Millisecond)
	ok, _, _, err := fileOf(l).try(context.Background(), false)
	if err != nil || !ok || l.Stats().Resets != 0 {
		t.Fatalf("admitted %v, %v, resets %d", ok, err, l.Stats().Resets)
	}
	if ok, _, _, _ := fileOf(l).try(context.Background(), false); ok {
		t.Fatal("a third admission within the window")
	}
}

// TestFileLimiterKilledHolder kills (SIGKILL) a process while it holds the
// lock and checks that the others go on.
func TestFileLimiterKilledHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limit")
	cmd := child(t, "hold", "RATELIMIT_TEST_STATE="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	l, err := NewFileLimiter(path, 1, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while another process holds the lock = %v, want it to wait", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait after the holder was killed: %v", err)
	}
	t.Logf("lock free %v after the holder's death", time.Since(start).Round(time.Millisecond))
}

func TestFileLimiterPauseShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limit")
	a, _ := NewFileLimiter(path, 10, time.Second, nil)
	b, _ := NewFileLimiter(path, 10, time.Second, nil) // another process, as far as the file knows
	a.Pause("www.sec.gov", time.Now().Add(150*time.Millisecond), "test")
	start := time.Now()
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("Wait returned after %v; the pause recorded by another limiter was ignored", d)
	}
}

// TestPrecisionFileProcesses runs 3 processes, 3 goroutines each, on one
// FileLimiter against an origin in this process.
func TestPrecisionFileProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time, multi-process test")
	}
	const n, per = 20, 2 * time.Second
	srv := testserver.New()
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "limit")
	start := time.Now().Add(time.Second) // time for the children to start
	stop := start.Add(2*per + 200*time.Millisecond)
	var wg sync.WaitGroup
	for i := range 3 {
		cmd := child(t, "hammer",
			"RATELIMIT_TEST_STATE="+path,
			"RATELIMIT_TEST_URL="+srv.URL+"/x",
			fmt.Sprintf("RATELIMIT_TEST_N=%d", n),
			"RATELIMIT_TEST_PER="+per.String(),
			fmt.Sprintf("RATELIMIT_TEST_START=%d", start.UnixNano()),
			fmt.Sprintf("RATELIMIT_TEST_STOP=%d", stop.UnixNano()))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				t.Errorf("process %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	_, rate := report(t, "3 processes × 3 goroutines, one FileLimiter", arrivals(srv, "/x"), n, per)
	checkSustained(t, rate, n, per)
}
