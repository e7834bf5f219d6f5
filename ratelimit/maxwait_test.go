package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// blocking is a Limiter that cannot see ahead: it waits until its context
// ends.
type blocking struct{}

func (blocking) Wait(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestWithMaxWait(t *testing.T) {
	w, _ := newFake(t, 1, time.Hour, noGuard)
	if got := WithMaxWait(w, 0); got != Limiter(w) {
		t.Fatalf("WithMaxWait(l, 0) = %T, want l itself", got)
	}
	l := WithMaxWait(w, time.Second)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}

	t.Run("fails at once when the limiter sees the wait is too long", func(t *testing.T) {
		start := time.Now()
		err := l.Wait(context.Background())
		if !errors.Is(err, ErrMaxWait) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want ErrMaxWait alone", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("Wait took %v; it should fail at once", d)
		}
	})
	t.Run("the caller's sooner deadline is the caller's error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := l.(Reserver).Reserve(ctx, "h")
		if errors.Is(err, ErrMaxWait) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Reserve = %v, want the caller's deadline", err)
		}
	})
	t.Run("a limiter that cannot see ahead fails after the maximum", func(t *testing.T) {
		start := time.Now()
		err := WithMaxWait(blocking{}, 50*time.Millisecond).Wait(context.Background())
		if !errors.Is(err, ErrMaxWait) {
			t.Fatalf("Wait = %v, want ErrMaxWait", err)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("Wait failed after %v, before the maximum", d)
		}
	})
	t.Run("a cancelled caller gets its own error", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		if err := WithMaxWait(blocking{}, time.Minute).Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
	})
}

// TestWithMaxWaitHandsOn checks that the host and pauses reach the limiter
// inside.
func TestWithMaxWaitHandsOn(t *testing.T) {
	rec := &recorder{}
	l := WithMaxWait(rec, time.Second).(Reserver)
	if _, err := l.Reserve(context.Background(), "www.sec.gov:443"); err != nil {
		t.Fatal(err)
	}
	if len(rec.hosts) != 1 || rec.hosts[0] != "www.sec.gov:443" {
		t.Fatalf("the limiter inside saw hosts %q", rec.hosts)
	}
	p := newPerHost(t, nil, nil, nil)
	WithMaxWait(p, time.Second).(Pauser).Pause("a.example", time.Now().Add(time.Hour), "test")
	if p.Stats().Pauses != 1 {
		t.Fatal("the pause did not reach the limiter inside")
	}
	// A limiter that cannot pause ignores it.
	WithMaxWait(blocking{}, time.Second).(Pauser).Pause("a.example", time.Now().Add(time.Hour), "test")
}
