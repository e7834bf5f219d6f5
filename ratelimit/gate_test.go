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

func TestGatePauseHoldsEveryone(t *testing.T) {
	var logs bytes.Buffer
	g := &Gate{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	pause := 150 * time.Millisecond
	until := time.Now().Add(pause)
	g.Pause("www.sec.gov", until, "retry-after")
	var wg sync.WaitGroup
	for _, h := range []string{"www.sec.gov", "data.sec.gov", ""} {
		wg.Go(func() {
			if err := waitHost(context.Background(), g, h); err != nil {
				t.Error(err)
			}
			if time.Now().Before(until) {
				t.Errorf("a request to %q went ahead during the pause", h)
			}
		})
	}
	wg.Wait()
	s := g.Stats()
	if s.Pauses != 1 || s.Reasons["retry-after"] != 1 || s.Waits != 3 || s.WaitTime < 3*pause/2 {
		t.Fatalf("Stats = %+v", s)
	}
	if !strings.Contains(logs.String(), "reason=retry-after") {
		t.Fatalf("log %q does not say why", logs.String())
	}
	if u, _ := g.PausedUntil("www.sec.gov"); !u.IsZero() {
		t.Fatal("pause still reported after it ended")
	}
}

func TestGateNeverShortens(t *testing.T) {
	c := &fakeClock{}
	c.Set(0)
	g := &Gate{Now: c.Now}
	g.Pause("h", c.Now().Add(time.Minute), "long")
	g.Pause("h", c.Now().Add(time.Second), "short")
	g.Pause("h", c.Now().Add(-time.Second), "past")
	if u, r := g.PausedUntil("h"); !u.Equal(c.Now().Add(time.Minute)) || r != "long" {
		t.Fatalf("PausedUntil = %v, %q", u, r)
	}
	g.Pause("h", c.Now().Add(time.Hour), "longer")
	if u, r := g.PausedUntil("x"); !u.Equal(c.Now().Add(time.Hour)) || r != "longer" {
		t.Fatalf("PausedUntil = %v, %q", u, r)
	}
	if s := g.Stats(); s.Pauses != 2 || len(s.Reasons) != 2 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestGateEachHost(t *testing.T) {
	c := &fakeClock{}
	c.Set(0)
	g := &Gate{EachHost: true, Now: c.Now}
	g.Pause("A.example:443", c.Now().Add(time.Hour), "test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitHost(ctx, g, "a.example"); !errors.Is(err, ErrPaused) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait for the paused host = %v", err)
	}
	if err := waitHost(ctx, g, "b.example"); err != nil {
		t.Fatalf("Wait for another host = %v", err)
	}
	c.Set(2 * time.Hour)
	if err := waitHost(ctx, g, "a.example"); err != nil {
		t.Fatalf("Wait after the pause = %v", err)
	}
}

func TestGateCancel(t *testing.T) {
	g := NewGate(nil)
	g.Pause("", time.Now().Add(time.Hour), "test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Wait(ctx) }()
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

// TestGateExtendWakes checks that waiters see a pause that grows while they
// wait, and that a pause forwards to a Pauser behind the gate.
func TestGateExtendWakes(t *testing.T) {
	inner := &Gate{}
	g := NewGate(inner)
	start := time.Now()
	g.Pause("", start.Add(50*time.Millisecond), "first")
	done := make(chan error)
	go func() { done <- g.Wait(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	g.Pause("", start.Add(200*time.Millisecond), "second")
	<-done
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("Wait returned after %v, before the extended pause ended", d)
	}
	if inner.Stats().Pauses != 2 {
		t.Fatal("the pauses did not reach the Pauser behind the gate")
	}
}

// TestGatePauseCatchesQueuedRequests checks that a request queued in Next
// when a pause begins waits the pause out instead of going during it.
func TestGatePauseCatchesQueuedRequests(t *testing.T) {
	w, err := NewSlidingWindow(1, 100*time.Millisecond, WithGuard(0))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{Next: w}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan time.Time, 1)
	go func() {
		if _, err := g.Reserve(context.Background(), ""); err != nil {
			t.Error(err)
		}
		done <- time.Now()
	}()
	time.Sleep(30 * time.Millisecond) // queued in the window
	pausedAt := time.Now()
	g.Pause("", pausedAt.Add(400*time.Millisecond), "test")
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
