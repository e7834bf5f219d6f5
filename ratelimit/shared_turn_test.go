package ratelimit

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSharedWindowRefusesAtOnceBehindTheTurn: the limiters fail at once
// when they can see that the wait would pass the deadline (WithMaxWait's
// doc), a SharedWindow's (file or Redis) requests waiting behind the one
// that holds the process's turn included, as SlidingWindow's do.
func TestSharedWindowRefusesAtOnceBehindTheTurn(t *testing.T) {
	l, err := NewFileLimiter(filepath.Join(t.TempDir(), "state"), 1, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background()); err != nil { // spends the only slot for an hour
		t.Fatal(err)
	}
	// A waiter without a deadline takes the turn and sleeps for the hour.
	holderCtx, stopHolder := context.WithCancel(context.Background())
	defer stopHolder()
	holderDone := make(chan struct{})
	go func() { defer close(holderDone); l.Wait(holderCtx) }()
	defer func() { stopHolder(); <-holderDone }()
	// Wait until the holder has the turn.
	for deadline := time.Now().Add(5 * time.Second); len(l.turn) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("holder never took the turn")
		}
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err = l.Wait(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "would wait") || took > time.Second {
		t.Fatalf("a wait of an hour under a 2s deadline failed after %v with %q; want an immediate \"would wait ... past its context deadline\" refusal, as SlidingWindow gives", took.Round(time.Millisecond), err)
	}
}

// TestSharedWindowMaxWaitAtOnceBehindTheTurn: the same through
// WithMaxWait (the Manager's Config.MaxWait): ErrMaxWait at once.
func TestSharedWindowMaxWaitAtOnceBehindTheTurn(t *testing.T) {
	fl, err := NewFileLimiter(filepath.Join(t.TempDir(), "state"), 1, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := WithMaxWait(fl, 2*time.Second)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	holderCtx, stopHolder := context.WithCancel(context.Background())
	holderDone := make(chan struct{})
	go func() { defer close(holderDone); fl.Wait(holderCtx) }()
	defer func() { stopHolder(); <-holderDone }()
	for deadline := time.Now().Add(5 * time.Second); len(fl.turn) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("holder never took the turn")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	err = l.Wait(context.Background())
	took := time.Since(start)
	if !errors.Is(err, ErrMaxWait) || took > time.Second {
		t.Fatalf("MaxWait 2s on a 1-hour wait: %v after %v; want ErrMaxWait at once", err, took.Round(time.Millisecond))
	}
}
