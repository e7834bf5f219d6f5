package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// pausedUntil reports when the pause that holds back host's requests ends,
// and why it was set; a zero time when none is in force.
func (p *PerHost) pausedUntil(host string) (time.Time, string) {
	key, _ := p.route(host)
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.pauses[key]
	if !e.until.After(p.now()) {
		return time.Time{}, ""
	}
	return e.until, e.reason
}

func newPerHost(t *testing.T, limits []HostLimit, other Limiter, opts *Options) *PerHost {
	t.Helper()
	p, err := NewPerHost(limits, other, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPauseHoldsTheRoute checks that a pause of one host of a HostLimit
// holds back every host of it, and is logged and counted.
func TestPauseHoldsTheRoute(t *testing.T) {
	var logs bytes.Buffer
	p := newPerHost(t, []HostLimit{{Pattern: EDGARHosts}}, nil, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	pause := 150 * time.Millisecond
	until := time.Now().Add(pause)
	p.Pause("www.sec.gov", until, "retry-after")
	var wg sync.WaitGroup
	for _, h := range []string{"www.sec.gov", "data.sec.gov", "SEC.GOV:443"} {
		wg.Go(func() {
			if err := waitHost(context.Background(), p, h); err != nil {
				t.Error(err)
			}
			if time.Now().Before(until) {
				t.Errorf("a request to %q went ahead during the pause", h)
			}
		})
	}
	wg.Wait()
	s := p.Stats()
	if s.Pauses != 1 || s.PauseReasons["retry-after"] != 1 || s.PauseWaits != 3 || s.PauseWaitTime < 3*pause/2 {
		t.Fatalf("Stats = %+v", s)
	}
	if !strings.Contains(logs.String(), "reason=retry-after") {
		t.Fatalf("log %q does not say why", logs.String())
	}
	if u, _ := p.pausedUntil("www.sec.gov"); !u.IsZero() {
		t.Fatal("pause still reported after it ended")
	}
}

func TestPauseNeverShortens(t *testing.T) {
	c := &fakeClock{}
	c.Set(0)
	p := newPerHost(t, nil, nil, &Options{Now: c.Now})
	p.Pause("h", c.Now().Add(time.Minute), "long")
	p.Pause("h", c.Now().Add(time.Second), "short")
	p.Pause("h", c.Now().Add(-time.Second), "past")
	if u, r := p.pausedUntil("h"); !u.Equal(c.Now().Add(time.Minute)) || r != "long" {
		t.Fatalf("pausedUntil = %v, %q", u, r)
	}
	p.Pause("H:80", c.Now().Add(time.Hour), "longer")
	if u, r := p.pausedUntil("h"); !u.Equal(c.Now().Add(time.Hour)) || r != "longer" {
		t.Fatalf("pausedUntil = %v, %q", u, r)
	}
	s := p.Stats()
	if s.Pauses != 2 || len(s.PauseReasons) != 2 {
		t.Fatalf("Stats = %+v", s)
	}
	s.PauseReasons["long"] = 99 // a copy: the PerHost's counts stay
	if p.Stats().PauseReasons["long"] != 1 {
		t.Fatal("Stats shares its map with the PerHost")
	}
}

// TestPauseEachHostOfTheDefault checks that the default route keeps a
// pause per host.
func TestPauseEachHostOfTheDefault(t *testing.T) {
	c := &fakeClock{}
	c.Set(0)
	p := newPerHost(t, nil, nil, &Options{Now: c.Now})
	p.Pause("A.example:443", c.Now().Add(time.Hour), "test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitHost(ctx, p, "a.example"); !errors.Is(err, ErrPaused) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait for the paused host = %v", err)
	}
	if err := waitHost(ctx, p, "b.example"); err != nil {
		t.Fatalf("Wait for another host = %v", err)
	}
	c.Set(2 * time.Hour)
	if err := waitHost(ctx, p, "a.example"); err != nil {
		t.Fatalf("Wait after the pause = %v", err)
	}
}

func TestPauseCancel(t *testing.T) {
	p := newPerHost(t, nil, nil, nil)
	p.Pause("", time.Now().Add(time.Hour), "test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Wait(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a cancelled Wait did not return")
	}
}

// TestPauseExtendWakes checks that waiters see a pause that grows while
// they wait, and that a pause is handed on to a Pauser behind the route.
func TestPauseExtendWakes(t *testing.T) {
	inner := newPerHost(t, nil, nil, nil)
	p := newPerHost(t, nil, inner, nil)
	start := time.Now()
	p.Pause("", start.Add(50*time.Millisecond), "first")
	done := make(chan error)
	go func() { done <- p.Wait(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	p.Pause("", start.Add(200*time.Millisecond), "second")
	<-done
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("Wait returned after %v, before the extended pause ended", d)
	}
	if inner.Stats().Pauses != 2 {
		t.Fatal("the pauses did not reach the Pauser behind the route")
	}
}

// TestPauseCatchesQueuedRequests checks that a request queued in the
// route's limiter when a pause begins waits the pause out instead of going
// during it.
func TestPauseCatchesQueuedRequests(t *testing.T) {
	w, err := NewSlidingWindow(1, 100*time.Millisecond, &Options{Guard: noGuard})
	if err != nil {
		t.Fatal(err)
	}
	p := newPerHost(t, nil, w, nil)
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan time.Time, 1)
	go func() {
		if _, err := p.Reserve(context.Background(), ""); err != nil {
			t.Error(err)
		}
		done <- time.Now()
	}()
	time.Sleep(30 * time.Millisecond) // queued in the window
	pausedAt := time.Now()
	p.Pause("", pausedAt.Add(400*time.Millisecond), "test")
	at := <-done
	if at.Sub(pausedAt) < 390*time.Millisecond {
		t.Fatalf("a request queued before the pause went out %v into a 400ms pause", at.Sub(pausedAt))
	}
}

// waitHost reserves through l for host and reports the request arrived.
func waitHost(ctx context.Context, l Reserver, host string) error {
	res, err := l.Reserve(ctx, host)
	if err != nil {
		return err
	}
	res.Arrived()
	return nil
}
